#include "sluice/checkpoint/checkpoint_layout.h"

#include <fmt/format.h>

#include <charconv>

#include "sluice/core/serialization.h"

namespace sluice {

namespace {

constexpr std::string_view kNodePrefix = "node-";
constexpr std::string_view kSubtaskPrefix = "subtask-";

const char* part_name(CheckpointStateName::Part part) {
  switch (part) {
    case CheckpointStateName::Part::kEnumerator:
      return "enumerator";
    case CheckpointStateName::Part::kOperator:
      return "operator";
    case CheckpointStateName::Part::kOperatorLists:
      return "operator-lists";
    case CheckpointStateName::Part::kChannelState:
      return "channel-state";
  }
  return "?";
}

// Reads "<prefix><number>/" off the front of `text`.
std::optional<int> take_number(std::string_view& text, std::string_view prefix) {
  if (!text.starts_with(prefix)) return std::nullopt;
  text.remove_prefix(prefix.size());
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end == text.data() || end == text.data() + text.size() ||
      *end != '/') {
    return std::nullopt;
  }
  text.remove_prefix(static_cast<size_t>(end - text.data()) + 1);
  return value;
}

}  // namespace

std::string CheckpointStateName::str() const {
  if (part == Part::kEnumerator) return fmt::format("node-{}/enumerator", node);
  return fmt::format("node-{}/subtask-{}/{}", node, subtask, part_name(part));
}

std::optional<CheckpointStateName> CheckpointStateName::parse(std::string_view name) {
  const auto node = take_number(name, kNodePrefix);
  if (!node) return std::nullopt;
  if (name == part_name(Part::kEnumerator)) return enumerator(*node);
  const auto subtask = take_number(name, kSubtaskPrefix);
  if (!subtask) return std::nullopt;
  for (Part part : {Part::kOperator, Part::kOperatorLists, Part::kChannelState}) {
    if (name == part_name(part)) return CheckpointStateName{part, *node, *subtask};
  }
  return std::nullopt;
}

namespace checkpoint_property {
std::string node_name(int node) { return fmt::format("node-{}.name", node); }
std::string node_parallelism(int node) { return fmt::format("node-{}.parallelism", node); }
}  // namespace checkpoint_property

std::string write_channel_state(const std::vector<ChannelStateEntry>& entries) {
  return to_bytes(entries);
}

std::vector<ChannelStateEntry> read_channel_state(std::string_view bytes) {
  return from_bytes<std::vector<ChannelStateEntry>>(bytes);
}

}  // namespace sluice
