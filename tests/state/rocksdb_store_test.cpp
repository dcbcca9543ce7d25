// The RocksDB store with its write-back cache, differentially: random reads, writes, deletes, list
// appends, scans, prefix deletes, snapshots and restores against a std::map that does the same
// obviously, with the cache off, tiny (evicting generations every few operations) and roomy.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include "sluice/state/keyed_state_backend.h"
#include "sluice/state/rocksdb_store.h"
#include "state/backend_test_util.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr size_t kHeader = RocksDbStore::kTimeBytes + sizeof(uint32_t);

// A list value as the store keeps it: time, element count, elements.
std::string list_value(Timestamp time, const std::vector<std::string>& elements) {
  std::string bytes(kHeader, '\0');
  const auto count = static_cast<uint32_t>(elements.size());
  std::memcpy(bytes.data(), &time, sizeof(time));
  std::memcpy(bytes.data() + RocksDbStore::kTimeBytes, &count, sizeof(count));
  for (const auto& e : elements) bytes += e;
  return bytes;
}

// What an append does to a stored list (the reference for the merge operator and the cache).
std::string appended(const std::optional<std::string>& existing, const std::string& operand) {
  if (!existing) return operand;
  Timestamp t1 = 0, t2 = 0;
  uint32_t n1 = 0, n2 = 0;
  std::memcpy(&t1, existing->data(), sizeof(t1));
  std::memcpy(&t2, operand.data(), sizeof(t2));
  std::memcpy(&n1, existing->data() + RocksDbStore::kTimeBytes, sizeof(n1));
  std::memcpy(&n2, operand.data() + RocksDbStore::kTimeBytes, sizeof(n2));
  std::string merged = list_value(std::max(t1, t2), {});
  const uint32_t n = n1 + n2;
  std::memcpy(merged.data() + RocksDbStore::kTimeBytes, &n, sizeof(n));
  merged.append(*existing, kHeader);
  merged.append(operand, kHeader);
  return merged;
}

// A plain value as the store keeps it: time, payload.
std::string timed(Timestamp time, const std::string& payload) {
  std::string bytes(RocksDbStore::kTimeBytes, '\0');
  std::memcpy(bytes.data(), &time, sizeof(time));
  return bytes + payload;
}

using Model = std::map<std::string, std::string>;  // key -> value, per column

// Three columns: plain values, lists (appended to), and a map (entries under a key prefix).
struct Columns {
  int values = 0;
  int lists = 0;
  int map = 0;
};
Columns register_columns(RocksDbStore& store) {
  return Columns{store.column("values", StateKind::kValue, 0),
                 store.column("lists", StateKind::kValue, 0),
                 store.column("map", StateKind::kMap, 0)};
}

std::string key_prefix(int key_group, int key) {
  std::string out;
  RocksDbStore::append_key_prefix(out, key_group, "k" + std::to_string(key));
  return out;
}

void expect_same(RocksDbStore& store, const Columns& columns, const std::array<Model, 3>& model) {
  const int ids[3] = {columns.values, columns.lists, columns.map};
  for (int c = 0; c < 3; ++c) {
    Model seen;
    store.scan(ids[c], {}, [&](std::string_view k, std::string_view v) {
      seen.emplace(std::string(k), std::string(v));
      return true;
    });
    EXPECT_EQ(seen, model[static_cast<size_t>(c)]) << "column " << c;
    std::string value;
    for (const auto& [k, v] : model[static_cast<size_t>(c)]) {
      ASSERT_TRUE(store.get(ids[c], k, value)) << "column " << c;
      EXPECT_EQ(value, v);
    }
  }
}

class RocksDbStoreTest : public ::testing::TestWithParam<size_t> {
 protected:
  StateBackendOptions options(size_t cache_bytes) const {
    StateBackendOptions o = testing::backend_options(testing::Backend::kRocksDb);
    o.rocksdb_state_cache_bytes = cache_bytes;
    return o;
  }
};

TEST_P(RocksDbStoreTest, RandomOperationsMatchAModelThroughSnapshotsAndRestores) {
  const StateBackendOptions o = options(GetParam());
  const fs::path shared =
      fs::path(o.local_directory) / ("store-test-shared-" + std::to_string(GetParam()));
  testing::FolderFiles files(shared);
  const KeyGroupRange range{0, 127};
  auto store = RocksDbStore::open(o, "store-test", range);
  Columns columns = register_columns(*store);
  std::array<Model, 3> model;
  std::mt19937_64 rng(GetParam() * 7919 + 1);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  std::string value;
  for (int step = 0; step < 40'000; ++step) {
    const int group = pick(128) % 16 * 8;  // a few keys in a few groups: each is hit often
    const std::string key = key_prefix(group, pick(24));
    const int op = pick(1000) == 0 ? 100 : pick(99);
    if (op < 25) {  // values: read, write or delete
      Model& m = model[0];
      const int what = pick(3);
      if (what == 0) {
        const bool found = store->get(columns.values, key, value);
        ASSERT_EQ(found, m.contains(key)) << "step " << step;
        if (found) {
          ASSERT_EQ(value, m[key]) << "step " << step;
        }
      } else if (what == 1) {
        const std::string v = timed(
            step, std::string(static_cast<size_t>(pick(40)), static_cast<char>('a' + pick(26))));
        store->put(columns.values, key, v);
        m[key] = v;
      } else {
        store->remove(columns.values, key);
        m.erase(key);
      }
    } else if (op < 60) {  // lists: append, read, replace or delete
      Model& m = model[1];
      const int what = pick(10);
      if (what < 5) {
        const std::string operand = list_value(step, {"e" + std::to_string(step)});
        store->merge(columns.lists, key, operand);
        auto it = m.find(key);
        m[key] = appended(it == m.end() ? std::nullopt : std::optional(it->second), operand);
      } else if (what < 8) {
        const bool found = store->get(columns.lists, key, value);
        ASSERT_EQ(found, m.contains(key)) << "step " << step;
        if (found) {
          ASSERT_EQ(value, m[key]) << "step " << step;
        }
      } else if (what == 8) {
        const std::string v = list_value(step, {"r" + std::to_string(step), "s"});
        store->put(columns.lists, key, v);
        m[key] = v;
      } else {
        store->remove(columns.lists, key);
        m.erase(key);
      }
    } else if (op < 90) {  // map entries under the key's prefix
      Model& m = model[2];
      const std::string entry = key + "u" + std::to_string(pick(5));
      const int what = pick(4);
      if (what == 0) {
        const bool found = store->get(columns.map, entry, value);
        ASSERT_EQ(found, m.contains(entry)) << "step " << step;
        if (found) {
          ASSERT_EQ(value, m[entry]);
        }
      } else if (what == 1) {
        const std::string v = timed(step, "m" + std::to_string(step));
        store->put(columns.map, entry, v);
        m[entry] = v;
      } else if (what == 2) {
        store->remove(columns.map, entry);
        m.erase(entry);
      } else {
        store->remove_prefix(columns.map, key);
        std::erase_if(m, [&](const auto& kv) { return kv.first.starts_with(key); });
      }
    } else if (op < 99) {  // a scan of one key group of the lists
      const std::string prefix = key.substr(0, 2);
      Model seen, expected;
      store->scan(columns.lists, prefix, [&](std::string_view k, std::string_view v) {
        seen.emplace(std::string(k), std::string(v));
        return true;
      });
      for (const auto& [k, v] : model[1]) {
        if (k.starts_with(prefix)) expected.emplace(k, v);
      }
      ASSERT_EQ(seen, expected) << "step " << step;
    } else {  // a snapshot, more changes after it, then a restore of it into a new store
      const bool incremental = pick(2) == 0;
      auto materialize = store->snapshot(incremental);
      const auto frozen = model;
      store->put(columns.values, key, timed(step, "after the snapshot"));
      store->merge(columns.lists, key, list_value(step, {"after"}));
      KeyedBackendSnapshot snapshot = materialize(files);
      auto restored = RocksDbStore::open(o, "store-test-restored", range);
      restored->restore({std::move(snapshot)}, shared);
      store = std::move(restored);
      columns = register_columns(*store);
      model = frozen;
      expect_same(*store, columns, model);
      if (HasFailure()) FAIL() << "after the restore at step " << step;
    }
  }
  expect_same(*store, columns, model);
  fs::remove_all(shared);
}

// Off, a few entries (generations turn over every few operations), and the whole working set.
INSTANTIATE_TEST_SUITE_P(CacheSizes, RocksDbStoreTest,
                         ::testing::Values(size_t{0}, size_t{4} << 10, size_t{64} << 20),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return info.param == 0
                                      ? std::string("NoCache")
                                      : "Cache" + std::to_string(info.param >> 10) + "KiB";
                         });

}  // namespace
}  // namespace sluice
