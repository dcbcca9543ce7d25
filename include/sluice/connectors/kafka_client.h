// The untyped Kafka client layer under the Kafka connector (sluice/connectors/kafka.h), on
// librdkafka, whose headers stay out of this one: a fetcher (a consumer on its own thread), an
// admin (metadata and offset lookups, blocking), and a producer (idempotent or transactional).
//
// Threading:
// - KafkaFetcher: assign/unassign/take/commit_async from the owning reader's task thread; its
//   thread polls librdkafka and calls the wake function (thread-safe) when records arrive.
// - KafkaAdmin: blocking calls, from one thread at a time (the source coordinator's).
// - KafkaProducer: one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kafka {

// librdkafka configuration properties ("bootstrap.servers", "isolation.level", ...).
using Properties = std::map<std::string, std::string>;

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  std::string to_string() const { return topic + "-" + std::to_string(partition); }
};

struct Header {
  std::string_view key;
  std::optional<std::string_view> value;
};

// One fetched record, viewed in place: valid while its FetchedBatch lives.
struct Record {
  std::string_view topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = -1;  // milliseconds since the epoch (the record's create or append time)
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;  // null: a tombstone
  std::vector<Header> headers;
};

// Records taken from a fetcher, owning librdkafka's messages until destroyed.
class FetchedBatch {
 public:
  FetchedBatch();
  FetchedBatch(FetchedBatch&&) noexcept;
  FetchedBatch& operator=(FetchedBatch&&) noexcept;
  ~FetchedBatch();
  size_t size() const;
  bool empty() const { return size() == 0; }
  // Decodes record i (headers included) into `out`.
  void record(size_t i, Record& out) const;

  struct Impl;
  explicit FetchedBatch(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

// A consumer of assigned partitions (no group membership: the enumerator assigns, as Flink's
// KafkaSource), polling on its own thread into a bounded queue. A full queue stops the polling,
// so librdkafka's own prefetch bounds memory: backpressure reaches the broker.
class KafkaFetcher {
 public:
  KafkaFetcher(const Properties& properties, std::function<void()> wake,
               size_t max_queued_records = 20'000);
  ~KafkaFetcher();
  KafkaFetcher(const KafkaFetcher&) = delete;
  KafkaFetcher& operator=(const KafkaFetcher&) = delete;

  void assign(const TopicPartition& partition, int64_t offset);
  void unassign(const TopicPartition& partition);
  // Up to `max` records fetched so far; never blocks. Rethrows a fatal consumer error.
  FetchedBatch take(size_t max);
  // Commits offsets to the consumer group (for monitoring: Sluice restores from its checkpoints).
  void commit_async(const std::vector<std::pair<TopicPartition, int64_t>>& offsets);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class KafkaAdmin {
 public:
  explicit KafkaAdmin(const Properties& properties);
  ~KafkaAdmin();
  KafkaAdmin(const KafkaAdmin&) = delete;
  KafkaAdmin& operator=(const KafkaAdmin&) = delete;

  // The partitions of the topics named (or, with `pattern`, of every topic matching it).
  std::vector<TopicPartition> partitions(const std::vector<std::string>& topics,
                                         const std::string& pattern,
                                         std::chrono::milliseconds timeout);
  // Low and high watermarks (earliest offset, next offset; with read_committed isolation the
  // high one is the last stable offset).
  std::pair<int64_t, int64_t> watermarks(const TopicPartition& partition,
                                         std::chrono::milliseconds timeout);
  // The first offset whose timestamp is at or after `timestamp` (-1: none, the end).
  int64_t offset_for_time(const TopicPartition& partition, int64_t timestamp,
                          std::chrono::milliseconds timeout);
  // The group's committed offsets (-1: none).
  std::map<TopicPartition, int64_t> committed(const std::vector<TopicPartition>& partitions,
                                              std::chrono::milliseconds timeout);
  // Whether a read_committed consumer sees the record at `offset` (a committed transaction's)
  // rather than skipping it (an aborted one). Waits for the last stable offset to pass it.
  bool committed_record_at(const TopicPartition& partition, int64_t offset,
                           std::chrono::milliseconds timeout);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A record to produce. partition -1: the producer's partitioner picks (by key hash, as Kafka's
// Java client: murmur2; keyless records spread).
struct OutgoingRecord {
  std::string topic;
  int32_t partition = -1;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  int64_t timestamp = 0;  // 0: now
};

class KafkaProducer {
 public:
  // With a transactional id: a transactional producer (idempotent in any case).
  KafkaProducer(const Properties& properties, std::optional<std::string> transactional_id);
  ~KafkaProducer();
  KafkaProducer(const KafkaProducer&) = delete;
  KafkaProducer& operator=(const KafkaProducer&) = delete;

  const std::optional<std::string>& transactional_id() const;
  // Transactions: init fences earlier producers with the same id and resolves their open
  // transaction (aborted unless its commit had been sent).
  void init_transactions(std::chrono::milliseconds timeout);
  void begin_transaction();
  void commit_transaction(std::chrono::milliseconds timeout);
  void abort_transaction(std::chrono::milliseconds timeout);
  // Adds `group`'s offsets to the open transaction: they become the group's committed offsets if
  // and when it commits, and are dropped if it aborts (Kafka's sendOffsetsToTransaction).
  void send_offsets_to_transaction(const std::string& group,
                                   const std::vector<std::pair<TopicPartition, int64_t>>& offsets,
                                   std::chrono::milliseconds timeout);

  // Queues a record; waits (serving delivery reports) while librdkafka's queue is full, up to
  // `timeout`. Returns the index of the record among those produced since the last flush.
  size_t produce(const OutgoingRecord& record, std::chrono::milliseconds timeout);
  // Waits until every record is acknowledged; throws an Error naming the topic and the reason if
  // any could not be delivered (the broker stayed away longer than the delivery timeout).
  void flush(std::chrono::milliseconds timeout);
  // After flush: the partition and offset each record got, in produce order.
  const std::vector<std::pair<int32_t, int64_t>>& delivered() const;
  void clear_delivered();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kafka
