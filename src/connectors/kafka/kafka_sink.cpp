// The Kafka sink's untyped parts: delivery, the transactional producers of each subtask, and the
// commit and recovery of their transactions.
#include <fmt/format.h>

#include <functional>

#include "sluice/connectors/kafka.h"
#include "sluice/state/operator_state.h"

namespace sluice::detail {

using kafka::KafkaProducer;
using kafka::OutgoingRecord;
using kafka::TopicPartition;

// What a checkpoint stores of one subtask's transaction: enough to commit it, or, if the crash left
// it aborted, to write its records again in a new one.
struct WalRecord {
  std::string topic;
  int32_t partition = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp = 0;
};
struct KafkaCommittable {
  std::string transactional_id;
  int64_t checkpoint = 0;
  std::vector<std::string> writer_ids;  // every id of the writer's pool (fenced on recovery)
  std::vector<WalRecord> records;
  // The last offset the transaction wrote in one partition: whether a read_committed consumer sees
  // it tells whether the transaction committed.
  std::string probe_topic;
  int32_t probe_partition = -1;
  int64_t probe_offset = -1;
};

namespace {

constexpr auto kInitTimeout = std::chrono::milliseconds(60'000);
// Producers per subtask from the start: one transaction open, one awaiting its checkpoint.
constexpr size_t kInitialSlots = 2;

std::string transactional_id(const std::string& prefix, int subtask, size_t slot) {
  return fmt::format("{}-{}-{}", prefix, subtask, slot);
}

// The consumer group in which the transactions of `transactional_id` that recover a committable
// mark it as recovered (see KafkaSinkCore::recover).
std::string recovery_group(const std::string& transactional_id) {
  return transactional_id + ".recovered";
}

}  // namespace

// ---- KafkaSinkCore ----

void KafkaSinkCore::register_pending(const std::string& id, int64_t checkpoint,
                                     KafkaProducer* producer, std::function<void()> on_committed) {
  std::lock_guard lock(mutex_);
  pending_[id] = Pending{checkpoint, producer, std::move(on_committed)};
}

void KafkaSinkCore::unregister(const std::string& id) {
  std::lock_guard lock(mutex_);
  pending_.erase(id);
}

// Committables are committed again after a restore, by every subtask (union state): under one lock,
// each once.
void KafkaSinkCore::commit(const std::vector<std::string>& committables) {
  for (const auto& bytes : committables) {
    const auto c = from_bytes<KafkaCommittable>(bytes);
    std::lock_guard lock(mutex_);
    const std::string key = fmt::format("{}@{}", c.transactional_id, c.checkpoint);
    if (done_.contains(key)) continue;
    auto live = pending_.find(c.transactional_id);
    if (live != pending_.end() && live->second.checkpoint == c.checkpoint) {
      live->second.producer->commit_transaction(options_.delivery_timeout);
      auto on_committed = std::move(live->second.on_committed);
      pending_.erase(live);
      on_committed();
    } else {
      recover(c);
    }
    done_.insert(key);
  }
}

// The writer that prepared the transaction is gone (the job restarted). Fencing its ids resolves
// the transaction: committed if its commit had been sent, else aborted — and then its records are
// written again, unless an earlier restore of the same checkpoint already did so.
//
// That earlier restore is not rare: every attempt that dies before completing a checkpoint of its
// own makes the next one restore the same checkpoint and recover the same committables, and the
// probe still finds the original transaction aborted. So the transaction that writes the records
// again also commits, atomically with them, the probe's offset as the offset of the probe's
// partition in a consumer group of the transactional id (Kafka's sendOffsetsToTransaction, as a
// read-process-write job commits what it consumed): finding it there means "already written".
// Offsets are unique in a partition, so the value names this committable; the group is written
// only by transactions of this id, all fenced above, so nothing of it is still pending.
void KafkaSinkCore::recover(const KafkaCommittable& c) {
  for (const auto& id : c.writer_ids) {
    if (!resolved_.insert(id).second) continue;
    KafkaProducer fence(options_.properties, id);
    fence.init_transactions(kInitTimeout);
  }
  if (c.records.empty() || c.probe_offset < 0) return;
  const TopicPartition probe{c.probe_topic, c.probe_partition};
  {
    kafka::KafkaAdmin admin(options_.properties);
    if (admin.committed_record_at(probe, c.probe_offset, options_.delivery_timeout)) return;
  }
  const std::string group = recovery_group(c.transactional_id);
  {
    kafka::Properties properties = options_.properties;
    properties["group.id"] = group;
    kafka::KafkaAdmin admin(properties);
    if (admin.committed({probe}, options_.delivery_timeout)[probe] == c.probe_offset) return;
  }
  KafkaProducer producer(options_.properties, c.transactional_id);
  producer.init_transactions(kInitTimeout);
  producer.begin_transaction();
  for (const auto& r : c.records) {
    producer.produce(OutgoingRecord{r.topic, r.partition, r.key, r.value, r.headers, r.timestamp},
                     options_.delivery_timeout);
  }
  producer.send_offsets_to_transaction(group, {{probe, c.probe_offset}}, options_.delivery_timeout);
  producer.commit_transaction(options_.delivery_timeout);
}

// ---- KafkaSinkWriterCore ----

struct KafkaSinkWriterCore::Slot {
  std::string id;
  std::unique_ptr<KafkaProducer> producer;
  bool busy = false;  // holds an open or prepared transaction
};

KafkaSinkWriterCore::KafkaSinkWriterCore(std::shared_ptr<KafkaSinkCore> core,
                                         const RuntimeContext& context)
    : core_(std::move(core)),
      options_(core_->options()),
      subtask_(context.subtask_index()),
      parallelism_(context.parallelism()),
      checkpointing_(context.checkpointing()) {
  if (options_.guarantee != DeliveryGuarantee::kExactlyOnce) {
    slots_.push_back(std::make_unique<Slot>());
    slots_.back()->producer = std::make_unique<KafkaProducer>(options_.properties, std::nullopt);
    current_ = slots_.back().get();
    return;
  }
  // Ids an earlier attempt used (restored), and those of subtasks up to a bound: a crashed attempt
  // at a higher parallelism may have left transactions open, which would hold back every
  // read_committed consumer. Each is fenced by one subtask; the current pools' ids (two per
  // subtask, opened at once) are fenced by their own producers.
  used_ids_ = &context.operator_state().get_union_list_state(
      ListStateDescriptor<std::string>{"kafka-sink-transactional-ids"});
  std::set<std::string> lingering;
  for (const auto& id : used_ids_->get()) lingering.insert(id);
  for (int s = 0; s < std::max(options_.abort_subtasks_below, parallelism_); ++s) {
    for (size_t slot = 0; slot < kInitialSlots; ++slot) {
      lingering.insert(transactional_id(options_.transactional_id_prefix, s, slot));
    }
  }
  for (int s = 0; s < parallelism_; ++s) {
    for (size_t slot = 0; slot < kInitialSlots; ++slot) {
      lingering.erase(transactional_id(options_.transactional_id_prefix, s, slot));
    }
  }
  used_ids_->clear();
  for (const auto& id : lingering) {
    if (std::hash<std::string>{}(id) % static_cast<size_t>(parallelism_) ==
        static_cast<size_t>(subtask_)) {
      KafkaProducer fence(options_.properties, id);
      fence.init_transactions(kInitTimeout);
    }
  }
  for (size_t slot = 0; slot < kInitialSlots; ++slot) open_slot().busy = true;
  for (auto& slot : slots_) slot->busy = false;
  begin(*slots_.front());
}

KafkaSinkWriterCore::~KafkaSinkWriterCore() { close(); }

KafkaSinkWriterCore::Slot& KafkaSinkWriterCore::open_slot() {
  for (auto& slot : slots_) {
    if (!slot->busy) return *slot;
  }
  auto slot = std::make_unique<Slot>();
  slot->id = transactional_id(options_.transactional_id_prefix, subtask_, slots_.size());
  slot->producer = std::make_unique<KafkaProducer>(options_.properties, slot->id);
  slot->producer->init_transactions(kInitTimeout);
  used_ids_->add(slot->id);
  slots_.push_back(std::move(slot));
  return *slots_.back();
}

void KafkaSinkWriterCore::begin(Slot& slot) {
  slot.producer->begin_transaction();
  slot.producer->clear_delivered();
  slot.busy = true;
  current_ = &slot;
  wal_.clear();
}

void KafkaSinkWriterCore::write(OutgoingRecord record) {
  current_->producer->produce(record, options_.delivery_timeout);
  if (options_.guarantee == DeliveryGuarantee::kExactlyOnce) wal_.push_back(std::move(record));
}

int32_t KafkaSinkWriterCore::partition_count(const std::string& topic) {
  auto it = partition_counts_.find(topic);
  if (it != partition_counts_.end()) return it->second;
  if (!admin_) admin_ = std::make_unique<kafka::KafkaAdmin>(options_.properties);
  const auto n = static_cast<int32_t>(
      admin_->partitions({topic}, "", std::chrono::milliseconds(30'000)).size());
  if (n == 0) {
    throw Error(ErrorCategory::kIo, "Kafka: topic '" + topic + "' has no partitions");
  }
  partition_counts_[topic] = n;
  return n;
}

void KafkaSinkWriterCore::flush(bool end_of_input) {
  if (options_.guarantee == DeliveryGuarantee::kNone && !end_of_input) return;
  current_->producer->flush(options_.delivery_timeout);
  // Exactly-once without checkpoints: the input's end commits everything.
  if (end_of_input && options_.guarantee == DeliveryGuarantee::kExactlyOnce) {
    current_->producer->commit_transaction(options_.delivery_timeout);
    current_->busy = false;
    wal_.clear();
  }
}

std::vector<std::string> KafkaSinkWriterCore::prepare_commit(int64_t checkpoint_id) {
  if (options_.guarantee == DeliveryGuarantee::kNone) return {};
  current_->producer->flush(options_.delivery_timeout);
  if (options_.guarantee == DeliveryGuarantee::kAtLeastOnce) return {};
  KafkaCommittable c;
  c.transactional_id = current_->id;
  c.checkpoint = checkpoint_id;
  for (const auto& slot : slots_) c.writer_ids.push_back(slot->id);
  const auto& delivered = current_->producer->delivered();
  for (size_t i = 0; i < wal_.size(); ++i) {
    const auto& r = wal_[i];
    const int32_t partition = i < delivered.size() ? delivered[i].first : r.partition;
    c.records.push_back(WalRecord{r.topic, partition, r.key, r.value, r.headers, r.timestamp});
    if (i < delivered.size() && delivered[i].second > c.probe_offset) {
      c.probe_topic = r.topic;
      c.probe_partition = delivered[i].first;
      c.probe_offset = delivered[i].second;
    }
  }
  Slot* prepared = current_;
  core_->register_pending(prepared->id, checkpoint_id, prepared->producer.get(),
                          [prepared] { prepared->busy = false; });
  begin(open_slot());  // the next interval's records go into the next transaction
  return {to_bytes(c)};
}

void KafkaSinkWriterCore::close() {
  for (auto& slot : slots_) {
    if (!slot->id.empty()) core_->unregister(slot->id);
  }
  // Producers go with their transactions open: the next attempt fences and resolves them.
  slots_.clear();
  current_ = nullptr;
}

}  // namespace sluice::detail
