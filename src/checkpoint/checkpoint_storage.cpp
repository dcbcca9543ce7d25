#include "sluice/checkpoint/checkpoint_storage.h"

#include "checkpoint/file_io.h"
#include "sluice/checkpoint/checkpoint_location.h"

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
#include "sluice/core/key_group_range.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr const char* kMetadata = "_metadata";
constexpr const char* kCheckpointPrefix = "chk-";
constexpr const char* kSavepointPrefix = "savepoint-";

using checkpoint_io::checksum;
using checkpoint_io::describe_file;
using checkpoint_io::fsync_directory;
using checkpoint_io::read_file;
using checkpoint_io::throw_io;
using checkpoint_io::write_synced;

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
      shared_(std::move(other.shared_)),
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

CheckpointLocation PendingCheckpoint::location() const {
  // Savepoints are self-contained: no shared folder.
  return CheckpointLocation{
      id_, folder_.string(),
      savepoint_ ? std::string() : (storage_->directory_ / "shared").string()};
}

void PendingCheckpoint::add_state(const std::string& name, const StateFile& file) {
  if (!states_.emplace(name, file).second) {
    throw Error(ErrorCategory::kInternal, "state '" + name + "' written twice to a checkpoint");
  }
}

void PendingCheckpoint::write_state(const std::string& name, std::string_view bytes) {
  add_state(name, location().write_state(name, bytes));
}

void PendingCheckpoint::adopt_state(const std::string& name, const StateFile& file,
                                    const fs::path& from_folder) {
  checkpoint_io::link_or_copy(from_folder / file.file, folder_ / file.file);
  add_state(name, file);
}

void PendingCheckpoint::add_shared(const std::string& key, const StateFile& file) {
  std::error_code ec;
  const fs::path path = storage_->directory_ / "shared" / key;
  if (!fs::exists(path, ec)) {
    throw Error(ErrorCategory::kIo, "shared checkpoint file '" + key + "' is gone",
                ErrorContext{.file = path.string()});
  }
  shared_[key] = file;
}

void PendingCheckpoint::set_property(const std::string& key, const std::string& value) {
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
  }
}

}  // namespace sluice
