#include "sluice/sql/value.h"
#include <algorithm>

#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "sluice/sql/vector.h"

namespace sluice::sql {

Value Value::null(LogicalType type) {
  Value v;
  v.type_ = std::move(type);
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.type_ = LogicalType::boolean();
  v.null_ = false;
  v.int_ = b ? 1 : 0;
  return v;
}

Value Value::integer(LogicalType type, int64_t i) {
  Value v;
  v.type_ = std::move(type);
  v.null_ = false;
  v.int_ = i;
  return v;
}

Value Value::decimal(int128_t unscaled, int precision, int scale) {
  Value v;
  v.type_ = LogicalType::decimal(precision, scale);
  v.null_ = false;
  v.int_ = unscaled;
  return v;
}

Value Value::floating(LogicalType type, double d) {
  Value v;
  v.type_ = std::move(type);
  v.null_ = false;
  v.double_ = d;
  return v;
}

Value Value::string(LogicalType type, std::string s) {
  Value v;
  v.type_ = std::move(type);
  v.null_ = false;
  v.string_ = std::move(s);
  return v;
}

Value Value::string(std::string s) { return string(LogicalType::string(), std::move(s)); }

Value Value::from_vector(const Vector& vector, size_t row) {
  size_t r = vector.is_constant() ? 0 : row;
  const LogicalType& type = vector.type();
  if (!vector.is_valid(r) || type.id() == TypeId::kNull) return null(type);
  switch (type.physical()) {
    case PhysicalType::kBool:
      return boolean(vector.data<uint8_t>()[r] != 0);
    case PhysicalType::kInt8:
      return integer(type, vector.data<int8_t>()[r]);
    case PhysicalType::kInt16:
      return integer(type, vector.data<int16_t>()[r]);
    case PhysicalType::kInt32:
      return integer(type, vector.data<int32_t>()[r]);
    case PhysicalType::kInt64:
      if (type.id() == TypeId::kDecimal) {
        return decimal(vector.data<int64_t>()[r], type.precision(), type.scale());
      }
      return integer(type, vector.data<int64_t>()[r]);
    case PhysicalType::kInt128:
      return decimal(vector.data<int128_t>()[r], type.precision(), type.scale());
    case PhysicalType::kFloat:
      return floating(type, vector.data<float>()[r]);
    case PhysicalType::kDouble:
      return floating(type, vector.data<double>()[r]);
    case PhysicalType::kString:
      return string(type, std::string(vector.data<StringRef>()[r].view()));
    case PhysicalType::kNested:
      break;
  }
  return null(type);
}

void Value::write_to(Vector& vector, size_t row) const {
  if (null_) {
    vector.set_null(row);
    return;
  }
  vector.set_valid(row);
  switch (vector.physical()) {
    case PhysicalType::kBool:
      vector.data<uint8_t>()[row] = int_ != 0;
      break;
    case PhysicalType::kInt8:
      vector.data<int8_t>()[row] = static_cast<int8_t>(int_);
      break;
    case PhysicalType::kInt16:
      vector.data<int16_t>()[row] = static_cast<int16_t>(int_);
      break;
    case PhysicalType::kInt32:
      vector.data<int32_t>()[row] = static_cast<int32_t>(int_);
      break;
    case PhysicalType::kInt64:
      vector.data<int64_t>()[row] = static_cast<int64_t>(int_);
      break;
    case PhysicalType::kInt128:
      vector.data<int128_t>()[row] = int_;
      break;
    case PhysicalType::kFloat:
      vector.data<float>()[row] = static_cast<float>(double_);
      break;
    case PhysicalType::kDouble:
      vector.data<double>()[row] = double_;
      break;
    case PhysicalType::kString:
      vector.add_string(row, string_);
      break;
    case PhysicalType::kNested:
      vector.set_null(row);
      break;
  }
}

namespace {
struct PowersOfTen {
  int128_t values[39];
  constexpr PowersOfTen() : values() {
    values[0] = 1;
    for (int i = 1; i < 39; ++i) values[i] = values[i - 1] * 10;
  }
};
constexpr PowersOfTen kPowersOfTen;
}  // namespace

// A table: kernels call it per row.
int128_t power_of_ten(int n) { return kPowersOfTen.values[std::clamp(n, 0, 38)]; }

int128_t divide_half_up(int128_t n, int128_t d) {
  int128_t q = n / d;
  int128_t rem = n % d;
  if (rem < 0) rem = -rem;
  int128_t half = d < 0 ? -d : d;
  if (rem * 2 >= half) q += ((n < 0) != (d < 0)) ? -1 : 1;
  return q;
}

std::string format_decimal(int128_t unscaled, int scale) {
  bool negative = unscaled < 0;
  __extension__ unsigned __int128 magnitude = negative ? -static_cast<unsigned __int128>(unscaled)
                                                       : static_cast<unsigned __int128>(unscaled);
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  } while (magnitude != 0);
  if (scale > 0) {
    if (static_cast<int>(digits.size()) <= scale) {
      digits.insert(0, static_cast<size_t>(scale) + 1 - digits.size(), '0');
    }
    digits.insert(digits.size() - static_cast<size_t>(scale), ".");
  }
  return negative ? "-" + digits : digits;
}

// Howard Hinnant's days_from_civil / civil_from_days (public-domain algorithms).
int32_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int32_t>(era * 146097 + static_cast<int64_t>(doe) - 719468);
}

void civil_from_days(int64_t z, int64_t& year, unsigned& month, unsigned& day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = y + (month <= 2);
}

std::string format_date(int32_t days) {
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

std::string format_timestamp(int64_t micros, int precision) {
  int64_t days =
      micros >= 0 ? micros / 86'400'000'000 : -((-micros + 86'399'999'999) / 86'400'000'000);
  int64_t of_day = micros - days * 86'400'000'000;
  int64_t seconds = of_day / 1'000'000;
  int64_t fraction = of_day % 1'000'000;
  std::string out = fmt::format("{} {:02}:{:02}:{:02}", format_date(static_cast<int32_t>(days)),
                                seconds / 3600, seconds / 60 % 60, seconds % 60);
  if (fraction != 0 && precision > 0) {
    std::string digits = fmt::format("{:06}", fraction);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out;
}

namespace {

bool parse_uint(std::string_view text, size_t& pos, size_t max_digits, int64_t& out) {
  size_t begin = pos;
  out = 0;
  while (pos < text.size() && pos - begin < max_digits && text[pos] >= '0' && text[pos] <= '9') {
    out = out * 10 + (text[pos] - '0');
    ++pos;
  }
  return pos > begin;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool parse_date_part(std::string_view text, size_t& pos, int32_t& days) {
  int64_t y, m, d;
  if (!parse_uint(text, pos, 4, y) || pos >= text.size() || text[pos++] != '-') return false;
  if (!parse_uint(text, pos, 2, m) || pos >= text.size() || text[pos++] != '-') return false;
  if (!parse_uint(text, pos, 2, d)) return false;
  if (m < 1 || m > 12 || d < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[m - 1] + (m == 2 && leap ? 1 : 0)) return false;
  days = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return true;
}

bool parse_time_part(std::string_view text, size_t& pos, int64_t& micros) {
  int64_t h, mi, s = 0, fraction = 0;
  if (!parse_uint(text, pos, 2, h) || pos >= text.size() || text[pos++] != ':') return false;
  if (!parse_uint(text, pos, 2, mi)) return false;
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!parse_uint(text, pos, 2, s)) return false;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      size_t begin = pos;
      int64_t digits;
      if (!parse_uint(text, pos, 9, digits)) return false;
      size_t n = pos - begin;
      fraction = digits;
      for (size_t i = n; i < 6; ++i) fraction *= 10;
      for (size_t i = 6; i < n; ++i) fraction /= 10;
    }
  }
  if (h > 23 || mi > 59 || s > 59) return false;
  micros = ((h * 60 + mi) * 60 + s) * 1'000'000 + fraction;
  return true;
}

}  // namespace

bool parse_date(std::string_view text, int32_t& days) {
  text = trim(text);
  size_t pos = 0;
  return parse_date_part(text, pos, days) && pos == text.size();
}

bool parse_time(std::string_view text, int64_t& micros) {
  text = trim(text);
  size_t pos = 0;
  return parse_time_part(text, pos, micros) && pos == text.size();
}

bool parse_timestamp(std::string_view text, int64_t& micros) {
  text = trim(text);
  size_t pos = 0;
  int32_t days;
  if (!parse_date_part(text, pos, days)) return false;
  int64_t of_day = 0;
  if (pos < text.size()) {
    if (text[pos] != ' ' && text[pos] != 'T') return false;
    ++pos;
    if (!parse_time_part(text, pos, of_day)) return false;
  }
  if (pos != text.size()) return false;
  micros = int64_t{days} * 86'400'000'000 + of_day;
  return true;
}

bool parse_decimal(std::string_view text, int precision, int scale, int128_t& unscaled) {
  text = trim(text);
  if (text.empty()) return false;
  bool negative = false;
  size_t pos = 0;
  if (text[0] == '-' || text[0] == '+') {
    negative = text[0] == '-';
    ++pos;
  }
  int128_t value = 0;
  int integral_digits = 0;
  int fraction_digits = 0;
  bool any = false;
  bool round_up = false;
  bool in_fraction = false;
  for (; pos < text.size(); ++pos) {
    char c = text[pos];
    if (c == '.' && !in_fraction) {
      in_fraction = true;
      continue;
    }
    if (c < '0' || c > '9') return false;
    any = true;
    if (in_fraction) {
      if (fraction_digits == scale) {
        // HALF_UP on the first dropped digit, as Flink's casts round.
        if (fraction_digits == scale && !round_up && c >= '5') round_up = true;
        // Only the first dropped digit decides; skip the rest.
        for (++pos; pos < text.size(); ++pos) {
          if (text[pos] < '0' || text[pos] > '9') return false;
        }
        break;
      }
      ++fraction_digits;
    } else {
      if (value == 0 && c == '0') continue;
      ++integral_digits;
    }
    value = value * 10 + (c - '0');
  }
  if (!any) return false;
  for (; fraction_digits < scale; ++fraction_digits) value *= 10;
  if (round_up) ++value;
  if (integral_digits > precision - scale) return false;
  unscaled = negative ? -value : value;
  return true;
}

std::string Value::to_string() const {
  if (null_) return "NULL";
  switch (type_.id()) {
    case TypeId::kNull:
      return "NULL";
    case TypeId::kBoolean:
      return int_ != 0 ? "true" : "false";
    case TypeId::kTinyInt:
    case TypeId::kSmallInt:
    case TypeId::kInt:
    case TypeId::kBigInt:
      return fmt::format("{}", static_cast<int64_t>(int_));
    case TypeId::kFloat:
      return fmt::format("{}", static_cast<float>(double_));
    case TypeId::kDouble:
      return fmt::format("{}", double_);
    case TypeId::kDecimal:
      return format_decimal(int_, type_.scale());
    case TypeId::kChar:
    case TypeId::kVarchar:
    case TypeId::kBytes:
      return string_;
    case TypeId::kDate:
      return format_date(static_cast<int32_t>(int_));
    case TypeId::kTime: {
      std::string ts = format_timestamp(static_cast<int64_t>(int_), type_.precision());
      return ts.substr(11);
    }
    case TypeId::kTimestamp:
    case TypeId::kTimestampLtz:
      return format_timestamp(static_cast<int64_t>(int_), type_.precision());
    case TypeId::kIntervalDayTime: {
      int64_t micros = static_cast<int64_t>(int_);
      std::string sign = micros < 0 ? "-" : "+";
      if (micros < 0) micros = -micros;
      int64_t seconds = micros / 1'000'000;
      return fmt::format("{}{} {:02}:{:02}:{:02}.{:03}", sign, seconds / 86400, seconds / 3600 % 24,
                         seconds / 60 % 60, seconds % 60, micros / 1000 % 1000);
    }
    case TypeId::kIntervalYearMonth: {
      int64_t months = static_cast<int64_t>(int_);
      std::string sign = months < 0 ? "-" : "+";
      if (months < 0) months = -months;
      return fmt::format("{}{}-{:02}", sign, months / 12, months % 12);
    }
    default:
      return "?";
  }
}

std::string Value::to_sql() const {
  if (null_) return "NULL";
  switch (type_.id()) {
    case TypeId::kChar:
    case TypeId::kVarchar: {
      std::string out = "'";
      for (char c : string_) {
        out += c;
        if (c == '\'') out += '\'';
      }
      return out + "'";
    }
    case TypeId::kDate:
      return "DATE '" + to_string() + "'";
    case TypeId::kTimestamp:
      return "TIMESTAMP '" + to_string() + "'";
    default:
      return to_string();
  }
}

}  // namespace sluice::sql
