// Kafka connector: a FLIP-27 source and a two-phase-commit sink, on librdkafka.
//
//   auto orders = sluice::kafka_source(sluice::kafka_json<Order>())
//                     .bootstrap_servers("broker:9092")
//                     .topics({"orders"})
//                     .starting_offsets(sluice::KafkaOffsets::committed())
//                     .group_id("fraud");
//   auto stream = env.from_source(orders, strategy, "orders");
//   stream.sink_to(sluice::kafka_sink(sluice::kafka_json_values<Alert>())
//                      .bootstrap_servers("broker:9092")
//                      .topic("alerts")
//                      .exactly_once("fraud-alerts"));
//
// Source (Flink's KafkaSource): topics by list or regular expression; partitions are splits,
// assigned by the enumerator to readers (Flink's owner function) and discovered periodically;
// start at the earliest, latest, committed or a timestamp's offsets, or given ones; bounded mode
// stops at the offsets that were the latest when the job started. Offsets live in Sluice's
// checkpoints; they are committed to the group when a checkpoint completes, for monitoring only.
// Event time is the Kafka record's timestamp unless the watermark strategy assigns one, and
// watermarks are per partition (each partition is a split: give the strategy to from_source). A
// reader without partitions is idle. A record the deserializer rejects (it throws) fails the job
// naming topic, partition and offset, is skipped (counted as kafka_bad_records), or goes to the
// dead-letter side output (stream.get_side_output(source.dead_letters())) with its bytes and the
// reason. Reading runs on a fetcher thread per reader: no worker thread blocks on the network.
//
// Sink (Flink's KafkaSink): none (fire and forget), at-least-once (flushed at every checkpoint)
// or exactly-once: every checkpoint interval's records go into one Kafka transaction per subtask,
// committed when the checkpoint completes. Transactional ids are <prefix>-<subtask>-<n> (a small
// pool per subtask: the next interval's transaction opens while the previous one awaits its
// checkpoint). A restored job fences and resolves the earlier attempt's transactions; a
// transaction of a completed checkpoint that the crash left uncommitted is found aborted and its
// records are written again from the checkpoint (each committable keeps its transaction's records:
// librdkafka cannot resume another producer's transaction, as Flink's Java client can), once
// however often that checkpoint is restored: the rewriting transaction also commits a marker
// offset to a consumer group "<transactional id>.recovered". Records go
// to the partition of their key's murmur2 hash, as Kafka's Java client; or a user partitioner.
//
// Threading: as every source and sink; see kafka_client.h for the client layer.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "sluice/connectors/kafka_client.h"
#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/functions/output_tag.h"
#include "sluice/runtime/sink.h"
#include "sluice/runtime/source.h"
#include "sluice/state/state_descriptors.h"

namespace sluice {

// The JSON format, defined in sluice/formats/json.h.
template <class T>
struct JsonFormat;

// ---------------------------------------------------------------------------------------------
// Source

// Where the source starts reading each partition it finds at start (Flink's OffsetsInitializer).
// Partitions discovered while running start at their earliest offset, as in Flink.
struct KafkaOffsets {
  enum class Kind { kEarliest, kLatest, kTimestamp, kCommitted, kSpecific };
  Kind kind = Kind::kEarliest;
  int64_t timestamp = 0;
  Kind fallback = Kind::kEarliest;  // kCommitted / kSpecific without an offset for a partition
  std::map<kafka::TopicPartition, int64_t> offsets;

  static KafkaOffsets earliest() { return {}; }
  static KafkaOffsets latest() { return {Kind::kLatest}; }
  // The first record at or after `epoch_millis` (the end when there is none).
  static KafkaOffsets timestamp_at(int64_t epoch_millis) {
    return {Kind::kTimestamp, epoch_millis};
  }
  static KafkaOffsets committed(Kind fallback = Kind::kEarliest) {
    return {Kind::kCommitted, 0, fallback};
  }
  static KafkaOffsets specific(std::map<kafka::TopicPartition, int64_t> offsets,
                               Kind fallback = Kind::kEarliest) {
    return {Kind::kSpecific, 0, fallback, std::move(offsets)};
  }
};

enum class BadRecordPolicy { kFail, kSkip, kDeadLetter };

// A record the deserializer rejected, with its bytes and why.
struct KafkaDeadLetter {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::string reason;
};

// A Kafka record, copied out (the raw deserializer's type).
struct KafkaMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
};

// Deserializers: callables (const kafka::Record&) -> T that throw on a record they reject.
inline auto kafka_raw() {
  return [](const kafka::Record& r) {
    KafkaMessage m{std::string(r.topic), r.partition, r.offset, r.timestamp, {}, {}, {}};
    if (r.key) m.key = std::string(*r.key);
    if (r.value) m.value = std::string(*r.value);
    for (const auto& h : r.headers) {
      m.headers.emplace_back(
          std::string(h.key),
          h.value ? std::optional<std::string>(std::string(*h.value)) : std::nullopt);
    }
    return m;
  };
}
inline auto kafka_string_values() {
  return [](const kafka::Record& r) {
    if (!r.value) throw std::invalid_argument("a record without a value (a tombstone)");
    return std::string(*r.value);
  };
}
// JSON into T through the JSON format (#include "sluice/formats/json.h"): nlohmann::json's
// from_json (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE).
template <class T>
auto kafka_json() {
  static_assert(
      requires { &JsonFormat<T>::parse; },
      "kafka_json needs the JSON format: #include \"sluice/formats/json.h\"");
  return [](const kafka::Record& r) {
    if (!r.value) throw std::invalid_argument("a record without a value (a tombstone)");
    return JsonFormat<T>::parse(*r.value);
  };
}

namespace detail {

// What the source's untyped parts share (immutable once the job runs).
struct KafkaSourceOptions {
  kafka::Properties properties;
  std::vector<std::string> topics;
  std::string topic_pattern;
  KafkaOffsets starting = KafkaOffsets::earliest();
  bool bounded = false;
  std::chrono::milliseconds discovery_interval{30'000};
  std::chrono::milliseconds request_timeout{30'000};
  BadRecordPolicy bad_records = BadRecordPolicy::kFail;
};

// One partition to read: the next offset and, in bounded mode, where to stop (-1: never).
class KafkaPartitionSplit final : public SourceSplit {
 public:
  KafkaPartitionSplit(kafka::TopicPartition partition, int64_t next, int64_t stop)
      : partition(std::move(partition)), next(next), stop(stop) {}
  std::string split_id() const override { return partition.to_string(); }
  std::string serialize() const override;
  static std::unique_ptr<SourceSplit> deserialize(std::string_view bytes);

  kafka::TopicPartition partition;
  int64_t next;
  int64_t stop;
};

// The enumerator's event to a reader: the partitions discovered so far that are the reader's have
// been assigned to it (none, if its parallelism is above the partition count).
inline constexpr std::string_view kKafkaPartitionsAssigned = "partitions-assigned";

std::unique_ptr<SplitEnumerator> make_kafka_enumerator(
    SplitEnumeratorContext& context, std::shared_ptr<const KafkaSourceOptions> options,
    const std::string* restored_state);

// The typed reader: records from the fetcher thread, deserialized on the task thread into the
// split (partition) outputs.
template <class T, class Deserializer>
class KafkaSourceReader final : public SourceReader<T> {
 public:
  KafkaSourceReader(SourceReaderContext& context, std::shared_ptr<const KafkaSourceOptions> options,
                    Deserializer deserializer, int dead_letter_tag)
      : context_(context),
        options_(std::move(options)),
        deserializer_(std::move(deserializer)),
        dead_letter_tag_(dead_letter_tag),
        bad_records_(context.metrics().user_counter("kafka_bad_records")) {}

  void start() override {
    fetcher_ =
        std::make_unique<kafka::KafkaFetcher>(options_->properties, [this] { context_.wake(); });
  }

  InputStatus poll_next(ReaderOutput<T>& output) override {
    // A new split counts for the watermark at once, before its first record.
    for (const std::string& id : new_splits_) {
      auto it = splits_.find(id);
      if (it != splits_.end()) it->second->out = &output.create_output_for_split(id);
    }
    new_splits_.clear();
    if (splits_.empty()) {
      if (no_more_splits_) return InputStatus::kEndOfInput;
      // Idle only once the enumerator said what this reader gets: before that, its partitions may
      // be on their way, and an idle reader would let the others' watermark run ahead of them.
      if (assignment_known_) output.mark_idle();
      return InputStatus::kNothingAvailable;
    }
    kafka::FetchedBatch batch = fetcher_->take(std::max<size_t>(output.remaining(), 64));
    kafka::Record record;
    for (size_t i = 0; i < batch.size(); ++i) {
      batch.record(i, record);
      auto it = by_partition_.find(PartitionKey{record.topic, record.partition});
      if (it == by_partition_.end()) continue;  // no longer ours
      Split& split = *it->second;
      if (record.offset < split.next) continue;  // fetched before a re-assignment
      if (split.stop >= 0 && record.offset >= split.stop) continue;
      emit(record, split);
      split.next = record.offset + 1;
      if (split.stop >= 0 && split.next >= split.stop) finish(split, output);
    }
    flush_dead_letters();
    if (splits_.empty() && no_more_splits_) return InputStatus::kEndOfInput;
    return batch.empty() ? InputStatus::kNothingAvailable : InputStatus::kMoreAvailable;
  }

  void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
    for (auto& s : splits) {
      auto& kafka_split = static_cast<KafkaPartitionSplit&>(*s);
      auto split = std::make_unique<Split>();
      split->partition = kafka_split.partition;
      split->id = kafka_split.split_id();
      split->next = kafka_split.next;
      split->stop = kafka_split.stop;
      if (split->stop >= 0 && split->next >= split->stop) continue;  // nothing to read
      fetcher_->assign(split->partition, split->next);
      new_splits_.push_back(split->id);
      by_partition_[PartitionKey{split->partition.topic, split->partition.partition}] = split.get();
      splits_[split->id] = std::move(split);
    }
  }
  void notify_no_more_splits() override { no_more_splits_ = true; }
  void handle_source_event(std::string_view event) override {
    if (event == kKafkaPartitionsAssigned) assignment_known_ = true;
  }

  std::vector<std::unique_ptr<SourceSplit>> snapshot_state(int64_t checkpoint_id) override {
    std::vector<std::unique_ptr<SourceSplit>> state;
    std::vector<std::pair<kafka::TopicPartition, int64_t>> offsets;
    for (const auto& [id, split] : splits_) {
      state.push_back(
          std::make_unique<KafkaPartitionSplit>(split->partition, split->next, split->stop));
      if (split->next >= 0) offsets.emplace_back(split->partition, split->next);
    }
    pending_commits_[checkpoint_id] = std::move(offsets);
    return state;
  }
  void notify_checkpoint_complete(int64_t checkpoint_id) override {
    auto it = pending_commits_.find(checkpoint_id);
    if (it == pending_commits_.end()) return;
    fetcher_->commit_async(it->second);
    pending_commits_.erase(pending_commits_.begin(), std::next(it));
  }
  void close() override { fetcher_.reset(); }

 private:
  struct Split {
    kafka::TopicPartition partition;
    std::string id;
    int64_t next = 0;
    int64_t stop = -1;
    SplitOutput<T>* out = nullptr;
  };
  struct PartitionKey {
    std::string_view topic;
    int32_t partition;
    bool operator==(const PartitionKey&) const = default;
    template <class H>
    friend H AbslHashValue(H h, const PartitionKey& k) {
      return H::combine(std::move(h), k.topic, k.partition);
    }
  };

  void emit(const kafka::Record& record, Split& split) {
    try {
      split.out->collect(deserializer_(record), record.timestamp);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      reject(record, e.what());
    }
  }
  void reject(const kafka::Record& r, const std::string& reason) {
    bad_records_.add(1);
    switch (options_->bad_records) {
      case BadRecordPolicy::kSkip:
        return;
      case BadRecordPolicy::kDeadLetter: {
        KafkaDeadLetter dead{
            std::string(r.topic), r.partition, r.offset, r.timestamp, {}, {}, reason};
        if (r.key) dead.key = std::string(*r.key);
        if (r.value) dead.value = std::string(*r.value);
        dead_letters_.push(std::move(dead), r.timestamp);
        return;
      }
      case BadRecordPolicy::kFail:
        break;
    }
    ErrorContext where;
    if (r.value) where.record = std::string(r.value->substr(0, 120));
    throw Error(ErrorCategory::kBadInput,
                "cannot deserialize the Kafka record at " + std::string(r.topic) + "-" +
                    std::to_string(r.partition) + " offset " + std::to_string(r.offset) + ": " +
                    reason,
                std::move(where));
  }
  void flush_dead_letters() {
    if (dead_letters_.size() == 0) return;
    context_.side_output(dead_letter_tag_)->emit(dead_letters_);
    dead_letters_.clear();
  }
  void finish(Split& split, ReaderOutput<T>& output) {
    fetcher_->unassign(split.partition);
    output.release_output_for_split(split.id);
    by_partition_.erase(PartitionKey{split.partition.topic, split.partition.partition});
    splits_.erase(split.id);
  }

  SourceReaderContext& context_;
  std::shared_ptr<const KafkaSourceOptions> options_;
  Deserializer deserializer_;
  int dead_letter_tag_;
  Counter& bad_records_;
  std::unique_ptr<kafka::KafkaFetcher> fetcher_;
  std::map<std::string, std::unique_ptr<Split>> splits_;
  absl::flat_hash_map<PartitionKey, Split*> by_partition_;  // keys view the splits' topics
  std::vector<std::string> new_splits_;
  bool no_more_splits_ = false;
  bool assignment_known_ = false;
  std::map<int64_t, std::vector<std::pair<kafka::TopicPartition, int64_t>>> pending_commits_;
  RecordBuffer<KafkaDeadLetter> dead_letters_;
};

}  // namespace detail

template <class T, class Deserializer>
class KafkaSource final : public Source<T> {
 public:
  explicit KafkaSource(Deserializer deserializer)
      : deserializer_(std::move(deserializer)),
        options_(std::make_shared<detail::KafkaSourceOptions>()),
        dead_letters_("kafka-dead-letters-" + std::to_string(next_tag_id())) {}

  KafkaSource& bootstrap_servers(const std::string& servers) {
    return property("bootstrap.servers", servers);
  }
  KafkaSource& topics(std::vector<std::string> topics) {
    options_->topics = std::move(topics);
    return *this;
  }
  // Every topic whose whole name matches the ECMAScript regular expression.
  KafkaSource& topic_pattern(std::string pattern) {
    options_->topic_pattern = std::move(pattern);
    return *this;
  }
  KafkaSource& starting_offsets(KafkaOffsets offsets) {
    options_->starting = std::move(offsets);
    return *this;
  }
  // Stops at the offsets that were the latest when the job started (Flink's setBounded(latest)).
  KafkaSource& bounded() {
    options_->bounded = true;
    return *this;
  }
  KafkaSource& group_id(const std::string& group) { return property("group.id", group); }
  KafkaSource& partition_discovery_interval(std::chrono::milliseconds interval) {
    options_->discovery_interval = interval;
    return *this;
  }
  KafkaSource& on_bad_record(BadRecordPolicy policy) {
    options_->bad_records = policy;
    return *this;
  }
  // Any librdkafka consumer property ("isolation.level", "security.protocol", ...).
  KafkaSource& property(const std::string& key, const std::string& value) {
    options_->properties[key] = value;
    return *this;
  }
  // The side output of rejected records under BadRecordPolicy::kDeadLetter.
  const OutputTag<KafkaDeadLetter>& dead_letters() const { return dead_letters_; }

  Boundedness boundedness() const override {
    return options_->bounded ? Boundedness::kBounded : Boundedness::kUnbounded;
  }
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override {
    validate();
    return detail::make_kafka_enumerator(context, options_, nullptr);
  }
  std::unique_ptr<SourceReader<T>> create_reader(SourceReaderContext& context) override {
    return std::make_unique<detail::KafkaSourceReader<T, Deserializer>>(
        context, options_, deserializer_, dead_letters_.tag());
  }
  std::unique_ptr<SourceSplit> deserialize_split(std::string_view bytes) const override {
    return detail::KafkaPartitionSplit::deserialize(bytes);
  }
  std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                      std::string_view state) override {
    validate();
    const std::string copy(state);
    return detail::make_kafka_enumerator(context, options_, &copy);
  }
  void describe(OperatorDescription& d) const override {
    std::string topics = options_->topic_pattern;
    for (const auto& topic : options_->topics) topics += (topics.empty() ? "" : ", ") + topic;
    d.add(options_->topic_pattern.empty() ? "topics" : "topic pattern", topics);
    if (auto it = options_->properties.find("group.id"); it != options_->properties.end())
      d.add("group", it->second);
    if (options_->bad_records == BadRecordPolicy::kDeadLetter)
      d.side_outputs.emplace_back(dead_letters_.id(), readable_type_name<KafkaDeadLetter>());
  }

 private:
  static int next_tag_id() {
    static std::atomic<int> next{0};
    return next.fetch_add(1);
  }
  void validate() const {
    if (!options_->properties.contains("bootstrap.servers")) {
      throw Error(ErrorCategory::kInvalidArgument, "the Kafka source needs bootstrap_servers");
    }
    if (options_->topics.empty() == options_->topic_pattern.empty()) {
      throw Error(ErrorCategory::kInvalidArgument,
                  "the Kafka source needs either topics or a topic_pattern");
    }
  }

  Deserializer deserializer_;
  std::shared_ptr<detail::KafkaSourceOptions> options_;
  OutputTag<KafkaDeadLetter> dead_letters_;
};

template <class Deserializer>
auto kafka_source(Deserializer deserializer) {
  using T = std::decay_t<std::invoke_result_t<Deserializer&, const kafka::Record&>>;
  return KafkaSource<T, Deserializer>(std::move(deserializer));
}

// ---------------------------------------------------------------------------------------------
// Sink

enum class DeliveryGuarantee { kNone, kAtLeastOnce, kExactlyOnce };

// What a serializer makes of a record. An empty topic: the sink's topic; partition -1: by key.
struct KafkaProducerRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::string topic;
  int32_t partition = -1;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp = 0;  // 0: the record's event time, else now
};

// Serializers: callables (const T&) -> KafkaProducerRecord.
inline auto kafka_string_value_serializer() {
  return [](const std::string& s) { return KafkaProducerRecord{std::nullopt, s}; };
}
// T as JSON text (#include "sluice/formats/json.h").
template <class T>
auto kafka_json_values() {
  static_assert(
      requires { &JsonFormat<T>::append; },
      "kafka_json_values needs the JSON format: #include \"sluice/formats/json.h\"");
  return [](const T& value) {
    std::string json;
    JsonFormat<T>::append(value, json);
    return KafkaProducerRecord{std::nullopt, std::move(json)};
  };
}
// Key and value from two functions of the record, each returning a string.
template <class KeyFn, class ValueFn>
auto kafka_key_value(KeyFn key, ValueFn value) {
  return [key, value](const auto& record) {
    return KafkaProducerRecord{std::string(key(record)), std::string(value(record))};
  };
}

namespace detail {

struct KafkaSinkOptions {
  kafka::Properties properties;
  std::string topic;
  DeliveryGuarantee guarantee = DeliveryGuarantee::kAtLeastOnce;
  std::string transactional_id_prefix;
  std::chrono::milliseconds delivery_timeout{120'000};
  // Transactional ids of subtasks up to this index are fenced on start (a crashed attempt at a
  // higher parallelism may have left transactions open); the restored state adds every id used.
  int abort_subtasks_below = 8;
};

class KafkaSinkWriterCore;
struct KafkaCommittable;

// The type of a serializer's argument (for kafka_sink(serializer)).
template <class F>
struct FirstArgument : FirstArgument<decltype(&F::operator())> {};
template <class C, class R, class A>
struct FirstArgument<R (C::*)(A) const> {
  using type = A;
};
template <class C, class R, class A>
struct FirstArgument<R (C::*)(A)> {
  using type = A;
};

// The sink's shared part: commits (and recovers) transactions for every subtask of one sink.
class KafkaSinkCore {
 public:
  explicit KafkaSinkCore(KafkaSinkOptions options) : options_(std::move(options)) {}
  const KafkaSinkOptions& options() const { return options_; }
  void commit(const std::vector<std::string>& committables);

  // A writer's transaction waiting for its checkpoint to complete.
  void register_pending(const std::string& transactional_id, int64_t checkpoint,
                        kafka::KafkaProducer* producer, std::function<void()> on_committed);
  void unregister(const std::string& transactional_id);

 private:
  struct Pending {
    int64_t checkpoint;
    kafka::KafkaProducer* producer;
    std::function<void()> on_committed;
  };
  void recover(const KafkaCommittable& committable);

  KafkaSinkOptions options_;
  std::mutex mutex_;
  std::map<std::string, Pending> pending_;
  std::set<std::string> done_;      // transactional id @ checkpoint
  std::set<std::string> resolved_;  // ids fenced by this process since it restored
};

// The untyped writer of one subtask: producers, transactions and their records.
class KafkaSinkWriterCore {
 public:
  KafkaSinkWriterCore(std::shared_ptr<KafkaSinkCore> core, const RuntimeContext& context);
  ~KafkaSinkWriterCore();
  // Takes a resolved topic; partition -1 is resolved by the producer.
  void write(kafka::OutgoingRecord record);
  void flush(bool end_of_input);
  std::vector<std::string> prepare_commit(int64_t checkpoint_id);
  void close();
  // Partitions of `topic` (for user partitioners).
  int32_t partition_count(const std::string& topic);

 private:
  struct Slot;
  Slot& open_slot();
  void begin(Slot& slot);

  std::shared_ptr<KafkaSinkCore> core_;
  const KafkaSinkOptions& options_;
  int subtask_;
  int parallelism_;
  bool checkpointing_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Slot* current_ = nullptr;
  std::vector<kafka::OutgoingRecord> wal_;  // the current transaction's records
  ListState<std::string>* used_ids_ = nullptr;
  std::unique_ptr<kafka::KafkaAdmin> admin_;
  std::map<std::string, int32_t> partition_counts_;
};

template <class T, class Serializer, class Partitioner>
class KafkaSinkWriter final : public SinkWriter<T> {
 public:
  KafkaSinkWriter(std::shared_ptr<KafkaSinkCore> core, const RuntimeContext& context,
                  Serializer serializer, Partitioner partitioner)
      : core_(core, context),
        serializer_(std::move(serializer)),
        partitioner_(std::move(partitioner)),
        topic_(core->options().topic) {}

  void write(const RecordBuffer<T>& batch) override {
    for (size_t i = 0; i < batch.values.size(); ++i) {
      KafkaProducerRecord r = serializer_(batch.values[i]);
      kafka::OutgoingRecord out;
      out.topic = r.topic.empty() ? topic_ : std::move(r.topic);
      out.partition = r.partition;
      if constexpr (!std::is_same_v<Partitioner, std::nullptr_t>) {
        if (out.partition < 0) {
          out.partition = partitioner_(batch.values[i], core_.partition_count(out.topic));
        }
      }
      out.key = std::move(r.key);
      out.value = std::move(r.value);
      out.headers = std::move(r.headers);
      out.timestamp = r.timestamp != 0
                          ? r.timestamp
                          : (batch.timestamp(i) == kNoTimestamp ? 0 : batch.timestamp(i));
      core_.write(std::move(out));
    }
  }
  void flush(bool end_of_input) override { core_.flush(end_of_input); }
  std::vector<std::string> prepare_commit(int64_t checkpoint_id) override {
    return core_.prepare_commit(checkpoint_id);
  }
  void close() override { core_.close(); }

 private:
  KafkaSinkWriterCore core_;
  Serializer serializer_;
  Partitioner partitioner_;
  std::string topic_;
};

}  // namespace detail

template <class T, class Serializer, class Partitioner = std::nullptr_t>
class KafkaSink final : public Sink<T> {
 public:
  explicit KafkaSink(Serializer serializer, Partitioner partitioner = {})
      : serializer_(std::move(serializer)), partitioner_(std::move(partitioner)) {}

  KafkaSink& bootstrap_servers(const std::string& servers) {
    return property("bootstrap.servers", servers);
  }
  KafkaSink& topic(std::string topic) {
    options_.topic = std::move(topic);
    return *this;
  }
  KafkaSink& delivery_guarantee(DeliveryGuarantee guarantee) {
    options_.guarantee = guarantee;
    return *this;
  }
  // Exactly-once, with transactional ids "<prefix>-<subtask>-<n>": the prefix must be unique to
  // this sink among everything writing to the cluster.
  KafkaSink& exactly_once(std::string transactional_id_prefix) {
    options_.guarantee = DeliveryGuarantee::kExactlyOnce;
    options_.transactional_id_prefix = std::move(transactional_id_prefix);
    return *this;
  }
  // How long a record may wait for the broker (e.g. while it is unavailable) before the job fails.
  KafkaSink& delivery_timeout(std::chrono::milliseconds timeout) {
    options_.delivery_timeout = timeout;
    return property("message.timeout.ms", std::to_string(timeout.count()));
  }
  KafkaSink& property(const std::string& key, const std::string& value) {
    options_.properties[key] = value;
    return *this;
  }
  void describe(OperatorDescription& d) const override {
    d.add("topic", options_.topic);
    d.add("delivery", options_.guarantee == DeliveryGuarantee::kExactlyOnce   ? "exactly once"
                      : options_.guarantee == DeliveryGuarantee::kAtLeastOnce ? "at least once"
                                                                              : "none");
  }
  // partition = fn(record, number of partitions of its topic).
  template <class F>
  KafkaSink<T, Serializer, F> partitioner(F fn) const {
    KafkaSink<T, Serializer, F> sink(serializer_, std::move(fn));
    sink.options_ = options_;
    return sink;
  }

  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) override {
    std::call_once(core_once_,
                   [&] { core_ = std::make_shared<detail::KafkaSinkCore>(validated()); });
    return std::make_unique<detail::KafkaSinkWriter<T, Serializer, Partitioner>>(
        core_, context, serializer_, partitioner_);
  }
  void commit(const std::vector<std::string>& committables) override {
    std::call_once(core_once_,
                   [&] { core_ = std::make_shared<detail::KafkaSinkCore>(validated()); });
    core_->commit(committables);
  }

  // Copies share nothing: a sink is copied into the job before it runs.
  KafkaSink(const KafkaSink& other)
      : serializer_(other.serializer_),
        partitioner_(other.partitioner_),
        options_(other.options_) {}

 private:
  template <class, class, class>
  friend class KafkaSink;

  detail::KafkaSinkOptions validated() const {
    if (!options_.properties.contains("bootstrap.servers")) {
      throw Error(ErrorCategory::kInvalidArgument, "the Kafka sink needs bootstrap_servers");
    }
    if (options_.topic.empty()) {
      throw Error(ErrorCategory::kInvalidArgument, "the Kafka sink needs a topic");
    }
    if (options_.guarantee == DeliveryGuarantee::kExactlyOnce &&
        options_.transactional_id_prefix.empty()) {
      throw Error(ErrorCategory::kInvalidArgument,
                  "an exactly-once Kafka sink needs a transactional id prefix");
    }
    return options_;
  }

  Serializer serializer_;
  Partitioner partitioner_;
  detail::KafkaSinkOptions options_;
  std::once_flag core_once_;
  std::shared_ptr<detail::KafkaSinkCore> core_;
};

template <class Serializer>
auto kafka_sink(Serializer serializer) {
  using T = std::decay_t<typename detail::FirstArgument<Serializer>::type>;
  return KafkaSink<T, Serializer>(std::move(serializer));
}
// When the record type cannot be deduced from the serializer (a generic lambda).
template <class T, class Serializer>
auto kafka_sink_of(Serializer serializer) {
  return KafkaSink<T, Serializer>(std::move(serializer));
}

}  // namespace sluice
