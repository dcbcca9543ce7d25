// TPC-H on Sluice's batch engine: loads the .tbl files of sluice-tpch-gen into in-memory tables
// once, then runs each query warm (one untimed run, then --runs timed ones) and prints one JSON
// object per query (name, rows, median and all times in ms) and a summary (sum and geometric mean
// of the medians, peak RSS). scripts/tpch-bench runs it beside DuckDB on the same data.
//
//   sluice-tpch-bench --data DIR [--runs N] [--queries 1,3,...] [--threads N] [--memory SIZE]
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/connectors/filesystem_table.h"
#include "sluice/sql/session.h"
#include "tpch_generator.h"

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace

// Resident memory now (the loaded tables, mostly), from /proc/self/statm.
double current_rss_mb() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0;
  double resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

int main(int argc, char** argv) {
  std::filesystem::path data;
  int runs = 3;
  int threads = 1;
  std::string memory;  // 'taskmanager.memory.managed.size'; the engine's default if empty
  std::vector<int> queries;
  std::filesystem::path source_dir = std::filesystem::path(SLUICE_TPCH_DIR);
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--data") {
      data = value();
    } else if (arg == "--runs") {
      runs = std::stoi(value());
    } else if (arg == "--threads") {
      threads = std::stoi(value());
    } else if (arg == "--memory") {
      memory = value();
    } else if (arg == "--queries") {
      std::stringstream list(value());
      for (std::string q; std::getline(list, q, ',');) queries.push_back(std::stoi(q));
    } else if (arg == "--help") {
      std::cout << "usage: sluice-tpch-bench --data DIR [--runs N] [--queries 1,3] [--threads N] "
                   "[--memory SIZE]\n";
      return 0;
    } else {
      std::cerr << "unknown option " << arg << " (see --help)\n";
      return 2;
    }
  }
  if (data.empty()) {
    std::cerr << "--data is required\n";
    return 2;
  }
  if (queries.empty()) {
    for (int q = 1; q <= 22; ++q) queries.push_back(q);
  }
  sluice::sql::Session session;
  sluice::connectors::register_filesystem_connector(session);
  session.execute(fmt::format("SET 'parallelism.default' = '{}'", threads));
  if (!memory.empty()) {
    session.execute(fmt::format("SET 'taskmanager.memory.managed.size' = '{}'", memory));
  }
  std::string schema = read_file(source_dir / "schema.sql");
  const char* tables[] = {"region",   "nation",   "part",   "supplier",
                          "partsupp", "customer", "orders", "lineitem"};
  auto load_start = std::chrono::steady_clock::now();
  for (const char* table : tables) {
    // The .tbl file as a table `<table>_file`, loaded into memory as `<table>`.
    session.execute(sluice::tpch::tbl_table_sql(schema, table, std::string(table) + "_file", data));
    session.execute(fmt::format("CREATE TABLE {0} AS SELECT * FROM {0}_file", table));
  }
  double load_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  std::cout << fmt::format(
                   "{{\"engine\": \"sluice\", \"load_s\": {:.3f}, \"threads\": {}, "
                   "\"rss_after_load_mb\": {:.0f}}}\n",
                   load_s, threads, current_rss_mb())
            << std::flush;
  double sum = 0;
  double log_sum = 0;
  for (int q : queries) {
    std::string name = fmt::format("q{:02}", q);
    std::string sql = read_file(source_dir / "queries" / (name + ".sql"));
    sluice::sql::QueryResult first = session.execute(sql);
    size_t rows = first.row_count();
    std::vector<double> times;
    for (int r = 0; r < runs; ++r) {
      auto start = std::chrono::steady_clock::now();
      session.execute(sql);
      times.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    double median = sorted[sorted.size() / 2];
    sum += median;
    log_sum += std::log(median);
    std::string all;
    for (size_t i = 0; i < times.size(); ++i)
      all += fmt::format("{}{:.2f}", i ? ", " : "", times[i]);
    std::cout
        << fmt::format(
               "{{\"query\": \"{}\", \"rows\": {}, \"median_ms\": {:.2f}, \"times_ms\": [{}], "
               "\"managed_peak_mb\": {:.1f}, \"spilled_mb\": {:.1f}}}\n",
               name, rows, median, all, first.peak_managed_bytes / 1048576.0,
               first.spilled_bytes / 1048576.0)
        << std::flush;
  }
  std::cout << fmt::format(
      "{{\"summary\": true, \"sum_ms\": {:.1f}, \"geomean_ms\": {:.2f}, \"peak_rss_mb\": "
      "{:.0f}}}\n",
      sum, std::exp(log_sum / static_cast<double>(queries.size())), peak_rss_mb());
  return 0;
}
