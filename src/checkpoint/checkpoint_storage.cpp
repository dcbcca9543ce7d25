#include "sluice/checkpoint/checkpoint_storage.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "sluice/core/error.h"
#include "sluice/core/key_groups.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMetadata = "_metadata";
constexpr const char* kCheckpointPrefix = "chk-";
constexpr const char* kSavepointPrefix = "savepoint-";

[[noreturn]] void throw_io(const std::string& what, const fs::path& path) {
  throw Error(ErrorCategory::kIo, fmt::format("{}: {}", what, std::strerror(errno)),
              ErrorContext{.file = path.string()});
}

// In chunks: one write of megabytes kept the (low-priority) coordinator thread in the kernel for
// 35-55 ms, and the task threads stalled meanwhile (perf trace: 15-20 ms futex waits of every
// worker, Nexmark q3's p99 latency 27 ms instead of 6.5).
void write_all(int fd, std::string_view bytes, const fs::path& path) {
  constexpr size_t kChunk = 256 * 1024;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), std::min(bytes.size(), kChunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_io("cannot write checkpoint file", path);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// Writes `bytes` to `path` and fsyncs it; the caller makes it visible (rename) if needed.
void write_synced(const fs::path& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_io("cannot create checkpoint file", path);
  try {
    write_all(fd, bytes, path);
    if (::fsync(fd) != 0) throw_io("cannot fsync checkpoint file", path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  if (::close(fd) != 0) throw_io("cannot close checkpoint file", path);
}

void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_io("cannot open checkpoint folder", dir);
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw_io("cannot fsync checkpoint folder", dir);
}

// Sized by fstat and read in large chunks: state files can be gigabytes.
std::string read_file(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_io("cannot open", path);
  std::string contents;
  try {
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw_io("cannot stat", path);
    contents.resize(static_cast<size_t>(info.st_size));
    size_t done = 0;
    while (done < contents.size()) {
      const ssize_t n = ::read(fd, contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_io("cannot read", path);
      if (n == 0) break;  // shorter than it was: the size check reports it
      done += static_cast<size_t>(n);
    }
    contents.resize(done);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return contents;
}

uint64_t checksum(std::string_view bytes) { return hash_bytes(bytes.data(), bytes.size()); }

// The size and checksum of a file, read in chunks (shared files are SSTs of up to hundreds of MB).
StateFile describe_file(const fs::path& path, const std::string& name) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_io("cannot open", path);
  StreamingHash hash;
  std::string chunk(1 << 20, '\0');
  uint64_t size = 0;
  while (true) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw_io("cannot read", path);
    }
    if (n == 0) break;
    hash.update(chunk.data(), static_cast<size_t>(n));
    size += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return StateFile{name, size, hash.digest()};
}

// Copies `from` to `to` and fsyncs the copy.
void copy_synced(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    throw Error(ErrorCategory::kIo, "cannot copy into the checkpoint: " + ec.message(),
                ErrorContext{.file = from.string()});
  }
  const int fd = ::open(to.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_io("cannot open", to);
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw_io("cannot fsync checkpoint file", to);
}

nlohmann::json files_to_json(const std::map<std::string, StateFile>& files) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [name, file] : files) {
    json[name] = {{"file", file.file}, {"size", file.size}, {"checksum", file.checksum}};
  }
  return json;
}

std::map<std::string, StateFile> files_from_json(const nlohmann::json& json) {
  std::map<std::string, StateFile> files;
  for (const auto& [name, file] : json.items()) {
    files[name] = StateFile{file.at("file").get<std::string>(), file.at("size").get<uint64_t>(),
                            file.at("checksum").get<uint64_t>()};
  }
  return files;
}

// The folder name's checkpoint id, if it is a checkpoint folder.
std::optional<int64_t> checkpoint_id(const fs::path& folder) {
  const std::string name = folder.filename().string();
  const std::string prefix = kCheckpointPrefix;
  if (name.rfind(prefix, 0) != 0) return std::nullopt;
  try {
    size_t used = 0;
    const int64_t id = std::stoll(name.substr(prefix.size()), &used);
    if (used != name.size() - prefix.size()) return std::nullopt;
    return id;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Checkpoint folders by id, newest first.
std::vector<std::pair<int64_t, fs::path>> checkpoint_folders(const fs::path& dir) {
  std::vector<std::pair<int64_t, fs::path>> folders;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return folders;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_directory()) continue;
    if (auto id = checkpoint_id(entry.path())) folders.emplace_back(*id, entry.path());
  }
  std::sort(folders.begin(), folders.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  return folders;
}

[[noreturn]] void throw_corrupt(const fs::path& folder, const std::string& why) {
  throw Error(ErrorCategory::kSerialization, "checkpoint is not usable: " + why,
              ErrorContext{.file = folder.string()});
}

}  // namespace

// ---- PendingCheckpoint ----

PendingCheckpoint::PendingCheckpoint(CheckpointStorage& storage, int64_t id, bool savepoint,
                                     fs::path folder)
    : storage_(&storage), id_(id), savepoint_(savepoint), folder_(std::move(folder)) {}

PendingCheckpoint::PendingCheckpoint(PendingCheckpoint&& other) noexcept
    : storage_(other.storage_),
      id_(other.id_),
      savepoint_(other.savepoint_),
      folder_(std::move(other.folder_)),
      states_(std::move(other.states_)),
      properties_(std::move(other.properties_)),
      done_(other.done_) {
  other.done_ = true;
}

PendingCheckpoint::~PendingCheckpoint() {
  if (done_) return;
  try {
    abort();
  } catch (...) {  // a destructor must not throw; the folder is cleaned by the next retention
  }
}

void PendingCheckpoint::write_state(const std::string& name, std::string_view bytes) {
  auto writer = begin_state(name);
  writer->write(bytes);
  writer->close();
}

std::unique_ptr<StateFileWriter> PendingCheckpoint::begin_state(const std::string& name) {
  // File names are numbered: logical names may contain anything.
  std::string file;
  {
    std::lock_guard lock(mutex_);
    if (states_.count(name) != 0) {
      throw Error(ErrorCategory::kInternal, "state '" + name + "' written twice to a checkpoint");
    }
    file = fmt::format("state-{}", states_.size());
    states_[name] = StateFile{file, 0, 0};
  }
  const fs::path path = folder_ / file;
  return std::unique_ptr<StateFileWriter>(new StateFileWriter(*this, name, file, path));
}

// ---- StateFileWriter ----

namespace {
// Pieces below this are gathered into one write (write_all cuts larger ones into chunks).
constexpr size_t kStateWriteBuffer = 256 * 1024;
}  // namespace

StateFileWriter::StateFileWriter(PendingCheckpoint& checkpoint, std::string name, std::string file,
                                 fs::path path)
    : checkpoint_(&checkpoint),
      name_(std::move(name)),
      file_(std::move(file)),
      path_(std::move(path)),
      hash_(std::make_unique<StreamingHash>()) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
    write_all(fd_, bytes, path_);
  }
}

void StateFileWriter::flush() {
  write_all(fd_, buffer_, path_);
  buffer_.clear();
}

void StateFileWriter::close() {
  flush();
  if (::fsync(fd_) != 0) throw_io("cannot fsync checkpoint file", path_);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) throw_io("cannot close checkpoint file", path_);
  std::lock_guard lock(checkpoint_->mutex_);
  checkpoint_->states_[name_] = StateFile{file_, size_, hash_->digest()};
}

void PendingCheckpoint::add_shared_file(const std::string& key, const fs::path& path) {
  if (key.empty() || key.find('/') != std::string::npos || key.starts_with(".")) {
    throw Error(ErrorCategory::kInternal, "invalid shared file key '" + key + "'");
  }
  const fs::path shared = storage_->directory_ / "shared";
  const fs::path target = shared / key;
  std::optional<StateFile> known;
  {
    std::lock_guard lock(storage_->shared_mutex_);
    if (auto it = storage_->known_shared_.find(key); it != storage_->known_shared_.end())
      known = it->second;
  }
  std::error_code ec;
  if (!known || !fs::exists(target, ec)) {
    if (fs::exists(target, ec)) {
      // Stored by an earlier run in this directory: complete (published by rename), verify it.
      known = describe_file(target, "shared/" + key);
    } else {
      fs::create_directories(shared, ec);
      // Published by rename, so shared/<key> is always a complete file.
      const fs::path temporary = shared / fmt::format(".{}.{}.tmp", key, id_);
      fs::remove(temporary, ec);
      if (::link(path.c_str(), temporary.c_str()) == 0) {
        const int fd = ::open(temporary.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || ::fsync(fd) != 0) {
          if (fd >= 0) ::close(fd);
          throw_io("cannot fsync shared checkpoint file", temporary);
        }
        ::close(fd);
      } else {
        copy_synced(path, temporary);  // another file system: a copy
      }
      known = describe_file(temporary, "shared/" + key);
      {
        std::lock_guard lock(mutex_);
        new_shared_bytes_ += known->size;
      }
      fs::rename(temporary, target, ec);
      if (ec) {
        throw Error(ErrorCategory::kIo, "cannot publish shared checkpoint file: " + ec.message(),
                    ErrorContext{.file = target.string()});
      }
      fsync_directory(shared);
    }
    std::lock_guard lock(storage_->shared_mutex_);
    storage_->known_shared_[key] = *known;
  }
  std::lock_guard lock(mutex_);
  shared_[key] = *known;
}

void PendingCheckpoint::reference_shared_file(const std::string& key) {
  std::optional<StateFile> known;
  {
    std::lock_guard lock(storage_->shared_mutex_);
    if (auto it = storage_->known_shared_.find(key); it != storage_->known_shared_.end())
      known = it->second;
  }
  std::error_code ec;
  const fs::path target = storage_->directory_ / "shared" / key;
  if (!known || !fs::exists(target, ec)) {
    throw Error(ErrorCategory::kIo, "shared checkpoint file '" + key + "' is gone",
                ErrorContext{.file = target.string()});
  }
  std::lock_guard lock(mutex_);
  shared_[key] = *known;
}

uint64_t PendingCheckpoint::shared_bytes() const {
  std::lock_guard lock(mutex_);
  uint64_t total = 0;
  for (const auto& [key, file] : shared_) total += file.size;
  return total;
}

uint64_t PendingCheckpoint::new_shared_bytes() const {
  std::lock_guard lock(mutex_);
  return new_shared_bytes_;
}

void PendingCheckpoint::set_property(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  properties_[key] = value;
}

CompletedCheckpoint PendingCheckpoint::commit(Timestamp timestamp) {
  nlohmann::json body;
  body["checkpoint_id"] = id_;
  body["timestamp"] = timestamp;
  body["savepoint"] = savepoint_;
  body["states"] = files_to_json(states_);
  body["shared"] = files_to_json(shared_);
  body["properties"] = properties_;
  const std::string body_text = body.dump();
  const nlohmann::json metadata = {{"body", body}, {"checksum", checksum(body_text)}};
  // The folder's files are durable (each fsynced); the folder entry for them too before the
  // metadata appears, so a crash never leaves metadata that lists missing files.
  fsync_directory(folder_);
  const fs::path in_progress = folder_ / (std::string(kMetadata) + ".inprogress");
  write_synced(in_progress, metadata.dump(2));
  std::error_code ec;
  fs::rename(in_progress, folder_ / kMetadata, ec);
  if (ec)
    throw Error(ErrorCategory::kIo, "cannot publish checkpoint metadata: " + ec.message(),
                ErrorContext{.file = folder_.string()});
  fsync_directory(folder_);
  fsync_directory(folder_.parent_path());
  done_ = true;
  CompletedCheckpoint completed{id_, timestamp, savepoint_, folder_, states_, shared_, properties_};
  if (!savepoint_) storage_->apply_retention(id_);
  return completed;
}

void PendingCheckpoint::abort() {
  done_ = true;
  std::error_code ec;
  fs::remove_all(folder_, ec);
}

// ---- CheckpointStorage ----

CheckpointStorage::CheckpointStorage(fs::path directory, int retained)
    : directory_(std::move(directory)), retained_(std::max(1, retained)) {}

CheckpointStorage::CheckpointStorage(CheckpointStorage&& other) noexcept
    : directory_(std::move(other.directory_)),
      retained_(other.retained_),
      known_shared_(std::move(other.known_shared_)) {}

PendingCheckpoint CheckpointStorage::begin(int64_t id, bool savepoint) {
  const fs::path folder =
      directory_ / ((savepoint ? kSavepointPrefix : kCheckpointPrefix) + std::to_string(id));
  std::error_code ec;
  fs::remove_all(folder, ec);  // leftovers of an attempt that never completed
  fs::create_directories(folder, ec);
  if (ec) {
    throw Error(ErrorCategory::kIo, "cannot create checkpoint folder: " + ec.message(),
                ErrorContext{.file = folder.string()});
  }
  return PendingCheckpoint(*this, id, savepoint, folder);
}

CompletedCheckpoint CheckpointStorage::load(const fs::path& folder) {
  const fs::path metadata_path = folder / kMetadata;
  std::error_code ec;
  if (!fs::exists(metadata_path, ec)) throw_corrupt(folder, "no _metadata (it never completed)");
  nlohmann::json metadata;
  try {
    metadata = nlohmann::json::parse(read_file(metadata_path));
  } catch (const nlohmann::json::exception& e) {
    throw_corrupt(folder, std::string("_metadata does not parse: ") + e.what());
  }
  if (!metadata.contains("body") || !metadata.contains("checksum") ||
      metadata["checksum"].get<uint64_t>() != checksum(metadata["body"].dump())) {
    throw_corrupt(folder, "_metadata checksum mismatch");
  }
  const auto& body = metadata["body"];
  CompletedCheckpoint checkpoint;
  try {
    checkpoint.id = body.at("checkpoint_id").get<int64_t>();
    checkpoint.timestamp = body.at("timestamp").get<Timestamp>();
    checkpoint.savepoint = body.at("savepoint").get<bool>();
    checkpoint.folder = folder;
    checkpoint.states = files_from_json(body.at("states"));
    if (body.contains("shared")) checkpoint.shared = files_from_json(body.at("shared"));
    checkpoint.properties = body.at("properties").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw_corrupt(folder, std::string("_metadata is incomplete: ") + e.what());
  }
  auto check_size = [&](const fs::path& path, const StateFile& file) {
    const auto size = fs::file_size(path, ec);
    if (ec) throw_corrupt(folder, "state file " + file.file + " is missing");
    if (size != file.size) {
      throw_corrupt(folder, fmt::format("state file {} has {} bytes, the metadata says {}",
                                        file.file, size, file.size));
    }
  };
  for (const auto& [name, state] : checkpoint.states) check_size(folder / state.file, state);
  for (const auto& [key, file] : checkpoint.shared) {
    check_size(checkpoint.shared_directory() / key, file);
  }
  return checkpoint;
}

std::string CheckpointStorage::read_state(const CompletedCheckpoint& checkpoint,
                                          const std::string& name) {
  auto it = checkpoint.states.find(name);
  if (it == checkpoint.states.end()) {
    throw Error(ErrorCategory::kInvalidJob, "the checkpoint has no state '" + name + "'",
                ErrorContext{.file = checkpoint.folder.string()});
  }
  std::string bytes = read_file(checkpoint.folder / it->second.file);
  if (bytes.size() != it->second.size || checksum(bytes) != it->second.checksum) {
    throw_corrupt(checkpoint.folder, "state file " + it->second.file + " checksum mismatch");
  }
  return bytes;
}

int64_t CheckpointStorage::highest_id() const {
  auto folders = checkpoint_folders(directory_);
  return folders.empty() ? 0 : folders.front().first;
}

std::optional<CompletedCheckpoint> CheckpointStorage::latest(
    std::vector<std::string>* problems) const {
  for (const auto& [id, folder] : checkpoint_folders(directory_)) {
    std::error_code ec;
    // Without _metadata it is a checkpoint that never completed (the process died while taking
    // it): not a checkpoint at all, so not a problem either.
    if (!fs::exists(folder / kMetadata, ec)) continue;
    try {
      CompletedCheckpoint checkpoint = load(folder);
      // Verify the contents too: a flipped bit must not be restored.
      verify(checkpoint);
      return checkpoint;
    } catch (const Error& e) {
      if (problems != nullptr) problems->push_back(e.what());
    }
  }
  return std::nullopt;
}

void CheckpointStorage::verify(const CompletedCheckpoint& checkpoint) {
  for (const auto& [name, state] : checkpoint.states) read_state(checkpoint, name);
  for (const auto& [key, file] : checkpoint.shared) {
    const StateFile actual = describe_file(checkpoint.shared_directory() / key, file.file);
    if (actual.size != file.size || actual.checksum != file.checksum) {
      throw_corrupt(checkpoint.folder, "shared file " + file.file + " checksum mismatch");
    }
  }
}

void CheckpointStorage::apply_retention(int64_t newest_completed) {
  int kept = 0;
  std::set<std::string> referenced;  // shared files of the retained checkpoints
  bool unreadable = false;
  for (const auto& [id, folder] : checkpoint_folders(directory_)) {
    std::error_code ec;
    if (id > newest_completed) {  // a newer checkpoint in progress: not ours to touch
      unreadable = true;          // and its shared files are not listed anywhere yet
      continue;
    }
    const bool completed = fs::exists(folder / kMetadata, ec);
    if (completed && kept < retained_) {
      ++kept;
      try {
        for (const auto& [key, file] : load(folder).shared) referenced.insert(key);
      } catch (const Error&) {
        unreadable = true;  // cannot tell what it uses: delete no shared file this time
      }
      continue;
    }
    fs::remove_all(folder, ec);
  }
  // Savepoints never use shared files (they are self-contained), so retained checkpoints are the
  // only users.
  std::error_code ec;
  const fs::path shared = directory_ / "shared";
  if (unreadable || !fs::is_directory(shared, ec)) return;
  for (const auto& entry : fs::directory_iterator(shared, ec)) {
    const std::string key = entry.path().filename().string();
    if (referenced.contains(key)) continue;
    fs::remove(entry.path(), ec);
    std::lock_guard lock(shared_mutex_);
    known_shared_.erase(key);
  }
}

}  // namespace sluice
