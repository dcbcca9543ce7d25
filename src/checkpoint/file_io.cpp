#include "checkpoint/file_io.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sluice/core/error.h"
#include "sluice/core/key_group_range.h"

namespace sluice::checkpoint_io {

namespace fs = std::filesystem;

[[noreturn]] void throw_io(const std::string& what, const fs::path& path) {
  throw Error(ErrorCategory::kIo, fmt::format("{}: {}", what, std::strerror(errno)),
              ErrorContext{.file = path.string()});
}

// In chunks: one write of megabytes kept the (low-priority) snapshot-writing thread in the kernel
// for 35-55 ms, and the task threads stalled meanwhile (perf trace: 15-20 ms futex waits of every
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

void link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::remove(to, ec);
  if (::link(from.c_str(), to.c_str()) != 0) {
    copy_synced(from, to);  // another file system
    return;
  }
  const int fd = ::open(to.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw_io("cannot fsync checkpoint file", to);
  }
  ::close(fd);
}

}  // namespace sluice::checkpoint_io
