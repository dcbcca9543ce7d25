// The execution plan: a job as it will run, decided before anything is deployed. From the logical
// StreamGraph and the job's options, plan_job() resolves every node's parallelism and every edge's
// partitioning, chains nodes into vertices (one task per vertex and subtask), counts the channels
// between them, and, when the job resumes from a checkpoint, says which of its states each new
// subtask restores. The embedded executor deploys the plan; JobClient::plan() and --explain show
// it; it is serializable (JSON) so that a cluster can ship it to the machines that run its tasks.
//
//   ExecutionPlan plan = env.plan("fraud-detection");
//   std::cout << plan.to_text();          // or plan.to_json()
//
// Threading: a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/key_group_range.h"
#include "sluice/runtime/job_client.h"
#include "sluice/runtime/operator_description.h"
#include "sluice/runtime/record_writer.h"
#include "sluice/runtime/stream_graph.h"

namespace sluice {

struct ExecutionPlan {
  // An operator or source of the job graph.
  struct Node {
    int id = 0;
    std::string name;
    std::string uid;
    int parallelism = 1;
    int vertex = 0;  // the vertex it is chained into
    OperatorDescription description;
    bool operator==(const Node&) const = default;
  };
  struct Edge {
    int source = 0;
    std::string side_output;  // empty: the source's main output
    int target = 0;
    int target_input = 0;
    Partitioning partitioning = Partitioning::kForward;
    bool chained = false;  // a direct call inside one task, not a channel
    int channels = 0;      // network channels (producer, consumer) pairs; 0 when chained
    std::string record_type;
    bool operator==(const Edge&) const = default;
  };
  // A chain of nodes run by one task per subtask.
  struct Vertex {
    int id = 0;
    std::string name;        // "a -> b -> c"
    std::vector<int> nodes;  // head first
    int parallelism = 1;
    bool operator==(const Vertex&) const = default;
  };
  // What one new subtask of a node restores.
  struct SubtaskRestore {
    int subtask = 0;
    KeyGroupRange key_groups;
    // Operator snapshots of every old subtask whose key groups overlap these.
    std::vector<std::string> operator_states;
    // In-flight records of an unaligned checkpoint: the old subtask's own at the same parallelism;
    // rescaled, every old subtask's, of which the subtask keeps its key groups' keyed records and
    // its share of the others.
    std::vector<std::string> channel_states;
    bool operator==(const SubtaskRestore&) const = default;
  };
  struct NodeRestore {
    int node = 0;
    int old_parallelism = 0;
    std::string enumerator;  // a source's split enumerator; empty for operators
    // Every old subtask's operator list state, redistributed over the new subtasks.
    std::vector<std::string> operator_lists;
    std::vector<SubtaskRestore> subtasks;
    bool operator==(const NodeRestore&) const = default;
  };
  struct Restore {
    int64_t checkpoint_id = 0;
    bool savepoint = false;
    std::string folder;
    std::vector<NodeRestore> nodes;  // by node id
    bool operator==(const Restore&) const = default;
  };

  std::string job_name;
  int max_parallelism = kDefaultMaxParallelism;
  std::string state_backend;           // "heap" or "rocksdb"
  int64_t checkpoint_interval_ms = 0;  // 0: no checkpoints
  std::string checkpoint_directory;
  std::string checkpointing_mode;  // "exactly once", "at least once", "unaligned"
  std::vector<Node> nodes;         // by id
  std::vector<Edge> edges;         // in the graph's order
  std::vector<Vertex> vertices;    // heads in id order
  std::optional<Restore> restore;

  const Node& node(int id) const { return nodes.at(static_cast<size_t>(id)); }
  const Vertex& vertex(int id) const { return vertices.at(static_cast<size_t>(id)); }
  int tasks() const;

  // For people: one block per vertex with its nodes, then the edges between vertices, then what
  // is restored.
  std::string to_text() const;
  // For machines; from_json(to_json()) gives the same plan back.
  std::string to_json() const;
  static ExecutionPlan from_json(std::string_view json);
  bool operator==(const ExecutionPlan&) const = default;
};

// Validates the graph against the options and plans it, deploying nothing. Reads the metadata of
// the checkpoint the job resumes from (options.restore_from), not its states. Throws a
// sluice::Error naming what is wrong: an invalid graph, or a checkpoint that does not fit.
ExecutionPlan plan_job(const StreamGraph& graph, const JobOptions& options);

}  // namespace sluice
