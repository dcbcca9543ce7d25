// CAST between SQL types, a vector at a time, with Flink's semantics: numbers narrow by
// truncation (integers wrap), decimals round HALF_UP and become NULL on overflow, strings are
// trimmed and parsed (a failure is an error, or NULL under TRY_CAST).
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "expression_executor.h"
#include "sluice/core/error.h"

namespace sluice::sql {

namespace {

// Rescales an unscaled decimal from scale `from` to scale `to`, HALF_UP; false on overflow.
bool rescale(int128_t value, int from, int to, int128_t& out) {
  if (to >= from) return !__builtin_mul_overflow(value, power_of_ten(to - from), &out);
  out = divide_half_up(value, power_of_ten(from - to));
  return true;
}

bool fits_precision(int128_t value, int precision) {
  int128_t limit = power_of_ten(precision);
  return value < limit && value > -limit;
}

// An integer or decimal column to a decimal of the same or a larger scale, typed (the cast of
// every decimal operand that arithmetic widens); false if the physical types are not handled here.
template <typename From, typename To>
void widen_typed(const Vector& input, size_t rows, int128_t factor, int128_t limit, Vector& out) {
  const From* in = input.data<From>();
  To* target = out.data<To>();
  for (size_t i = 0; i < rows; ++i) {
    int128_t value;
    if (__builtin_mul_overflow(static_cast<int128_t>(in[i]), factor, &value) || value >= limit ||
        value <= -limit) {
      // Flink: a number that does not fit the decimal type is NULL.
      if (input.is_valid(i)) out.set_null(i);
      continue;
    }
    target[i] = static_cast<To>(value);
  }
}

bool widen_exact_to_decimal(const Vector& input, size_t rows, Vector& out) {
  int from_scale = input.type().id() == TypeId::kDecimal ? input.type().scale() : 0;
  int128_t factor = power_of_ten(out.type().scale() - from_scale);
  int128_t limit = power_of_ten(out.type().precision());
  // One typed loop per (input, output) width pair; anything else takes the generic path.
  auto widen_to = [&](auto* target_type) {
    using To = std::remove_pointer_t<decltype(target_type)>;
    if (input.physical() == PhysicalType::kInt32) {
      widen_typed<int32_t, To>(input, rows, factor, limit, out);
    } else if (input.physical() == PhysicalType::kInt64) {
      widen_typed<int64_t, To>(input, rows, factor, limit, out);
    } else {
      return false;
    }
    return true;
  };
  if (out.physical() == PhysicalType::kInt64) return widen_to(static_cast<int64_t*>(nullptr));
  if (out.physical() == PhysicalType::kInt128) return widen_to(static_cast<int128_t*>(nullptr));
  return false;
}

}  // namespace

int128_t read_integer(const Vector& v, size_t row) {
  switch (v.physical()) {
    case PhysicalType::kBool:
      return v.data<uint8_t>()[row];
    case PhysicalType::kInt8:
      return v.data<int8_t>()[row];
    case PhysicalType::kInt16:
      return v.data<int16_t>()[row];
    case PhysicalType::kInt32:
      return v.data<int32_t>()[row];
    case PhysicalType::kInt64:
      return v.data<int64_t>()[row];
    case PhysicalType::kInt128:
      return v.data<int128_t>()[row];
    default:
      return 0;
  }
}

namespace {

double read_double(const Vector& v, size_t row) {
  const LogicalType& t = v.type();
  if (t.id() == TypeId::kFloat) return v.data<float>()[row];
  if (t.id() == TypeId::kDouble) return v.data<double>()[row];
  if (t.id() == TypeId::kDecimal) {
    return static_cast<double>(static_cast<long double>(read_integer(v, row)) /
                               static_cast<long double>(power_of_ten(t.scale())));
  }
  return static_cast<double>(read_integer(v, row));
}

void write_integer(Vector& v, size_t row, int128_t value) {
  switch (v.physical()) {
    case PhysicalType::kBool:
      v.data<uint8_t>()[row] = value != 0;
      break;
    case PhysicalType::kInt8:
      v.data<int8_t>()[row] = static_cast<int8_t>(value);
      break;
    case PhysicalType::kInt16:
      v.data<int16_t>()[row] = static_cast<int16_t>(value);
      break;
    case PhysicalType::kInt32:
      v.data<int32_t>()[row] = static_cast<int32_t>(value);
      break;
    case PhysicalType::kInt64:
      v.data<int64_t>()[row] = static_cast<int64_t>(value);
      break;
    case PhysicalType::kInt128:
      v.data<int128_t>()[row] = value;
      break;
    default:
      break;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Java's Double.toString-like rendering is not reproduced: doubles print in the shortest form
// that reads back exactly (docs/SQL.md).
std::string to_text(const Vector& v, size_t row) {
  const LogicalType& t = v.type();
  switch (t.id()) {
    case TypeId::kBoolean:
      return v.data<uint8_t>()[row] ? "TRUE" : "FALSE";
    case TypeId::kFloat:
      return fmt::format("{}", v.data<float>()[row]);
    case TypeId::kDouble:
      return fmt::format("{}", v.data<double>()[row]);
    default:
      return Value::from_vector(v, row).to_string();
  }
}

[[noreturn]] void cast_failure(const Vector& input, size_t row, const LogicalType& to) {
  std::string shown = input.physical() == PhysicalType::kString
                          ? fmt::format("'{}'", input.data<StringRef>()[row].view())
                          : to_text(input, row);
  throw Error(ErrorCategory::kBadInput,
              fmt::format("cannot cast {} of type {} to {} (use TRY_CAST "
                          "for NULL instead)",
                          shown, input.type().to_string(), to.to_string()));
}

// Parses a string into `to` at `row` of `out`; false if it is not a valid value.
bool parse_into(std::string_view text, Vector& out, size_t row) {
  const LogicalType& to = out.type();
  text = trim(text);
  switch (to.id()) {
    case TypeId::kBoolean: {
      std::string lower(text);
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower == "true" || lower == "t" || lower == "yes" || lower == "y" || lower == "1") {
        out.data<uint8_t>()[row] = 1;
        return true;
      }
      if (lower == "false" || lower == "f" || lower == "no" || lower == "n" || lower == "0") {
        out.data<uint8_t>()[row] = 0;
        return true;
      }
      return false;
    }
    case TypeId::kTinyInt:
    case TypeId::kSmallInt:
    case TypeId::kInt:
    case TypeId::kBigInt: {
      // Flink accepts a fraction and truncates it.
      std::string_view digits = text.substr(0, text.find('.'));
      if (digits.size() != text.size()) {
        for (char c : text.substr(digits.size() + 1)) {
          if (c < '0' || c > '9') return false;
        }
      }
      if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
      int64_t value;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
      if (ec != std::errc() || ptr != digits.data() + digits.size()) return false;
      int64_t lo = to.id() == TypeId::kTinyInt    ? INT8_MIN
                   : to.id() == TypeId::kSmallInt ? INT16_MIN
                   : to.id() == TypeId::kInt      ? INT32_MIN
                                                  : INT64_MIN;
      int64_t hi = to.id() == TypeId::kTinyInt    ? INT8_MAX
                   : to.id() == TypeId::kSmallInt ? INT16_MAX
                   : to.id() == TypeId::kInt      ? INT32_MAX
                                                  : INT64_MAX;
      if (value < lo || value > hi) return false;
      write_integer(out, row, value);
      return true;
    }
    case TypeId::kFloat:
    case TypeId::kDouble: {
      std::string copy(text);
      char* end = nullptr;
      double value = std::strtod(copy.c_str(), &end);
      if (copy.empty() || end != copy.c_str() + copy.size()) return false;
      if (to.id() == TypeId::kFloat) {
        out.data<float>()[row] = static_cast<float>(value);
      } else {
        out.data<double>()[row] = value;
      }
      return true;
    }
    case TypeId::kDecimal: {
      int128_t unscaled;
      if (!parse_decimal(text, to.precision(), to.scale(), unscaled)) return false;
      write_integer(out, row, unscaled);
      return true;
    }
    case TypeId::kDate: {
      int32_t days;
      if (!parse_date(text, days)) return false;
      out.data<int32_t>()[row] = days;
      return true;
    }
    case TypeId::kTime: {
      int64_t micros;
      if (!parse_time(text, micros)) return false;
      out.data<int64_t>()[row] = micros;
      return true;
    }
    case TypeId::kTimestamp:
    case TypeId::kTimestampLtz: {
      int64_t micros;
      if (!parse_timestamp(text, micros)) return false;
      out.data<int64_t>()[row] = micros;
      return true;
    }
    default:
      return false;
  }
}

}  // namespace

void cast_vector(const Vector& input, Vector& out, size_t count, bool try_cast) {
  const LogicalType& from = input.type();
  const LogicalType& to = out.type();
  bool constant = input.is_constant();
  size_t rows = constant ? 1 : count;
  out.reset_validity();
  if (from.id() == TypeId::kNull) {
    for (size_t i = 0; i < rows; ++i) out.set_null(i);
    out.set_constant(constant);
    return;
  }
  if (from == to ||
      (from.is_string() && to.id() == TypeId::kVarchar && to.length() >= from.length())) {
    out.copy_from(input, count);
    out.set_constant(constant);
    return;
  }
  auto fail_or_null = [&](size_t row) {
    if (!try_cast) cast_failure(input, row, to);
    out.set_null(row);
  };
  for (size_t i = 0; i < rows; ++i) {
    if (!input.is_valid(i)) out.set_null(i);
  }

  if (to.is_string()) {
    bool bounded = to.length() < LogicalType::kMaxLength;
    for (size_t i = 0; i < rows; ++i) {
      if (!input.is_valid(i)) continue;
      if (from.is_string() || from.id() == TypeId::kBytes) {
        std::string_view s = input.data<StringRef>()[i].view();
        if (bounded && s.size() > static_cast<size_t>(to.length())) s = s.substr(0, to.length());
        out.data<StringRef>()[i] = StringRef(s);
        if (!out.data<StringRef>()[i].is_inlined()) out.share_heap(input.shared_heap());
        continue;
      }
      std::string text = to_text(input, i);
      if (bounded && text.size() > static_cast<size_t>(to.length())) text.resize(to.length());
      out.add_string(i, text);
    }
    if (from.is_string()) {
      // Substrings point into the input's heaps; keep every one of them alive.
      for (size_t i = 0; i < rows; ++i) {
        if (input.is_valid(i) && !out.data<StringRef>()[i].is_inlined()) {
          out.copy_row(i, input, i);
          std::string_view s = out.data<StringRef>()[i].view();
          if (bounded && s.size() > static_cast<size_t>(to.length())) {
            out.data<StringRef>()[i] = StringRef(s.substr(0, to.length()));
          }
        }
      }
    }
    out.set_constant(constant);
    return;
  }

  if (from.is_string()) {
    for (size_t i = 0; i < rows; ++i) {
      if (!input.is_valid(i)) continue;
      if (!parse_into(input.data<StringRef>()[i].view(), out, i)) fail_or_null(i);
    }
    out.set_constant(constant);
    return;
  }

  bool from_exact =
      from.is_integer() || from.id() == TypeId::kBoolean || from.id() == TypeId::kDecimal;
  int from_scale = from.id() == TypeId::kDecimal ? from.scale() : 0;

  if (to.id() == TypeId::kDecimal) {
    if (from_exact && from_scale <= to.scale() && widen_exact_to_decimal(input, rows, out)) {
      out.set_constant(constant);
      return;
    }
    for (size_t i = 0; i < rows; ++i) {
      if (!input.is_valid(i)) continue;
      int128_t value;
      if (from_exact) {
        if (!rescale(read_integer(input, i), from_scale, to.scale(), value)) {
          out.set_null(i);  // Flink: a number that does not fit the decimal type is NULL
          continue;
        }
      } else {
        double d = read_double(input, i);
        if (!std::isfinite(d)) {
          out.set_null(i);
          continue;
        }
        long double scaled = std::round(static_cast<long double>(d) *
                                        static_cast<long double>(power_of_ten(to.scale())));
        if (std::fabs(scaled) >= 1e38L) {
          out.set_null(i);
          continue;
        }
        value = static_cast<int128_t>(scaled);
      }
      // Flink: a number that does not fit the decimal type becomes NULL.
      if (!fits_precision(value, to.precision())) {
        out.set_null(i);
        continue;
      }
      write_integer(out, i, value);
    }
    out.set_constant(constant);
    return;
  }

  if (to.is_integer() || to.id() == TypeId::kBoolean) {
    for (size_t i = 0; i < rows; ++i) {
      if (!input.is_valid(i)) continue;
      if (from_exact) {
        int128_t v = read_integer(input, i);
        // DECIMAL to an integer truncates.
        if (from_scale > 0) v /= power_of_ten(from_scale);
        write_integer(out, i, to.id() == TypeId::kBoolean ? (v != 0) : v);
      } else if (from.is_approximate()) {
        double d = read_double(input, i);
        int64_t v;
        if (std::isnan(d)) {
          v = 0;
        } else if (d >= 9.2233720368547758e18) {
          v = INT64_MAX;
        } else if (d <= -9.2233720368547758e18) {
          v = INT64_MIN;
        } else {
          v = static_cast<int64_t>(d);
        }
        write_integer(out, i, v);
      } else {
        fail_or_null(i);
      }
    }
    out.set_constant(constant);
    return;
  }

  if (to.is_approximate()) {
    for (size_t i = 0; i < rows; ++i) {
      if (!input.is_valid(i)) continue;
      double d = read_double(input, i);
      if (to.id() == TypeId::kFloat) {
        out.data<float>()[i] = static_cast<float>(d);
      } else {
        out.data<double>()[i] = d;
      }
    }
    out.set_constant(constant);
    return;
  }

  // Temporal conversions.
  constexpr int64_t kMicrosPerDay = 86'400'000'000;
  for (size_t i = 0; i < rows; ++i) {
    if (!input.is_valid(i)) continue;
    TypeId f = from.id();
    TypeId t = to.id();
    if (f == TypeId::kDate && (t == TypeId::kTimestamp || t == TypeId::kTimestampLtz)) {
      out.data<int64_t>()[i] = int64_t{input.data<int32_t>()[i]} * kMicrosPerDay;
    } else if ((f == TypeId::kTimestamp || f == TypeId::kTimestampLtz) && t == TypeId::kDate) {
      int64_t m = input.data<int64_t>()[i];
      int64_t days = m >= 0 ? m / kMicrosPerDay : -((-m + kMicrosPerDay - 1) / kMicrosPerDay);
      out.data<int32_t>()[i] = static_cast<int32_t>(days);
    } else if ((f == TypeId::kTimestamp || f == TypeId::kTimestampLtz) && t == TypeId::kTime) {
      int64_t m = input.data<int64_t>()[i] % kMicrosPerDay;
      out.data<int64_t>()[i] = m < 0 ? m + kMicrosPerDay : m;
    } else if ((f == TypeId::kTimestamp || f == TypeId::kTimestampLtz) &&
               (t == TypeId::kTimestamp || t == TypeId::kTimestampLtz)) {
      int64_t m = input.data<int64_t>()[i];
      int64_t unit = 1;
      for (int p = to.precision(); p < 6; ++p) unit *= 10;
      out.data<int64_t>()[i] = m - ((m % unit) + unit) % unit;
    } else if (f == t) {
      out.copy_row(i, input, i);
    } else {
      fail_or_null(i);
    }
  }
  out.set_constant(constant);
}

}  // namespace sluice::sql
