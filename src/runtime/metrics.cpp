#include "sluice/runtime/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace sluice {

Counter& OperatorMetrics::user_counter(const std::string& name) {
  std::lock_guard lock(user_mutex_);
  auto& slot = user_counters_[name];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

std::map<std::string, uint64_t> OperatorMetrics::user_counter_values() const {
  std::lock_guard lock(user_mutex_);
  std::map<std::string, uint64_t> values;
  for (const auto& [name, counter] : user_counters_) values[name] = counter->value();
  return values;
}

namespace {

void accumulate(OperatorMetricsSnapshot& sum, const OperatorMetricsSnapshot& op) {
  sum.node_id = op.node_id;
  sum.records_in += op.records_in;
  sum.records_out += op.records_out;
  sum.bytes_in += op.bytes_in;
  sum.bytes_out += op.bytes_out;
  if (op.latency_markers > 0) {
    sum.latency_mean_ms = (sum.latency_mean_ms * static_cast<double>(sum.latency_markers) +
                           op.latency_mean_ms * static_cast<double>(op.latency_markers)) /
                          static_cast<double>(sum.latency_markers + op.latency_markers);
    sum.latency_markers += op.latency_markers;
    sum.latency_max_ms = std::max(sum.latency_max_ms, op.latency_max_ms);
  }
  for (const auto& [name, value] : op.user_counters) sum.user_counters[name] += value;
}

}  // namespace

OperatorMetricsSnapshot JobMetrics::total(const std::string& operator_name) const {
  OperatorMetricsSnapshot sum;
  sum.name = operator_name;
  sum.subtask = -1;
  for (const auto& op : operators) {
    if (op.name == operator_name) accumulate(sum, op);
  }
  return sum;
}

std::string JobMetrics::summary() const {
  std::string text;
  const double seconds = elapsed_ms > 0 ? elapsed_ms / 1000.0 : 1.0;
  std::map<int, OperatorMetricsSnapshot> by_node;
  for (const auto& op : operators) {
    auto& sum = by_node[op.node_id];
    sum.name = op.name;
    accumulate(sum, op);
  }
  text += fmt::format("  {:<32} {:>14} {:>14} {:>12}\n", "operator", "records in", "records out",
                      "out/s");
  for (const auto& [id, op] : by_node) {
    text += fmt::format("  {:<32} {:>14} {:>14} {:>12.0f}\n", op.name.substr(0, 32), op.records_in,
                        op.records_out, static_cast<double>(op.records_out) / seconds);
    for (const auto& [name, value] : op.user_counters) {
      text += fmt::format("    {:<30} {:>14}\n", name, value);
    }
    if (op.latency_markers > 0) {
      text += fmt::format("    latency (markers: {}): mean {:.3f} ms, max {:.3f} ms\n",
                          op.latency_markers, op.latency_mean_ms, op.latency_max_ms);
    }
  }
  struct TaskTotals {
    int subtasks = 0;
    double busy = 0, idle = 0, backpressured = 0;
  };
  std::map<std::string, TaskTotals> by_chain;
  for (const auto& task : tasks) {
    auto& t = by_chain[task.name];
    ++t.subtasks;
    t.busy += task.busy_ms;
    t.idle += task.idle_ms;
    t.backpressured += task.backpressured_ms;
  }
  text += fmt::format("  {:<44} {:>8} {:>7} {:>7} {:>7}\n", "task (chain)", "subtasks", "busy%",
                      "idle%", "bp%");
  for (const auto& [name, t] : by_chain) {
    double total = t.busy + t.idle + t.backpressured;
    if (total <= 0) total = 1;
    std::string shown = name.size() > 44 ? name.substr(0, 41) + "..." : name;
    text += fmt::format("  {:<44} {:>8} {:>7.1f} {:>7.1f} {:>7.1f}\n", shown, t.subtasks,
                        100 * t.busy / total, 100 * t.idle / total, 100 * t.backpressured / total);
  }
  return text;
}

}  // namespace sluice
