#include "sluice/checkpoint/checkpoint_location.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "checkpoint/file_io.h"
#include "sluice/core/error.h"
#include "sluice/core/key_group_range.h"

namespace sluice {

namespace fs = std::filesystem;
using checkpoint_io::throw_io;

namespace {
// Pieces below this are gathered into one write (write_all cuts larger ones into chunks).
constexpr size_t kStateWriteBuffer = 256 * 1024;
}  // namespace

StateFileWriter::StateFileWriter(const fs::path& folder, std::string file)
    : file_(std::move(file)), path_(folder / file_), hash_(std::make_unique<StreamingHash>()) {
  // The folder is new, so the file must be: never open one again (a file hard-linked from an
  // older checkpoint would be truncated under it).
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_io("cannot create checkpoint file", path_);
}

StateFileWriter::~StateFileWriter() {
  if (fd_ >= 0) ::close(fd_);  // not closed: abandoned with its checkpoint
}

void StateFileWriter::write(std::string_view bytes) {
  hash_->update(bytes.data(), bytes.size());
  size_ += bytes.size();
  if (buffer_.size() + bytes.size() <= kStateWriteBuffer) {
    buffer_.append(bytes);
    return;
  }
  flush();
  if (bytes.size() < kStateWriteBuffer) {
    buffer_.append(bytes);
  } else {
    checkpoint_io::write_all(fd_, bytes, path_);
  }
}

void StateFileWriter::flush() {
  checkpoint_io::write_all(fd_, buffer_, path_);
  buffer_.clear();
}

StateFile StateFileWriter::close() {
  flush();
  if (::fsync(fd_) != 0) throw_io("cannot fsync checkpoint file", path_);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) throw_io("cannot close checkpoint file", path_);
  return StateFile{file_, size_, hash_->digest()};
}

std::string CheckpointLocation::file_name(std::string_view name) {
  const bool valid = !name.empty() && name.front() != '.' && name.front() != '_' &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                              c == '.' || c == '/';
                     });
  if (!valid) {
    throw Error(ErrorCategory::kInternal, fmt::format("invalid checkpoint state name '{}'", name));
  }
  std::string file(name);
  std::replace(file.begin(), file.end(), '/', '.');
  return file;
}

std::unique_ptr<StateFileWriter> CheckpointLocation::begin_state(const std::string& name) const {
  return std::make_unique<StateFileWriter>(folder, file_name(name));
}

StateFile CheckpointLocation::write_state(const std::string& name, std::string_view bytes) const {
  auto writer = begin_state(name);
  writer->write(bytes);
  return writer->close();
}

SharedFileStore::Stored SharedFileStore::add(const CheckpointLocation& location,
                                             const std::string& key, const fs::path& path) {
  if (key.empty() || key.find('/') != std::string::npos || key.starts_with(".")) {
    throw Error(ErrorCategory::kInternal, "invalid shared file key '" + key + "'");
  }
  if (location.shared_folder.empty()) {
    throw Error(ErrorCategory::kInternal, "shared file '" + key +
                                              "' in a snapshot of a savepoint (savepoints are "
                                              "self-contained)");
  }
  const fs::path shared = location.shared_folder;
  const fs::path target = shared / key;
  std::optional<StateFile> known;
  {
    std::lock_guard lock(mutex_);
    if (auto it = known_.find(target.string()); it != known_.end()) known = it->second;
  }
  std::error_code ec;
  if (known && fs::exists(target, ec)) return {*known, false};
  Stored stored;
  if (fs::exists(target, ec)) {
    // Stored by an earlier run in this directory: complete (published by rename), verify it.
    stored.file = checkpoint_io::describe_file(target, "shared/" + key);
  } else {
    fs::create_directories(shared, ec);
    // Published by rename, so shared/<key> is always a complete file.
    const fs::path temporary =
        shared / fmt::format(".{}.{}.{}.tmp", key, location.checkpoint_id, ::gettid());
    checkpoint_io::link_or_copy(path, temporary);
    stored.file = checkpoint_io::describe_file(temporary, "shared/" + key);
    stored.added = true;
    fs::rename(temporary, target, ec);
    if (ec) {
      throw Error(ErrorCategory::kIo, "cannot publish shared checkpoint file: " + ec.message(),
                  ErrorContext{.file = target.string()});
    }
    checkpoint_io::fsync_directory(shared);
  }
  std::lock_guard lock(mutex_);
  known_[target.string()] = stored.file;
  return stored;
}

}  // namespace sluice
