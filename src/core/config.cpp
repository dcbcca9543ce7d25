#include "sluice/core/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "sluice/core/error.h"

namespace sluice {

namespace {

bool is_flag(const std::string& arg) { return arg.size() > 2 && arg.rfind("--", 0) == 0; }

[[noreturn]] void bad_value(const std::string& key, const std::string& value, const char* kind) {
  throw Error(ErrorCategory::kInvalidArgument,
              fmt::format("flag --{} expects {}, got '{}'", key, kind, value));
}

}  // namespace

Configuration Configuration::from_args(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return from_args(args);
}

Configuration Configuration::from_args(const std::vector<std::string>& args) {
  Configuration config;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!is_flag(arg)) {
      throw Error(ErrorCategory::kInvalidArgument,
                  fmt::format("unexpected argument '{}' (flags look like --name value)", arg));
    }
    std::string body = arg.substr(2);
    auto eq = body.find('=');
    if (eq != std::string::npos) {
      config.set(body.substr(0, eq), body.substr(eq + 1));
    } else if (i + 1 < args.size() && !is_flag(args[i + 1])) {
      config.set(body, args[++i]);
    } else {
      config.set(body, "true");
    }
  }
  return config;
}

std::optional<std::string> Configuration::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Configuration::get_string(const std::string& key, const std::string& fallback) const {
  return get(key).value_or(fallback);
}

int64_t Configuration::get_int(const std::string& key, int64_t fallback) const {
  auto value = get(key);
  if (!value) return fallback;
  int64_t result = 0;
  const char* end = value->data() + value->size();
  auto [ptr, ec] = std::from_chars(value->data(), end, result);
  if (ec != std::errc() || ptr != end) bad_value(key, *value, "an integer");
  return result;
}

double Configuration::get_double(const std::string& key, double fallback) const {
  auto value = get(key);
  if (!value) return fallback;
  try {
    size_t used = 0;
    double result = std::stod(*value, &used);
    if (used == value->size()) return result;
  } catch (const std::exception&) {
  }
  bad_value(key, *value, "a number");
}

bool Configuration::get_bool(const std::string& key, bool fallback) const {
  auto value = get(key);
  if (!value) return fallback;
  if (*value == "true" || *value == "1" || *value == "yes") return true;
  if (*value == "false" || *value == "0" || *value == "no") return false;
  bad_value(key, *value, "true or false");
}

std::chrono::milliseconds Configuration::get_duration(const std::string& key,
                                                      std::chrono::milliseconds fallback) const {
  auto value = get(key);
  if (!value) return fallback;
  return parse_duration(*value, "--" + key);
}

uint64_t Configuration::get_bytes(const std::string& key, uint64_t fallback) const {
  auto value = get(key);
  if (!value) return fallback;
  uint64_t number = 0;
  const char* begin = value->data();
  const char* end = begin + value->size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  std::string unit(ptr, end);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  uint64_t scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "kb" || unit == "k") {
    scale = uint64_t{1} << 10;
  } else if (unit == "mb" || unit == "m") {
    scale = uint64_t{1} << 20;
  } else if (unit == "gb" || unit == "g") {
    scale = uint64_t{1} << 30;
  }
  if (ec != std::errc() || scale == 0 || number > std::numeric_limits<uint64_t>::max() / scale) {
    throw Error(ErrorCategory::kInvalidArgument,
                fmt::format("--{} expects a size like 64kb, 512mb or 2gb, got '{}'", key, *value));
  }
  return number * scale;
}

std::chrono::milliseconds parse_duration(const std::string& text, const std::string& what) {
  int64_t number = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, number);
  std::string unit(ptr, end);
  if (ec != std::errc() || number < 0) {
    throw Error(
        ErrorCategory::kInvalidArgument,
        fmt::format("{} expects a duration like 250ms, 10s, 5m or 1h, got '{}'", what, text));
  }
  int64_t millis_per_unit = 0;
  if (unit.empty() || unit == "ms") {
    millis_per_unit = 1;
  } else if (unit == "s") {
    millis_per_unit = 1'000;
  } else if (unit == "m" || unit == "min") {
    millis_per_unit = 60'000;
  } else if (unit == "h") {
    millis_per_unit = 3'600'000;
  }
  if (millis_per_unit > 0) {
    // Scaling must not overflow: a wrapped value would be a negative or tiny interval.
    if (number > std::numeric_limits<int64_t>::max() / millis_per_unit) {
      throw Error(ErrorCategory::kInvalidArgument,
                  fmt::format("{} is too large a duration: '{}'", what, text));
    }
    return std::chrono::milliseconds(number * millis_per_unit);
  }
  throw Error(ErrorCategory::kInvalidArgument,
              fmt::format("{} has an unknown duration unit '{}' in '{}' (use ms, s, m or h)", what,
                          unit, text));
}

}  // namespace sluice
