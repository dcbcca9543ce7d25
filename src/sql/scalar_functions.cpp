// The built-in scalar functions: arithmetic and comparison operators, string, math, temporal
// and conditional functions, with Flink's result types (see /docs/SQL.md). Every kernel loops over
// a batch with the argument types fixed at bind time; templates instantiate one loop per
// physical type.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>

#include "expression_executor.h"
#include "function_library.h"
#include "sluice/core/error.h"
#include "sluice/sql/functions.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

namespace {

using Args = Vector* const*;

// Flink's LogicalTypeMerging.adjustPrecisionScale: keep the integer digits, and at least
// min(scale, 6) fraction digits, within 38.
LogicalType adjust_decimal(int precision, int scale) {
  if (precision <= LogicalType::kMaxDecimalPrecision) return LogicalType::decimal(precision, scale);
  int integral = precision - scale;
  int adjusted_scale = std::max(LogicalType::kMaxDecimalPrecision - integral, std::min(scale, 6));
  return LogicalType::decimal(LogicalType::kMaxDecimalPrecision, adjusted_scale);
}

LogicalType as_decimal(const LogicalType& t) {
  if (t.id() == TypeId::kDecimal) return t;
  return LogicalType::decimal(integer_decimal_precision(t.id()), 0);
}

[[noreturn]] void division_by_zero() { throw Error(ErrorCategory::kBadInput, "division by zero"); }

// ------------------------------------------------------------------ loops
template <typename A, typename B, typename R, typename Op>
void binary_loop(Args args, size_t count, Vector& result, Op op) {
  const A* a = args[0]->data<A>();
  const B* b = args[1]->data<B>();
  R* r = result.data<R>();
  bool ac = args[0]->is_constant();
  bool bc = args[1]->is_constant();
  if (!ac && !bc) {
    for (size_t i = 0; i < count; ++i) r[i] = op(a[i], b[i], i);
  } else if (ac && !bc) {
    A av = a[0];
    for (size_t i = 0; i < count; ++i) r[i] = op(av, b[i], i);
  } else if (!ac && bc) {
    B bv = b[0];
    for (size_t i = 0; i < count; ++i) r[i] = op(a[i], bv, i);
  } else {
    for (size_t i = 0; i < count; ++i) r[i] = op(a[0], b[0], i);
  }
}

template <typename A, typename R, typename Op>
void unary_loop(Args args, size_t count, Vector& result, Op op) {
  const A* a = args[0]->data<A>();
  R* r = result.data<R>();
  if (args[0]->is_constant()) {
    for (size_t i = 0; i < count; ++i) r[i] = op(a[0], i);
  } else {
    for (size_t i = 0; i < count; ++i) r[i] = op(a[i], i);
  }
}

// Calls f with a null pointer of the C++ type of a physical numeric type.
template <typename F>
void dispatch_numeric(PhysicalType p, F&& f) {
  switch (p) {
    case PhysicalType::kInt8:
      f(static_cast<int8_t*>(nullptr));
      break;
    case PhysicalType::kInt16:
      f(static_cast<int16_t*>(nullptr));
      break;
    case PhysicalType::kInt32:
      f(static_cast<int32_t*>(nullptr));
      break;
    case PhysicalType::kInt64:
      f(static_cast<int64_t*>(nullptr));
      break;
    case PhysicalType::kInt128:
      f(static_cast<int128_t*>(nullptr));
      break;
    case PhysicalType::kFloat:
      f(static_cast<float*>(nullptr));
      break;
    case PhysicalType::kDouble:
      f(static_cast<double*>(nullptr));
      break;
    case PhysicalType::kBool:
      f(static_cast<uint8_t*>(nullptr));
      break;
    default:
      break;
  }
}

template <typename T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}

template <typename T>
T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
  } else {
    return a - b;
  }
}

template <typename T>
T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// ------------------------------------------------------------------ arithmetic kernels
// Integer and floating arithmetic on operands already cast to the result type.
template <typename T>
void add_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<T, T, T>(args, count, r, [](T a, T b, size_t) { return wrapping_add(a, b); });
}
template <typename T>
void subtract_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<T, T, T>(args, count, r, [](T a, T b, size_t) { return wrapping_sub(a, b); });
}
template <typename T>
void multiply_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<T, T, T>(args, count, r, [](T a, T b, size_t) { return wrapping_mul(a, b); });
}
template <typename T>
void divide_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  if constexpr (std::is_floating_point_v<T>) {
    binary_loop<T, T, T>(args, count, r, [](T a, T b, size_t) { return a / b; });
  } else {
    binary_loop<T, T, T>(args, count, r, [&r](T a, T b, size_t i) -> T {
      if (b == 0) {
        if (r.is_valid(i)) division_by_zero();
        return 0;
      }
      if (b == -1) return wrapping_sub(T{0}, a);  // MIN / -1 wraps, as Java's
      return a / b;
    });
  }
}
template <typename T>
void modulo_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<T, T, T>(args, count, r, [&r](T a, T b, size_t i) -> T {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fmod(a, b);
    } else {
      if (b == 0) {
        if (r.is_valid(i)) division_by_zero();
        return 0;
      }
      if (b == -1) return 0;
      return a % b;
    }
  });
}
template <typename T>
void negate_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  unary_loop<T, T>(args, count, r, [](T a, size_t) { return wrapping_sub(T{0}, a); });
}

// Decimal arithmetic on unscaled integers. + and -: both operands are already at the result's
// scale. A result that does not fit the result's precision is NULL, as in Flink.
template <typename T>
void decimal_add_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int128_t limit = power_of_ten(call.type.precision());
  binary_loop<T, T, T>(args, count, r, [&](T a, T b, size_t i) -> T {
    int128_t v;
    if (__builtin_add_overflow(static_cast<int128_t>(a), static_cast<int128_t>(b), &v) ||
        v >= limit || v <= -limit) {
      r.set_null(i);
      return 0;
    }
    return static_cast<T>(v);
  });
}
template <typename T>
void decimal_subtract_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int128_t limit = power_of_ten(call.type.precision());
  binary_loop<T, T, T>(args, count, r, [&](T a, T b, size_t i) -> T {
    int128_t v;
    if (__builtin_sub_overflow(static_cast<int128_t>(a), static_cast<int128_t>(b), &v) ||
        v >= limit || v <= -limit) {
      r.set_null(i);
      return 0;
    }
    return static_cast<T>(v);
  });
}

// * : the exact product has scale s1 + s2; the result type may have a smaller scale.
template <typename A, typename B, typename R>
void decimal_multiply_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int drop = call.children[0]->type.scale() + call.children[1]->type.scale() - call.type.scale();
  int128_t divisor = power_of_ten(drop);
  int128_t limit = power_of_ten(call.type.precision());
  binary_loop<A, B, R>(args, count, r, [&](A a, B b, size_t i) -> R {
    int128_t v;
    if (__builtin_mul_overflow(static_cast<int128_t>(a), static_cast<int128_t>(b), &v)) {
      long double approx = static_cast<long double>(a) * static_cast<long double>(b) /
                           static_cast<long double>(divisor);
      if (std::fabs(approx) >= 1e38L) {
        r.set_null(i);
        return 0;
      }
      return static_cast<R>(static_cast<int128_t>(std::round(approx)));
    }
    if (drop > 0) v = divide_half_up(v, divisor);
    if (v >= limit || v <= -limit) r.set_null(i);
    return static_cast<R>(v);
  });
}

// / : result = a * 10^(s - s1 + s2) / b, HALF_UP.
template <typename A, typename B, typename R>
void decimal_divide_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int shift = call.type.scale() - call.children[0]->type.scale() + call.children[1]->type.scale();
  int128_t factor = power_of_ten(std::max(shift, 0));
  int128_t reduce = power_of_ten(std::max(-shift, 0));
  int128_t limit = power_of_ten(call.type.precision());
  binary_loop<A, B, R>(args, count, r, [&](A a, B b, size_t i) -> R {
    if (b == 0) {
      if (r.is_valid(i)) division_by_zero();
      return 0;
    }
    int128_t numerator;
    int128_t denominator;
    int128_t v;
    if (__builtin_mul_overflow(static_cast<int128_t>(a), factor, &numerator) ||
        __builtin_mul_overflow(static_cast<int128_t>(b), reduce, &denominator)) {
      long double approx = static_cast<long double>(a) * static_cast<long double>(factor) /
                           (static_cast<long double>(b) * static_cast<long double>(reduce));
      if (!(std::fabs(approx) < 1e38L)) {
        r.set_null(i);
        return 0;
      }
      v = static_cast<int128_t>(std::round(approx));
    } else {
      v = divide_half_up(numerator, denominator);
    }
    if (v >= limit || v <= -limit) r.set_null(i);
    return static_cast<R>(v);
  });
}

template <typename T>
void decimal_modulo_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  if constexpr (std::is_floating_point_v<T>) {
    (void)args;
    (void)count;
    (void)r;
  } else {
    binary_loop<T, T, T>(args, count, r, [&r](T a, T b, size_t i) -> T {
      if (b == 0) {
        if (r.is_valid(i)) division_by_zero();
        return 0;
      }
      return a % b;
    });
  }
}

constexpr int64_t kMicrosPerDay = 86'400'000'000;

// DATE +/- INTERVAL: months clamp to the end of the month (Calcite's addMonths).
int32_t add_months_to_date(int32_t days, int64_t months) {
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  int64_t total = y * 12 + (m - 1) + months;
  int64_t ny = total >= 0 ? total / 12 : -((-total + 11) / 12);
  unsigned nm = static_cast<unsigned>(total - ny * 12) + 1;
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (ny % 4 == 0 && ny % 100 != 0) || ny % 400 == 0;
  unsigned last = kDays[nm - 1] + (nm == 2 && leap ? 1 : 0);
  return days_from_civil(ny, nm, std::min(d, last));
}

template <int Sign>
void date_plus_months_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<int32_t, int32_t, int32_t>(args, count, r, [](int32_t d, int32_t months, size_t) {
    return add_months_to_date(d, Sign * int64_t{months});
  });
}
template <int Sign>
void date_plus_micros_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<int32_t, int64_t, int32_t>(args, count, r, [](int32_t d, int64_t micros, size_t) {
    int64_t days = micros / kMicrosPerDay;
    return static_cast<int32_t>(d + Sign * days);
  });
}
template <int Sign>
void timestamp_plus_micros_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<int64_t, int64_t, int64_t>(
      args, count, r, [](int64_t t, int64_t micros, size_t) { return t + Sign * micros; });
}
template <int Sign>
void timestamp_plus_months_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<int64_t, int32_t, int64_t>(args, count, r, [](int64_t t, int32_t months, size_t) {
    int64_t days = t >= 0 ? t / kMicrosPerDay : -((-t + kMicrosPerDay - 1) / kMicrosPerDay);
    int64_t of_day = t - days * kMicrosPerDay;
    int32_t moved = add_months_to_date(static_cast<int32_t>(days), Sign * int64_t{months});
    return int64_t{moved} * kMicrosPerDay + of_day;
  });
}

// ------------------------------------------------------------------ registration helpers
template <template <typename> class Kernel>
ScalarKernel numeric_kernel(PhysicalType p) {
  switch (p) {
    case PhysicalType::kInt8:
      return &Kernel<int8_t>::run;
    case PhysicalType::kInt16:
      return &Kernel<int16_t>::run;
    case PhysicalType::kInt32:
      return &Kernel<int32_t>::run;
    case PhysicalType::kInt64:
      return &Kernel<int64_t>::run;
    case PhysicalType::kInt128:
      return &Kernel<int128_t>::run;
    case PhysicalType::kFloat:
      return &Kernel<float>::run;
    case PhysicalType::kDouble:
      return &Kernel<double>::run;
    default:
      return nullptr;
  }
}

// A ScalarFunction per (name, kernel), kept for the life of the process.
const ScalarFunction* function_for(const std::string& name, ScalarKernel kernel,
                                   bool propagates_nulls = true, bool is_volatile = false) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, ScalarKernel>, std::unique_ptr<ScalarFunction>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[{name, kernel}];
  if (!slot) {
    slot = std::make_unique<ScalarFunction>();
    slot->name = name;
    slot->kernel = kernel;
    slot->propagates_nulls = propagates_nulls;
    slot->is_volatile = is_volatile;
  }
  return slot.get();
}

#define SLUICE_KERNEL_TEMPLATE(name, fn)                                                    \
  template <typename T>                                                                     \
  struct name {                                                                             \
    static void run(const BoundExpr& c, Args a, size_t n, Vector& r) { fn<T>(c, a, n, r); } \
  };
SLUICE_KERNEL_TEMPLATE(Add, add_kernel)
SLUICE_KERNEL_TEMPLATE(Subtract, subtract_kernel)
SLUICE_KERNEL_TEMPLATE(Multiply, multiply_kernel)
SLUICE_KERNEL_TEMPLATE(Divide, divide_kernel)
SLUICE_KERNEL_TEMPLATE(Modulo, modulo_kernel)
SLUICE_KERNEL_TEMPLATE(Negate, negate_kernel)
SLUICE_KERNEL_TEMPLATE(DecimalAdd, decimal_add_kernel)
SLUICE_KERNEL_TEMPLATE(DecimalSubtract, decimal_subtract_kernel)
SLUICE_KERNEL_TEMPLATE(DecimalModulo, decimal_modulo_kernel)
#undef SLUICE_KERNEL_TEMPLATE

template <template <typename, typename, typename> class K>
ScalarKernel decimal_binary_kernel(PhysicalType a, PhysicalType b, PhysicalType r) {
  auto pick = [&](auto* ta, auto* tb) -> ScalarKernel {
    using A = std::remove_pointer_t<decltype(ta)>;
    using B = std::remove_pointer_t<decltype(tb)>;
    return r == PhysicalType::kInt64 ? &K<A, B, int64_t>::run : &K<A, B, int128_t>::run;
  };
  int64_t* i64 = nullptr;
  int128_t* i128 = nullptr;
  if (a == PhysicalType::kInt64) {
    return b == PhysicalType::kInt64 ? pick(i64, i64) : pick(i64, i128);
  }
  return b == PhysicalType::kInt64 ? pick(i128, i64) : pick(i128, i128);
}

template <typename A, typename B, typename R>
struct DecimalMultiply {
  static void run(const BoundExpr& c, Args a, size_t n, Vector& r) {
    decimal_multiply_kernel<A, B, R>(c, a, n, r);
  }
};
template <typename A, typename B, typename R>
struct DecimalDivide {
  static void run(const BoundExpr& c, Args a, size_t n, Vector& r) {
    decimal_divide_kernel<A, B, R>(c, a, n, r);
  }
};

bool exact_numeric(const LogicalType& t) { return t.is_integer() || t.id() == TypeId::kDecimal; }

}  // namespace

bool arithmetic_result_type(const std::string& op, const LogicalType& a, const LogicalType& b,
                            LogicalType& result) {
  if (!a.is_numeric() || !b.is_numeric()) return false;
  if (a.is_approximate() || b.is_approximate()) {
    if (op == "%") return false;  // Flink: exact numerics only
    result = (a.id() == TypeId::kDouble || b.id() == TypeId::kDouble ||
              a.id() == TypeId::kDecimal || b.id() == TypeId::kDecimal)
                 ? LogicalType::double_type()
                 : LogicalType::float_type();
    return true;
  }
  if (a.id() != TypeId::kDecimal && b.id() != TypeId::kDecimal) {
    if (op == "%") {
      result = b;
      return true;
    }
    return common_super_type(a, b, result);
  }
  LogicalType da = as_decimal(a);
  LogicalType db = as_decimal(b);
  int p1 = da.precision(), s1 = da.scale(), p2 = db.precision(), s2 = db.scale();
  if (op == "+" || op == "-") {
    int s = std::max(s1, s2);
    result = adjust_decimal(std::max(p1 - s1, p2 - s2) + s + 1, s);
  } else if (op == "*") {
    result = adjust_decimal(p1 + p2 + 1, s1 + s2);
  } else if (op == "/") {
    int s = std::max(6, s1 + p2 + 1);
    result = adjust_decimal(p1 - s1 + s2 + s, s);
  } else if (op == "%") {
    if (s1 == 0 && s2 == 0) {
      result = b.id() == TypeId::kDecimal ? db : b;
      if (result.id() != TypeId::kDecimal) result = db;
    } else {
      int s = std::max(s1, s2);
      result = adjust_decimal(std::min(p1 - s1, p2 - s2) + s, s);
    }
  } else {
    return false;
  }
  return true;
}

namespace {

std::optional<ResolvedScalar> resolve_arithmetic(const std::string& op,
                                                 const std::vector<LogicalType>& args,
                                                 std::string& error) {
  if (args.size() != 2) return std::nullopt;
  LogicalType a = args[0].id() == TypeId::kNull ? args[1] : args[0];
  LogicalType b = args[1].id() == TypeId::kNull ? args[0] : args[1];
  if (a.id() == TypeId::kNull) a = b = LogicalType::integer();
  ResolvedScalar r;
  // Temporal arithmetic: DATE/TIMESTAMP +/- INTERVAL, INTERVAL + DATE/TIMESTAMP.
  if (op == "+" || op == "-") {
    LogicalType t = a;
    LogicalType interval = b;
    bool swapped = false;
    if (a.is_interval() && b.is_temporal() && op == "+") {
      std::swap(t, interval);
      swapped = true;
    }
    if ((t.id() == TypeId::kDate || t.id() == TypeId::kTimestamp ||
         t.id() == TypeId::kTimestampLtz) &&
        interval.is_interval()) {
      bool months = interval.id() == TypeId::kIntervalYearMonth;
      ScalarKernel k;
      bool plus = op == "+";
      if (t.id() == TypeId::kDate) {
        k = months ? (plus ? &date_plus_months_kernel<1> : &date_plus_months_kernel<-1>)
                   : (plus ? &date_plus_micros_kernel<1> : &date_plus_micros_kernel<-1>);
      } else {
        k = months ? (plus ? &timestamp_plus_months_kernel<1> : &timestamp_plus_months_kernel<-1>)
                   : (plus ? &timestamp_plus_micros_kernel<1> : &timestamp_plus_micros_kernel<-1>);
      }
      if (swapped) {
        // INTERVAL + DATE: reorder through a kernel that swaps arguments.
        error = "write the date first: DATE + INTERVAL";
        return std::nullopt;
      }
      r.function = function_for(op + "temporal", k);
      r.result = t;
      r.argument_types = {t, interval};
      return r;
    }
    if (a.is_interval() && a.id() == b.id()) {
      r.function = function_for(op, op == "+" ? numeric_kernel<Add>(a.physical())
                                              : numeric_kernel<Subtract>(a.physical()));
      r.result = a;
      r.argument_types = {a, a};
      return r;
    }
  }
  LogicalType result;
  if (!arithmetic_result_type(op, a, b, result)) return std::nullopt;
  if (result.id() == TypeId::kDecimal) {
    LogicalType da = as_decimal(a);
    LogicalType db = as_decimal(b);
    if (op == "+" || op == "-") {
      r.argument_types = {result, result};
      r.function = function_for(op, op == "+" ? numeric_kernel<DecimalAdd>(result.physical())
                                              : numeric_kernel<DecimalSubtract>(result.physical()));
    } else if (op == "%") {
      if (exact_numeric(a) && exact_numeric(b) && da.scale() == 0 && db.scale() == 0 &&
          result.id() == TypeId::kDecimal) {
        r.argument_types = {result, result};
      } else {
        LogicalType common;
        common_super_type(da, db, common);
        r.argument_types = {result, result};
      }
      r.function = function_for(op, numeric_kernel<DecimalModulo>(result.physical()));
    } else {
      r.argument_types = {da, db};
      if (op == "*") {
        r.function = function_for(op, decimal_binary_kernel<DecimalMultiply>(
                                          da.physical(), db.physical(), result.physical()));
      } else {
        r.function = function_for(op, decimal_binary_kernel<DecimalDivide>(
                                          da.physical(), db.physical(), result.physical()));
      }
    }
    r.result = result;
    return r;
  }
  r.argument_types = {result, result};
  r.result = result;
  ScalarKernel k = op == "+"   ? numeric_kernel<Add>(result.physical())
                   : op == "-" ? numeric_kernel<Subtract>(result.physical())
                   : op == "*" ? numeric_kernel<Multiply>(result.physical())
                   : op == "/" ? numeric_kernel<Divide>(result.physical())
                               : numeric_kernel<Modulo>(result.physical());
  r.function = function_for(op, k);
  return r;
}

// ------------------------------------------------------------------ comparison
template <typename T, typename Cmp>
void compare_kernel(Args args, size_t count, Vector& r, Cmp cmp) {
  binary_loop<T, T, uint8_t>(args, count, r,
                             [&](T a, T b, size_t) -> uint8_t { return cmp(a, b); });
}

template <typename Cmp>
void string_compare_kernel(Args args, size_t count, Vector& r, Cmp cmp) {
  binary_loop<StringRef, StringRef, uint8_t>(
      args, count, r, [&](const StringRef& a, const StringRef& b, size_t) -> uint8_t {
        return cmp(compare(a, b), 0);
      });
}

template <typename Cmp>
struct CompareOp {
  template <typename T>
  struct K {
    static void run(const BoundExpr&, Args a, size_t n, Vector& r) {
      if constexpr (std::is_same_v<T, StringRef>) {
        string_compare_kernel(a, n, r, Cmp());
      } else {
        compare_kernel<T>(a, n, r, Cmp());
      }
    }
  };
};

template <typename Op>
ScalarKernel comparison_kernel(PhysicalType p) {
  switch (p) {
    case PhysicalType::kBool:
      return &Op::template K<uint8_t>::run;
    case PhysicalType::kInt8:
      return &Op::template K<int8_t>::run;
    case PhysicalType::kInt16:
      return &Op::template K<int16_t>::run;
    case PhysicalType::kInt32:
      return &Op::template K<int32_t>::run;
    case PhysicalType::kInt64:
      return &Op::template K<int64_t>::run;
    case PhysicalType::kInt128:
      return &Op::template K<int128_t>::run;
    case PhysicalType::kFloat:
      return &Op::template K<float>::run;
    case PhysicalType::kDouble:
      return &Op::template K<double>::run;
    case PhysicalType::kString:
      return &Op::template K<StringRef>::run;
    default:
      return nullptr;
  }
}

// Strings compare equal by bytes (fast path before the ordering compare).
struct StringEqualOp {
  template <typename T>
  struct K {
    static void run(const BoundExpr&, Args a, size_t n, Vector& r) {
      if constexpr (std::is_same_v<T, StringRef>) {
        binary_loop<StringRef, StringRef, uint8_t>(
            a, n, r,
            [](const StringRef& x, const StringRef& y, size_t) -> uint8_t { return x == y; });
      } else {
        compare_kernel<T>(a, n, r, std::equal_to<>());
      }
    }
  };
};
struct StringNotEqualOp {
  template <typename T>
  struct K {
    static void run(const BoundExpr&, Args a, size_t n, Vector& r) {
      if constexpr (std::is_same_v<T, StringRef>) {
        binary_loop<StringRef, StringRef, uint8_t>(
            a, n, r,
            [](const StringRef& x, const StringRef& y, size_t) -> uint8_t { return !(x == y); });
      } else {
        compare_kernel<T>(a, n, r, std::not_equal_to<>());
      }
    }
  };
};

void is_distinct_from_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  uint8_t* out = r.data<uint8_t>();
  const Vector& a = *args[0];
  const Vector& b = *args[1];
  for (size_t i = 0; i < count; ++i) {
    size_t ia = a.is_constant() ? 0 : i;
    size_t ib = b.is_constant() ? 0 : i;
    bool va = a.is_valid(ia);
    bool vb = b.is_valid(ib);
    out[i] = va != vb ? 1 : (!va ? 0 : compare_values(a, ia, b, ib) != 0);
  }
}

template <bool Value, bool Negated>
void is_bool_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  uint8_t* out = r.data<uint8_t>();
  const Vector& a = *args[0];
  for (size_t i = 0; i < count; ++i) {
    size_t row = a.is_constant() ? 0 : i;
    bool is = a.is_valid(row) && (a.data<uint8_t>()[row] != 0) == Value;
    out[i] = is != Negated;
  }
}

std::optional<ResolvedScalar> resolve_comparison(const std::string& op,
                                                 const std::vector<LogicalType>& args,
                                                 std::string& error) {
  if (args.size() != 2) return std::nullopt;
  LogicalType common;
  const LogicalType& a = args[0];
  const LogicalType& b = args[1];
  if (!common_super_type(a, b, common)) {
    // A string against a date, time or timestamp is read as that type (Flink casts it).
    if (a.is_string() && b.is_temporal()) {
      common = b;
    } else if (b.is_string() && a.is_temporal()) {
      common = a;
    } else {
      error = fmt::format("{} with {}", a.to_string(), b.to_string());
      return std::nullopt;
    }
  }
  if (common.id() == TypeId::kNull) common = LogicalType::boolean();
  if (common.physical() == PhysicalType::kNested) {
    error = fmt::format("{} with {}", a.to_string(), b.to_string());
    return std::nullopt;
  }
  ResolvedScalar r;
  r.argument_types = {common, common};
  r.result = LogicalType::boolean();
  PhysicalType p = common.physical();
  ScalarKernel k = nullptr;
  if (op == "=") {
    k = comparison_kernel<StringEqualOp>(p);
  } else if (op == "<>") {
    k = comparison_kernel<StringNotEqualOp>(p);
  } else if (op == "<") {
    k = comparison_kernel<CompareOp<std::less<>>>(p);
  } else if (op == "<=") {
    k = comparison_kernel<CompareOp<std::less_equal<>>>(p);
  } else if (op == ">") {
    k = comparison_kernel<CompareOp<std::greater<>>>(p);
  } else if (op == ">=") {
    k = comparison_kernel<CompareOp<std::greater_equal<>>>(p);
  } else if (op == "IS_DISTINCT_FROM") {
    r.function = function_for(op, &is_distinct_from_kernel, /*propagates_nulls=*/false);
    return r;
  }
  r.function = function_for(op, k);
  return r;
}

// ------------------------------------------------------------------ strings
// Runs f(row, std::string_view...) for each row, writing the returned std::string_view-ish
// result through the output's heap.
template <typename F>
void string_unary(Args args, size_t count, Vector& r, F f) {
  const Vector& a = *args[0];
  StringRef* out = r.data<StringRef>();
  StringHeap& heap = r.heap();
  std::string buffer;
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    buffer.clear();
    f(a.data<StringRef>()[a.is_constant() ? 0 : i].view(), buffer);
    out[i] = heap.add(buffer);
  }
}

void upper_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  string_unary(args, count, r, [](std::string_view s, std::string& out) {
    out.assign(s);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  });
}
void lower_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  string_unary(args, count, r, [](std::string_view s, std::string& out) {
    out.assign(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
}
void initcap_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  string_unary(args, count, r, [](std::string_view s, std::string& out) {
    out.assign(s);
    bool start = true;
    for (char& c : out) {
      unsigned char u = static_cast<unsigned char>(c);
      c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
      start = !std::isalnum(u);
    }
  });
}
void reverse_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  string_unary(args, count, r,
               [](std::string_view s, std::string& out) { out.assign(s.rbegin(), s.rend()); });
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Byte offset of the `chars`-th code point (clamped to the end).
size_t utf8_offset(std::string_view s, size_t chars) {
  size_t i = 0;
  while (i < s.size() && chars > 0) {
    ++i;
    while (i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) ++i;
    --chars;
  }
  return i;
}

void char_length_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  const Vector& a = *args[0];
  int32_t* out = r.data<int32_t>();
  for (size_t i = 0; i < count; ++i) {
    out[i] = static_cast<int32_t>(utf8_length(a.data<StringRef>()[a.is_constant() ? 0 : i].view()));
  }
}

// SUBSTRING(s, start [, length]): 1-based; start 0 acts as 1; a negative start counts from the
// end; a negative length is NULL (Flink).
void substring_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  const Vector& s = *args[0];
  const Vector& start = *args[1];
  const Vector* length = call.children.size() > 2 ? args[2] : nullptr;
  StringRef* out = r.data<StringRef>();
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    std::string_view text = s.data<StringRef>()[s.is_constant() ? 0 : i].view();
    int64_t from = start.data<int32_t>()[start.is_constant() ? 0 : i];
    int64_t chars = static_cast<int64_t>(utf8_length(text));
    int64_t begin;
    if (from > 0) {
      begin = from - 1;
    } else if (from == 0) {
      begin = 0;
    } else {
      begin = chars + from;
      if (begin < 0) {
        out[i] = StringRef();
        continue;
      }
    }
    int64_t take = chars;
    if (length) {
      take = length->data<int32_t>()[length->is_constant() ? 0 : i];
      if (take < 0) {
        r.set_null(i);
        continue;
      }
    }
    if (begin >= chars) {
      out[i] = StringRef();
      continue;
    }
    size_t b = utf8_offset(text, static_cast<size_t>(begin));
    size_t e = take >= chars - begin ? text.size()
                                     : b + utf8_offset(text.substr(b), static_cast<size_t>(take));
    std::string_view piece = text.substr(b, e - b);
    // The piece lies inside the input's bytes: share its heap rather than copy.
    out[i] = StringRef(piece.data(), static_cast<uint32_t>(piece.size()));
    if (!out[i].is_inlined()) {
      if (s.data<StringRef>()[s.is_constant() ? 0 : i].is_inlined()) {
        out[i] = r.heap().add(piece);
      } else {
        r.share_heap(s.shared_heap());
      }
    }
  }
  // Substrings of inline strings point into the argument vector itself: copy them out.
  for (size_t i = 0; i < count; ++i) {
    if (r.is_valid(i) && out[i].is_inlined()) out[i] = StringRef(out[i].view());
  }
}

void concat_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  StringRef* out = r.data<StringRef>();
  StringHeap& heap = r.heap();
  std::string buffer;
  size_t n = call.children.size();
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    buffer.clear();
    for (size_t a = 0; a < n; ++a) {
      buffer += args[a]->data<StringRef>()[args[a]->is_constant() ? 0 : i].view();
    }
    out[i] = heap.add(buffer);
  }
}

template <int Mode>  // 0 both, 1 leading, 2 trailing
void trim_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  const Vector& s = *args[0];
  const Vector* chars = call.children.size() > 1 ? args[1] : nullptr;
  StringRef* out = r.data<StringRef>();
  StringHeap& heap = r.heap();
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    std::string_view text = s.data<StringRef>()[s.is_constant() ? 0 : i].view();
    std::string_view set = chars ? chars->data<StringRef>()[chars->is_constant() ? 0 : i].view()
                                 : std::string_view(" ");
    size_t b = 0;
    size_t e = text.size();
    if (Mode != 2) {
      while (b < e && set.find(text[b]) != std::string_view::npos) ++b;
    }
    if (Mode != 1) {
      while (e > b && set.find(text[e - 1]) != std::string_view::npos) --e;
    }
    out[i] = heap.add(text.substr(b, e - b));
  }
}

void position_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  const Vector& needle = *args[0];
  const Vector& hay = *args[1];
  int32_t* out = r.data<int32_t>();
  for (size_t i = 0; i < count; ++i) {
    std::string_view n = needle.data<StringRef>()[needle.is_constant() ? 0 : i].view();
    std::string_view h = hay.data<StringRef>()[hay.is_constant() ? 0 : i].view();
    size_t at = h.find(n);
    out[i] =
        at == std::string_view::npos ? 0 : static_cast<int32_t>(utf8_length(h.substr(0, at)) + 1);
  }
}

void replace_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  StringRef* out = r.data<StringRef>();
  StringHeap& heap = r.heap();
  std::string buffer;
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    std::string_view s = args[0]->data<StringRef>()[args[0]->is_constant() ? 0 : i].view();
    std::string_view from = args[1]->data<StringRef>()[args[1]->is_constant() ? 0 : i].view();
    std::string_view to = args[2]->data<StringRef>()[args[2]->is_constant() ? 0 : i].view();
    buffer.clear();
    if (from.empty()) {
      buffer.assign(s);
    } else {
      size_t pos = 0;
      while (true) {
        size_t at = s.find(from, pos);
        if (at == std::string_view::npos) break;
        buffer.append(s.substr(pos, at - pos));
        buffer.append(to);
        pos = at + from.size();
      }
      buffer.append(s.substr(pos));
    }
    out[i] = heap.add(buffer);
  }
}

template <bool Left>
void pad_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  StringRef* out = r.data<StringRef>();
  StringHeap& heap = r.heap();
  std::string buffer;
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    std::string_view s = args[0]->data<StringRef>()[args[0]->is_constant() ? 0 : i].view();
    int64_t length = args[1]->data<int32_t>()[args[1]->is_constant() ? 0 : i];
    std::string_view pad = args[2]->data<StringRef>()[args[2]->is_constant() ? 0 : i].view();
    if (length < 0 || (pad.empty() && static_cast<int64_t>(utf8_length(s)) < length)) {
      r.set_null(i);
      continue;
    }
    int64_t chars = static_cast<int64_t>(utf8_length(s));
    buffer.clear();
    if (chars >= length) {
      buffer.assign(s.substr(0, utf8_offset(s, static_cast<size_t>(length))));
    } else {
      std::string padding;
      int64_t need = length - chars;
      size_t pad_chars = utf8_length(pad);
      while (need > 0) {
        size_t take = std::min<size_t>(static_cast<size_t>(need), pad_chars);
        padding.append(pad.substr(0, utf8_offset(pad, take)));
        need -= static_cast<int64_t>(take);
      }
      buffer = Left ? padding + std::string(s) : std::string(s) + padding;
    }
    out[i] = heap.add(buffer);
  }
}

// LIKE with % and _, anchored; `escape` (optional) makes the next character literal.
bool like_match(std::string_view s, std::string_view p, char escape, bool case_insensitive) {
  size_t si = 0, pi = 0, star_p = std::string_view::npos, star_s = 0;
  auto eq = [&](char a, char b) {
    return case_insensitive ? std::tolower(static_cast<unsigned char>(a)) ==
                                  std::tolower(static_cast<unsigned char>(b))
                            : a == b;
  };
  while (si < s.size()) {
    if (pi < p.size()) {
      char c = p[pi];
      if (escape != 0 && c == escape && pi + 1 < p.size()) {
        if (eq(p[pi + 1], s[si])) {
          pi += 2;
          ++si;
          continue;
        }
      } else if (c == '%') {
        star_p = pi++;
        star_s = si;
        continue;
      } else if (c == '_' || eq(c, s[si])) {
        ++pi;
        ++si;
        continue;
      }
    }
    if (star_p != std::string_view::npos) {
      pi = star_p + 1;
      si = ++star_s;
      continue;
    }
    return false;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

template <bool CaseInsensitive>
void like_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  const Vector& s = *args[0];
  const Vector& p = *args[1];
  const Vector* escape = call.children.size() > 2 ? args[2] : nullptr;
  uint8_t* out = r.data<uint8_t>();
  // A constant pattern of literal segments between '%'s ('abc%', '%abc', '%a%b%'): match the
  // segments left to right with a substring search, no backtracking matcher.
  if (p.is_constant() && !escape && !CaseInsensitive) {
    std::string_view pattern = p.data<StringRef>()[0].view();
    if (pattern.find('_') == std::string_view::npos) {
      std::vector<std::string_view> segments;
      size_t begin = 0;
      while (true) {
        size_t percent = pattern.find('%', begin);
        segments.push_back(pattern.substr(
            begin, percent == std::string_view::npos ? std::string_view::npos : percent - begin));
        if (percent == std::string_view::npos) break;
        begin = percent + 1;
      }
      // segments.front() must start the string, segments.back() end it (both may be empty).
      std::string_view first = segments.front();
      std::string_view last = segments.size() > 1 ? segments.back() : std::string_view();
      bool exact = segments.size() == 1;
      for (size_t i = 0; i < count; ++i) {
        std::string_view v = s.data<StringRef>()[s.is_constant() ? 0 : i].view();
        if (exact) {
          out[i] = v == first;
          continue;
        }
        bool m = v.size() >= first.size() + last.size() && v.substr(0, first.size()) == first &&
                 v.substr(v.size() - last.size()) == last;
        size_t position = first.size();
        size_t limit = v.size() - last.size();
        for (size_t k = 1; m && k + 1 < segments.size(); ++k) {
          if (segments[k].empty()) continue;
          size_t at = v.substr(0, limit).find(segments[k], position);
          m = at != std::string_view::npos;
          position = at + segments[k].size();
        }
        out[i] = m;
      }
      return;
    }
  }
  for (size_t i = 0; i < count; ++i) {
    if (!r.is_valid(i)) continue;
    char esc = 0;
    if (escape) {
      std::string_view e = escape->data<StringRef>()[escape->is_constant() ? 0 : i].view();
      if (e.size() != 1) {
        throw Error(ErrorCategory::kBadInput,
                    fmt::format("LIKE's ESCAPE must be one character, not '{}'", e));
      }
      esc = e[0];
    }
    out[i] = like_match(s.data<StringRef>()[s.is_constant() ? 0 : i].view(),
                        p.data<StringRef>()[p.is_constant() ? 0 : i].view(), esc, CaseInsensitive);
  }
}

// ------------------------------------------------------------------ math
void identity_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  size_t width = physical_width(r.physical());
  std::memcpy(r.raw(), args[0]->raw(), (args[0]->is_constant() ? 1 : count) * width);
}

template <typename T>
struct Abs {
  static void run(const BoundExpr&, Args a, size_t n, Vector& r) {
    unary_loop<T, T>(a, n, r, [](T v, size_t) -> T { return v < 0 ? wrapping_sub(T{0}, v) : v; });
  }
};

template <double (*F)(double)>
void double_unary_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  unary_loop<double, double>(args, count, r, [](double v, size_t) { return F(v); });
}

double sign_of(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }
double log10_of(double v) { return std::log10(v); }
double log2_of(double v) { return std::log2(v); }
double ln_of(double v) { return std::log(v); }
double exp_of(double v) { return std::exp(v); }
double sqrt_of(double v) { return std::sqrt(v); }
double floor_of(double v) { return std::floor(v); }
double ceil_of(double v) { return std::ceil(v); }

void power_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  binary_loop<double, double, double>(args, count, r,
                                      [](double a, double b, size_t) { return std::pow(a, b); });
}

// FLOOR / CEIL of a decimal: to scale 0.
template <typename T, bool Ceil>
void decimal_floor_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int128_t divisor = power_of_ten(call.children[0]->type.scale());
  unary_loop<T, T>(args, count, r, [divisor](T v, size_t) -> T {
    int128_t q = static_cast<int128_t>(v) / divisor;
    int128_t rem = static_cast<int128_t>(v) % divisor;
    if (Ceil && rem > 0) ++q;
    if (!Ceil && rem < 0) --q;
    return static_cast<T>(q);
  });
}

// ROUND(decimal, d) HALF_UP: rounds to max(d, 0) fraction digits (d < 0: to tens, hundreds,
// ...), then writes at the result's scale.
template <typename A, typename R>
void decimal_round_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int from = call.children[0]->type.scale();
  int digits = static_cast<int>(call.children.size() > 1 ? call.children[1]->constant.as_int() : 0);
  int to = call.type.scale();
  unary_loop<A, R>(args, count, r, [&](A v, size_t) -> R {
    int128_t x = v;
    // Overflow (only for results beyond 38 digits) wraps through unsigned arithmetic rather than
    // invoking undefined behaviour; such a DECIMAL cannot be declared.
    auto times = [](int128_t a, int128_t b) {
      return static_cast<int128_t>(static_cast<uint128_t>(a) * static_cast<uint128_t>(b));
    };
    if (digits < from) {
      int kept = std::max(digits, 0);
      int drop = std::min(from - kept + (digits < 0 ? -digits : 0), 38);
      x = divide_half_up(x, power_of_ten(drop));
      if (digits < 0) x = times(x, power_of_ten(std::min(-digits, 38)));
      x = times(x, power_of_ten(to - kept));
    } else {
      x = times(x, power_of_ten(to - from));
    }
    return static_cast<R>(x);
  });
}

void double_round_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int digits = static_cast<int>(call.children.size() > 1 ? call.children[1]->constant.as_int() : 0);
  double scale = std::pow(10.0, digits);
  unary_loop<double, double>(args, count, r, [scale](double v, size_t) {
    // HALF_UP on the shortest decimal representation, as Java's BigDecimal.valueOf.
    double scaled = v * scale;
    double rounded = std::round(scaled);
    if (std::fabs(scaled - std::trunc(scaled)) == 0.5) rounded = scaled + (scaled > 0 ? 0.5 : -0.5);
    return rounded / scale;
  });
}

template <typename T>
void integer_round_kernel(const BoundExpr& call, Args args, size_t count, Vector& r) {
  int digits = static_cast<int>(call.children.size() > 1 ? call.children[1]->constant.as_int() : 0);
  int128_t d = digits < 0 ? power_of_ten(-digits) : 1;
  unary_loop<T, T>(args, count, r, [d](T v, size_t) -> T {
    if (d == 1) return v;
    return static_cast<T>(divide_half_up(v, d) * d);
  });
}

// ------------------------------------------------------------------ temporal
enum class TimeUnit {
  kYear,
  kQuarter,
  kMonth,
  kWeek,
  kDay,
  kDayOfWeek,
  kDayOfYear,
  kHour,
  kMinute,
  kSecond,
  kMillisecond,
  kMicrosecond,
  kEpoch
};

bool time_unit(const std::string& name, TimeUnit& unit) {
  static const std::map<std::string, TimeUnit> kUnits = {{"YEAR", TimeUnit::kYear},
                                                         {"QUARTER", TimeUnit::kQuarter},
                                                         {"MONTH", TimeUnit::kMonth},
                                                         {"WEEK", TimeUnit::kWeek},
                                                         {"DAY", TimeUnit::kDay},
                                                         {"DOW", TimeUnit::kDayOfWeek},
                                                         {"DOY", TimeUnit::kDayOfYear},
                                                         {"HOUR", TimeUnit::kHour},
                                                         {"MINUTE", TimeUnit::kMinute},
                                                         {"SECOND", TimeUnit::kSecond},
                                                         {"MILLISECOND", TimeUnit::kMillisecond},
                                                         {"MICROSECOND", TimeUnit::kMicrosecond},
                                                         {"EPOCH", TimeUnit::kEpoch}};
  auto it = kUnits.find(name);
  if (it == kUnits.end()) return false;
  unit = it->second;
  return true;
}

int64_t extract_field(TimeUnit unit, int64_t micros) {
  int64_t days =
      micros >= 0 ? micros / kMicrosPerDay : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
  int64_t of_day = micros - days * kMicrosPerDay;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  switch (unit) {
    case TimeUnit::kYear:
      return y;
    case TimeUnit::kQuarter:
      return (m - 1) / 3 + 1;
    case TimeUnit::kMonth:
      return m;
    case TimeUnit::kDay:
      return d;
    case TimeUnit::kDayOfWeek:
      // 1 = Sunday ... 7 = Saturday (Flink); 1970-01-01 was a Thursday.
      return ((days % 7 + 7) % 7 + 4) % 7 + 1;
    case TimeUnit::kDayOfYear:
      return days - days_from_civil(y, 1, 1) + 1;
    case TimeUnit::kWeek: {
      // ISO week: the week with the year's first Thursday is week 1.
      int64_t weekday = ((days % 7 + 7) % 7 + 3) % 7;  // 0 = Monday
      int64_t thursday = days - weekday + 3;
      int64_t ty;
      unsigned tm, td;
      civil_from_days(thursday, ty, tm, td);
      return (thursday - days_from_civil(ty, 1, 1)) / 7 + 1;
    }
    case TimeUnit::kHour:
      return of_day / 3'600'000'000;
    case TimeUnit::kMinute:
      return of_day / 60'000'000 % 60;
    case TimeUnit::kSecond:
      return of_day / 1'000'000 % 60;
    case TimeUnit::kMillisecond:
      return of_day / 1000 % 60'000;
    case TimeUnit::kMicrosecond:
      return of_day % 60'000'000;
    case TimeUnit::kEpoch:
      return micros >= 0 ? micros / 1'000'000 : -((-micros + 999'999) / 1'000'000);
  }
  return 0;
}

template <TimeUnit Unit, bool IsDate>
void extract_kernel(const BoundExpr&, Args args, size_t count, Vector& r) {
  if constexpr (IsDate) {
    unary_loop<int32_t, int64_t>(args, count, r, [](int32_t d, size_t) {
      return extract_field(Unit, int64_t{d} * kMicrosPerDay);
    });
  } else {
    unary_loop<int64_t, int64_t>(args, count, r,
                                 [](int64_t t, size_t) { return extract_field(Unit, t); });
  }
}

template <bool IsDate>
ScalarKernel extract_kernel_for(TimeUnit unit) {
  switch (unit) {
    case TimeUnit::kYear:
      return &extract_kernel<TimeUnit::kYear, IsDate>;
    case TimeUnit::kQuarter:
      return &extract_kernel<TimeUnit::kQuarter, IsDate>;
    case TimeUnit::kMonth:
      return &extract_kernel<TimeUnit::kMonth, IsDate>;
    case TimeUnit::kWeek:
      return &extract_kernel<TimeUnit::kWeek, IsDate>;
    case TimeUnit::kDay:
      return &extract_kernel<TimeUnit::kDay, IsDate>;
    case TimeUnit::kDayOfWeek:
      return &extract_kernel<TimeUnit::kDayOfWeek, IsDate>;
    case TimeUnit::kDayOfYear:
      return &extract_kernel<TimeUnit::kDayOfYear, IsDate>;
    case TimeUnit::kHour:
      return &extract_kernel<TimeUnit::kHour, IsDate>;
    case TimeUnit::kMinute:
      return &extract_kernel<TimeUnit::kMinute, IsDate>;
    case TimeUnit::kSecond:
      return &extract_kernel<TimeUnit::kSecond, IsDate>;
    case TimeUnit::kMillisecond:
      return &extract_kernel<TimeUnit::kMillisecond, IsDate>;
    case TimeUnit::kMicrosecond:
      return &extract_kernel<TimeUnit::kMicrosecond, IsDate>;
    case TimeUnit::kEpoch:
      return &extract_kernel<TimeUnit::kEpoch, IsDate>;
  }
  return nullptr;
}

// EXTRACT(unit FROM x): the unit arrives as a constant string first argument.
std::optional<ResolvedScalar> resolve_extract(const std::string& unit_name,
                                              const LogicalType& input, std::string& error) {
  TimeUnit unit;
  if (!time_unit(unit_name, unit)) {
    error = fmt::format("unknown time unit {}", unit_name);
    return std::nullopt;
  }
  ResolvedScalar r;
  r.result = LogicalType::bigint();
  if (input.id() == TypeId::kDate) {
    if (unit >= TimeUnit::kHour && unit != TimeUnit::kEpoch) {
      error = fmt::format("a DATE has no {}", unit_name);
      return std::nullopt;
    }
    r.function = function_for("EXTRACT_" + unit_name, extract_kernel_for<true>(unit));
    r.argument_types = {LogicalType::date()};
  } else if (input.id() == TypeId::kTimestamp || input.id() == TypeId::kTimestampLtz ||
             input.is_string()) {
    r.function = function_for("EXTRACT_" + unit_name, extract_kernel_for<false>(unit));
    r.argument_types = {input.is_string() ? LogicalType::timestamp(6) : input};
  } else if (input.id() == TypeId::kTime) {
    r.function = function_for("EXTRACT_" + unit_name, extract_kernel_for<false>(unit));
    r.argument_types = {input};
  } else {
    error = fmt::format("cannot extract from {}", input.to_string());
    return std::nullopt;
  }
  return r;
}

void current_date_kernel(const BoundExpr&, Args, size_t count, Vector& r) {
  int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (size_t i = 0; i < count; ++i)
    r.data<int32_t>()[i] = static_cast<int32_t>(now / kMicrosPerDay);
}

void current_timestamp_kernel(const BoundExpr&, Args, size_t count, Vector& r) {
  int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (size_t i = 0; i < count; ++i) r.data<int64_t>()[i] = now / 1000 * 1000;
}

// ------------------------------------------------------------------ resolvers
using Types = std::vector<LogicalType>;

bool all_strings(const Types& args) {
  for (const auto& t : args) {
    if (!t.is_string() && t.id() != TypeId::kNull) return false;
  }
  return true;
}

ScalarResolver fixed(const std::string& name, Types arguments, LogicalType result, ScalarKernel k,
                     bool propagates_nulls = true) {
  return [=](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
    if (args.size() != arguments.size()) {
      error = fmt::format("{} takes {} argument(s)", name, arguments.size());
      return std::nullopt;
    }
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].id() == TypeId::kNull) continue;
      const LogicalType& want = arguments[i];
      bool ok = (want.is_string() && args[i].is_string()) ||
                (want.is_numeric() && args[i].is_numeric()) || can_cast(args[i], want);
      if (want.is_string() != args[i].is_string() && !(want.is_numeric() && args[i].is_numeric())) {
        ok = false;
      }
      if (!ok) {
        error = fmt::format("argument {} must be {}", i + 1, want.to_string());
        return std::nullopt;
      }
    }
    ResolvedScalar r;
    r.function = function_for(name, k, propagates_nulls);
    r.result = result;
    r.argument_types = arguments;
    return r;
  };
}

ScalarResolver string_to_string(const std::string& name, ScalarKernel k) {
  return [=](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
    if (args.size() != 1 || !all_strings(args)) {
      error = fmt::format("{} takes one string", name);
      return std::nullopt;
    }
    ResolvedScalar r;
    r.function = function_for(name, k);
    r.result = args[0].id() == TypeId::kNull ? LogicalType::string()
                                             : LogicalType::varchar(args[0].length());
    if (r.result.id() == TypeId::kVarchar && args[0].id() == TypeId::kChar)
      r.result = LogicalType::varchar(args[0].length());
    r.argument_types = {args[0].id() == TypeId::kNull ? LogicalType::string() : args[0]};
    return r;
  };
}

}  // namespace

// The built-in scalar functions, registered into `registry`.
void register_scalar_functions(FunctionRegistry& registry) {
  for (std::string op : {"+", "-", "*", "/", "%"}) {
    registry.add_scalar(op, [op](const Types& args, std::string& error) {
      return resolve_arithmetic(op, args, error);
    });
  }
  registry.add_scalar("MOD", [](const Types& args, std::string& error) {
    return resolve_arithmetic("%", args, error);
  });
  registry.add_scalar(
      "NEGATE", [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
        if (args.size() != 1 || !(args[0].is_numeric() || args[0].is_interval())) {
          error = "unary minus needs a number";
          return std::nullopt;
        }
        ResolvedScalar r;
        r.function = function_for("NEGATE", numeric_kernel<Negate>(args[0].physical()));
        r.result = args[0];
        r.argument_types = {args[0]};
        return r;
      });
  for (std::string op : {"=", "<>", "<", "<=", ">", ">=", "IS_DISTINCT_FROM"}) {
    registry.add_scalar(op, [op](const Types& args, std::string& error) {
      return resolve_comparison(op, args, error);
    });
  }
  registry.add_scalar("IS_TRUE", fixed("IS_TRUE", {LogicalType::boolean()}, LogicalType::boolean(),
                                       &is_bool_kernel<true, false>, false));
  registry.add_scalar("IS_FALSE",
                      fixed("IS_FALSE", {LogicalType::boolean()}, LogicalType::boolean(),
                            &is_bool_kernel<false, false>, false));
  registry.add_scalar("IS_NOT_TRUE",
                      fixed("IS_NOT_TRUE", {LogicalType::boolean()}, LogicalType::boolean(),
                            &is_bool_kernel<true, true>, false));
  registry.add_scalar("IS_NOT_FALSE",
                      fixed("IS_NOT_FALSE", {LogicalType::boolean()}, LogicalType::boolean(),
                            &is_bool_kernel<false, true>, false));

  // Strings.
  registry.add_scalar("UPPER", string_to_string("UPPER", &upper_kernel));
  registry.add_scalar("LOWER", string_to_string("LOWER", &lower_kernel));
  registry.add_scalar("INITCAP", string_to_string("INITCAP", &initcap_kernel));
  registry.add_scalar("REVERSE", string_to_string("REVERSE", &reverse_kernel));
  for (const char* name : {"CHAR_LENGTH", "CHARACTER_LENGTH", "LENGTH"}) {
    registry.add_scalar(
        name, fixed(name, {LogicalType::string()}, LogicalType::integer(), &char_length_kernel));
  }
  registry.add_scalar(
      "SUBSTRING", [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
        if (args.size() < 2 || args.size() > 3 ||
            !(args[0].is_string() || args[0].id() == TypeId::kNull)) {
          error = "SUBSTRING(string FROM start [FOR length])";
          return std::nullopt;
        }
        for (size_t i = 1; i < args.size(); ++i) {
          if (!args[i].is_integer() && args[i].id() != TypeId::kNull) {
            error = "SUBSTRING's start and length are integers";
            return std::nullopt;
          }
        }
        ResolvedScalar r;
        r.function = function_for("SUBSTRING", &substring_kernel);
        r.result = LogicalType::varchar(args[0].id() == TypeId::kNull ? LogicalType::kMaxLength
                                                                      : args[0].length());
        r.argument_types = {args[0].id() == TypeId::kNull ? LogicalType::string() : args[0],
                            LogicalType::integer()};
        if (args.size() == 3) r.argument_types.push_back(LogicalType::integer());
        return r;
      });
  registry.add_scalar(
      "CONCAT", [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
        if (args.empty() || !all_strings(args)) {
          error = "CONCAT takes strings";
          return std::nullopt;
        }
        ResolvedScalar r;
        r.function = function_for("CONCAT", &concat_kernel);
        int64_t length = 0;
        for (const auto& t : args) length += t.id() == TypeId::kNull ? 0 : t.length();
        r.result = LogicalType::varchar(
            static_cast<int>(std::min<int64_t>(length, LogicalType::kMaxLength)));
        for (const auto& t : args)
          r.argument_types.push_back(t.id() == TypeId::kNull ? LogicalType::string() : t);
        return r;
      });
  auto trim_resolver = [](const char* name, ScalarKernel k) {
    return [=](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
      if (args.empty() || args.size() > 2 || !all_strings(args)) {
        error = fmt::format("{} takes a string and optionally the characters to remove", name);
        return std::nullopt;
      }
      ResolvedScalar r;
      r.function = function_for(name, k);
      r.result = LogicalType::varchar(args[0].id() == TypeId::kNull ? LogicalType::kMaxLength
                                                                    : args[0].length());
      for (const auto& t : args)
        r.argument_types.push_back(t.id() == TypeId::kNull ? LogicalType::string() : t);
      return r;
    };
  };
  registry.add_scalar("TRIM", trim_resolver("TRIM", &trim_kernel<0>));
  registry.add_scalar("BTRIM", trim_resolver("BTRIM", &trim_kernel<0>));
  registry.add_scalar("LTRIM", trim_resolver("LTRIM", &trim_kernel<1>));
  registry.add_scalar("RTRIM", trim_resolver("RTRIM", &trim_kernel<2>));
  registry.add_scalar("POSITION", fixed("POSITION", {LogicalType::string(), LogicalType::string()},
                                        LogicalType::integer(), &position_kernel));
  registry.add_scalar(
      "REPLACE",
      fixed("REPLACE", {LogicalType::string(), LogicalType::string(), LogicalType::string()},
            LogicalType::string(), &replace_kernel));
  registry.add_scalar(
      "LPAD", fixed("LPAD", {LogicalType::string(), LogicalType::integer(), LogicalType::string()},
                    LogicalType::string(), &pad_kernel<true>));
  registry.add_scalar(
      "RPAD", fixed("RPAD", {LogicalType::string(), LogicalType::integer(), LogicalType::string()},
                    LogicalType::string(), &pad_kernel<false>));
  auto like_resolver = [](const char* name, ScalarKernel k) {
    return [=](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
      if (args.size() < 2 || args.size() > 3 || !all_strings(args)) {
        error = fmt::format("{} compares strings", name);
        return std::nullopt;
      }
      ResolvedScalar r;
      r.function = function_for(name, k);
      r.result = LogicalType::boolean();
      for (const auto& t : args)
        r.argument_types.push_back(t.id() == TypeId::kNull ? LogicalType::string() : t);
      return r;
    };
  };
  registry.add_scalar("LIKE", like_resolver("LIKE", &like_kernel<false>));
  registry.add_scalar("ILIKE", like_resolver("ILIKE", &like_kernel<true>));

  // Math.
  registry.add_scalar("ABS",
                      [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
                        if (args.size() != 1 || !args[0].is_numeric()) {
                          error = "ABS takes a number";
                          return std::nullopt;
                        }
                        ResolvedScalar r;
                        r.function = function_for("ABS", numeric_kernel<Abs>(args[0].physical()));
                        r.result = args[0];
                        r.argument_types = {args[0]};
                        return r;
                      });
  auto double_function = [&](const char* name, ScalarKernel k) {
    registry.add_scalar(name,
                        fixed(name, {LogicalType::double_type()}, LogicalType::double_type(), k));
  };
  double_function("SQRT", &double_unary_kernel<sqrt_of>);
  double_function("EXP", &double_unary_kernel<exp_of>);
  double_function("LN", &double_unary_kernel<ln_of>);
  double_function("LOG10", &double_unary_kernel<log10_of>);
  double_function("LOG2", &double_unary_kernel<log2_of>);
  registry.add_scalar("POWER",
                      fixed("POWER", {LogicalType::double_type(), LogicalType::double_type()},
                            LogicalType::double_type(), &power_kernel));
  registry.add_scalar("POW", fixed("POW", {LogicalType::double_type(), LogicalType::double_type()},
                                   LogicalType::double_type(), &power_kernel));
  registry.add_scalar("SIGN",
                      [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
                        if (args.size() != 1 || !args[0].is_numeric()) {
                          error = "SIGN takes a number";
                          return std::nullopt;
                        }
                        ResolvedScalar r;
                        r.function = function_for("SIGN", &double_unary_kernel<sign_of>);
                        r.result = LogicalType::double_type();
                        r.argument_types = {LogicalType::double_type()};
                        return r;
                      });
  for (bool ceil : {false, true}) {
    const char* name = ceil ? "CEIL" : "FLOOR";
    ScalarResolver resolver = [ceil, name](const Types& args,
                                           std::string& error) -> std::optional<ResolvedScalar> {
      if (args.size() != 1 || !args[0].is_numeric()) {
        error = fmt::format("{} takes a number", name);
        return std::nullopt;
      }
      ResolvedScalar r;
      const LogicalType& t = args[0];
      if (t.is_integer()) {
        r.function = function_for("IDENTITY", &identity_kernel);
        r.result = t;
        r.argument_types = {t};
        return r;
      }
      if (t.id() == TypeId::kDecimal) {
        r.result = LogicalType::decimal(
            std::min(LogicalType::kMaxDecimalPrecision, t.precision() - t.scale() + 1), 0);
        r.argument_types = {t};
        ScalarKernel k = t.physical() == PhysicalType::kInt64
                             ? (ceil ? &decimal_floor_kernel<int64_t, true>
                                     : &decimal_floor_kernel<int64_t, false>)
                             : (ceil ? &decimal_floor_kernel<int128_t, true>
                                     : &decimal_floor_kernel<int128_t, false>);
        if (r.result.physical() != t.physical())
          r.result = LogicalType::decimal(t.physical() == PhysicalType::kInt64 ? 18 : 38, 0);
        r.function = function_for(name, k);
        return r;
      }
      r.function =
          function_for(name, ceil ? &double_unary_kernel<ceil_of> : &double_unary_kernel<floor_of>);
      r.result = LogicalType::double_type();
      r.argument_types = {LogicalType::double_type()};
      return r;
    };
    registry.add_scalar(name, resolver);
    if (ceil) registry.add_scalar("CEILING", resolver);
  }
  registry.add_scalar(
      "ROUND", [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
        if (args.empty() || args.size() > 2 || !args[0].is_numeric() ||
            (args.size() == 2 && !args[1].is_integer())) {
          error = "ROUND(number [, integer digits])";
          return std::nullopt;
        }
        // The digits must be a constant: the result type depends on them (checked by the binder,
        // which folds constants; a column here reads as 0 digits).
        ResolvedScalar r;
        const LogicalType& t = args[0];
        r.argument_types = {t};
        if (args.size() == 2) r.argument_types.push_back(LogicalType::integer());
        if (t.id() == TypeId::kDecimal) {
          // The result type depends on the digits: resolve_round_decimal, once they are known.
          error = "ROUND of a DECIMAL needs constant digits";
          return std::nullopt;
        } else if (t.is_integer()) {
          r.result = t;
          ScalarKernel k = t.physical() == PhysicalType::kInt8    ? &integer_round_kernel<int8_t>
                           : t.physical() == PhysicalType::kInt16 ? &integer_round_kernel<int16_t>
                           : t.physical() == PhysicalType::kInt32 ? &integer_round_kernel<int32_t>
                                                                  : &integer_round_kernel<int64_t>;
          r.function = function_for("ROUND", k);
        } else {
          r.result = LogicalType::double_type();
          r.argument_types[0] = LogicalType::double_type();
          r.function = function_for("ROUND", &double_round_kernel);
        }
        return r;
      });

  // Temporal.
  registry.add_scalar("EXTRACT",
                      [](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
                        // The binder passes the unit as the first (constant string) argument; see
                        // bind_function.
                        (void)args;
                        error = "EXTRACT(unit FROM value)";
                        return std::nullopt;
                      });
  for (const char* unit : {"YEAR", "QUARTER", "MONTH", "WEEK", "HOUR", "MINUTE", "SECOND"}) {
    std::string u = unit;
    registry.add_scalar(
        unit, [u](const Types& args, std::string& error) -> std::optional<ResolvedScalar> {
          if (args.size() != 1) {
            error = fmt::format("{} takes one date or timestamp", u);
            return std::nullopt;
          }
          return resolve_extract(u, args[0], error);
        });
  }
  registry.add_scalar("DAYOFMONTH", [](const Types& args, std::string& error) {
    return args.size() == 1 ? resolve_extract("DAY", args[0], error) : std::nullopt;
  });
  registry.add_scalar("DAYOFWEEK", [](const Types& args, std::string& error) {
    return args.size() == 1 ? resolve_extract("DOW", args[0], error) : std::nullopt;
  });
  registry.add_scalar("DAYOFYEAR", [](const Types& args, std::string& error) {
    return args.size() == 1 ? resolve_extract("DOY", args[0], error) : std::nullopt;
  });
  registry.add_scalar("CURRENT_DATE",
                      [](const Types& args, std::string&) -> std::optional<ResolvedScalar> {
                        if (!args.empty()) return std::nullopt;
                        ResolvedScalar r;
                        r.function = function_for("CURRENT_DATE", &current_date_kernel, true, true);
                        r.result = LogicalType::date();
                        return r;
                      });
  for (const char* name : {"CURRENT_TIMESTAMP", "LOCALTIMESTAMP", "NOW"}) {
    registry.add_scalar(
        name, [name](const Types& args, std::string&) -> std::optional<ResolvedScalar> {
          if (!args.empty()) return std::nullopt;
          ResolvedScalar r;
          r.function = function_for(name, &current_timestamp_kernel, true, true);
          r.result = std::string(name) == "LOCALTIMESTAMP" ? LogicalType::timestamp(3)
                                                           : LogicalType::timestamp_ltz(3);
          return r;
        });
  }
}

std::optional<ResolvedScalar> resolve_round_decimal(const LogicalType& t, int64_t digits) {
  // Flink's findRoundDecimalType.
  int p = t.precision(), s = t.scale();
  LogicalType result;
  if (digits >= s) {
    result = t;
  } else if (digits >= 0) {
    result = LogicalType::decimal(1 + p - s + static_cast<int>(digits), static_cast<int>(digits));
  } else {
    result = LogicalType::decimal(std::min(LogicalType::kMaxDecimalPrecision, 1 + p - s), 0);
  }
  ResolvedScalar r;
  r.result = result;
  r.argument_types = {t, LogicalType::integer()};
  bool a64 = t.physical() == PhysicalType::kInt64;
  bool r64 = result.physical() == PhysicalType::kInt64;
  ScalarKernel k = a64 ? (r64 ? &decimal_round_kernel<int64_t, int64_t>
                              : &decimal_round_kernel<int64_t, int128_t>)
                       : (r64 ? &decimal_round_kernel<int128_t, int64_t>
                              : &decimal_round_kernel<int128_t, int128_t>);
  r.function = function_for("ROUND", k);
  return r;
}

std::optional<ResolvedScalar> resolve_extract_unit(const std::string& unit,
                                                   const LogicalType& input, std::string& error) {
  return resolve_extract(unit, input, error);
}

}  // namespace sluice::sql
