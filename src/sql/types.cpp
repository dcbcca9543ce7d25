#include "sluice/sql/types.h"

#include <fmt/format.h>

#include <algorithm>

namespace sluice::sql {

size_t physical_width(PhysicalType type) {
  switch (type) {
    case PhysicalType::kBool:
    case PhysicalType::kInt8:
      return 1;
    case PhysicalType::kInt16:
      return 2;
    case PhysicalType::kInt32:
    case PhysicalType::kFloat:
      return 4;
    case PhysicalType::kInt64:
    case PhysicalType::kDouble:
      return 8;
    case PhysicalType::kInt128:
    case PhysicalType::kString:
      return 16;
    case PhysicalType::kNested:
      return 0;
  }
  return 0;
}

LogicalType LogicalType::decimal(int precision, int scale) {
  LogicalType t(TypeId::kDecimal);
  t.precision_ = precision;
  t.scale_ = scale;
  return t;
}

LogicalType LogicalType::char_type(int length) {
  LogicalType t(TypeId::kChar);
  t.precision_ = length;
  return t;
}

LogicalType LogicalType::varchar(int length) {
  LogicalType t(TypeId::kVarchar);
  t.precision_ = length;
  return t;
}

LogicalType LogicalType::bytes() {
  LogicalType t(TypeId::kBytes);
  t.precision_ = kMaxLength;
  return t;
}

LogicalType LogicalType::time(int precision) {
  LogicalType t(TypeId::kTime);
  t.precision_ = precision;
  return t;
}

LogicalType LogicalType::timestamp(int precision) {
  LogicalType t(TypeId::kTimestamp);
  t.precision_ = precision;
  return t;
}

LogicalType LogicalType::timestamp_ltz(int precision) {
  LogicalType t(TypeId::kTimestampLtz);
  t.precision_ = precision;
  return t;
}

LogicalType LogicalType::array(LogicalType element) {
  LogicalType t(TypeId::kArray);
  t.nested_ = std::make_shared<Nested>(Nested{{std::move(element)}, {}});
  return t;
}

LogicalType LogicalType::map(LogicalType key, LogicalType value) {
  LogicalType t(TypeId::kMap);
  t.nested_ = std::make_shared<Nested>(Nested{{std::move(key), std::move(value)}, {}});
  return t;
}

LogicalType LogicalType::row(std::vector<std::string> names, std::vector<LogicalType> fields) {
  LogicalType t(TypeId::kRow);
  t.nested_ = std::make_shared<Nested>(Nested{std::move(fields), std::move(names)});
  return t;
}

const std::vector<LogicalType>& LogicalType::children() const {
  static const std::vector<LogicalType> kNone;
  return nested_ ? nested_->children : kNone;
}

const std::vector<std::string>& LogicalType::field_names() const {
  static const std::vector<std::string> kNone;
  return nested_ ? nested_->names : kNone;
}

PhysicalType LogicalType::physical() const {
  switch (id_) {
    case TypeId::kNull:
    case TypeId::kBoolean:
      return PhysicalType::kBool;
    case TypeId::kTinyInt:
      return PhysicalType::kInt8;
    case TypeId::kSmallInt:
      return PhysicalType::kInt16;
    case TypeId::kInt:
    case TypeId::kDate:
    case TypeId::kIntervalYearMonth:
      return PhysicalType::kInt32;
    case TypeId::kBigInt:
    case TypeId::kTime:
    case TypeId::kTimestamp:
    case TypeId::kTimestampLtz:
    case TypeId::kIntervalDayTime:
      return PhysicalType::kInt64;
    case TypeId::kFloat:
      return PhysicalType::kFloat;
    case TypeId::kDouble:
      return PhysicalType::kDouble;
    case TypeId::kDecimal:
      return precision_ <= 18 ? PhysicalType::kInt64 : PhysicalType::kInt128;
    case TypeId::kChar:
    case TypeId::kVarchar:
    case TypeId::kBytes:
      return PhysicalType::kString;
    case TypeId::kArray:
    case TypeId::kMap:
    case TypeId::kRow:
      return PhysicalType::kNested;
  }
  return PhysicalType::kNested;
}

std::string LogicalType::to_string() const {
  switch (id_) {
    case TypeId::kNull:
      return "NULL";
    case TypeId::kBoolean:
      return "BOOLEAN";
    case TypeId::kTinyInt:
      return "TINYINT";
    case TypeId::kSmallInt:
      return "SMALLINT";
    case TypeId::kInt:
      return "INT";
    case TypeId::kBigInt:
      return "BIGINT";
    case TypeId::kFloat:
      return "FLOAT";
    case TypeId::kDouble:
      return "DOUBLE";
    case TypeId::kDecimal:
      return fmt::format("DECIMAL({}, {})", precision_, scale_);
    case TypeId::kChar:
      return fmt::format("CHAR({})", precision_);
    case TypeId::kVarchar:
      return precision_ == kMaxLength ? "STRING" : fmt::format("VARCHAR({})", precision_);
    case TypeId::kBytes:
      return "BYTES";
    case TypeId::kDate:
      return "DATE";
    case TypeId::kTime:
      return fmt::format("TIME({})", precision_);
    case TypeId::kTimestamp:
      return fmt::format("TIMESTAMP({})", precision_);
    case TypeId::kTimestampLtz:
      return fmt::format("TIMESTAMP_LTZ({})", precision_);
    case TypeId::kIntervalDayTime:
      return "INTERVAL DAY TO SECOND";
    case TypeId::kIntervalYearMonth:
      return "INTERVAL YEAR TO MONTH";
    case TypeId::kArray:
      return fmt::format("ARRAY<{}>", children()[0].to_string());
    case TypeId::kMap:
      return fmt::format("MAP<{}, {}>", children()[0].to_string(), children()[1].to_string());
    case TypeId::kRow: {
      std::string out = "ROW<";
      for (size_t i = 0; i < children().size(); ++i) {
        out += fmt::format("{}`{}` {}", i ? ", " : "", field_names()[i], children()[i].to_string());
      }
      return out + ">";
    }
  }
  return "?";
}

bool operator==(const LogicalType& a, const LogicalType& b) {
  if (a.id_ != b.id_ || a.precision_ != b.precision_ || a.scale_ != b.scale_) return false;
  return a.children() == b.children() && a.field_names() == b.field_names();
}

int integer_decimal_precision(TypeId id) {
  switch (id) {
    case TypeId::kTinyInt:
      return 3;
    case TypeId::kSmallInt:
      return 5;
    case TypeId::kInt:
      return 10;
    default:
      return 19;
  }
}

namespace {

int numeric_rank(TypeId id) {
  switch (id) {
    case TypeId::kTinyInt:
      return 1;
    case TypeId::kSmallInt:
      return 2;
    case TypeId::kInt:
      return 3;
    case TypeId::kBigInt:
      return 4;
    case TypeId::kDecimal:
      return 5;
    case TypeId::kFloat:
      return 6;
    case TypeId::kDouble:
      return 7;
    default:
      return 0;
  }
}

LogicalType as_decimal(const LogicalType& t) {
  if (t.id() == TypeId::kDecimal) return t;
  return LogicalType::decimal(integer_decimal_precision(t.id()), 0);
}

}  // namespace

bool common_super_type(const LogicalType& a, const LogicalType& b, LogicalType& out) {
  if (a == b) {
    out = a;
    return true;
  }
  if (a.id() == TypeId::kNull) {
    out = b;
    return true;
  }
  if (b.id() == TypeId::kNull) {
    out = a;
    return true;
  }
  if (a.is_numeric() && b.is_numeric()) {
    if (a.is_approximate() || b.is_approximate()) {
      out = numeric_rank(a.id()) >= numeric_rank(b.id()) ? a : b;
      if (!out.is_approximate()) out = a.is_approximate() ? a : b;
      if (a.id() == TypeId::kDouble || b.id() == TypeId::kDouble) out = LogicalType::double_type();
      return true;
    }
    if (a.id() == TypeId::kDecimal || b.id() == TypeId::kDecimal) {
      LogicalType da = as_decimal(a);
      LogicalType db = as_decimal(b);
      int scale = std::max(da.scale(), db.scale());
      int integral = std::max(da.precision() - da.scale(), db.precision() - db.scale());
      int precision = std::min(integral + scale, LogicalType::kMaxDecimalPrecision);
      out = LogicalType::decimal(precision, scale);
      return true;
    }
    out = numeric_rank(a.id()) >= numeric_rank(b.id()) ? a : b;
    return true;
  }
  if (a.is_string() && b.is_string()) {
    out = LogicalType::varchar(std::max(a.length(), b.length()));
    return true;
  }
  if (a.id() == TypeId::kBytes && b.id() == TypeId::kBytes) {
    out = a;
    return true;
  }
  if ((a.id() == TypeId::kTimestamp || a.id() == TypeId::kDate) &&
      (b.id() == TypeId::kTimestamp || b.id() == TypeId::kDate)) {
    int precision = std::max(a.id() == TypeId::kTimestamp ? a.precision() : 0,
                             b.id() == TypeId::kTimestamp ? b.precision() : 0);
    out = LogicalType::timestamp(precision);
    return true;
  }
  if (a.id() == b.id() && (a.is_temporal() || a.is_interval() || a.id() == TypeId::kBoolean)) {
    out = a.precision() >= b.precision() ? a : b;
    return true;
  }
  return false;
}

bool can_cast(const LogicalType& from, const LogicalType& to) {
  if (from.id() == TypeId::kNull || from == to) return true;
  if (to.physical() == PhysicalType::kNested || from.physical() == PhysicalType::kNested) {
    return false;
  }
  // Everything casts to and from strings (parsing may fail at run time).
  if (from.is_string() || to.is_string()) return true;
  if (from.is_numeric() && to.is_numeric()) return true;
  if (from.id() == TypeId::kBoolean && to.is_numeric()) return true;
  if (from.is_numeric() && to.id() == TypeId::kBoolean) return from.is_integer();
  if (from.is_temporal() && to.is_temporal()) {
    return !(from.id() == TypeId::kTime && to.id() == TypeId::kDate) &&
           !(from.id() == TypeId::kDate && to.id() == TypeId::kTime);
  }
  if (from.is_interval() && to.is_interval()) return from.id() == to.id();
  if (from.id() == TypeId::kBytes && to.id() == TypeId::kBytes) return true;
  return false;
}

}  // namespace sluice::sql
