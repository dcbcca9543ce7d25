#include "spill.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "large_memory.h"
#include "sluice/core/error.h"
#include "sluice/sql/parser.h"

namespace sluice::sql {

namespace {

constexpr size_t kSpillBufferBytes = size_t{256} << 10;

struct ColumnHeader {
  uint8_t constant;
  uint8_t has_nulls;
};

}  // namespace

bool MemoryBudget::try_reserve(size_t bytes) {
  size_t current = reserved_.load(std::memory_order_relaxed);
  do {
    if (current + bytes > limit_) return false;
  } while (!reserved_.compare_exchange_weak(current, current + bytes, std::memory_order_relaxed));
  raise_peak(current + bytes);
  return true;
}

void MemoryBudget::force_reserve(size_t bytes) {
  raise_peak(reserved_.fetch_add(bytes, std::memory_order_relaxed) + bytes);
}

void MemoryBudget::release(size_t bytes) { reserved_.fetch_sub(bytes, std::memory_order_relaxed); }

void MemoryBudget::raise_peak(size_t reserved) {
  size_t peak = peak_.load(std::memory_order_relaxed);
  while (reserved > peak &&
         !peak_.compare_exchange_weak(peak, reserved, std::memory_order_relaxed)) {
  }
}

bool MemoryReservation::try_resize(size_t bytes) {
  if (bytes <= bytes_) {
    budget_.release(bytes_ - bytes);
    bytes_ = bytes;
    return true;
  }
  if (!budget_.try_reserve(bytes - bytes_)) return false;
  bytes_ = bytes;
  return true;
}

void MemoryReservation::force_resize(size_t bytes) {
  if (bytes <= bytes_) {
    try_resize(bytes);
    return;
  }
  budget_.force_reserve(bytes - bytes_);
  bytes_ = bytes;
}

SpillFile::SpillFile(const std::string& directory, MemoryBudget* stats)
    : directory_(directory), stats_(stats) {
#ifdef O_TMPFILE
  fd_ = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
  if (fd_ < 0) {
    // File systems without O_TMPFILE: a named file, unlinked at once.
    std::string path = directory + "/sluice-spill-XXXXXX";
    fd_ = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd_ >= 0) ::unlink(path.c_str());
  }
  if (fd_ < 0) fail("cannot create a spill file");
  buffer_.resize(kSpillBufferBytes);
}

SpillFile::~SpillFile() {
  if (fd_ >= 0) ::close(fd_);
}

void SpillFile::fail(const std::string& what) const {
  throw Error(ErrorCategory::kIo,
              fmt::format("{} in '{}' (io.tmp.dirs): {}", what, directory_, std::strerror(errno)));
}

void SpillFile::flush() {
  size_t done = 0;
  while (done < buffer_used_) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_used_ - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("cannot write a spill file");
    done += static_cast<size_t>(n);
  }
  buffer_used_ = 0;
}

void SpillFile::write(const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  written_ += size;
  if (stats_) stats_->add_spilled(size);
  while (size > 0) {
    if (buffer_used_ == buffer_.size()) flush();
    size_t n = std::min(size, buffer_.size() - buffer_used_);
    std::memcpy(buffer_.data() + buffer_used_, bytes, n);
    buffer_used_ += n;
    bytes += n;
    size -= n;
  }
}

void SpillFile::finish_writing() {
  flush();
  reading_ = true;
  buffer_begin_ = 0;
  buffer_used_ = 0;
  file_offset_ = 0;
}

bool SpillFile::read(void* data, size_t size) {
  char* out = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    if (buffer_begin_ == buffer_used_) {
      ssize_t n;
      do {
        n = ::pread(fd_, buffer_.data(), buffer_.size(), static_cast<off_t>(file_offset_));
      } while (n < 0 && errno == EINTR);
      if (n < 0) fail("cannot read a spill file");
      if (n == 0) {
        if (done == 0) return false;
        throw Error(ErrorCategory::kInternal,
                    fmt::format("a spill file in '{}' ends inside a record at byte {}", directory_,
                                file_offset_));
      }
      file_offset_ += static_cast<size_t>(n);
      buffer_begin_ = 0;
      buffer_used_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size - done, buffer_used_ - buffer_begin_);
    std::memcpy(out + done, buffer_.data() + buffer_begin_, n);
    buffer_begin_ += n;
    done += n;
  }
  return true;
}

void SpillFile::read_exact(void* data, size_t size) {
  if (!read(data, size)) {
    throw Error(ErrorCategory::kInternal,
                fmt::format("a spill file in '{}' ends inside a record", directory_));
  }
}

void SpillFile::write_chunk(const DataChunk& chunk) {
  uint32_t rows = static_cast<uint32_t>(chunk.size());
  write(&rows, sizeof(rows));
  ++chunks_;
  for (size_t c = 0; c < chunk.column_count(); ++c) {
    const Vector& v = chunk.column(c);
    size_t count = v.is_constant() ? std::min<size_t>(rows, 1) : rows;
    ColumnHeader header{static_cast<uint8_t>(v.is_constant()),
                        static_cast<uint8_t>(!v.all_valid())};
    write(&header, sizeof(header));
    if (header.has_nulls) write(v.validity_words_or_null(), (count + 63) / 64 * 8);
    if (v.physical() == PhysicalType::kNested) {
      throw Error(ErrorCategory::kInvalidArgument,
                  "ARRAY, MAP and ROW values cannot be spilled yet (docs/SQL.md)");
    }
    if (v.physical() != PhysicalType::kString) {
      write(v.raw(), count * physical_width(v.physical()));
      continue;
    }
    const StringRef* strings = v.data<StringRef>();
    lengths_.resize(count);
    for (size_t i = 0; i < count; ++i) lengths_[i] = v.is_valid(i) ? strings[i].size() : 0;
    write(lengths_.data(), count * sizeof(uint32_t));
    for (size_t i = 0; i < count; ++i) {
      if (lengths_[i] > 0) write(strings[i].data(), lengths_[i]);
    }
  }
}

bool SpillFile::read_chunk(DataChunk& out) {
  out.reset();
  uint32_t rows;
  if (!read(&rows, sizeof(rows))) return false;
  for (size_t c = 0; c < out.column_count(); ++c) {
    Vector& v = out.column(c);
    ColumnHeader header;
    read_exact(&header, sizeof(header));
    size_t count = header.constant ? std::min<size_t>(rows, 1) : rows;
    v.set_constant(header.constant != 0);
    if (header.has_nulls) read_exact(v.validity_words(), (count + 63) / 64 * 8);
    if (v.physical() != PhysicalType::kString) {
      read_exact(v.raw(), count * physical_width(v.physical()));
      continue;
    }
    lengths_.resize(count);
    read_exact(lengths_.data(), count * sizeof(uint32_t));
    size_t total = 0;
    for (size_t i = 0; i < count; ++i) total += lengths_[i];
    // One read for all of the batch's string bytes; StringRef inlines the short ones.
    char* bytes = total > 0 ? v.heap().allocate(total) : nullptr;
    if (total > 0) read_exact(bytes, total);
    StringRef* strings = v.data<StringRef>();
    size_t offset = 0;
    for (size_t i = 0; i < count; ++i) {
      strings[i] = StringRef(bytes ? bytes + offset : "", lengths_[i]);
      offset += lengths_[i];
    }
  }
  out.set_size(rows);
  return true;
}

size_t parse_memory_size(const std::string& option, const std::string& value) {
  auto bad = [&]() -> SqlError {
    return SqlError(fmt::format("'{}' must be a memory size such as '512mb' or '4gb', not '{}'",
                                option, value));
  };
  size_t i = 0;
  while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
  size_t digits = i;
  while (i < value.size() && std::isdigit(static_cast<unsigned char>(value[i]))) ++i;
  if (i == digits || i - digits > 15) throw bad();
  size_t number = std::stoull(value.substr(digits, i - digits));
  while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
  std::string unit;
  for (; i < value.size(); ++i) {
    if (std::isspace(static_cast<unsigned char>(value[i]))) break;
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(value[i])));
  }
  while (i < value.size() && std::isspace(static_cast<unsigned char>(value[i]))) ++i;
  if (i != value.size()) throw bad();
  int shift;
  if (unit.empty() || unit == "b" || unit == "bytes") {
    shift = 0;
  } else if (unit == "k" || unit == "kb" || unit == "kibibytes") {
    shift = 10;
  } else if (unit == "m" || unit == "mb" || unit == "mebibytes") {
    shift = 20;
  } else if (unit == "g" || unit == "gb" || unit == "gibibytes") {
    shift = 30;
  } else if (unit == "t" || unit == "tb" || unit == "tebibytes") {
    shift = 40;
  } else {
    throw bad();
  }
  if (shift > 0 && number > (SIZE_MAX >> shift)) throw bad();
  return number << shift;
}

size_t default_memory_limit() {
  size_t memory = physical_memory_bytes();
  return memory == 0 ? size_t{4} << 30 : memory / 10 * 4;
}

}  // namespace sluice::sql
