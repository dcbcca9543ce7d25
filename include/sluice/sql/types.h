// SQL's logical types (Flink SQL's type system) and how each is laid out in a column vector.
//
// A LogicalType is a value: the type id plus precision, scale, length and, for nested types, the
// element types. Every logical type maps to one PhysicalType, the in-memory representation the
// vectorized evaluator's kernels are instantiated for (docs/SQL.md lists the mapping):
//   BOOLEAN -> kBool (1 byte); TINYINT..BIGINT -> kInt8..kInt64; FLOAT -> kFloat; DOUBLE ->
//   kDouble; DECIMAL(p <= 18, s) -> kInt64 unscaled, DECIMAL(p > 18) -> kInt128 unscaled; CHAR,
//   VARCHAR, BYTES -> kString (StringRef); DATE -> kInt32 days since 1970-01-01; TIME -> kInt64
//   microseconds of the day; TIMESTAMP(p), TIMESTAMP_LTZ(p) -> kInt64 microseconds since the epoch;
//   INTERVAL DAY TO SECOND -> kInt64 microseconds; INTERVAL YEAR TO MONTH -> kInt32 months.
//
// Threading: immutable values, safe to share.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sluice::sql {

enum class TypeId : uint8_t {
  kNull,  // the type of an untyped NULL literal; castable to every type
  kBoolean,
  kTinyInt,
  kSmallInt,
  kInt,
  kBigInt,
  kFloat,
  kDouble,
  kDecimal,
  kChar,
  kVarchar,
  kBytes,
  kDate,
  kTime,
  kTimestamp,
  kTimestampLtz,
  kIntervalDayTime,
  kIntervalYearMonth,
  kArray,
  kMap,
  kRow,
};

enum class PhysicalType : uint8_t {
  kBool,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kInt128,
  kFloat,
  kDouble,
  kString,
  kNested,  // ARRAY, MAP, ROW: not yet executable (docs/SQL.md)
};

size_t physical_width(PhysicalType type);

class LogicalType {
 public:
  static constexpr int kMaxDecimalPrecision = 38;
  static constexpr int kMaxLength = 2147483647;  // VARCHAR's default length, as Flink's STRING

  LogicalType() = default;
  explicit LogicalType(TypeId id) : id_(id) {}

  static LogicalType null() { return LogicalType(TypeId::kNull); }
  static LogicalType boolean() { return LogicalType(TypeId::kBoolean); }
  static LogicalType tinyint() { return LogicalType(TypeId::kTinyInt); }
  static LogicalType smallint() { return LogicalType(TypeId::kSmallInt); }
  static LogicalType integer() { return LogicalType(TypeId::kInt); }
  static LogicalType bigint() { return LogicalType(TypeId::kBigInt); }
  static LogicalType float_type() { return LogicalType(TypeId::kFloat); }
  static LogicalType double_type() { return LogicalType(TypeId::kDouble); }
  static LogicalType decimal(int precision, int scale);
  static LogicalType char_type(int length);
  static LogicalType varchar(int length = kMaxLength);
  static LogicalType string() { return varchar(); }
  static LogicalType bytes();
  static LogicalType date() { return LogicalType(TypeId::kDate); }
  static LogicalType time(int precision = 0);
  static LogicalType timestamp(int precision = 6);
  static LogicalType timestamp_ltz(int precision = 6);
  static LogicalType interval_day_time() { return LogicalType(TypeId::kIntervalDayTime); }
  static LogicalType interval_year_month() { return LogicalType(TypeId::kIntervalYearMonth); }
  static LogicalType array(LogicalType element);
  static LogicalType map(LogicalType key, LogicalType value);
  static LogicalType row(std::vector<std::string> names, std::vector<LogicalType> fields);

  TypeId id() const { return id_; }
  PhysicalType physical() const;
  int precision() const { return precision_; }  // DECIMAL, TIME, TIMESTAMP
  int scale() const { return scale_; }          // DECIMAL
  int length() const { return precision_; }     // CHAR, VARCHAR, BYTES
  const std::vector<LogicalType>& children() const;
  const std::vector<std::string>& field_names() const;

  bool is_integer() const { return id_ >= TypeId::kTinyInt && id_ <= TypeId::kBigInt; }
  bool is_numeric() const { return id_ >= TypeId::kTinyInt && id_ <= TypeId::kDecimal; }
  bool is_approximate() const { return id_ == TypeId::kFloat || id_ == TypeId::kDouble; }
  bool is_string() const { return id_ == TypeId::kChar || id_ == TypeId::kVarchar; }
  bool is_temporal() const { return id_ >= TypeId::kDate && id_ <= TypeId::kTimestampLtz; }
  bool is_interval() const {
    return id_ == TypeId::kIntervalDayTime || id_ == TypeId::kIntervalYearMonth;
  }

  // Flink's spelling: INT, DECIMAL(15, 2), VARCHAR(10), STRING, TIMESTAMP(3), ARRAY<INT>.
  std::string to_string() const;

  friend bool operator==(const LogicalType& a, const LogicalType& b);

 private:
  struct Nested {
    std::vector<LogicalType> children;
    std::vector<std::string> names;
  };

  TypeId id_ = TypeId::kNull;
  int precision_ = 0;
  int scale_ = 0;
  std::shared_ptr<const Nested> nested_;
};

// The decimal precision an integer type needs (Flink: TINYINT 3, SMALLINT 5, INT 10, BIGINT 19).
int integer_decimal_precision(TypeId id);

// The type both operands are converted to before a comparison or an arithmetic operation, as
// Flink's implicit widening does (numeric towards the wider / inexact one, CHAR and VARCHAR to
// VARCHAR, DATE and TIMESTAMP to TIMESTAMP); none when the types do not mix.
bool common_super_type(const LogicalType& a, const LogicalType& b, LogicalType& out);

// Whether CAST(from AS to) is defined (Flink's explicit cast rules).
bool can_cast(const LogicalType& from, const LogicalType& to);

}  // namespace sluice::sql
