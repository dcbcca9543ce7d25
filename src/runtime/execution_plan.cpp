#include "sluice/runtime/execution_plan.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "sluice/core/error.h"

namespace sluice {

namespace {

using Json = nlohmann::ordered_json;

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

Partitioning partitioning_from(const std::string& name) {
  for (Partitioning p : {Partitioning::kForward, Partitioning::kRebalance, Partitioning::kHash,
                         Partitioning::kBroadcast, Partitioning::kDefault}) {
    if (name == to_string(p)) return p;
  }
  throw Error(ErrorCategory::kSerialization, "execution plan: unknown partitioning '" + name + "'");
}

// An object whose members keep the pairs' order.
Json pairs_to_json(const std::vector<std::pair<std::string, std::string>>& pairs) {
  Json json = Json::object();
  for (const auto& [name, value] : pairs) json[name] = value;
  return json;
}

std::vector<std::pair<std::string, std::string>> pairs_from_json(const Json& json) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& [name, value] : json.items()) pairs.emplace_back(name, value);
  return pairs;
}

}  // namespace

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
  Json json;
  json["job"] = job_name;
  json["max_parallelism"] = max_parallelism;
  json["state_backend"] = state_backend;
  json["checkpoints"] = {{"interval_ms", checkpoint_interval_ms},
                         {"directory", checkpoint_directory},
                         {"mode", checkpointing_mode}};
  Json& json_nodes = json["nodes"] = Json::array();
  for (const Node& n : nodes) {
    json_nodes.push_back({{"id", n.id},
                          {"name", n.name},
                          {"uid", n.uid},
                          {"parallelism", n.parallelism},
                          {"vertex", n.vertex},
                          {"kind", n.description.kind},
                          {"parameters", pairs_to_json(n.description.parameters)},
                          {"inputs", n.description.inputs},
                          {"output", n.description.output},
                          {"side_outputs", pairs_to_json(n.description.side_outputs)}});
  }
  Json& json_edges = json["edges"] = Json::array();
  for (const Edge& e : edges) {
    json_edges.push_back({{"source", e.source},
                          {"side_output", e.side_output},
                          {"target", e.target},
                          {"target_input", e.target_input},
                          {"partitioning", to_string(e.partitioning)},
                          {"chained", e.chained},
                          {"channels", e.channels},
                          {"record_type", e.record_type}});
  }
  Json& json_vertices = json["vertices"] = Json::array();
  for (const Vertex& v : vertices) {
    json_vertices.push_back(
        {{"id", v.id}, {"name", v.name}, {"nodes", v.nodes}, {"parallelism", v.parallelism}});
  }
  if (restore) {
    Json restored = {{"checkpoint_id", restore->checkpoint_id},
                     {"savepoint", restore->savepoint},
                     {"folder", restore->folder},
                     {"nodes", Json::array()}};
    for (const NodeRestore& n : restore->nodes) {
      Json subtasks = Json::array();
      for (const SubtaskRestore& s : n.subtasks) {
        subtasks.push_back({{"subtask", s.subtask},
                            {"key_groups", {s.key_groups.start, s.key_groups.end}},
                            {"operator_states", s.operator_states},
                            {"channel_states", s.channel_states}});
      }
      restored["nodes"].push_back({{"node", n.node},
                                   {"old_parallelism", n.old_parallelism},
                                   {"enumerator", n.enumerator},
                                   {"operator_lists", n.operator_lists},
                                   {"subtasks", std::move(subtasks)}});
    }
    json["restore"] = std::move(restored);
  }
  return json.dump(2);
}

ExecutionPlan ExecutionPlan::from_json(std::string_view text) {
  ExecutionPlan plan;
  try {
    const Json json = Json::parse(text);
    plan.job_name = json.at("job");
    plan.max_parallelism = json.at("max_parallelism");
    plan.state_backend = json.at("state_backend");
    const Json& checkpoints = json.at("checkpoints");
    plan.checkpoint_interval_ms = checkpoints.at("interval_ms");
    plan.checkpoint_directory = checkpoints.at("directory");
    plan.checkpointing_mode = checkpoints.at("mode");
    for (const Json& n : json.at("nodes")) {
      Node node;
      node.id = n.at("id");
      node.name = n.at("name");
      node.uid = n.at("uid");
      node.parallelism = n.at("parallelism");
      node.vertex = n.at("vertex");
      node.description.kind = n.at("kind");
      node.description.parameters = pairs_from_json(n.at("parameters"));
      node.description.inputs = n.at("inputs").get<std::vector<std::string>>();
      node.description.output = n.at("output");
      node.description.side_outputs = pairs_from_json(n.at("side_outputs"));
      plan.nodes.push_back(std::move(node));
    }
    for (const Json& e : json.at("edges")) {
      Edge edge;
      edge.source = e.at("source");
      edge.side_output = e.at("side_output");
      edge.target = e.at("target");
      edge.target_input = e.at("target_input");
      edge.partitioning = partitioning_from(e.at("partitioning"));
      edge.chained = e.at("chained");
      edge.channels = e.at("channels");
      edge.record_type = e.at("record_type");
      plan.edges.push_back(std::move(edge));
    }
    for (const Json& v : json.at("vertices")) {
      plan.vertices.push_back(Vertex{v.at("id"), v.at("name"),
                                     v.at("nodes").get<std::vector<int>>(), v.at("parallelism")});
    }
    if (json.contains("restore")) {
      const Json& r = json.at("restore");
      Restore restore;
      restore.checkpoint_id = r.at("checkpoint_id");
      restore.savepoint = r.at("savepoint");
      restore.folder = r.at("folder");
      for (const Json& n : r.at("nodes")) {
        NodeRestore node;
        node.node = n.at("node");
        node.old_parallelism = n.at("old_parallelism");
        node.enumerator = n.at("enumerator");
        node.operator_lists = n.at("operator_lists").get<std::vector<std::string>>();
        for (const Json& s : n.at("subtasks")) {
          SubtaskRestore subtask;
          subtask.subtask = s.at("subtask");
          subtask.key_groups = KeyGroupRange{s.at("key_groups").at(0), s.at("key_groups").at(1)};
          subtask.operator_states = s.at("operator_states").get<std::vector<std::string>>();
          subtask.channel_states = s.at("channel_states").get<std::vector<std::string>>();
          node.subtasks.push_back(std::move(subtask));
        }
        restore.nodes.push_back(std::move(node));
      }
      plan.restore = std::move(restore);
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCategory::kSerialization,
                std::string("execution plan: the JSON does not describe a plan: ") + e.what());
  }
  return plan;
}

}  // namespace sluice
