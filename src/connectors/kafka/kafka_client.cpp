#include "sluice/connectors/kafka_client.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <regex>
#include <thread>

#include "sluice/core/error.h"

namespace sluice::kafka {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCategory::kIo, "Kafka: " + what);
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

ConfPtr make_conf(const Properties& properties, const Properties& defaults) {
  ConfPtr conf(rd_kafka_conf_new());
  char error[512];
  auto set = [&](const std::string& key, const std::string& value) {
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), error, sizeof(error)) !=
        RD_KAFKA_CONF_OK) {
      throw Error(ErrorCategory::kInvalidArgument,
                  fmt::format("Kafka property '{}' = '{}': {}", key, value, error));
    }
  };
  for (const auto& [key, value] : defaults) {
    if (!properties.contains(key)) set(key, value);
  }
  for (const auto& [key, value] : properties) set(key, value);
  return conf;
}

rd_kafka_t* make_client(rd_kafka_type_t type, ConfPtr conf) {
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), error, sizeof(error));
  if (rk == nullptr) fail(std::string("cannot create a client: ") + error);
  conf.release();  // owned by the client now
  return rk;
}

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const {
    rd_kafka_topic_partition_list_destroy(list);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

PartitionList make_list(const std::vector<std::pair<TopicPartition, int64_t>>& entries) {
  PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(entries.size())));
  for (const auto& [tp, offset] : entries) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  }
  return list;
}

void check_error(rd_kafka_error_t* error, const std::string& what) {
  if (error == nullptr) return;
  std::string message = rd_kafka_error_string(error);
  rd_kafka_error_destroy(error);
  fail(what + ": " + message);
}

// The consumer defaults: assigned partitions only, offsets from Sluice's checkpoints, committed
// transactions only (as Kafka's default for a reader of transactional output).
const Properties kConsumerDefaults = {{"group.id", "sluice"},
                                      {"enable.auto.commit", "false"},
                                      {"enable.auto.offset.store", "false"},
                                      {"isolation.level", "read_committed"},
                                      {"auto.offset.reset", "earliest"},
                                      {"fetch.wait.max.ms", "100"}};

}  // namespace

// ---- FetchedBatch ----

struct FetchedBatch::Impl {
  std::vector<rd_kafka_message_t*> messages;
  ~Impl() {
    for (auto* m : messages) rd_kafka_message_destroy(m);
  }
};

FetchedBatch::FetchedBatch() : impl_(std::make_unique<Impl>()) {}
FetchedBatch::FetchedBatch(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FetchedBatch::FetchedBatch(FetchedBatch&&) noexcept = default;
FetchedBatch& FetchedBatch::operator=(FetchedBatch&&) noexcept = default;
FetchedBatch::~FetchedBatch() = default;
size_t FetchedBatch::size() const { return impl_->messages.size(); }

void FetchedBatch::record(size_t i, Record& out) const {
  const rd_kafka_message_t* m = impl_->messages[i];
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  rd_kafka_timestamp_type_t type;
  out.timestamp = rd_kafka_message_timestamp(m, &type);
  out.key = m->key == nullptr ? std::nullopt
                              : std::optional<std::string_view>(
                                    std::string_view(static_cast<const char*>(m->key), m->key_len));
  out.value = m->payload == nullptr ? std::nullopt
                                    : std::optional<std::string_view>(std::string_view(
                                          static_cast<const char*>(m->payload), m->len));
  out.headers.clear();
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    const char* name;
    const void* value;
    size_t size;
    for (size_t h = 0;
         rd_kafka_header_get_all(headers, h, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++h) {
      out.headers.push_back({name, value == nullptr
                                       ? std::nullopt
                                       : std::optional<std::string_view>(std::string_view(
                                             static_cast<const char*>(value), size))});
    }
  }
}

// ---- KafkaFetcher ----

struct KafkaFetcher::Impl {
  rd_kafka_t* consumer = nullptr;
  std::function<void()> wake;
  size_t max_queued;
  std::mutex mutex;
  std::condition_variable space;
  std::deque<rd_kafka_message_t*> queue;
  std::exception_ptr failure;
  std::atomic<bool> running{true};
  std::thread thread;

  void poll_loop() {
    while (running) {
      {
        std::unique_lock lock(mutex);
        if (queue.size() >= max_queued) {
          space.wait_for(lock, std::chrono::milliseconds(100));
          continue;
        }
      }
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
      if (m == nullptr) continue;
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        const rd_kafka_resp_err_t err = m->err;
        rd_kafka_message_destroy(m);
        if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
        char reason[512];
        if (rd_kafka_fatal_error(consumer, reason, sizeof(reason)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
          std::lock_guard lock(mutex);
          failure = std::make_exception_ptr(
              Error(ErrorCategory::kIo, std::string("Kafka consumer failed: ") + reason));
          wake();
          return;
        }
        continue;  // transient (a broker away): librdkafka retries
      }
      bool was_empty;
      {
        std::lock_guard lock(mutex);
        was_empty = queue.empty();
        queue.push_back(m);
      }
      if (was_empty) wake();
    }
  }
};

KafkaFetcher::KafkaFetcher(const Properties& properties, std::function<void()> wake,
                           size_t max_queued_records)
    : impl_(std::make_unique<Impl>()) {
  impl_->wake = std::move(wake);
  impl_->max_queued = max_queued_records;
  impl_->consumer = make_client(RD_KAFKA_CONSUMER, make_conf(properties, kConsumerDefaults));
  rd_kafka_poll_set_consumer(impl_->consumer);
  impl_->thread = std::thread([impl = impl_.get()] { impl->poll_loop(); });
}

KafkaFetcher::~KafkaFetcher() {
  impl_->running = false;
  impl_->space.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto* m : impl_->queue) rd_kafka_message_destroy(m);
  rd_kafka_consumer_close(impl_->consumer);
  rd_kafka_destroy(impl_->consumer);
}

void KafkaFetcher::assign(const TopicPartition& partition, int64_t offset) {
  check_error(rd_kafka_incremental_assign(impl_->consumer, make_list({{partition, offset}}).get()),
              "cannot assign " + partition.to_string());
}

void KafkaFetcher::unassign(const TopicPartition& partition) {
  check_error(rd_kafka_incremental_unassign(impl_->consumer, make_list({{partition, 0}}).get()),
              "cannot unassign " + partition.to_string());
  // Records of the partition still queued are dropped by the reader (it no longer owns it).
}

FetchedBatch KafkaFetcher::take(size_t max) {
  auto batch = std::make_unique<FetchedBatch::Impl>();
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->failure) std::rethrow_exception(impl_->failure);
    while (!impl_->queue.empty() && batch->messages.size() < max) {
      batch->messages.push_back(impl_->queue.front());
      impl_->queue.pop_front();
    }
  }
  impl_->space.notify_all();
  return FetchedBatch(std::move(batch));
}

void KafkaFetcher::commit_async(const std::vector<std::pair<TopicPartition, int64_t>>& offsets) {
  if (offsets.empty()) return;
  rd_kafka_commit(impl_->consumer, make_list(offsets).get(), 1);  // monitoring only: errors ignored
}

// ---- KafkaAdmin ----

struct KafkaAdmin::Impl {
  Properties properties;
  rd_kafka_t* client = nullptr;
};

KafkaAdmin::KafkaAdmin(const Properties& properties) : impl_(std::make_unique<Impl>()) {
  impl_->properties = properties;
  impl_->client = make_client(RD_KAFKA_CONSUMER, make_conf(properties, kConsumerDefaults));
}

KafkaAdmin::~KafkaAdmin() { rd_kafka_destroy(impl_->client); }

std::vector<TopicPartition> KafkaAdmin::partitions(const std::vector<std::string>& topics,
                                                   const std::string& pattern,
                                                   std::chrono::milliseconds timeout) {
  std::vector<TopicPartition> result;
  auto collect = [&](const rd_kafka_metadata_t* md, const std::function<bool(const char*)>& want) {
    for (int t = 0; t < md->topic_cnt; ++t) {
      const auto& topic = md->topics[t];
      if (topic.err != RD_KAFKA_RESP_ERR_NO_ERROR || !want(topic.topic)) continue;
      for (int p = 0; p < topic.partition_cnt; ++p) {
        result.push_back({topic.topic, topic.partitions[p].id});
      }
    }
  };
  if (!pattern.empty()) {
    const rd_kafka_metadata_t* md = nullptr;
    const auto err =
        rd_kafka_metadata(impl_->client, 1, nullptr, &md, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) fail(std::string("metadata: ") + rd_kafka_err2str(err));
    const std::regex re(pattern);
    collect(md, [&](const char* name) { return std::regex_match(name, re); });
    rd_kafka_metadata_destroy(md);
  }
  for (const auto& name : topics) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(impl_->client, name.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    const auto err =
        rd_kafka_metadata(impl_->client, 0, rkt, &md, static_cast<int>(timeout.count()));
    rd_kafka_topic_destroy(rkt);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fail(fmt::format("metadata of topic '{}': {}", name, rd_kafka_err2str(err)));
    }
    collect(md, [&](const char* topic) { return name == topic; });
    rd_kafka_metadata_destroy(md);
  }
  std::sort(result.begin(), result.end());
  result.erase(std::unique(result.begin(), result.end()), result.end());
  return result;
}

std::pair<int64_t, int64_t> KafkaAdmin::watermarks(const TopicPartition& partition,
                                                   std::chrono::milliseconds timeout) {
  int64_t low = 0, high = 0;
  const auto err =
      rd_kafka_query_watermark_offsets(impl_->client, partition.topic.c_str(), partition.partition,
                                       &low, &high, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(fmt::format("offsets of {}: {}", partition.to_string(), rd_kafka_err2str(err)));
  }
  return {low, high};
}

int64_t KafkaAdmin::offset_for_time(const TopicPartition& partition, int64_t timestamp,
                                    std::chrono::milliseconds timeout) {
  PartitionList list = make_list({{partition, timestamp}});
  const auto err =
      rd_kafka_offsets_for_times(impl_->client, list.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(fmt::format(
        "offset of {} at time {}: {}", partition.to_string(), timestamp,
        rd_kafka_err2str(err != RD_KAFKA_RESP_ERR_NO_ERROR ? err : list->elems[0].err)));
  }
  return list->elems[0].offset;
}

std::map<TopicPartition, int64_t> KafkaAdmin::committed(
    const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) {
  std::vector<std::pair<TopicPartition, int64_t>> entries;
  for (const auto& tp : partitions) entries.emplace_back(tp, RD_KAFKA_OFFSET_INVALID);
  PartitionList list = make_list(entries);
  const auto err = rd_kafka_committed(impl_->client, list.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(std::string("committed offsets: ") + rd_kafka_err2str(err));
  }
  std::map<TopicPartition, int64_t> result;
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    result[{e.topic, e.partition}] = e.offset < 0 ? -1 : e.offset;
  }
  return result;
}

bool KafkaAdmin::committed_record_at(const TopicPartition& partition, int64_t offset,
                                     std::chrono::milliseconds timeout) {
  Properties properties = impl_->properties;
  properties["isolation.level"] = "read_committed";
  properties["enable.partition.eof"] = "true";
  rd_kafka_t* consumer = make_client(RD_KAFKA_CONSUMER, make_conf(properties, kConsumerDefaults));
  rd_kafka_poll_set_consumer(consumer);
  struct Closer {
    rd_kafka_t* c;
    ~Closer() {
      rd_kafka_consumer_close(c);
      rd_kafka_destroy(c);
    }
  } closer{consumer};
  check_error(rd_kafka_incremental_assign(consumer, make_list({{partition, offset}}).get()),
              "cannot read " + partition.to_string());
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
    if (m == nullptr) continue;
    const auto err = m->err;
    const int64_t at = m->offset;
    rd_kafka_message_destroy(m);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return at == offset;
    // The end of what a read_committed consumer may read: past the record, it was skipped.
    if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF && at > offset) return false;
  }
  fail(fmt::format("could not tell within {} ms whether the transaction holding {}@{} committed",
                   timeout.count(), partition.to_string(), offset));
}

// ---- KafkaProducer ----

struct KafkaProducer::Impl {
  rd_kafka_t* producer = nullptr;
  std::optional<std::string> transactional_id;
  std::vector<std::pair<int32_t, int64_t>> delivered;  // by produce index
  std::string first_error;

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    const auto index = reinterpret_cast<uintptr_t>(m->_private);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (self->first_error.empty()) {
        self->first_error = fmt::format("record to topic '{}' not delivered: {}",
                                        rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
      }
      return;
    }
    if (index < self->delivered.size()) self->delivered[index] = {m->partition, m->offset};
  }
};

KafkaProducer::KafkaProducer(const Properties& properties,
                             std::optional<std::string> transactional_id)
    : impl_(std::make_unique<Impl>()) {
  impl_->transactional_id = std::move(transactional_id);
  Properties defaults = {{"enable.idempotence", "true"},
                         {"acks", "all"},
                         {"partitioner", "murmur2_random"},
                         {"linger.ms", "5"}};
  Properties effective = properties;
  if (impl_->transactional_id) effective["transactional.id"] = *impl_->transactional_id;
  ConfPtr conf = make_conf(effective, defaults);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::on_delivery);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  impl_->producer = make_client(RD_KAFKA_PRODUCER, std::move(conf));
}

KafkaProducer::~KafkaProducer() {
  rd_kafka_flush(impl_->producer, 1000);
  rd_kafka_destroy(impl_->producer);
}

const std::optional<std::string>& KafkaProducer::transactional_id() const {
  return impl_->transactional_id;
}

void KafkaProducer::init_transactions(std::chrono::milliseconds timeout) {
  check_error(rd_kafka_init_transactions(impl_->producer, static_cast<int>(timeout.count())),
              "init_transactions(" + impl_->transactional_id.value_or("") + ")");
}

void KafkaProducer::begin_transaction() {
  check_error(rd_kafka_begin_transaction(impl_->producer),
              "begin_transaction(" + impl_->transactional_id.value_or("") + ")");
}

void KafkaProducer::commit_transaction(std::chrono::milliseconds timeout) {
  check_error(rd_kafka_commit_transaction(impl_->producer, static_cast<int>(timeout.count())),
              "commit_transaction(" + impl_->transactional_id.value_or("") + ")");
  if (!impl_->first_error.empty()) fail(impl_->first_error);
}

void KafkaProducer::abort_transaction(std::chrono::milliseconds timeout) {
  check_error(rd_kafka_abort_transaction(impl_->producer, static_cast<int>(timeout.count())),
              "abort_transaction(" + impl_->transactional_id.value_or("") + ")");
  impl_->first_error.clear();
}

void KafkaProducer::send_offsets_to_transaction(
    const std::string& group, const std::vector<std::pair<TopicPartition, int64_t>>& offsets,
    std::chrono::milliseconds timeout) {
  rd_kafka_consumer_group_metadata_t* metadata =
      rd_kafka_consumer_group_metadata_new(group.c_str());
  rd_kafka_error_t* error = rd_kafka_send_offsets_to_transaction(
      impl_->producer, make_list(offsets).get(), metadata, static_cast<int>(timeout.count()));
  rd_kafka_consumer_group_metadata_destroy(metadata);
  check_error(error, "send_offsets_to_transaction(" + impl_->transactional_id.value_or("") +
                         ", group " + group + ")");
}

size_t KafkaProducer::produce(const OutgoingRecord& r, std::chrono::milliseconds timeout) {
  const size_t index = impl_->delivered.size();
  impl_->delivered.emplace_back(-1, -1);
  const auto deadline = Clock::now() + timeout;
  while (true) {
    rd_kafka_headers_t* headers = nullptr;
    if (!r.headers.empty()) {
      headers = rd_kafka_headers_new(r.headers.size());
      for (const auto& [name, value] : r.headers) {
        rd_kafka_header_add(headers, name.data(), static_cast<ssize_t>(name.size()),
                            value ? value->data() : nullptr,
                            value ? static_cast<ssize_t>(value->size()) : 0);
      }
    }
    // The macros cast their arguments: plain variables, not expressions.
    const void* key = r.key ? r.key->data() : nullptr;
    const size_t key_size = r.key ? r.key->size() : 0;
    void* value = r.value ? const_cast<char*>(r.value->data()) : nullptr;
    const size_t value_size = r.value ? r.value->size() : 0;
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->producer, RD_KAFKA_V_TOPIC(r.topic.c_str()), RD_KAFKA_V_PARTITION(r.partition),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_size),
        RD_KAFKA_V_VALUE(value, value_size), RD_KAFKA_V_TIMESTAMP(r.timestamp),
        RD_KAFKA_V_HEADERS(headers),
        RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(index))), RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
    if (headers != nullptr) rd_kafka_headers_destroy(headers);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      fail(fmt::format("cannot produce to topic '{}': {}", r.topic, rd_kafka_err2str(err)));
    }
    // Backpressure: the broker is slow or away; deliveries free the queue.
    if (Clock::now() >= deadline) {
      fail(fmt::format("producer queue still full after {} ms (topic '{}')", timeout.count(),
                       r.topic));
    }
    rd_kafka_poll(impl_->producer, 10);
  }
  rd_kafka_poll(impl_->producer, 0);  // serve delivery reports as they come
  return index;
}

void KafkaProducer::flush(std::chrono::milliseconds timeout) {
  const auto err = rd_kafka_flush(impl_->producer, static_cast<int>(timeout.count()));
  if (!impl_->first_error.empty()) fail(impl_->first_error);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    fail(fmt::format("{} records not acknowledged within {} ms", rd_kafka_outq_len(impl_->producer),
                     timeout.count()));
  }
}

const std::vector<std::pair<int32_t, int64_t>>& KafkaProducer::delivered() const {
  return impl_->delivered;
}

void KafkaProducer::clear_delivered() { impl_->delivered.clear(); }

}  // namespace sluice::kafka
