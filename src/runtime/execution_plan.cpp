#include "sluice/runtime/execution_plan.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sluice/core/error.h"

namespace sluice {

namespace {

std::string join(const std::vector<std::string>& parts, const char* separator = ", ") {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : separator) + part;
  return text;
}

std::string describe_node(const ExecutionPlan::Node& node) {
  const OperatorDescription& d = node.description;
  std::string text = fmt::format("  node {}  {}  {}", node.id, node.name, d.kind);
  if (!d.inputs.empty()) text += "  in " + join(d.inputs, " | ");
  if (!d.output.empty()) text += "  out " + d.output;
  if (!node.uid.empty()) text += "  uid " + node.uid;
  text += '\n';
  std::vector<std::string> details;
  for (const auto& [name, value] : d.parameters) details.push_back(name + ": " + value);
  for (const auto& [tag, type] : d.side_outputs)
    details.push_back("side output " + tag + ": " + type);
  if (!details.empty()) text += "      " + join(details) + '\n';
  return text;
}

}  // namespace

// The plan's JSON: every struct field by field (names as in the structs).
NLOHMANN_JSON_SERIALIZE_ENUM(Partitioning, {{Partitioning::kDefault, "default"},
                                            {Partitioning::kForward, "forward"},
                                            {Partitioning::kRebalance, "rebalance"},
                                            {Partitioning::kHash, "hash"},
                                            {Partitioning::kBroadcast, "broadcast"}})
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(KeyGroupRange, start, end)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(OperatorDescription, kind, parameters, inputs, output,
                                   side_outputs)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExecutionPlan::Node, id, name, uid, parallelism, vertex,
                                   description)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExecutionPlan::Edge, source, side_output, target, target_input,
                                   partitioning, chained, channels, record_type)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExecutionPlan::Vertex, id, name, nodes, parallelism)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExecutionPlan::SubtaskRestore, subtask, key_groups,
                                   operator_states, channel_states)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExecutionPlan::NodeRestore, node, old_parallelism, enumerator,
                                   operator_lists, subtasks)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ExecutionPlan::Restore, checkpoint_id, savepoint, folder, nodes)

void to_json(nlohmann::json& json, const ExecutionPlan& plan) {
  json = {{"job", plan.job_name},
          {"max_parallelism", plan.max_parallelism},
          {"state_backend", plan.state_backend},
          {"checkpoints",
           {{"interval_ms", plan.checkpoint_interval_ms},
            {"directory", plan.checkpoint_directory},
            {"mode", plan.checkpointing_mode}}},
          {"nodes", plan.nodes},
          {"edges", plan.edges},
          {"vertices", plan.vertices}};
  if (plan.restore) json["restore"] = *plan.restore;
}

void from_json(const nlohmann::json& json, ExecutionPlan& plan) {
  json.at("job").get_to(plan.job_name);
  json.at("max_parallelism").get_to(plan.max_parallelism);
  json.at("state_backend").get_to(plan.state_backend);
  const nlohmann::json& checkpoints = json.at("checkpoints");
  checkpoints.at("interval_ms").get_to(plan.checkpoint_interval_ms);
  checkpoints.at("directory").get_to(plan.checkpoint_directory);
  checkpoints.at("mode").get_to(plan.checkpointing_mode);
  json.at("nodes").get_to(plan.nodes);
  json.at("edges").get_to(plan.edges);
  json.at("vertices").get_to(plan.vertices);
  if (json.contains("restore")) plan.restore = json.at("restore").get<ExecutionPlan::Restore>();
}

std::string ExecutionPlan::to_text() const {
  std::string text =
      fmt::format("Execution plan of '{}': {} vertices, {} tasks; max parallelism {}; {} state",
                  job_name, vertices.size(), tasks(), max_parallelism, state_backend);
  if (checkpoint_interval_ms > 0) {
    text += fmt::format("; checkpoints every {} ms ({}) into {}", checkpoint_interval_ms,
                        checkpointing_mode, checkpoint_directory);
  } else {
    text += "; no checkpoints";
  }
  text += '\n';
  for (const Vertex& vertex : vertices) {
    text += fmt::format("vertex {} x{}: {}\n", vertex.id, vertex.parallelism, vertex.name);
    for (int id : vertex.nodes) text += describe_node(node(id));
  }
  text += "edges:\n";
  for (const Edge& edge : edges) {
    std::string from = fmt::format("node {}", edge.source);
    if (!edge.side_output.empty()) from += " [" + edge.side_output + "]";
    std::string to = fmt::format("node {}", edge.target);
    if (edge.target_input != 0) to += fmt::format(" (input {})", edge.target_input);
    if (edge.chained) {
      text += fmt::format("  {} -> {}: chained, {}\n", from, to, edge.record_type);
    } else {
      text += fmt::format("  {} -> {}: {}, {} channels, {}\n", from, to,
                          to_string(edge.partitioning), edge.channels, edge.record_type);
    }
  }
  if (restore) {
    text +=
        fmt::format("restores {} {} from {}:\n", restore->savepoint ? "savepoint" : "checkpoint",
                    restore->checkpoint_id, restore->folder);
    for (const NodeRestore& node_restore : restore->nodes) {
      text += fmt::format("  node {} (parallelism {} then, {} now)", node_restore.node,
                          node_restore.old_parallelism, node(node_restore.node).parallelism);
      if (!node_restore.enumerator.empty()) text += ", enumerator " + node_restore.enumerator;
      if (!node_restore.operator_lists.empty())
        text += ", operator lists of " + join(node_restore.operator_lists);
      text += '\n';
      for (const SubtaskRestore& subtask : node_restore.subtasks) {
        if (subtask.operator_states.empty() && subtask.channel_states.empty()) continue;
        text += fmt::format("    subtask {} (key groups {}-{}): {}", subtask.subtask,
                            subtask.key_groups.start, subtask.key_groups.end,
                            join(subtask.operator_states));
        if (!subtask.channel_states.empty()) text += "; in flight: " + join(subtask.channel_states);
        text += '\n';
      }
    }
  }
  return text;
}

std::string ExecutionPlan::to_json() const {
  nlohmann::json json = *this;
  return json.dump(2);
}

ExecutionPlan ExecutionPlan::from_json(std::string_view text) {
  try {
    return nlohmann::json::parse(text).get<ExecutionPlan>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCategory::kSerialization,
                std::string("execution plan: the JSON does not describe a plan: ") + e.what());
  }
}

}  // namespace sluice
