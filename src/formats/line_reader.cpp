#include "line_reader.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sluice/core/error.h"

namespace sluice::formats {

namespace {
constexpr size_t kReadSize = size_t{4} << 20;
}  // namespace

std::vector<std::filesystem::path> table_files(const std::filesystem::path& path, size_t part,
                                               size_t parts) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && !name.empty() && name[0] != '.' && name[0] != '_') {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<std::filesystem::path> mine;
  for (size_t i = part; i < files.size(); i += parts) mine.push_back(files[i]);
  return mine;
}

std::optional<uint64_t> table_bytes(const std::filesystem::path& path) {
  uint64_t bytes = 0;
  for (const auto& file : table_files(path)) {
    std::error_code ec;
    bytes += std::filesystem::file_size(file, ec);
    if (ec) return std::nullopt;
  }
  return bytes;
}

LineReader::LineReader(std::filesystem::path path, char quote)
    : path_(std::move(path)), quote_(quote) {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    throw Error(ErrorCategory::kIo, fmt::format("cannot open the file: {}", std::strerror(errno)),
                ErrorContext{.file = path_.string()});
  }
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  if (eof_) return false;
  buffer_.erase(0, position_);
  position_ = 0;
  size_t old = buffer_.size();
  buffer_.resize(old + kReadSize);
  ssize_t n;
  do {
    n = ::read(fd_, buffer_.data() + old, kReadSize);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    throw Error(ErrorCategory::kIo, fmt::format("cannot read the file: {}", std::strerror(errno)),
                ErrorContext{.file = path_.string()});
  }
  buffer_.resize(old + static_cast<size_t>(n));
  if (n == 0) eof_ = true;
  return n > 0;
}

bool LineReader::next(std::string_view& line) {
  while (true) {
    size_t i = position_;
    if (quote_ == 0) {
      const void* found = std::memchr(buffer_.data() + i, '\n', buffer_.size() - i);
      i = found ? static_cast<size_t>(static_cast<const char*>(found) - buffer_.data())
                : buffer_.size();
    } else {
      bool in_quotes = false;
      for (; i < buffer_.size(); ++i) {
        char c = buffer_[i];
        if (c == quote_) {
          in_quotes = !in_quotes;
        } else if (c == '\n' && !in_quotes) {
          break;
        }
      }
    }
    if (i < buffer_.size()) {
      size_t end = i;
      if (end > position_ && buffer_[end - 1] == '\r') --end;
      line = std::string_view(buffer_).substr(position_, end - position_);
      position_ = i + 1;
      ++line_number_;
      return true;
    }
    if (!fill()) {
      if (position_ >= buffer_.size()) return false;
      // The last line has no newline.
      size_t end = buffer_.size();
      if (buffer_[end - 1] == '\r') --end;
      line = std::string_view(buffer_).substr(position_, end - position_);
      position_ = buffer_.size();
      ++line_number_;
      return true;
    }
  }
}

}  // namespace sluice::formats
