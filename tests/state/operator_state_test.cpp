// Operator (non-keyed) list state: snapshots, redistribution to another parallelism (split and
// union), restore, and access from a running job's functions.
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>

#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

const ListStateDescriptor<std::string> kPending{"pending"};
const ListStateDescriptor<int64_t> kEverywhere{"everywhere"};

// Old instance i holds sizes[i] split elements "i:j" and one union element i.
std::vector<OperatorStateSnapshot> snapshots_of(const std::vector<int>& sizes) {
  std::vector<OperatorStateSnapshot> snapshots;
  for (size_t i = 0; i < sizes.size(); ++i) {
    OperatorStateStore store;
    auto& pending = store.get_list_state(kPending);
    for (int j = 0; j < sizes[i]; ++j) pending.add(std::to_string(i) + ":" + std::to_string(j));
    store.get_union_list_state(kEverywhere).add(static_cast<int64_t>(i));
    snapshots.push_back(store.snapshot());
  }
  return snapshots;
}

TEST(OperatorState, SplitStateIsDividedAndUnionStateGoesToEveryone) {
  const std::vector<int> sizes{10, 3, 0};
  std::vector<std::string> all;
  for (size_t i = 0; i < sizes.size(); ++i) {
    for (int j = 0; j < sizes[i]; ++j) all.push_back(std::to_string(i) + ":" + std::to_string(j));
  }
  for (int p : {1, 2, 5, 20}) {
    SCOPED_TRACE("new parallelism " + std::to_string(p));
    auto shares = redistribute_operator_state(snapshots_of(sizes), p);
    ASSERT_EQ(shares.size(), static_cast<size_t>(p));
    std::vector<std::string> seen;
    size_t smallest = all.size(), largest = 0;
    for (const auto& share : shares) {
      OperatorStateStore store;
      store.restore(share);
      const auto& pending = store.get_list_state(kPending).get();
      seen.insert(seen.end(), pending.begin(), pending.end());
      smallest = std::min(smallest, pending.size());
      largest = std::max(largest, pending.size());
      EXPECT_EQ(store.get_union_list_state(kEverywhere).get(), (std::vector<int64_t>{0, 1, 2}));
    }
    EXPECT_EQ(seen, all) << "every element once, in the old subtasks' order";
    EXPECT_LE(largest - smallest, 1u) << "near-equal shares";
  }
}

TEST(OperatorState, ReadingWithAnotherModeFails) {
  OperatorStateStore store;
  store.restore(snapshots_of({2})[0]);
  EXPECT_THROW(store.get_union_list_state(kPending), Error);
  OperatorStateStore fresh;
  fresh.get_list_state(kPending);
  EXPECT_THROW(fresh.get_union_list_state(kPending), Error);
}

TEST(OperatorState, SnapshotKeepsStatesNotYetAskedFor) {
  OperatorStateStore store;
  store.restore(snapshots_of({4})[0]);
  OperatorStateStore copy;
  copy.restore(store.snapshot());
  EXPECT_EQ(copy.get_list_state(kPending).get().size(), 4u);
}

TEST(OperatorState, EachRunningInstanceHasItsOwnStore) {
  auto kept = std::make_shared<std::atomic<int64_t>>(0);
  struct Remember {
    std::shared_ptr<std::atomic<int64_t>> kept;
    ListState<int64_t>* seen = nullptr;
    void open(const RuntimeContext& ctx) {
      seen = &ctx.operator_state().get_list_state(ListStateDescriptor<int64_t>{"seen"});
    }
    void close() { kept->fetch_add(static_cast<int64_t>(seen->get().size())); }
    int64_t operator()(int64_t x) {
      seen->add(x);
      return x;
    }
  };
  auto env = testing::quiet_env(3);
  env.from_sequence(1, 3'000).rebalance().map(Remember{kept}).add_sink([](int64_t) {});
  env.execute();
  EXPECT_EQ(kept->load(), 3'000) << "each record in exactly one instance's list";
}

}  // namespace
}  // namespace sluice
