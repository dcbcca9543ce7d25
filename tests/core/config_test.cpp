#include "sluice/core/config.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "sluice/core/error.h"

namespace {

using namespace std::chrono_literals;
using sluice::Configuration;

// Runs `fn`, expecting an invalid-argument error whose message contains every one of `parts`.
void expect_invalid(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error was thrown";
  } catch (const sluice::Error& e) {
    EXPECT_EQ(e.category(), sluice::ErrorCategory::kInvalidArgument) << e.what();
    const std::string what = e.what();
    for (const auto& part : parts) {
      EXPECT_NE(what.find(part), std::string::npos) << "'" << part << "' not in: " << what;
    }
  }
}

TEST(ConfigTest, SpaceSeparatedValues) {
  auto config = Configuration::from_args({"--parallelism", "4", "--input", "data.csv"});
  EXPECT_EQ(config.get("parallelism"), "4");
  EXPECT_EQ(config.get("input"), "data.csv");
  EXPECT_EQ(config.values().size(), 2u);
}

TEST(ConfigTest, EqualsSeparatedValues) {
  auto config = Configuration::from_args({"--checkpoint-interval=10s", "--name=a=b", "--empty="});
  EXPECT_EQ(config.get("checkpoint-interval"), "10s");
  // Only the first '=' separates: values may contain '='.
  EXPECT_EQ(config.get("name"), "a=b");
  EXPECT_EQ(config.get("empty"), "");
  EXPECT_TRUE(config.has("empty"));
}

TEST(ConfigTest, BareFlags) {
  auto config = Configuration::from_args({"--verbose", "--parallelism", "2", "--dry-run"});
  EXPECT_EQ(config.get("verbose"), "true");  // followed by another flag
  EXPECT_EQ(config.get("parallelism"), "2");
  EXPECT_EQ(config.get("dry-run"), "true");  // at the end
  EXPECT_TRUE(config.get_bool("verbose", false));
  EXPECT_TRUE(config.get_bool("dry-run", false));

  auto consecutive = Configuration::from_args({"--a", "--b", "--c"});
  EXPECT_EQ(consecutive.values().size(), 3u);
  for (const auto& [key, value] : consecutive.values()) EXPECT_EQ(value, "true") << key;
}

TEST(ConfigTest, NegativeNumberIsAValueNotAFlag) {
  auto config = Configuration::from_args({"--offset", "-5", "--x", "-"});
  EXPECT_EQ(config.get_int("offset", 0), -5);
  EXPECT_EQ(config.get("x"), "-");
}

TEST(ConfigTest, LaterValueWins) {
  auto config = Configuration::from_args({"--p", "1", "--p=2"});
  EXPECT_EQ(config.get_int("p", 0), 2);
}

TEST(ConfigTest, ArgcArgvSkipsProgramName) {
  const char* argv[] = {"./job", "--parallelism", "3", "--verbose"};
  auto config = Configuration::from_args(4, argv);
  EXPECT_FALSE(config.has("./job"));
  EXPECT_EQ(config.get_int("parallelism", 0), 3);
  EXPECT_TRUE(config.get_bool("verbose", false));
  EXPECT_TRUE(Configuration::from_args(1, argv).values().empty());
}

TEST(ConfigTest, PositionalArgumentRejected) {
  expect_invalid([] { Configuration::from_args({"input.csv"}); }, {"input.csv"});
  // After a flag with a value, a second bare word has no flag to belong to.
  expect_invalid([] { Configuration::from_args({"--input", "a.csv", "b.csv"}); }, {"b.csv"});
  expect_invalid([] { Configuration::from_args({"-p", "4"}); }, {"-p"});
  expect_invalid([] { Configuration::from_args({"--"}); }, {"--"});
  const char* argv[] = {"./job", "--x=1", "stray"};
  expect_invalid([&] { Configuration::from_args(3, argv); }, {"stray"});
}

TEST(ConfigTest, TypedGettersAndFallbacks) {
  auto config = Configuration::from_args({"--n", "-42", "--big", "9223372036854775807", "--rate",
                                          "2.5e3", "--name", "job", "--on", "yes", "--off", "0"});
  EXPECT_EQ(config.get_int("n", 0), -42);
  EXPECT_EQ(config.get_int("big", 0), INT64_MAX);
  EXPECT_DOUBLE_EQ(config.get_double("rate", 0), 2500.0);
  EXPECT_DOUBLE_EQ(config.get_double("n", 0), -42.0);
  EXPECT_EQ(config.get_string("name", "x"), "job");
  EXPECT_TRUE(config.get_bool("on", false));
  EXPECT_FALSE(config.get_bool("off", true));

  EXPECT_EQ(config.get_int("missing", 17), 17);
  EXPECT_DOUBLE_EQ(config.get_double("missing", 0.25), 0.25);
  EXPECT_EQ(config.get_string("missing", "fallback"), "fallback");
  EXPECT_TRUE(config.get_bool("missing", true));
  EXPECT_EQ(config.get_duration("missing", 3s), 3s);
  EXPECT_EQ(config.get("missing"), std::nullopt);
  EXPECT_FALSE(config.has("missing"));
}

TEST(ConfigTest, BoolSpellings) {
  Configuration config;
  for (const char* yes : {"true", "1", "yes"}) {
    config.set("flag", yes);
    EXPECT_TRUE(config.get_bool("flag", false)) << yes;
  }
  for (const char* no : {"false", "0", "no"}) {
    config.set("flag", no);
    EXPECT_FALSE(config.get_bool("flag", true)) << no;
  }
}

TEST(ConfigTest, BadValuesNameTheFlag) {
  auto config = Configuration::from_args({"--parallelism", "four", "--workers", "3x", "--rate",
                                          "fast", "--verbose", "maybe", "--limit", "", "--big",
                                          "9223372036854775808", "--ratio", "1.5.2"});
  expect_invalid([&] { config.get_int("parallelism", 1); }, {"--parallelism", "four"});
  // A number with trailing junk is not silently truncated to its prefix.
  expect_invalid([&] { config.get_int("workers", 1); }, {"--workers", "3x"});
  expect_invalid([&] { config.get_int("limit", 1); }, {"--limit"});
  expect_invalid([&] { config.get_int("big", 1); }, {"--big", "9223372036854775808"});
  expect_invalid([&] { config.get_double("rate", 1); }, {"--rate", "fast"});
  expect_invalid([&] { config.get_double("ratio", 1); }, {"--ratio", "1.5.2"});
  expect_invalid([&] { config.get_double("limit", 1); }, {"--limit"});
  expect_invalid([&] { config.get_bool("verbose", false); }, {"--verbose", "maybe"});
  expect_invalid([&] { config.get_int("rate", 1); }, {"--rate"});
}

TEST(ConfigTest, DurationGetter) {
  auto config = Configuration::from_args({"--interval=250ms", "--timeout", "10s", "--window", "5m",
                                          "--retention=1h", "--bare", "42", "--bad", "10parsecs"});
  EXPECT_EQ(config.get_duration("interval", 0ms), 250ms);
  EXPECT_EQ(config.get_duration("timeout", 0ms), 10s);
  EXPECT_EQ(config.get_duration("window", 0ms), 5min);
  EXPECT_EQ(config.get_duration("retention", 0ms), 1h);
  EXPECT_EQ(config.get_duration("bare", 0ms), 42ms);
  expect_invalid([&] { config.get_duration("bad", 0ms); }, {"--bad", "10parsecs", "parsecs"});
}

TEST(ConfigTest, ParseDurationUnits) {
  EXPECT_EQ(sluice::parse_duration("0", "x"), 0ms);
  EXPECT_EQ(sluice::parse_duration("42", "x"), 42ms);
  EXPECT_EQ(sluice::parse_duration("250ms", "x"), 250ms);
  EXPECT_EQ(sluice::parse_duration("10s", "x"), 10'000ms);
  EXPECT_EQ(sluice::parse_duration("5m", "x"), 300'000ms);
  EXPECT_EQ(sluice::parse_duration("5min", "x"), 300'000ms);
  EXPECT_EQ(sluice::parse_duration("1h", "x"), 3'600'000ms);
  EXPECT_EQ(sluice::parse_duration("36h", "x"), 36h);
}

TEST(ConfigTest, ParseDurationErrors) {
  for (const char* text :
       {"", "ms", "-5s", "+5s", "5 s", "5sec", "5S", "1.5s", "5d", "s5", "10ms "}) {
    SCOPED_TRACE(text);
    expect_invalid([&] { sluice::parse_duration(text, "--checkpoint-interval"); },
                   {"--checkpoint-interval", "'" + std::string(text) + "'"});
  }
  // Too large for int64 milliseconds, either as a number or once scaled by its unit: an
  // overflow would silently give a negative or tiny interval.
  for (const char* text :
       {"99999999999999999999", "9223372036854775807s", "3000000000000h", "200000000000000m"}) {
    SCOPED_TRACE(text);
    expect_invalid([&] { sluice::parse_duration(text, "--timeout"); }, {"--timeout", text});
  }
  // The largest duration that fits is still accepted.
  EXPECT_EQ(sluice::parse_duration("2562047788015h", "x"), 2562047788015h);
}

}  // namespace
