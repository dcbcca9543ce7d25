#include "sluice/connectors/transactional_part_files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "sluice/core/error.h"

namespace sluice {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_io(const std::string& what, const std::string& path) {
  throw Error(ErrorCategory::kIo, fmt::format("{}: {}", what, std::strerror(errno)),
              ErrorContext{.file = path});
}

// The part number of a file of this subtask ("part-3-17.jsonl", ".part-3-17.jsonl.pending"), or
// -1 for any other file.
int64_t part_number(const std::string& name, int subtask) {
  const std::string visible = fmt::format("part-{}-", subtask);
  size_t at = name.rfind(visible, 0) == 0 ? visible.size() : std::string::npos;
  if (at == std::string::npos && name.rfind("." + visible, 0) == 0) at = visible.size() + 1;
  if (at == std::string::npos) return -1;
  const size_t dot = name.find('.', at);
  try {
    return std::stoll(name.substr(at, dot - at));
  } catch (const std::exception&) {
    return -1;
  }
}

// A rename is durable once its directory is synced: a checkpoint must not reference a pending
// file that a power loss could turn back into an in-progress one.
void sync_directory(const std::string& directory) {
  const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) throw_io("cannot open directory to sync it", directory);
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw_io("cannot sync directory", directory);
}

}  // namespace

TransactionalPartFiles::TransactionalPartFiles(std::string directory, int subtask,
                                               std::string extension, uint64_t max_part_bytes)
    : directory_(std::move(directory)),
      subtask_(subtask),
      extension_(std::move(extension)),
      max_part_bytes_(max_part_bytes) {
  std::error_code ec;
  fs::create_directories(directory_, ec);
  if (ec) {
    throw Error(ErrorCategory::kIo, "cannot create output directory: " + ec.message(),
                ErrorContext{.file = directory_});
  }
}

TransactionalPartFiles::~TransactionalPartFiles() {
  if (file_ != nullptr) std::fclose(file_);  // stays in progress: never visible
}

void TransactionalPartFiles::discard_uncommitted() {
  for (const auto& entry : fs::directory_iterator(directory_)) {
    const std::string name = entry.path().filename().string();
    const int64_t part = part_number(name, subtask_);
    if (part < 0) continue;
    next_part_ = std::max(next_part_, part + 1);  // never reuse a name
    if (name[0] == '.') {
      std::error_code ec;
      fs::remove(entry.path(), ec);
    }
  }
}

void TransactionalPartFiles::append(std::string_view bytes) {
  if (file_ == nullptr) {
    const int64_t part = next_part_++;
    final_path_ =
        (fs::path(directory_) / fmt::format("part-{}-{}.{}", subtask_, part, extension_)).string();
    in_progress_path_ = (fs::path(directory_) /
                         fmt::format(".part-{}-{}.{}.inprogress", subtask_, part, extension_))
                            .string();
    file_ = std::fopen(in_progress_path_.c_str(), "wb");
    if (file_ == nullptr) throw_io("cannot create part file", in_progress_path_);
    written_ = 0;
  }
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
    throw_io("cannot write part file", in_progress_path_);
  }
  written_ += bytes.size();
  if (written_ >= max_part_bytes_) roll();
}

void TransactionalPartFiles::roll() {
  if (file_ == nullptr) return;
  bool ok = std::fflush(file_) == 0 && ::fsync(fileno(file_)) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok) throw_io("cannot close part file", in_progress_path_);
  const std::string pending =
      in_progress_path_.substr(0, in_progress_path_.size() - std::string(".inprogress").size()) +
      ".pending";
  if (std::rename(in_progress_path_.c_str(), pending.c_str()) != 0) {
    throw_io("cannot mark part file pending", in_progress_path_);
  }
  sync_directory(directory_);
  rolled_.push_back(PendingPartFile{pending, final_path_});
}

std::vector<PendingPartFile> TransactionalPartFiles::prepare_commit() {
  roll();
  return std::exchange(rolled_, {});
}

void TransactionalPartFiles::commit(const std::vector<PendingPartFile>& files) {
  for (const auto& file : files) {
    if (std::rename(file.pending_path.c_str(), file.final_path.c_str()) == 0) continue;
    const int rename_errno = errno;
    std::error_code ec;
    // Committed before (a restored checkpoint's files), or by another subtask just now.
    if (rename_errno == ENOENT && fs::exists(file.final_path, ec)) continue;
    errno = rename_errno;
    throw_io("cannot commit part file", file.pending_path);
  }
  std::vector<std::string> directories;
  for (const auto& file : files) {
    std::string directory = fs::path(file.final_path).parent_path().string();
    if (std::find(directories.begin(), directories.end(), directory) == directories.end()) {
      directories.push_back(std::move(directory));
    }
  }
  for (const auto& directory : directories) sync_directory(directory);
}

}  // namespace sluice
