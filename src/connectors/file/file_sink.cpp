#include "sluice/connectors/file_sink.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sluice {

namespace fs = std::filesystem;

PartFileWriter::PartFileWriter(const std::string& directory, int subtask,
                               const std::string& extension) {
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) {
    throw Error(ErrorCategory::kIo, fmt::format("cannot create output directory: {}", ec.message()),
                ErrorContext{.file = directory});
  }
  final_path_ = (fs::path(directory) / fmt::format("part-{}.{}", subtask, extension)).string();
  in_progress_path_ =
      (fs::path(directory) / fmt::format(".part-{}.{}.inprogress", subtask, extension)).string();
  file_ = std::fopen(in_progress_path_.c_str(), "wb");
  if (file_ == nullptr) {
    throw Error(ErrorCategory::kIo, fmt::format("cannot create file: {}", std::strerror(errno)),
                ErrorContext{.file = in_progress_path_});
  }
}

PartFileWriter::~PartFileWriter() {
  if (file_ != nullptr) std::fclose(file_);  // not committed: stays in progress, never visible
}

void PartFileWriter::append(std::string_view data) {
  if (data.empty()) return;
  if (file_ == nullptr || std::fwrite(data.data(), 1, data.size(), file_) != data.size()) {
    throw Error(ErrorCategory::kIo, fmt::format("write failed: {}", std::strerror(errno)),
                ErrorContext{.file = in_progress_path_});
  }
}

void PartFileWriter::commit() {
  if (file_ == nullptr) return;
  bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok || std::rename(in_progress_path_.c_str(), final_path_.c_str()) != 0) {
    throw Error(ErrorCategory::kIo,
                fmt::format("cannot commit part file: {}", std::strerror(errno)),
                ErrorContext{.file = final_path_});
  }
}

void append_csv_field(std::string& out, std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += text;
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace sluice
