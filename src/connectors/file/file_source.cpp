#include "sluice/connectors/file_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "sluice/core/error.h"

namespace sluice {

namespace fs = std::filesystem;

std::vector<std::string> list_input_files(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw Error(ErrorCategory::kIo, fmt::format("input path does not exist: {}", path),
                ErrorContext{.file = path});
  }
  if (fs::is_regular_file(status)) return {path};
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(path, ec)) {
    const auto name = entry.path().filename().string();
    // Hidden and in-progress files are not input (as Flink's FileSource skips "." and "_").
    if (entry.is_regular_file() && name[0] != '.' && name[0] != '_') {
      files.push_back(entry.path().string());
    }
  }
  if (ec) {
    throw Error(ErrorCategory::kIo, fmt::format("cannot list {}: {}", path, ec.message()),
                ErrorContext{.file = path});
  }
  if (files.empty()) {
    throw Error(ErrorCategory::kIo, fmt::format("no input files in directory: {}", path),
                ErrorContext{.file = path});
  }
  std::sort(files.begin(), files.end());
  return files;
}

LineFileReader::~LineFileReader() {
  close();
  std::free(buffer_);
}

void LineFileReader::open(const std::string& path, int64_t offset, int64_t line) {
  close();
  path_ = path;
  line_number_ = line;
  offset_ = offset;
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    throw Error(ErrorCategory::kIo, fmt::format("cannot open {}: {}", path, std::strerror(errno)),
                ErrorContext{.file = path});
  }
  if (offset > 0 && ::fseeko(file_, offset, SEEK_SET) != 0) {
    throw Error(ErrorCategory::kIo,
                fmt::format("cannot resume {} at byte {}: {}", path, offset, std::strerror(errno)),
                ErrorContext{.file = path, .line = line + 1});
  }
}

std::unique_ptr<SourceSplit> FileSplit::deserialize(std::string_view bytes) {
  auto [path, offset, line] = from_bytes<std::tuple<std::string, int64_t, int64_t>>(bytes);
  return std::make_unique<FileSplit>(std::move(path), offset, line);
}

bool LineFileReader::next(std::string& line) {
  ssize_t n = ::getline(&buffer_, &capacity_, file_);
  if (n < 0) {
    if (std::ferror(file_)) {
      throw Error(ErrorCategory::kIo, fmt::format("read error: {}", std::strerror(errno)),
                  ErrorContext{.file = path_, .line = line_number_ + 1});
    }
    return false;
  }
  ++line_number_;
  offset_ += n;
  if (n > 0 && buffer_[n - 1] == '\n') --n;
  if (n > 0 && buffer_[n - 1] == '\r') --n;
  line.assign(buffer_, static_cast<size_t>(n));
  return true;
}

void LineFileReader::close() {
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
}

}  // namespace sluice
