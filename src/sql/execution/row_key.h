// Row keys: the values of a row's key columns encoded as bytes, so that hash tables of the
// batch executor (aggregation, joins, set operations) hash and compare one byte string per row
// whatever the key types. Per column: a NULL flag byte, then the fixed-width value, or for a
// string its length and bytes. Two rows have equal keys exactly when their encodings are equal
// (NULLs equal each other, as GROUP BY and DISTINCT need; joins skip keys with a NULL).
//
// Threading: an encoder is one thread's scratch space.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "sluice/sql/vector.h"

namespace sluice::sql {

class RowKeyEncoder {
 public:
  // Encodes rows [0, count) of `columns`; key(i) stays valid until the next encode().
  void encode(const std::vector<const Vector*>& columns, size_t count);
  std::string_view key(size_t row) const {
    return {buffer_.data() + offsets_[row], offsets_[row + 1] - offsets_[row]};
  }
  // Whether any key column of the row is NULL.
  bool has_null(size_t row) const { return has_null_[row] != 0; }

 private:
  std::vector<char> buffer_;
  std::vector<size_t> offsets_;
  std::vector<uint8_t> has_null_;
};

// Writes the key columns of an encoded key back into row `row` of `columns`.
void decode_row_key(std::string_view key, std::vector<Vector*>& columns, size_t row);

}  // namespace sluice::sql

namespace sluice::sql {

// Keys of integer columns whose widths add up to at most 8 bytes (a BIGINT, two INTs, a DATE and
// an INT, ...) packed into one 64-bit word: hash tables on them hash and compare a word instead
// of a byte string (TPC-H's keys are all of this kind).
class PackedKeys {
 public:
  // Whether keys of these types pack.
  static bool packable(const std::vector<LogicalType>& types);

  explicit PackedKeys(const std::vector<LogicalType>& types);
  // Packs rows [0, count); has_null(i) is set when any key column of row i is NULL.
  void pack(const std::vector<const Vector*>& columns, size_t count);
  uint64_t key(size_t row) const { return keys_[row]; }
  bool has_null(size_t row) const { return has_null_[row] != 0; }
  // Writes the columns of `key` into row `row` of `columns`.
  void unpack(uint64_t key, std::vector<Vector*>& columns, size_t row) const;

 private:
  std::vector<size_t> widths_;
  std::vector<uint64_t> keys_;
  std::vector<uint8_t> has_null_;
};

}  // namespace sluice::sql
