// What a checkpoint holds and what its parts are called: the one place that spells the names of
// the states in a checkpoint's _metadata, the properties that describe the job that took it, and
// the format of the records that were in flight in an unaligned checkpoint. Tasks write states
// under these names, the coordinator adds the properties, a restore plan reads them back.
//
//   node-<id>/enumerator                      a source's split enumerator (the coordinator's)
//   node-<id>/subtask-<i>/operator            what the operator's snapshot_state() returned
//   node-<id>/subtask-<i>/operator-lists      its operator list state (redistributed on rescale)
//   node-<id>/subtask-<i>/channel-state       records in flight towards the subtask's chain head
//
// Threading: plain values and functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

// One state of a checkpoint, by what it is.
struct CheckpointStateName {
  enum class Part : uint8_t { kEnumerator, kOperator, kOperatorLists, kChannelState };
  Part part = Part::kOperator;
  int node = 0;
  int subtask = 0;  // not part of an enumerator's name

  static CheckpointStateName enumerator(int node) { return {Part::kEnumerator, node, 0}; }
  static CheckpointStateName operator_state(int node, int subtask) {
    return {Part::kOperator, node, subtask};
  }
  static CheckpointStateName operator_lists(int node, int subtask) {
    return {Part::kOperatorLists, node, subtask};
  }
  static CheckpointStateName channel_state(int node, int subtask) {
    return {Part::kChannelState, node, subtask};
  }
  // The name in the checkpoint's _metadata.
  std::string str() const;
  // Nullopt for a name this layout does not produce.
  static std::optional<CheckpointStateName> parse(std::string_view name);
  bool operator==(const CheckpointStateName&) const = default;
};

// Properties stored with every checkpoint, describing the job that took it: a restore checks the
// job it resumes against them, and rescales from the old parallelism.
namespace checkpoint_property {
inline constexpr std::string_view kNodes = "nodes";
inline constexpr std::string_view kMaxParallelism = "max-parallelism";
inline constexpr std::string_view kTasks = "tasks";
std::string node_name(int node);
std::string node_parallelism(int node);
}  // namespace checkpoint_property

// The records that were in flight towards a task when an unaligned checkpoint's snapshot was
// taken, per input channel: the channel-state of the task's head node. Each buffer is in the
// format of the edge's BufferCodec.
struct ChannelStateEntry {
  int32_t producer_node = 0;
  int32_t producer_subtask = 0;
  int32_t input = 0;
  std::vector<std::string> buffers;
};
std::string write_channel_state(const std::vector<ChannelStateEntry>& entries);
std::vector<ChannelStateEntry> read_channel_state(std::string_view bytes);

}  // namespace sluice
