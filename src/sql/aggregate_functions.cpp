// The built-in aggregate functions with Flink's result types: COUNT is BIGINT; SUM and AVG of an
// integer type keep that type (AVG truncates); SUM of DECIMAL(p, s) is DECIMAL(38, s) and AVG is
// DECIMAL(38, max(6, s)); MIN and MAX keep the input's type.
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <mutex>
#include <new>

#include "function_library.h"
#include "sluice/sql/value.h"
#include "sluice/sql/vector.h"

namespace sluice::sql {

namespace {

using States = uint8_t* const*;

template <typename T>
T& state_as(uint8_t* state) {
  return *std::launder(reinterpret_cast<T*>(state));
}

// Calls body(row) for every valid row of `input`.
template <typename Body>
void for_valid(const Vector& input, size_t count, Body body) {
  if (input.is_constant()) {
    if (!input.is_valid(0)) return;
    for (size_t i = 0; i < count; ++i) body(i, size_t{0});
  } else if (input.all_valid()) {
    for (size_t i = 0; i < count; ++i) body(i, i);
  } else {
    for (size_t i = 0; i < count; ++i) {
      if (input.is_valid(i)) body(i, i);
    }
  }
}

// ---------------------------------------------------------------- COUNT
void count_init(uint8_t* s) { state_as<int64_t>(s) = 0; }
void count_star_update(const AggregateFunction&, States states, const Vector*, size_t count) {
  for (size_t i = 0; i < count; ++i) ++state_as<int64_t>(states[i]);
}
void count_update(const AggregateFunction&, States states, const Vector* input, size_t count) {
  for_valid(*input, count, [&](size_t i, size_t) { ++state_as<int64_t>(states[i]); });
}
void count_combine(uint8_t* t, const uint8_t* s) {
  state_as<int64_t>(t) += *reinterpret_cast<const int64_t*>(s);
}
void count_finalize(const AggregateFunction&, States states, size_t count, Vector& result) {
  for (size_t i = 0; i < count; ++i) result.data<int64_t>()[i] = state_as<int64_t>(states[i]);
}

// ---------------------------------------------------------------- SUM / AVG
template <typename Acc>
struct SumState {
  Acc sum;
  int64_t count;
};

template <typename Acc>
void sum_init(uint8_t* s) {
  new (s) SumState<Acc>{Acc{}, 0};
}

template <typename In, typename Acc>
void sum_update(const AggregateFunction&, States states, const Vector* input, size_t count) {
  const In* data = input->data<In>();
  for_valid(*input, count, [&](size_t i, size_t row) {
    auto& st = state_as<SumState<Acc>>(states[i]);
    if constexpr (std::is_integral_v<Acc> && std::is_signed_v<Acc> &&
                  !std::is_same_v<Acc, int128_t>) {
      // Integer sums wrap, as Flink's (Java) arithmetic does.
      st.sum = static_cast<Acc>(static_cast<std::make_unsigned_t<Acc>>(st.sum) +
                                static_cast<std::make_unsigned_t<Acc>>(data[row]));
    } else if constexpr (std::is_same_v<Acc, int128_t>) {
      // Beyond 38 digits the sum is out of its DECIMAL(38, s) anyway: wrap instead of UB.
      st.sum = static_cast<int128_t>(static_cast<uint128_t>(st.sum) +
                                     static_cast<uint128_t>(static_cast<int128_t>(data[row])));
    } else {
      st.sum += static_cast<Acc>(data[row]);
    }
    ++st.count;
  });
}

template <typename Acc>
void sum_combine(uint8_t* t, const uint8_t* s) {
  auto& target = state_as<SumState<Acc>>(t);
  const auto& source = *reinterpret_cast<const SumState<Acc>*>(s);
  if constexpr (std::is_same_v<Acc, int128_t>) {
    target.sum = static_cast<int128_t>(static_cast<uint128_t>(target.sum) +
                                       static_cast<uint128_t>(source.sum));
  } else if constexpr (std::is_integral_v<Acc>) {
    target.sum = static_cast<Acc>(static_cast<std::make_unsigned_t<Acc>>(target.sum) +
                                  static_cast<std::make_unsigned_t<Acc>>(source.sum));
  } else {
    target.sum += source.sum;
  }
  target.count += source.count;
}

template <typename Acc, typename Out>
void sum_finalize(const AggregateFunction&, States states, size_t count, Vector& result) {
  for (size_t i = 0; i < count; ++i) {
    const auto& st = state_as<SumState<Acc>>(states[i]);
    if (st.count == 0) {
      result.set_null(i);
    } else {
      result.data<Out>()[i] = static_cast<Out>(st.sum);
    }
  }
}

template <typename Out>
void avg_integer_finalize(const AggregateFunction&, States states, size_t count, Vector& result) {
  for (size_t i = 0; i < count; ++i) {
    const auto& st = state_as<SumState<int64_t>>(states[i]);
    if (st.count == 0) {
      result.set_null(i);
    } else {
      result.data<Out>()[i] = static_cast<Out>(st.sum / st.count);
    }
  }
}

template <typename Out>
void avg_double_finalize(const AggregateFunction&, States states, size_t count, Vector& result) {
  for (size_t i = 0; i < count; ++i) {
    const auto& st = state_as<SumState<double>>(states[i]);
    if (st.count == 0) {
      result.set_null(i);
    } else {
      result.data<Out>()[i] = static_cast<Out>(st.sum / static_cast<double>(st.count));
    }
  }
}

// sum * 10^shift / count, HALF_UP; the result is DECIMAL(38, s + shift).
void avg_decimal_finalize(const AggregateFunction& self, States states, size_t count,
                          Vector& result) {
  int128_t factor = power_of_ten(static_cast<int>(self.parameter));
  for (size_t i = 0; i < count; ++i) {
    const auto& st = state_as<SumState<int128_t>>(states[i]);
    if (st.count == 0) {
      result.set_null(i);
      continue;
    }
    int128_t n;
    if (__builtin_mul_overflow(st.sum, factor, &n)) {
      result.set_null(i);  // beyond DECIMAL(38, s)
      continue;
    }
    result.data<int128_t>()[i] = divide_half_up(n, st.count);
  }
}

// ---------------------------------------------------------------- MIN / MAX
template <typename T>
struct MinMaxState {
  T value;
  bool seen;
};

template <typename T>
void minmax_init(uint8_t* s) {
  new (s) MinMaxState<T>{T{}, false};
}

template <typename T, bool IsMax>
void minmax_update(const AggregateFunction&, States states, const Vector* input, size_t count) {
  const T* data = input->data<T>();
  for_valid(*input, count, [&](size_t i, size_t row) {
    auto& st = state_as<MinMaxState<T>>(states[i]);
    T v = data[row];
    if (!st.seen || (IsMax ? st.value < v : v < st.value)) {
      st.value = v;
      st.seen = true;
    }
  });
}

template <typename T, bool IsMax>
void minmax_combine(uint8_t* t, const uint8_t* s) {
  auto& target = state_as<MinMaxState<T>>(t);
  const auto& source = *reinterpret_cast<const MinMaxState<T>*>(s);
  if (!source.seen) return;
  if (!target.seen || (IsMax ? target.value < source.value : source.value < target.value)) {
    target = source;
  }
}

template <typename T>
void minmax_finalize(const AggregateFunction&, States states, size_t count, Vector& result) {
  for (size_t i = 0; i < count; ++i) {
    const auto& st = state_as<MinMaxState<T>>(states[i]);
    if (!st.seen) {
      result.set_null(i);
    } else {
      result.data<T>()[i] = st.value;
    }
  }
}

struct StringMinMaxState {
  std::string value;
  bool seen;
};

void string_minmax_init(uint8_t* s) { new (s) StringMinMaxState{std::string(), false}; }
void string_minmax_destroy(uint8_t* s) { state_as<StringMinMaxState>(s).~StringMinMaxState(); }

template <bool IsMax>
void string_minmax_update(const AggregateFunction&, States states, const Vector* input,
                          size_t count) {
  const StringRef* data = input->data<StringRef>();
  for_valid(*input, count, [&](size_t i, size_t row) {
    auto& st = state_as<StringMinMaxState>(states[i]);
    std::string_view v = data[row].view();
    if (!st.seen || (IsMax ? std::string_view(st.value) < v : v < std::string_view(st.value))) {
      st.value.assign(v);
      st.seen = true;
    }
  });
}

void string_minmax_serialize(const uint8_t* s, std::string& out) {
  const auto& st = *reinterpret_cast<const StringMinMaxState*>(s);
  out.push_back(st.seen ? 1 : 0);
  out.append(st.value);
}

void string_minmax_deserialize(uint8_t* s, std::string_view bytes) {
  auto& st = state_as<StringMinMaxState>(s);
  st.seen = !bytes.empty() && bytes[0] != 0;
  st.value.assign(bytes.empty() ? bytes : bytes.substr(1));
}

template <bool IsMax>
void string_minmax_combine(uint8_t* t, const uint8_t* s) {
  auto& target = state_as<StringMinMaxState>(t);
  const auto& source = *reinterpret_cast<const StringMinMaxState*>(s);
  if (!source.seen) return;
  if (!target.seen || (IsMax ? target.value < source.value : source.value < target.value)) {
    target.value = source.value;
    target.seen = true;
  }
}

void string_minmax_finalize(const AggregateFunction&, States states, size_t count, Vector& result) {
  for (size_t i = 0; i < count; ++i) {
    const auto& st = state_as<StringMinMaxState>(states[i]);
    if (!st.seen) {
      result.set_null(i);
    } else {
      result.add_string(i, st.value);
    }
  }
}

// ---------------------------------------------------------------- instances
const AggregateFunction* intern(AggregateFunction f) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<AggregateFunction>> instances;
  std::lock_guard<std::mutex> lock(mutex);
  std::string key =
      fmt::format("{}/{}/{}", f.name, reinterpret_cast<uintptr_t>(f.update), f.parameter);
  key += fmt::format("/{}", reinterpret_cast<uintptr_t>(f.finalize));
  auto& slot = instances[key];
  if (!slot) slot = std::make_unique<AggregateFunction>(std::move(f));
  return slot.get();
}

template <typename Acc>
AggregateFunction sum_like(const std::string& name) {
  AggregateFunction f;
  f.name = name;
  f.state_size = sizeof(SumState<Acc>);
  f.initialize = &sum_init<Acc>;
  f.combine = &sum_combine<Acc>;
  return f;
}

template <typename In, typename Acc>
void set_sum_update(AggregateFunction& f) {
  f.update = &sum_update<In, Acc>;
}

// Picks sum_update<In, Acc> for the input's physical type.
template <typename Acc>
bool set_update_for(AggregateFunction& f, PhysicalType p) {
  switch (p) {
    case PhysicalType::kInt8:
      f.update = &sum_update<int8_t, Acc>;
      return true;
    case PhysicalType::kInt16:
      f.update = &sum_update<int16_t, Acc>;
      return true;
    case PhysicalType::kInt32:
      f.update = &sum_update<int32_t, Acc>;
      return true;
    case PhysicalType::kInt64:
      f.update = &sum_update<int64_t, Acc>;
      return true;
    case PhysicalType::kInt128:
      f.update = &sum_update<int128_t, Acc>;
      return true;
    case PhysicalType::kFloat:
      f.update = &sum_update<float, Acc>;
      return true;
    case PhysicalType::kDouble:
      f.update = &sum_update<double, Acc>;
      return true;
    default:
      return false;
  }
}

template <typename Out>
void set_integer_finalize(AggregateFunction& f, bool average) {
  f.finalize = average ? &avg_integer_finalize<Out> : &sum_finalize<int64_t, Out>;
}

std::optional<ResolvedAggregate> resolve_sum_avg(bool average, const std::vector<LogicalType>& args,
                                                 std::string& error) {
  if (args.size() != 1 || !(args[0].is_numeric() || args[0].id() == TypeId::kNull)) {
    error = "a numeric argument is required";
    return std::nullopt;
  }
  LogicalType in = args[0].id() == TypeId::kNull ? LogicalType::integer() : args[0];
  const char* name = average ? "AVG" : "SUM";
  ResolvedAggregate r;
  r.argument_type = in;
  if (in.is_integer()) {
    AggregateFunction f = sum_like<int64_t>(name);
    set_update_for<int64_t>(f, in.physical());
    switch (in.physical()) {
      case PhysicalType::kInt8:
        set_integer_finalize<int8_t>(f, average);
        break;
      case PhysicalType::kInt16:
        set_integer_finalize<int16_t>(f, average);
        break;
      case PhysicalType::kInt32:
        set_integer_finalize<int32_t>(f, average);
        break;
      default:
        set_integer_finalize<int64_t>(f, average);
        break;
    }
    r.function = intern(std::move(f));
    r.result = in;
    return r;
  }
  if (in.id() == TypeId::kDecimal) {
    AggregateFunction f = sum_like<int128_t>(name);
    set_update_for<int128_t>(f, in.physical());
    if (average) {
      int scale = std::max(6, in.scale());
      f.parameter = scale - in.scale();
      f.finalize = &avg_decimal_finalize;
      r.result = LogicalType::decimal(LogicalType::kMaxDecimalPrecision, scale);
    } else {
      f.finalize = &sum_finalize<int128_t, int128_t>;
      r.result = LogicalType::decimal(LogicalType::kMaxDecimalPrecision, in.scale());
    }
    r.function = intern(std::move(f));
    return r;
  }
  AggregateFunction f = sum_like<double>(name);
  set_update_for<double>(f, in.physical());
  if (in.id() == TypeId::kFloat) {
    f.finalize = average ? &avg_double_finalize<float> : &sum_finalize<double, float>;
  } else {
    f.finalize = average ? &avg_double_finalize<double> : &sum_finalize<double, double>;
  }
  r.function = intern(std::move(f));
  r.result = in;
  return r;
}

template <typename T, bool IsMax>
AggregateFunction minmax_for(const char* name) {
  AggregateFunction f;
  f.name = name;
  f.state_size = sizeof(MinMaxState<T>);
  f.initialize = &minmax_init<T>;
  f.update = &minmax_update<T, IsMax>;
  f.combine = &minmax_combine<T, IsMax>;
  f.finalize = &minmax_finalize<T>;
  return f;
}

template <bool IsMax>
std::optional<ResolvedAggregate> resolve_minmax(const std::vector<LogicalType>& args,
                                                std::string& error) {
  const char* name = IsMax ? "MAX" : "MIN";
  if (args.size() != 1 || args[0].physical() == PhysicalType::kNested) {
    error = "one comparable argument is required";
    return std::nullopt;
  }
  LogicalType in = args[0].id() == TypeId::kNull ? LogicalType::integer() : args[0];
  AggregateFunction f;
  switch (in.physical()) {
    case PhysicalType::kBool:
      f = minmax_for<uint8_t, IsMax>(name);
      break;
    case PhysicalType::kInt8:
      f = minmax_for<int8_t, IsMax>(name);
      break;
    case PhysicalType::kInt16:
      f = minmax_for<int16_t, IsMax>(name);
      break;
    case PhysicalType::kInt32:
      f = minmax_for<int32_t, IsMax>(name);
      break;
    case PhysicalType::kInt64:
      f = minmax_for<int64_t, IsMax>(name);
      break;
    case PhysicalType::kInt128:
      f = minmax_for<int128_t, IsMax>(name);
      break;
    case PhysicalType::kFloat:
      f = minmax_for<float, IsMax>(name);
      break;
    case PhysicalType::kDouble:
      f = minmax_for<double, IsMax>(name);
      break;
    case PhysicalType::kString:
      f.name = name;
      f.state_size = sizeof(StringMinMaxState);
      f.initialize = &string_minmax_init;
      f.update = &string_minmax_update<IsMax>;
      f.combine = &string_minmax_combine<IsMax>;
      f.finalize = &string_minmax_finalize;
      f.destroy = &string_minmax_destroy;
      f.serialize = &string_minmax_serialize;
      f.deserialize = &string_minmax_deserialize;
      break;
    case PhysicalType::kNested:
      return std::nullopt;
  }
  ResolvedAggregate r;
  r.function = intern(std::move(f));
  r.result = in;
  r.argument_type = in;
  return r;
}

}  // namespace

void register_aggregate_functions(FunctionRegistry& registry) {
  registry.add_aggregate(
      "COUNT",
      [](const std::vector<LogicalType>& args, std::string&) -> std::optional<ResolvedAggregate> {
        AggregateFunction f;
        f.name = "COUNT";
        f.state_size = sizeof(int64_t);
        f.initialize = &count_init;
        f.update = args.empty() ? &count_star_update : &count_update;
        f.combine = &count_combine;
        f.finalize = &count_finalize;
        ResolvedAggregate r;
        r.function = intern(std::move(f));
        r.result = LogicalType::bigint();
        if (!args.empty()) r.argument_type = args[0];
        return r;
      });
  registry.add_aggregate("SUM", [](const std::vector<LogicalType>& args, std::string& error) {
    return resolve_sum_avg(false, args, error);
  });
  registry.add_aggregate("AVG", [](const std::vector<LogicalType>& args, std::string& error) {
    return resolve_sum_avg(true, args, error);
  });
  registry.add_aggregate("MIN", [](const std::vector<LogicalType>& args, std::string& error) {
    return resolve_minmax<false>(args, error);
  });
  registry.add_aggregate("MAX", [](const std::vector<LogicalType>& args, std::string& error) {
    return resolve_minmax<true>(args, error);
  });
}

}  // namespace sluice::sql
