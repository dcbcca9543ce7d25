// The names of a checkpoint's states, and the in-flight records' format: what tasks write is what
// a restore plan reads back.
#include <gtest/gtest.h>

#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/core/error.h"

namespace sluice {
namespace {

using Part = CheckpointStateName::Part;

TEST(CheckpointLayout, StateNamesReadBackAsWhatTheyName) {
  const std::vector<CheckpointStateName> names = {
      CheckpointStateName::enumerator(0), CheckpointStateName::operator_state(3, 1),
      CheckpointStateName::operator_lists(12, 0), CheckpointStateName::channel_state(2, 7)};
  const std::vector<std::string> spelled = {"node-0/enumerator", "node-3/subtask-1/operator",
                                            "node-12/subtask-0/operator-lists",
                                            "node-2/subtask-7/channel-state"};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(names[i].str(), spelled[i]);
    EXPECT_EQ(CheckpointStateName::parse(spelled[i]), names[i]) << spelled[i];
  }
  for (const char* other :
       {"", "node-1", "node-x/enumerator", "node-1/subtask-2/keyed", "node-1/subtask-/operator",
        "node-1/subtask-2/operator/more", "chk-3/node-1/enumerator"}) {
    EXPECT_FALSE(CheckpointStateName::parse(other).has_value()) << other;
  }
}

TEST(CheckpointLayout, ChannelStateReadsBackEntryForEntry) {
  const std::vector<ChannelStateEntry> entries = {{1, 0, 0, {"abc", ""}}, {4, 3, 1, {}}};
  const auto read = read_channel_state(write_channel_state(entries));
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].producer_node, 1);
  EXPECT_EQ(read[0].buffers, (std::vector<std::string>{"abc", ""}));
  EXPECT_EQ(read[1].producer_subtask, 3);
  EXPECT_EQ(read[1].input, 1);
  EXPECT_THROW(read_channel_state("\x05"), Error);
}

}  // namespace
}  // namespace sluice
