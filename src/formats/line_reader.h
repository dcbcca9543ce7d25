// Reads a file a line at a time through a large buffer: the lines of CSV and JSON-lines files.
// A line ends at '\n' (a preceding '\r' is dropped); with a quote character, a newline inside
// quotes does not end it (CSV's quoted fields). Lines stay valid until the next call.
//
// Threading: one reader per thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::formats {

// The files of a table path: the file itself, or a directory's files not starting with '.' or
// '_' (in-progress and hidden files), in name order; of those, the ones of part `part` of `parts`
// (dealt round-robin, for parallel scans).
std::vector<std::filesystem::path> table_files(const std::filesystem::path& path, size_t part = 0,
                                               size_t parts = 1);
// The size of a table's files, for row-count estimates; none if they cannot be read.
std::optional<uint64_t> table_bytes(const std::filesystem::path& path);

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
