// Job configuration: string key/value pairs, typically parsed from the command line
// (`--parallelism 4 --input data.csv --checkpoint-interval=10s --verbose`). Typed getters validate
// and report the flag by name. Like Flink's ParameterTool, unknown keys are kept, so an application
// can read its own flags from the same Configuration.
//
// Threading: not synchronized; build it before the job starts and only read it afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

class Configuration {
 public:
  Configuration() = default;

  // Accepts `--key value`, `--key=value`, and `--flag` (true when followed by another flag or
  // nothing). A positional argument is an error naming it.
  static Configuration from_args(int argc, const char* const* argv);
  static Configuration from_args(const std::vector<std::string>& args);

  bool has(const std::string& key) const { return values_.count(key) > 0; }
  void set(const std::string& key, std::string value) { values_[key] = std::move(value); }
  std::optional<std::string> get(const std::string& key) const;

  std::string get_string(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  // "250ms", "10s", "5m", "1h", or a bare number of milliseconds.
  std::chrono::milliseconds get_duration(const std::string& key,
                                         std::chrono::milliseconds fallback) const;
  // "64kb", "512mb", "2gb" (powers of 1024), or a bare number of bytes.
  uint64_t get_bytes(const std::string& key, uint64_t fallback) const;

  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

// Parses "250ms" / "10s" / "5m" / "1h" / "42" (ms); throws sluice::Error naming `what` otherwise.
std::chrono::milliseconds parse_duration(const std::string& text, const std::string& what);

}  // namespace sluice
