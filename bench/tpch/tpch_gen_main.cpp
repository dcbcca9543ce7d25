// sluice-tpch-gen: writes the TPC-H tables of a scale factor as dbgen-style .tbl files
// (tpch_generator.h).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "tpch_generator.h"

namespace {

constexpr std::string_view kUsage =
    "usage: sluice-tpch-gen --scale SF --out DIR [--threads N]\n"
    "\n"
    "Writes region, nation, part, supplier, partsupp, customer, orders and lineitem as\n"
    "DIR/<table>.tbl ('|'-separated, trailing '|'), the same bytes for a given SF.\n"
    "\n"
    "  --scale SF    scale factor, any positive number (0.01, 1, 10, ...)\n"
    "  --out DIR     output directory, created if missing; existing files are replaced\n"
    "  --threads N   generator threads (default 1)\n"
    "  --help        this text\n";

// strtod/strtol accept trailing garbage and leading blanks; a flag's value must be the number
// and nothing else.
std::optional<double> parse_double(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || text.front() == ' ') return {};
  return value;
}

std::optional<int> parse_int(const std::string& text) {
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || text.front() == ' ' || value < 1 ||
      value > 1024)
    return {};
  return static_cast<int>(value);
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "sluice-tpch-gen: %s\n\n%.*s", message.c_str(),
               static_cast<int>(kUsage.size()), kUsage.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<double> scale;
  std::optional<std::filesystem::path> out;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fwrite(kUsage.data(), 1, kUsage.size(), stdout);
      return 0;
    }
    if (flag != "--scale" && flag != "--out" && flag != "--threads")
      return usage_error("unknown argument '" + std::string(flag) + "'");
    if (i + 1 == argc) return usage_error(std::string(flag) + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--scale") {
      scale = parse_double(value);
      if (!scale || !(*scale > 0)) return usage_error("--scale must be a positive number");
    } else if (flag == "--out") {
      out = value;
    } else {
      const std::optional<int> parsed = parse_int(value);
      if (!parsed) return usage_error("--threads must be an integer from 1 to 1024");
      threads = *parsed;
    }
  }
  if (!scale) return usage_error("--scale is required");
  if (!out) return usage_error("--out is required");

  try {
    const auto start = std::chrono::steady_clock::now();
    const sluice::tpch::GeneratedRows rows = sluice::tpch::generate_tpch(*scale, *out, threads);
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    std::printf(
        "region %lld\nnation %lld\npart %lld\nsupplier %lld\npartsupp %lld\ncustomer %lld\n"
        "orders %lld\nlineitem %lld\nseconds %.3f\n",
        static_cast<long long>(rows.region), static_cast<long long>(rows.nation),
        static_cast<long long>(rows.part), static_cast<long long>(rows.supplier),
        static_cast<long long>(rows.partsupp), static_cast<long long>(rows.customer),
        static_cast<long long>(rows.orders), static_cast<long long>(rows.lineitem),
        elapsed.count());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice-tpch-gen: %s\n", e.what());
    return 1;
  }
  return 0;
}
