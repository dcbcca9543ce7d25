// Reads a file a line at a time through a large buffer: the lines of CSV and JSON-lines files.
// A line ends at '\n' (a preceding '\r' is dropped); with a quote character, a newline inside
// quotes does not end it (CSV's quoted fields). Lines stay valid until the next call.
//
// Threading: one reader per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace sluice::formats {

class LineReader {
 public:
  LineReader(std::filesystem::path path, char quote);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  bool next(std::string_view& line);
  int64_t line_number() const { return line_number_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  bool fill();

  std::filesystem::path path_;
  char quote_;
  int fd_ = -1;
  std::string buffer_;
  size_t position_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
};

}  // namespace sluice::formats
