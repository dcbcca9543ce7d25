// Durable file I/O for checkpoints: writes that are fsynced, reads and checksums of state files
// (which can be gigabytes: read and hashed in chunks), and the errors that name the file.
//
// Threading: free functions; safe from any thread on different files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "sluice/checkpoint/checkpoint_storage.h"

namespace sluice::checkpoint_io {

[[noreturn]] void throw_io(const std::string& what, const std::filesystem::path& path);
// All of `bytes`, in chunks (see the definition for why).
void write_all(int fd, std::string_view bytes, const std::filesystem::path& path);
// Writes `bytes` to `path` and fsyncs it; the caller makes it visible (rename) if needed.
void write_synced(const std::filesystem::path& path, std::string_view bytes);
void fsync_directory(const std::filesystem::path& dir);
std::string read_file(const std::filesystem::path& path);
uint64_t checksum(std::string_view bytes);
// The size and checksum of a file, listed as `name`.
StateFile describe_file(const std::filesystem::path& path, const std::string& name);
// Copies `from` to `to` and fsyncs the copy.
void copy_synced(const std::filesystem::path& from, const std::filesystem::path& to);
// `to` becomes the same file as `from` (a hard link, fsynced; a copy on another file system).
void link_or_copy(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace sluice::checkpoint_io
