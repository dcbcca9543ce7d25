// A single SQL value of a LogicalType, or NULL: literals in plans, constants folded by the
// optimizer, and rows handed to users (query results, the CLI, tests). Not used on hot paths;
// columns of many values are Vectors (vector.h).
//
// Threading: a value type; copies are independent.
#pragma once

#include <cstdint>
#include <string>

#include "sluice/sql/types.h"

namespace sluice::sql {

__extension__ typedef __int128 int128_t;
__extension__ typedef unsigned __int128 uint128_t;

class Vector;

class Value {
 public:
  Value() = default;  // NULL of type NULL
  static Value null(LogicalType type);
  static Value boolean(bool v);
  static Value integer(LogicalType type, int64_t v);  // TINYINT..BIGINT, DATE, TIME, TIMESTAMP,
                                                      // intervals: the physical integer
  static Value decimal(int128_t unscaled, int precision, int scale);
  static Value floating(LogicalType type, double v);
  static Value string(LogicalType type, std::string v);
  static Value string(std::string v);

  const LogicalType& type() const { return type_; }
  bool is_null() const { return null_; }
  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return static_cast<int64_t>(int_); }
  int128_t as_int128() const { return int_; }
  double as_double() const { return double_; }
  const std::string& as_string() const { return string_; }

  // Row `row` of `vector`.
  static Value from_vector(const Vector& vector, size_t row);
  // Writes this value into row `row` of `vector` (same type).
  void write_to(Vector& vector, size_t row) const;

  // How results print: NULL, true/false, decimals with their scale, dates YYYY-MM-DD,
  // timestamps without a zero fraction (tests/sql/README.md).
  std::string to_string() const;
  // The SQL literal that evaluates to this value (used when printing plans).
  std::string to_sql() const;

 private:
  LogicalType type_;
  bool null_ = true;
  int128_t int_ = 0;
  double double_ = 0;
  std::string string_;
};

// Decimal arithmetic shared by casts, functions and aggregates: 10^n for n in [0, 38] (beyond,
// 10^38), and n / d rounded HALF_UP (ties away from zero), as Flink's decimals round.
int128_t power_of_ten(int n);
int128_t divide_half_up(int128_t n, int128_t d);

// Calendar helpers shared by literals, casts and functions (proleptic Gregorian, UTC).
int32_t days_from_civil(int64_t year, unsigned month, unsigned day);
void civil_from_days(int64_t days, int64_t& year, unsigned& month, unsigned& day);
std::string format_date(int32_t days);
std::string format_timestamp(int64_t micros, int precision);
std::string format_decimal(int128_t unscaled, int scale);
// Parsers return false on malformed text.
bool parse_date(std::string_view text, int32_t& days);
bool parse_timestamp(std::string_view text, int64_t& micros);
bool parse_time(std::string_view text, int64_t& micros);
bool parse_decimal(std::string_view text, int precision, int scale, int128_t& unscaled);

}  // namespace sluice::sql
