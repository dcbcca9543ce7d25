#include "runtime/planner.h"

#include <fmt/format.h>

#include <map>

#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/core/error.h"

namespace sluice::runtime {

namespace {

void validate_options(const StreamGraph& graph, const JobOptions& options) {
  if (graph.nodes.empty()) throw Error(ErrorCategory::kInvalidJob, "the job has no operators");
  if (options.checkpoint_interval.count() > 0 && options.checkpoint_dir.empty()) {
    throw Error(ErrorCategory::kInvalidArgument,
                "--checkpoint-interval needs --checkpoint-dir (where checkpoints are kept)");
  }
  if (options.unaligned_checkpoints && options.at_least_once) {
    throw Error(ErrorCategory::kInvalidArgument,
                "unaligned checkpoints are exactly-once checkpoints: they cannot be combined with "
                "--checkpointing-mode at-least-once");
  }
  if (options.max_parallelism < 1 || options.max_parallelism > 32768) {
    throw Error(
        ErrorCategory::kInvalidJob,
        fmt::format("max parallelism must be in [1, 32768], got {}", options.max_parallelism));
  }
}

// Every node's parallelism: its own, else the job's default.
void resolve_nodes(const StreamGraph& graph, const JobOptions& options, ExecutionPlan& plan) {
  std::vector<int> in_degree(graph.nodes.size(), 0);
  for (const auto& edge : graph.edges) ++in_degree[static_cast<size_t>(edge.target)];
  for (const auto& node : graph.nodes) {
    const int p = node.parallelism > 0 ? node.parallelism : options.default_parallelism;
    if (p < 1 || p > options.max_parallelism) {
      throw Error(
          ErrorCategory::kInvalidJob,
          fmt::format("operator '{}' has parallelism {}; it must be in [1, max parallelism {}]",
                      node.name, p, options.max_parallelism));
    }
    const bool has_inputs = in_degree[static_cast<size_t>(node.id)] > 0;
    if (node.source && has_inputs) {
      throw Error(ErrorCategory::kInvalidJob, fmt::format("source '{}' has an input", node.name));
    }
    if (!node.source && !has_inputs) {
      throw Error(ErrorCategory::kInvalidJob, fmt::format("operator '{}' has no input", node.name));
    }
    ExecutionPlan::Node planned;
    planned.id = node.id;
    planned.name = node.name;
    planned.uid = node.uid;
    planned.parallelism = p;
    planned.description = node.source ? node.source->describe() : node.make_operator()->describe();
    plan.nodes.push_back(std::move(planned));
  }
}

// Partitioning (default: forward if the parallelisms match, else rebalance) and chaining: an edge
// is chained when it is pointwise with equal parallelism, its target has no other input, and both
// ends allow it. A chain becomes a vertex.
void resolve_edges_and_chains(const StreamGraph& graph, const JobOptions& options,
                              ExecutionPlan& plan) {
  std::vector<int> in_degree(graph.nodes.size(), 0);
  for (const auto& edge : graph.edges) ++in_degree[static_cast<size_t>(edge.target)];
  std::vector<int> head(graph.nodes.size());
  for (size_t i = 0; i < head.size(); ++i) head[i] = static_cast<int>(i);
  for (const StreamEdge& edge : graph.edges) {
    const StreamNode& from = graph.node(edge.source);
    const StreamNode& to = graph.node(edge.target);
    if (edge.source >= edge.target) {
      throw Error(ErrorCategory::kInternal, "job graph edges must follow node order");
    }
    const int ps = plan.node(edge.source).parallelism;
    const int pt = plan.node(edge.target).parallelism;
    Partitioning p = edge.partitioning;
    if (p == Partitioning::kDefault)
      p = ps == pt ? Partitioning::kForward : Partitioning::kRebalance;
    if (p == Partitioning::kForward && ps != pt) {
      throw Error(ErrorCategory::kInvalidJob,
                  fmt::format("forward partitioning needs equal parallelism, but '{}' has {} and "
                              "'{}' has {}",
                              from.name, ps, to.name, pt));
    }
    ExecutionPlan::Edge planned;
    planned.source = edge.source;
    planned.side_output = edge.side_output;
    planned.target = edge.target;
    planned.target_input = edge.target_input;
    planned.partitioning = p;
    planned.record_type = edge.record_type;
    const bool pointwise = p == Partitioning::kForward || (ps == 1 && pt == 1);
    planned.chained = pointwise && ps == pt && in_degree[static_cast<size_t>(edge.target)] == 1 &&
                      from.chaining && to.chaining;
    if (planned.chained) {
      head[static_cast<size_t>(edge.target)] = head[static_cast<size_t>(edge.source)];
    } else {
      planned.channels = p == Partitioning::kForward ? ps : ps * pt;
      if (options.unaligned_checkpoints && options.checkpoint_interval.count() > 0 && !edge.codec) {
        throw Error(ErrorCategory::kInvalidJob,
                    fmt::format("unaligned checkpoints store the records in flight between '{}' "
                                "and '{}', but their type has no sluice::Serializer",
                                from.name, to.name));
      }
    }
    plan.edges.push_back(std::move(planned));
  }
  std::map<int, int> vertex_of_head;
  for (auto& node : plan.nodes) {
    const int h = head[static_cast<size_t>(node.id)];
    auto [it, inserted] = vertex_of_head.try_emplace(h, static_cast<int>(plan.vertices.size()));
    if (inserted) {
      ExecutionPlan::Vertex vertex;
      vertex.id = it->second;
      vertex.parallelism = node.parallelism;
      plan.vertices.push_back(std::move(vertex));
    }
    ExecutionPlan::Vertex& vertex = plan.vertices[static_cast<size_t>(it->second)];
    vertex.nodes.push_back(node.id);
    vertex.name += (vertex.name.empty() ? "" : " -> ") + node.name;
    node.vertex = vertex.id;
  }
}

// The checkpoint to resume from (options.restore_from): "latest" is the newest one that verifies.
std::optional<CompletedCheckpoint> load_restore_point(const JobOptions& options) {
  const std::string& from = options.restore_from;
  if (from.empty()) return std::nullopt;
  if (from != "latest") return CheckpointStorage::load(from);
  if (options.checkpoint_dir.empty()) {
    throw Error(ErrorCategory::kInvalidArgument,
                "--restore-from latest needs --checkpoint-dir (where to look for checkpoints)");
  }
  CheckpointStorage storage(options.checkpoint_dir, options.checkpoints_retained);
  std::vector<std::string> problems;
  std::optional<CompletedCheckpoint> latest = storage.latest(&problems);
  for (const auto& problem : problems) fmt::print(stderr, "skipping checkpoint: {}\n", problem);
  if (!latest && !problems.empty()) {
    throw Error(ErrorCategory::kIo,
                fmt::format("--restore-from latest: none of the {} checkpoints in {} is usable "
                            "(reasons above)",
                            problems.size(), options.checkpoint_dir),
                ErrorContext{.file = options.checkpoint_dir});
  }
  if (!latest) {
    fmt::print(stderr, "no completed checkpoint in {}: starting from the beginning\n",
               options.checkpoint_dir);
  }
  return latest;
}

// A checkpoint restores the job that took it (at any parallelism): same operators, same names,
// same max parallelism.
void check_fits(const CompletedCheckpoint& checkpoint,
                const std::map<std::string, std::string>& properties, const ExecutionPlan& plan) {
  auto mismatch = [&](const std::string& what) {
    throw Error(ErrorCategory::kInvalidJob,
                "the checkpoint does not fit this job: " + what +
                    " (a checkpoint restores the job that took it, at any parallelism)",
                ErrorContext{.file = checkpoint.folder.string()});
  };
  auto property = [&](std::string_view key) {
    auto it = checkpoint.properties.find(std::string(key));
    if (it == checkpoint.properties.end())
      mismatch("it does not record '" + std::string(key) + "'");
    return it->second;
  };
  const std::string max_parallelism(checkpoint_property::kMaxParallelism);
  if (property(max_parallelism) != properties.at(max_parallelism)) {
    mismatch(fmt::format("it was taken with max parallelism {}, the job has {}",
                         property(max_parallelism), plan.max_parallelism));
  }
  const std::string nodes(checkpoint_property::kNodes);
  if (property(nodes) != properties.at(nodes)) {
    mismatch(fmt::format("it has {} operators, the job {}", property(nodes), plan.nodes.size()));
  }
  for (const auto& node : plan.nodes) {
    const std::string name = property(checkpoint_property::node_name(node.id));
    if (name != node.name) {
      mismatch(fmt::format("operator {} is '{}' there and '{}' here", node.id, name, node.name));
    }
  }
}

// Which states each new subtask reads: operator snapshots of the old subtasks whose key groups
// overlap its own, every old subtask's operator lists (redistributed), and in-flight records.
ExecutionPlan::Restore plan_restore(const CompletedCheckpoint& checkpoint, const StreamGraph& graph,
                                    const ExecutionPlan& plan) {
  ExecutionPlan::Restore restore;
  restore.checkpoint_id = checkpoint.id;
  restore.savepoint = checkpoint.savepoint;
  restore.folder = checkpoint.folder.string();
  auto has = [&](const CheckpointStateName& name) {
    return checkpoint.states.contains(name.str());
  };
  for (const auto& node : plan.nodes) {
    ExecutionPlan::NodeRestore restored;
    restored.node = node.id;
    restored.old_parallelism =
        std::stoi(checkpoint.properties.at(checkpoint_property::node_parallelism(node.id)));
    if (graph.node(node.id).source) {
      const auto enumerator = CheckpointStateName::enumerator(node.id);
      if (!has(enumerator)) {
        throw Error(
            ErrorCategory::kInvalidJob,
            fmt::format("the checkpoint has no state for the splits of source '{}'", node.name),
            ErrorContext{.file = checkpoint.folder.string()});
      }
      restored.enumerator = enumerator.str();
    }
    for (int old = 0; old < restored.old_parallelism; ++old) {
      const auto lists = CheckpointStateName::operator_lists(node.id, old);
      if (has(lists)) restored.operator_lists.push_back(lists.str());
    }
    const bool rescaled = restored.old_parallelism != node.parallelism;
    for (int s = 0; s < node.parallelism; ++s) {
      ExecutionPlan::SubtaskRestore subtask;
      subtask.subtask = s;
      subtask.key_groups = key_group_range_for_subtask(s, node.parallelism, plan.max_parallelism);
      for (int old = 0; old < restored.old_parallelism; ++old) {
        const KeyGroupRange range =
            key_group_range_for_subtask(old, restored.old_parallelism, plan.max_parallelism);
        const bool overlaps =
            range.end >= subtask.key_groups.start && range.start <= subtask.key_groups.end;
        const auto state = CheckpointStateName::operator_state(node.id, old);
        if (overlaps && has(state)) subtask.operator_states.push_back(state.str());
        const auto in_flight = CheckpointStateName::channel_state(node.id, old);
        if ((rescaled || old == s) && has(in_flight))
          subtask.channel_states.push_back(in_flight.str());
      }
      restored.subtasks.push_back(std::move(subtask));
    }
    restore.nodes.push_back(std::move(restored));
  }
  return restore;
}

}  // namespace

PlannedJob plan(const StreamGraph& graph, const JobOptions& options) {
  validate_options(graph, options);
  PlannedJob planned;
  ExecutionPlan& plan = planned.plan;
  plan.job_name = options.name;
  plan.max_parallelism = options.max_parallelism;
  plan.state_backend =
      options.state_backend.kind == StateBackendKind::kRocksDb ? "rocksdb" : "heap";
  plan.checkpoint_interval_ms = options.checkpoint_interval.count();
  if (plan.checkpoint_interval_ms > 0) {
    plan.checkpoint_directory = options.checkpoint_dir;
    plan.checkpointing_mode = options.at_least_once           ? "at least once"
                              : options.unaligned_checkpoints ? "exactly once, unaligned"
                                                              : "exactly once";
  }
  resolve_nodes(graph, options, plan);
  auto& properties = planned.checkpoint_properties;
  for (const auto& node : plan.nodes) {
    properties[checkpoint_property::node_name(node.id)] = node.name;
    properties[checkpoint_property::node_parallelism(node.id)] = std::to_string(node.parallelism);
  }
  properties[std::string(checkpoint_property::kNodes)] = std::to_string(plan.nodes.size());
  properties[std::string(checkpoint_property::kMaxParallelism)] =
      std::to_string(options.max_parallelism);
  planned.checkpoint = load_restore_point(options);
  if (planned.checkpoint) check_fits(*planned.checkpoint, properties, plan);
  resolve_edges_and_chains(graph, options, plan);
  if (planned.checkpoint) plan.restore = plan_restore(*planned.checkpoint, graph, plan);
  return planned;
}

}  // namespace sluice::runtime

namespace sluice {

ExecutionPlan plan_job(const StreamGraph& graph, const JobOptions& options) {
  return runtime::plan(graph, options).plan;
}

int ExecutionPlan::tasks() const {
  int total = 0;
  for (const auto& vertex : vertices) total += vertex.parallelism;
  return total;
}

}  // namespace sluice
