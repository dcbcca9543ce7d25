#include "sluice/state/keyed_snapshot.h"

#include <algorithm>
#include <memory>
#include <utility>

namespace sluice {

namespace {

// At least the bytes a snapshot serializes to (a little more): reserved first, so that snapshots
// of large state are written in one allocation.
size_t serialized_size_bound(const KeyedOperatorSnapshot& value) {
  size_t size = 64;
  auto add = [&](const std::vector<KeyGroupSnapshot>& groups) {
    for (const auto& g : groups) size += g.bytes.size() + 8;
  };
  for (const auto& backend : value.backends) {
    add(backend.groups);
    size += backend.native.size() + 8;
  }
  add(value.internal);
  for (const auto& [name, bytes] : value.broadcast) size += name.size() + bytes.size() + 8;
  return size;
}

}  // namespace

void Serializer<KeyedOperatorSnapshot>::serialize(const KeyedOperatorSnapshot& value,
                                                  BufferWriter& out) {
  out.reserve(serialized_size_bound(value));
  boost::pfr::for_each_field(value, [&](const auto& field) {
    Serializer<std::decay_t<decltype(field)>>::serialize(field, out);
  });
}

KeyedOperatorSnapshot Serializer<KeyedOperatorSnapshot>::deserialize(BufferReader& in) {
  KeyedOperatorSnapshot value;
  boost::pfr::for_each_field(value, [&](auto& field) {
    field = Serializer<std::decay_t<decltype(field)>>::deserialize(in);
  });
  return value;
}

std::vector<KeyGroupSnapshot> KeyGroupedItems::finish() const {
  std::vector<KeyGroupSnapshot> result;
  for (const auto& [key_group, group] : groups_) {
    KeyGroupSnapshot snapshot{key_group, {}};
    BufferWriter out(snapshot.bytes);
    out.write_fixed(group.first);
    out.write_bytes(group.second.data(), group.second.size());
    out.finish();
    result.push_back(std::move(snapshot));
  }
  return result;
}

std::vector<KeyedOperatorSnapshot> restored_keyed_snapshots(
    const std::vector<std::string>& restored, Timestamp* watermark) {
  std::vector<KeyedOperatorSnapshot> snapshots;
  for (const auto& bytes : restored) snapshots.push_back(from_bytes<KeyedOperatorSnapshot>(bytes));
  *watermark = kMinWatermark;
  for (size_t i = 0; i < snapshots.size(); ++i) {
    *watermark = i == 0 ? snapshots[i].watermark : std::min(*watermark, snapshots[i].watermark);
  }
  return snapshots;
}

void write_keyed_operator_snapshot(const KeyedOperatorSnapshot& snapshot, SnapshotOutput& out) {
  constexpr size_t kGathered = 4096;  // smaller key groups are gathered with the fields
  out.expect(serialized_size_bound(snapshot));
  std::string scratch;
  auto flush = [&] {
    if (!scratch.empty()) out.write(scratch);
    scratch.clear();
  };
  auto write_groups = [&](const std::vector<KeyGroupSnapshot>& groups) {
    BufferWriter(scratch).write_length(groups.size());
    for (const auto& group : groups) {
      {
        BufferWriter fields(scratch);
        serialize(group.key_group, fields);
        fields.write_length(group.bytes.size());
      }
      if (group.bytes.size() < kGathered) {
        scratch.append(group.bytes);
      } else {
        flush();
        out.write(group.bytes);
      }
    }
  };
  {
    BufferWriter fields(scratch);
    serialize(snapshot.watermark, fields);
    fields.write_length(snapshot.backends.size());
  }
  for (const auto& backend : snapshot.backends) {
    write_groups(backend.groups);
    BufferWriter native(scratch);
    serialize(backend.native, native);
  }
  write_groups(snapshot.internal);
  {
    BufferWriter fields(scratch);
    serialize(snapshot.broadcast, fields);
  }
  flush();
}

StateSnapshot keyed_operator_snapshot(KeyedOperatorSnapshot fixed,
                                      std::vector<BackendMaterialize> backends) {
  if (backends.empty()) return to_bytes(fixed);
  auto parts = std::make_shared<std::pair<KeyedOperatorSnapshot, std::vector<BackendMaterialize>>>(
      std::move(fixed), std::move(backends));
  return StateSnapshot::streamed([parts](SnapshotFiles& files, SnapshotOutput& out) {
    auto& [snapshot, pending] = *parts;
    snapshot.backends.clear();
    for (auto& materialize : pending) snapshot.backends.push_back(materialize(files));
    write_keyed_operator_snapshot(snapshot, out);
  });
}
}  // namespace sluice
