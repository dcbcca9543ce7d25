// A Kafka-protocol broker for the Kafka connector's tests: one process, one broker on loopback, in
// memory. Clients (librdkafka in Sluice, and the independent kcat) talk to it over TCP exactly as
// to a Kafka broker.
//
// Why not librdkafka's own mock cluster (rdkafka_mock.h)? In Debian 12's librdkafka 2.0.2 it does
// not model what the exactly-once tests are about: a read_committed consumer sees aborted and
// still-open transactions (it writes no transaction markers), ListOffsets by timestamp returns -1,
// partitions cannot be added to a topic, a partition keeps only its last 5 MiB, and an empty Fetch
// waits its full max wait even when data arrives. This broker implements those parts of the
// protocol as Kafka does, for the versions librdkafka negotiates:
//   ApiVersions 0-3, Metadata 1-4, Produce 3-5 (record batches v2; idempotent and transactional
//   producers: sequence checks and deduplication, epochs and fencing), Fetch 4-6 (long poll woken
//   by new data; read_committed: last stable offset and aborted transactions), ListOffsets 1-3
//   (earliest, latest, by timestamp), FindCoordinator 0-2, InitProducerId 0-1 (a transactional id's
//   open transaction is aborted and its epoch bumped), AddPartitionsToTxn 0-1, AddOffsetsToTxn 0-1
//   and TxnOffsetCommit 0-2 (a transaction's group offsets, committed with it or dropped), EndTxn
//   0-1 (commit and abort markers written as control batches), OffsetCommit 2-3, OffsetFetch 1-3.
// Not modelled: replication (one broker is leader of everything), durability across its own
// restart, consumer group membership (JoinGroup/SyncGroup: consumers assign partitions, as Sluice's
// source and `kcat -C` do), compaction, retention, quotas, ACLs, SASL/TLS.
// Over 800 lines as one program: the protocol's request handlers share the broker's in-memory
// log, transaction and offset tables; it is a test tool built from this one file, not a library.
//
// Usage: kafka_test_broker [--port P] [--auto-create-partitions N (0: off)]
//                          [--transaction-timeout-ms T]
// It prints its bootstrap address ("127.0.0.1:PORT") on stdout, then serves until stdin ends or
// says "quit". Commands on stdin, each answered "ok" (or "error ..."):
//   topic NAME PARTITIONS      create a topic
//   partitions NAME N          grow a topic to N partitions
//   down / up                  close every connection and refuse new ones / accept again
//   delay MS                   delay every response by MS
//   fail API_KEY ERROR COUNT   answer the next COUNT requests of API_KEY with ERROR
//   stats                      print "topics=T records=R aborted=A committed=C"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// ---- Error codes and API keys (Kafka's protocol) ----
enum Error : int16_t {
  kNone = 0,
  kOffsetOutOfRange = 1,
  kCorruptMessage = 2,
  kUnknownTopicOrPartition = 3,
  kNotCoordinator = 16,
  kInvalidTopic = 17,
  kUnsupportedVersion = 35,
  kOutOfOrderSequence = 45,
  kDuplicateSequence = 46,
  kInvalidProducerEpoch = 47,
  kInvalidTxnState = 48,
  kInvalidProducerIdMapping = 49,
  kConcurrentTransactions = 51,
  kUnknownProducerId = 59,
};

enum ApiKey : int16_t {
  kProduce = 0,
  kFetch = 1,
  kListOffsets = 2,
  kMetadata = 3,
  kOffsetCommit = 8,
  kOffsetFetch = 9,
  kFindCoordinator = 10,
  kApiVersions = 18,
  kInitProducerId = 22,
  kAddPartitionsToTxn = 24,
  kAddOffsetsToTxn = 25,
  kEndTxn = 26,
  kTxnOffsetCommit = 28,
};

struct VersionRange {
  int16_t key, min, max;
};
constexpr std::array<VersionRange, 13> kApis = {{{kProduce, 3, 5},
                                                 {kFetch, 4, 6},
                                                 {kListOffsets, 1, 3},
                                                 {kMetadata, 1, 4},
                                                 {kOffsetCommit, 2, 3},
                                                 {kOffsetFetch, 1, 3},
                                                 {kFindCoordinator, 0, 2},
                                                 {kApiVersions, 0, 3},
                                                 {kInitProducerId, 0, 1},
                                                 {kAddPartitionsToTxn, 0, 1},
                                                 {kAddOffsetsToTxn, 0, 1},
                                                 {kEndTxn, 0, 1},
                                                 {kTxnOffsetCommit, 0, 2}}};

constexpr int32_t kNodeId = 1;

// ---- CRC-32C (Castagnoli), the record batch checksum ----
uint32_t crc32c(const uint8_t* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// ---- Encoding: big-endian numbers, strings and arrays ----
struct ProtocolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  template <class T>
  T fixed() {
    need(sizeof(T));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v = static_cast<T>((static_cast<uint64_t>(v) << 8) | p_[i]);
    p_ += sizeof(T);
    return v;
  }
  int8_t i8() { return static_cast<int8_t>(fixed<uint8_t>()); }
  int16_t i16() { return static_cast<int16_t>(fixed<uint16_t>()); }
  int32_t i32() { return static_cast<int32_t>(fixed<uint32_t>()); }
  int64_t i64() { return static_cast<int64_t>(fixed<uint64_t>()); }
  std::optional<std::string> nullable_string() {
    const int16_t n = i16();
    if (n < 0) return std::nullopt;
    need(static_cast<size_t>(n));
    std::string s(reinterpret_cast<const char*>(p_), static_cast<size_t>(n));
    p_ += n;
    return s;
  }
  std::string string() { return nullable_string().value_or(""); }
  // Nullable bytes: a null blob is empty.
  std::pair<const uint8_t*, size_t> bytes() {
    const int32_t n = i32();
    if (n < 0) return {nullptr, 0};
    need(static_cast<size_t>(n));
    const uint8_t* start = p_;
    p_ += n;
    return {start, static_cast<size_t>(n)};
  }
  int32_t array_length() { return i32(); }  // -1: null
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

 private:
  void need(size_t n) const {
    if (static_cast<size_t>(end_ - p_) < n) throw ProtocolError("request truncated");
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

class Writer {
 public:
  template <class T>
  void fixed(T v) {
    for (int i = static_cast<int>(sizeof(T)) - 1; i >= 0; --i) {
      out_.push_back(static_cast<uint8_t>((static_cast<uint64_t>(v) >> (8 * i)) & 0xFF));
    }
  }
  void i8(int8_t v) { fixed(static_cast<uint8_t>(v)); }
  void i16(int16_t v) { fixed(static_cast<uint16_t>(v)); }
  void i32(int32_t v) { fixed(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { fixed(static_cast<uint64_t>(v)); }
  void string(const std::string& s) {
    i16(static_cast<int16_t>(s.size()));
    raw(s.data(), s.size());
  }
  void nullable_string(const std::optional<std::string>& s) {
    if (!s) return i16(-1);
    string(*s);
  }
  void bytes(const std::vector<uint8_t>& b) {
    i32(static_cast<int32_t>(b.size()));
    raw(b.data(), b.size());
  }
  void uvarint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<uint8_t>(v));
  }
  void varint(int64_t v) {
    uvarint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void raw(const void* data, size_t n) {
    const auto* b = static_cast<const uint8_t*>(data);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<uint8_t>& buffer() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

uint64_t read_uvarint(const uint8_t*& p, const uint8_t* end) {
  uint64_t v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    const uint8_t b = *p++;
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return v;
  }
  throw ProtocolError("bad varint");
}
int64_t read_varint(const uint8_t*& p, const uint8_t* end) {
  const uint64_t u = read_uvarint(p, end);
  return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
}

uint64_t load_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}
void store_be(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xFF);
    v >>= 8;
  }
}

// Record batch v2 header offsets.
constexpr size_t kBatchHeader = 61;
constexpr size_t kAttributesAt = 21;
constexpr size_t kCrcAt = 17;
constexpr int16_t kTransactionalBit = 0x10;
constexpr int16_t kControlBit = 0x20;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- The log ----
struct Batch {
  int64_t base_offset = 0;
  int64_t last_offset = 0;
  int64_t max_timestamp = -1;
  std::vector<uint8_t> bytes;
};

struct ProducedBatch {  // for idempotence: what a producer's recent batches got
  int32_t first_sequence, last_sequence;
  int64_t base_offset;
};

struct AbortedTransaction {
  int64_t producer_id, first_offset, last_offset;
};

struct Partition {
  std::vector<Batch> batches;
  int64_t high_watermark = 0;
  std::map<int64_t, int64_t> open_transactions;  // producer id -> first offset
  std::vector<AbortedTransaction> aborted;
  std::map<int64_t, std::vector<ProducedBatch>> recent;  // producer id -> last batches
  std::map<int64_t, int16_t> producer_epochs;

  int64_t last_stable_offset() const {
    return open_transactions.empty()
               ? high_watermark
               : std::min_element(open_transactions.begin(), open_transactions.end(),
                                  [](auto& a, auto& b) { return a.second < b.second; })
                     ->second;
  }
};

using GroupOffsets = std::map<std::pair<std::string, int32_t>, std::pair<int64_t, std::string>>;

struct Transaction {
  int64_t producer_id = 0;
  int16_t epoch = 0;
  std::set<std::pair<std::string, int32_t>> partitions;
  // Consumer groups added (AddOffsetsToTxn) and their offsets, which become the groups' committed
  // offsets when the transaction commits (TxnOffsetCommit).
  std::map<std::string, GroupOffsets> group_offsets;
  Clock::time_point started{};
  int32_t timeout_ms = 60'000;

  bool open() const { return !partitions.empty() || !group_offsets.empty(); }
};

class Broker {
 public:
  explicit Broker(int auto_create, int64_t max_transaction_ms)
      : auto_create_(auto_create), max_transaction_ms_(max_transaction_ms) {}

  // ---- control ----
  std::string command(const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    in >> verb;
    std::lock_guard lock(mutex_);
    if (verb == "topic") {
      std::string name;
      int n = 0;
      in >> name >> n;
      if (name.empty() || n <= 0) return "error usage: topic NAME PARTITIONS";
      if (topics_.contains(name)) return "error topic exists";
      topics_[name].resize(static_cast<size_t>(n));
      return "ok";
    }
    if (verb == "partitions") {
      std::string name;
      int n = 0;
      in >> name >> n;
      auto it = topics_.find(name);
      if (it == topics_.end()) return "error no such topic";
      if (static_cast<size_t>(n) < it->second.size()) return "error cannot shrink";
      it->second.resize(static_cast<size_t>(n));
      return "ok";
    }
    if (verb == "delay") {
      int ms = 0;
      in >> ms;
      delay_ms_ = ms;
      return "ok";
    }
    if (verb == "fail") {
      int key = 0, error = 0, count = 0;
      in >> key >> error >> count;
      injected_[static_cast<int16_t>(key)] = {static_cast<int16_t>(error), count};
      return "ok";
    }
    if (verb == "stats") {
      size_t records = 0;
      for (auto& [name, partitions] : topics_) {
        for (auto& p : partitions) records += static_cast<size_t>(p.high_watermark);
      }
      std::ostringstream out;
      out << "topics=" << topics_.size() << " offsets=" << records << " aborted=" << aborted_count_
          << " committed=" << committed_count_;
      return out.str();
    }
    return "error unknown command";
  }
  int delay_ms() const { return delay_ms_.load(); }

  // Answers one request; false if no response is due (acks=0).
  bool handle(int16_t key, int16_t version, Reader& in, Writer& out) {
    switch (key) {
      case kApiVersions:
        return api_versions(version, out);
      case kMetadata:
        return metadata(version, in, out);
      case kProduce:
        return produce(version, in, out);
      case kFetch:
        return fetch(version, in, out);
      case kListOffsets:
        return list_offsets(version, in, out);
      case kFindCoordinator:
        return find_coordinator(version, in, out);
      case kInitProducerId:
        return init_producer_id(in, out);
      case kAddPartitionsToTxn:
        return add_partitions(in, out);
      case kAddOffsetsToTxn:
        return add_offsets(in, out);
      case kTxnOffsetCommit:
        return txn_offset_commit(version, in, out);
      case kEndTxn:
        return end_txn(in, out);
      case kOffsetCommit:
        return offset_commit(version, in, out);
      case kOffsetFetch:
        return offset_fetch(version, in, out);
      default:
        throw ProtocolError("unsupported API key " + std::to_string(key));
    }
  }

  static bool supported(int16_t key, int16_t version) {
    for (const auto& api : kApis) {
      if (api.key == key) return version >= api.min && version <= api.max;
    }
    return false;
  }

  void set_address(std::string host, int port) {
    host_ = std::move(host);
    port_ = port;
  }

  // Aborts transactions open for longer than their timeout (Kafka's transaction reaper).
  void reap() {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (auto& [id, txn] : transactions_) {
      const auto limit =
          std::chrono::milliseconds(std::min<int64_t>(txn.timeout_ms, max_transaction_ms_));
      if (txn.open() && now - txn.started > limit) {
        end_transaction(txn, false);
        ++txn.epoch;  // the producer is fenced, as Kafka does on a timeout
      }
    }
  }

 private:
  // The next injected error for `key`, if any.
  int16_t injected(int16_t key) {
    auto it = injected_.find(key);
    if (it == injected_.end() || it->second.second <= 0) return kNone;
    --it->second.second;
    return it->second.first;
  }

  bool api_versions(int16_t version, Writer& out) {
    out.i16(kNone);
    if (version >= 3) {  // flexible: compact array, tagged fields
      out.uvarint(kApis.size() + 1);
      for (const auto& api : kApis) {
        out.i16(api.key);
        out.i16(api.min);
        out.i16(api.max);
        out.uvarint(0);
      }
      out.i32(0);
      out.uvarint(0);
      return true;
    }
    out.i32(static_cast<int32_t>(kApis.size()));
    for (const auto& api : kApis) {
      out.i16(api.key);
      out.i16(api.min);
      out.i16(api.max);
    }
    if (version >= 1) out.i32(0);
    return true;
  }

  std::vector<Partition>* topic(const std::string& name, bool create) {
    auto it = topics_.find(name);
    if (it != topics_.end()) return &it->second;
    if (!create || auto_create_ <= 0 || name.empty()) return nullptr;
    auto& partitions = topics_[name];
    partitions.resize(static_cast<size_t>(auto_create_));
    return &partitions;
  }
  Partition* partition(const std::string& name, int32_t index) {
    auto* t = topic(name, false);
    if (t == nullptr || index < 0 || static_cast<size_t>(index) >= t->size()) return nullptr;
    return &(*t)[static_cast<size_t>(index)];
  }

  bool metadata(int16_t version, Reader& in, Writer& out) {
    std::vector<std::string> wanted;
    const int32_t n = in.array_length();
    for (int32_t i = 0; i < n; ++i) wanted.push_back(in.string());
    const bool allow_create = version >= 4 ? in.i8() != 0 : true;
    std::lock_guard lock(mutex_);
    if (n < 0) {
      for (auto& [name, partitions] : topics_) wanted.push_back(name);
    }
    if (version >= 3) out.i32(0);
    out.i32(1);  // brokers
    out.i32(kNodeId);
    out.string(host_);
    out.i32(port_);
    out.nullable_string(std::nullopt);
    if (version >= 2) out.nullable_string(std::string("sluice-test-cluster"));
    out.i32(kNodeId);  // controller
    out.i32(static_cast<int32_t>(wanted.size()));
    for (const auto& name : wanted) {
      auto* t = topic(name, allow_create);
      out.i16(t == nullptr ? kUnknownTopicOrPartition : kNone);
      out.string(name);
      out.i8(0);  // not internal
      const auto count = t == nullptr ? 0 : static_cast<int32_t>(t->size());
      out.i32(count);
      for (int32_t p = 0; p < count; ++p) {
        out.i16(kNone);
        out.i32(p);
        out.i32(kNodeId);
        out.i32(1);
        out.i32(kNodeId);  // replicas
        out.i32(1);
        out.i32(kNodeId);  // in-sync replicas
      }
    }
    return true;
  }

  // Appends the batches of one partition's records; the error and the first offset.
  std::pair<int16_t, int64_t> append(Partition& p, const std::optional<std::string>& txn_id,
                                     const std::string& topic_name, int32_t index,
                                     const uint8_t* data, size_t size) {
    int64_t first_offset = -1;
    size_t at = 0;
    while (at + kBatchHeader <= size) {
      const uint8_t* b = data + at;
      const auto length = static_cast<int32_t>(load_be(b + 8, 4));
      const size_t total = 12 + static_cast<size_t>(length);
      if (length < 49 || at + total > size || b[16] != 2) return {kCorruptMessage, -1};
      const auto crc = static_cast<uint32_t>(load_be(b + kCrcAt, 4));
      if (crc32c(b + kAttributesAt, total - kAttributesAt) != crc) return {kCorruptMessage, -1};
      const auto attributes = static_cast<int16_t>(load_be(b + kAttributesAt, 2));
      const auto last_delta = static_cast<int32_t>(load_be(b + 23, 4));
      const auto max_timestamp = static_cast<int64_t>(load_be(b + 35, 8));
      const auto producer_id = static_cast<int64_t>(load_be(b + 43, 8));
      const auto epoch = static_cast<int16_t>(load_be(b + 51, 2));
      const auto sequence = static_cast<int32_t>(load_be(b + 53, 4));
      const bool transactional = (attributes & kTransactionalBit) != 0;
      if (transactional) {
        auto txn = txn_id ? transactions_.find(*txn_id) : transactions_.end();
        if (txn == transactions_.end() || txn->second.producer_id != producer_id) {
          return {kInvalidProducerIdMapping, -1};
        }
        if (txn->second.epoch != epoch) return {kInvalidProducerEpoch, -1};
        if (!txn->second.partitions.contains({topic_name, index})) return {kInvalidTxnState, -1};
      }
      if (producer_id >= 0) {
        auto known = p.producer_epochs.find(producer_id);
        if (known != p.producer_epochs.end() && epoch < known->second) {
          return {kInvalidProducerEpoch, -1};
        }
        if (known == p.producer_epochs.end() || epoch > known->second) {
          p.producer_epochs[producer_id] = epoch;
          p.recent[producer_id].clear();  // a new epoch starts its sequences at 0
        }
        auto& recent = p.recent[producer_id];
        for (const auto& r : recent) {
          if (r.first_sequence == sequence) {  // a retry of a batch already written
            if (first_offset < 0) first_offset = r.base_offset;
            at += total;
            goto next_batch;
          }
        }
        if (!recent.empty() && sequence != recent.back().last_sequence + 1) {
          return {kOutOfOrderSequence, -1};
        }
        if (recent.empty() && sequence != 0 && known == p.producer_epochs.end()) {
          return {kUnknownProducerId, -1};
        }
      }
      {
        Batch batch;
        batch.base_offset = p.high_watermark;
        batch.last_offset = p.high_watermark + last_delta;
        batch.max_timestamp = max_timestamp;
        batch.bytes.assign(b, b + total);
        store_be(batch.bytes.data(), static_cast<uint64_t>(batch.base_offset), 8);
        if (first_offset < 0) first_offset = batch.base_offset;
        if (producer_id >= 0) {
          auto& recent = p.recent[producer_id];
          recent.push_back({sequence, sequence + last_delta, batch.base_offset});
          if (recent.size() > 5) recent.erase(recent.begin());
        }
        if (transactional && !p.open_transactions.contains(producer_id)) {
          p.open_transactions[producer_id] = batch.base_offset;
        }
        p.high_watermark = batch.last_offset + 1;
        p.batches.push_back(std::move(batch));
      }
      at += total;
    next_batch:;
    }
    return {kNone, first_offset};
  }

  bool produce(int16_t version, Reader& in, Writer& out) {
    const auto txn_id = in.nullable_string();
    const int16_t acks = in.i16();
    in.i32();  // timeout
    struct Result {
      int32_t index;
      int16_t error;
      int64_t offset;
    };
    std::vector<std::pair<std::string, std::vector<Result>>> results;
    {
      std::lock_guard lock(mutex_);
      const int16_t fail = injected(kProduce);
      for (int32_t t = in.array_length(); t > 0; --t) {
        auto& [name, parts] = results.emplace_back(in.string(), std::vector<Result>{});
        topic(name, true);
        for (int32_t n = in.array_length(); n > 0; --n) {
          const int32_t index = in.i32();
          const auto [data, size] = in.bytes();
          Partition* p = partition(name, index);
          if (fail != kNone) {
            parts.push_back({index, fail, -1});
          } else if (p == nullptr) {
            parts.push_back({index, kUnknownTopicOrPartition, -1});
          } else {
            auto [error, offset] = append(*p, txn_id, name, index, data, size);
            parts.push_back({index, error, offset});
          }
        }
      }
    }
    data_cv_.notify_all();
    if (acks == 0) return false;
    out.i32(static_cast<int32_t>(results.size()));
    for (const auto& [name, parts] : results) {
      out.string(name);
      out.i32(static_cast<int32_t>(parts.size()));
      for (const auto& r : parts) {
        out.i32(r.index);
        out.i16(r.error);
        out.i64(r.offset);
        out.i64(-1);                   // log append time: create time is used
        if (version >= 5) out.i64(0);  // log start offset
      }
    }
    out.i32(0);
    return true;
  }

  bool fetch(int16_t version, Reader& in, Writer& out) {
    in.i32();  // replica id
    const int32_t max_wait = in.i32();
    const int32_t min_bytes = in.i32();
    const int32_t max_bytes = in.i32();
    const bool read_committed = in.i8() == 1;
    struct Wanted {
      int32_t index;
      int64_t offset;
      int32_t max_bytes;
    };
    std::vector<std::pair<std::string, std::vector<Wanted>>> wanted;
    for (int32_t t = in.array_length(); t > 0; --t) {
      auto& [name, parts] = wanted.emplace_back(in.string(), std::vector<Wanted>{});
      for (int32_t n = in.array_length(); n > 0; --n) {
        Wanted w{};
        w.index = in.i32();
        w.offset = in.i64();
        if (version >= 5) in.i64();  // log start offset
        w.max_bytes = in.i32();
        parts.push_back(w);
      }
    }
    std::unique_lock lock(mutex_);
    const int16_t fail = injected(kFetch);
    // How many bytes the request would get now (a long poll waits for min_bytes).
    auto available = [&] {
      size_t bytes = 0;
      for (const auto& [name, parts] : wanted) {
        for (const auto& w : parts) {
          Partition* p = partition(name, w.index);
          if (p == nullptr) continue;
          const int64_t bound = read_committed ? p->last_stable_offset() : p->high_watermark;
          for (const auto& b : p->batches) {
            if (b.last_offset >= w.offset && b.base_offset < bound) bytes += b.bytes.size();
          }
        }
      }
      return bytes;
    };
    const auto deadline = Clock::now() + std::chrono::milliseconds(max_wait);
    while (fail == kNone && static_cast<int32_t>(available()) < std::max(min_bytes, 1) &&
           Clock::now() < deadline && !stopping_) {
      data_cv_.wait_until(lock, deadline);
    }
    out.i32(0);  // throttle
    out.i32(static_cast<int32_t>(wanted.size()));
    int64_t budget = max_bytes;
    for (const auto& [name, parts] : wanted) {
      out.string(name);
      out.i32(static_cast<int32_t>(parts.size()));
      for (const auto& w : parts) {
        Partition* p = partition(name, w.index);
        out.i32(w.index);
        int16_t error = fail;
        if (error == kNone && p == nullptr) error = kUnknownTopicOrPartition;
        if (error == kNone && (w.offset < 0 || w.offset > p->high_watermark)) {
          error = kOffsetOutOfRange;
        }
        out.i16(error);
        out.i64(p == nullptr ? -1 : p->high_watermark);
        out.i64(p == nullptr ? -1 : p->last_stable_offset());
        if (version >= 5) out.i64(0);
        std::vector<uint8_t> records;
        if (error == kNone) {
          const int64_t bound = read_committed ? p->last_stable_offset() : p->high_watermark;
          for (const auto& b : p->batches) {
            if (b.last_offset < w.offset || b.base_offset >= bound) continue;
            const auto size = static_cast<int64_t>(b.bytes.size());
            if (!records.empty() &&
                (static_cast<int64_t>(records.size()) + size > w.max_bytes || size > budget)) {
              break;  // at least one batch, then within the limits
            }
            records.insert(records.end(), b.bytes.begin(), b.bytes.end());
            budget -= size;
          }
          if (read_committed) {
            std::vector<AbortedTransaction> overlapping;
            for (const auto& a : p->aborted) {
              if (a.last_offset >= w.offset && a.first_offset < bound) overlapping.push_back(a);
            }
            out.i32(static_cast<int32_t>(overlapping.size()));
            for (const auto& a : overlapping) {
              out.i64(a.producer_id);
              out.i64(a.first_offset);
            }
          } else {
            out.i32(-1);
          }
        } else {
          out.i32(-1);
        }
        out.bytes(records);
      }
    }
    return true;
  }

  // The offset and timestamp of the first record at or after `timestamp`.
  static std::pair<int64_t, int64_t> offset_for_time(const Partition& p, int64_t timestamp) {
    for (const auto& b : p.batches) {
      if (b.max_timestamp < timestamp) continue;
      const uint8_t* h = b.bytes.data();
      const auto attributes = static_cast<int16_t>(load_be(h + kAttributesAt, 2));
      if ((attributes & kControlBit) != 0) continue;
      const auto base_timestamp = static_cast<int64_t>(load_be(h + 27, 8));
      if ((attributes & 0x07) != 0) return {b.base_offset, b.max_timestamp};  // compressed
      const uint8_t* r = h + kBatchHeader;
      const uint8_t* end = h + b.bytes.size();
      while (r < end) {
        const auto length = read_varint(r, end);
        const uint8_t* next = r + length;
        ++r;  // attributes
        const int64_t ts = base_timestamp + read_varint(r, end);
        const int64_t offset = b.base_offset + read_varint(r, end);
        if (ts >= timestamp) return {offset, ts};
        r = next;
      }
    }
    return {-1, -1};
  }

  bool list_offsets(int16_t version, Reader& in, Writer& out) {
    in.i32();  // replica id
    const bool read_committed = version >= 2 && in.i8() == 1;
    std::lock_guard lock(mutex_);
    if (version >= 2) out.i32(0);
    const int32_t topics = in.array_length();
    out.i32(topics);
    for (int32_t t = 0; t < topics; ++t) {
      const std::string name = in.string();
      out.string(name);
      const int32_t parts = in.array_length();
      out.i32(parts);
      for (int32_t n = 0; n < parts; ++n) {
        const int32_t index = in.i32();
        const int64_t timestamp = in.i64();
        Partition* p = partition(name, index);
        out.i32(index);
        if (p == nullptr) {
          out.i16(kUnknownTopicOrPartition);
          out.i64(-1);
          out.i64(-1);
          continue;
        }
        out.i16(kNone);
        if (timestamp == -1) {
          out.i64(-1);
          out.i64(read_committed ? p->last_stable_offset() : p->high_watermark);
        } else if (timestamp == -2) {
          out.i64(-1);
          out.i64(0);
        } else {
          auto [offset, ts] = offset_for_time(*p, timestamp);
          out.i64(ts);
          out.i64(offset);
        }
      }
    }
    return true;
  }

  bool find_coordinator(int16_t version, Reader& in, Writer& out) {
    in.string();                // key
    if (version >= 1) in.i8();  // key type
    if (version >= 1) out.i32(0);
    out.i16(kNone);
    if (version >= 1) out.nullable_string(std::nullopt);
    out.i32(kNodeId);
    out.string(host_);
    out.i32(port_);
    return true;
  }

  // Writes a commit or abort marker to every partition of the transaction.
  void end_transaction(Transaction& txn, bool commit) {
    for (const auto& [name, index] : txn.partitions) {
      Partition* p = partition(name, index);
      if (p == nullptr) continue;
      const int64_t offset = p->high_watermark;
      Batch marker;
      marker.base_offset = marker.last_offset = offset;
      marker.max_timestamp = now_ms();
      marker.bytes =
          control_batch(offset, txn.producer_id, txn.epoch, commit, marker.max_timestamp);
      p->batches.push_back(std::move(marker));
      p->high_watermark = offset + 1;
      if (auto open = p->open_transactions.find(txn.producer_id);
          open != p->open_transactions.end()) {
        if (!commit) p->aborted.push_back({txn.producer_id, open->second, offset});
        p->open_transactions.erase(open);
      }
    }
    if (commit) {
      for (const auto& [group, offsets] : txn.group_offsets) {
        for (const auto& [tp, offset] : offsets) committed_offsets_[group][tp] = offset;
      }
    }
    (commit ? committed_count_ : aborted_count_) += txn.open() ? 1 : 0;
    txn.partitions.clear();
    txn.group_offsets.clear();
    data_cv_.notify_all();
  }

  static std::vector<uint8_t> control_batch(int64_t offset, int64_t producer_id, int16_t epoch,
                                            bool commit, int64_t timestamp) {
    Writer record;
    record.i8(0);      // attributes
    record.varint(0);  // timestamp delta
    record.varint(0);  // offset delta
    record.varint(4);  // key: version, type (0 abort, 1 commit)
    record.i16(0);
    record.i16(commit ? 1 : 0);
    record.varint(6);  // value: version, coordinator epoch
    record.i16(0);
    record.i32(0);
    record.varint(0);  // headers
    Writer batch;
    batch.i64(offset);
    batch.i32(0);  // length, patched below
    batch.i32(0);  // partition leader epoch
    batch.i8(2);
    batch.i32(0);  // crc, patched below
    batch.i16(kTransactionalBit | kControlBit);
    batch.i32(0);  // last offset delta
    batch.i64(timestamp);
    batch.i64(timestamp);
    batch.i64(producer_id);
    batch.i16(epoch);
    batch.i32(-1);
    batch.i32(1);
    batch.varint(static_cast<int64_t>(record.buffer().size()));
    batch.raw(record.buffer().data(), record.buffer().size());
    auto& bytes = batch.buffer();
    store_be(bytes.data() + 8, bytes.size() - 12, 4);
    store_be(bytes.data() + kCrcAt,
             crc32c(bytes.data() + kAttributesAt, bytes.size() - kAttributesAt), 4);
    return bytes;
  }

  bool init_producer_id(Reader& in, Writer& out) {
    const auto txn_id = in.nullable_string();
    const int32_t timeout = in.i32();
    std::lock_guard lock(mutex_);
    out.i32(0);
    if (const int16_t fail = injected(kInitProducerId); fail != kNone) {
      out.i16(fail);
      out.i64(-1);
      out.i16(-1);
      return true;
    }
    if (!txn_id) {
      out.i16(kNone);
      out.i64(next_producer_id_++);
      out.i16(0);
      return true;
    }
    auto [it, inserted] = transactions_.try_emplace(*txn_id);
    Transaction& txn = it->second;
    if (inserted) {
      txn.producer_id = next_producer_id_++;
      txn.epoch = 0;
    } else {
      end_transaction(txn, false);  // an earlier producer's open transaction is aborted
      ++txn.epoch;                  // and that producer fenced
    }
    txn.timeout_ms = timeout;
    out.i16(kNone);
    out.i64(txn.producer_id);
    out.i16(txn.epoch);
    return true;
  }

  // The transaction `id` if the producer id and epoch are its current ones.
  int16_t check_producer(const std::string& id, int64_t producer_id, int16_t epoch,
                         Transaction** txn) {
    auto it = transactions_.find(id);
    if (it == transactions_.end() || it->second.producer_id != producer_id) {
      return kInvalidProducerIdMapping;
    }
    if (it->second.epoch != epoch) return kInvalidProducerEpoch;
    *txn = &it->second;
    return kNone;
  }

  bool add_partitions(Reader& in, Writer& out) {
    const std::string id = in.string();
    const int64_t producer_id = in.i64();
    const int16_t epoch = in.i16();
    std::lock_guard lock(mutex_);
    Transaction* txn = nullptr;
    int16_t error = check_producer(id, producer_id, epoch, &txn);
    if (const int16_t fail = injected(kAddPartitionsToTxn); fail != kNone) error = fail;
    out.i32(0);
    const int32_t topics = in.array_length();
    out.i32(topics);
    for (int32_t t = 0; t < topics; ++t) {
      const std::string name = in.string();
      out.string(name);
      const int32_t parts = in.array_length();
      out.i32(parts);
      for (int32_t n = 0; n < parts; ++n) {
        const int32_t index = in.i32();
        int16_t e = error;
        if (e == kNone && partition(name, index) == nullptr) e = kUnknownTopicOrPartition;
        if (e == kNone) {
          if (!txn->open()) txn->started = Clock::now();
          txn->partitions.insert({name, index});
        }
        out.i32(index);
        out.i16(e);
      }
    }
    return true;
  }

  bool add_offsets(Reader& in, Writer& out) {
    const std::string id = in.string();
    const int64_t producer_id = in.i64();
    const int16_t epoch = in.i16();
    const std::string group = in.string();
    std::lock_guard lock(mutex_);
    Transaction* txn = nullptr;
    int16_t error = check_producer(id, producer_id, epoch, &txn);
    if (const int16_t fail = injected(kAddOffsetsToTxn); fail != kNone) error = fail;
    if (error == kNone) {
      if (!txn->open()) txn->started = Clock::now();
      txn->group_offsets[group];
    }
    out.i32(0);
    out.i16(error);
    return true;
  }

  // Offsets of a group the transaction added: pending until it ends, invisible to OffsetFetch.
  bool txn_offset_commit(int16_t version, Reader& in, Writer& out) {
    const std::string id = in.string();
    const std::string group = in.string();
    const int64_t producer_id = in.i64();
    const int16_t epoch = in.i16();
    std::lock_guard lock(mutex_);
    Transaction* txn = nullptr;
    int16_t error = check_producer(id, producer_id, epoch, &txn);
    if (const int16_t fail = injected(kTxnOffsetCommit); fail != kNone) error = fail;
    if (error == kNone && !txn->group_offsets.contains(group)) error = kInvalidTxnState;
    out.i32(0);
    const int32_t topics = in.array_length();
    out.i32(topics);
    for (int32_t t = 0; t < topics; ++t) {
      const std::string name = in.string();
      out.string(name);
      const int32_t parts = in.array_length();
      out.i32(parts);
      for (int32_t n = 0; n < parts; ++n) {
        const int32_t index = in.i32();
        const int64_t offset = in.i64();
        if (version >= 2) in.i32();  // leader epoch
        const auto metadata = in.nullable_string();
        int16_t e = error;
        if (e == kNone && partition(name, index) == nullptr) e = kUnknownTopicOrPartition;
        if (e == kNone) txn->group_offsets[group][{name, index}] = {offset, metadata.value_or("")};
        out.i32(index);
        out.i16(e);
      }
    }
    return true;
  }

  bool end_txn(Reader& in, Writer& out) {
    const std::string id = in.string();
    const int64_t producer_id = in.i64();
    const int16_t epoch = in.i16();
    const bool commit = in.i8() != 0;
    std::lock_guard lock(mutex_);
    Transaction* txn = nullptr;
    int16_t error = check_producer(id, producer_id, epoch, &txn);
    if (const int16_t fail = injected(kEndTxn); fail != kNone) error = fail;
    if (error == kNone) end_transaction(*txn, commit);
    out.i32(0);
    out.i16(error);
    return true;
  }

  bool offset_commit(int16_t version, Reader& in, Writer& out) {
    const std::string group = in.string();
    in.i32();     // generation
    in.string();  // member
    in.i64();     // retention
    std::lock_guard lock(mutex_);
    if (version >= 3) out.i32(0);
    const int32_t topics = in.array_length();
    out.i32(topics);
    for (int32_t t = 0; t < topics; ++t) {
      const std::string name = in.string();
      out.string(name);
      const int32_t parts = in.array_length();
      out.i32(parts);
      for (int32_t n = 0; n < parts; ++n) {
        const int32_t index = in.i32();
        const int64_t offset = in.i64();
        const auto metadata = in.nullable_string();
        committed_offsets_[group][{name, index}] = {offset, metadata.value_or("")};
        out.i32(index);
        out.i16(kNone);
      }
    }
    return true;
  }

  bool offset_fetch(int16_t version, Reader& in, Writer& out) {
    const std::string group = in.string();
    std::vector<std::pair<std::string, std::vector<int32_t>>> wanted;
    const int32_t topics = in.array_length();
    for (int32_t t = 0; t < topics; ++t) {
      auto& [name, parts] = wanted.emplace_back(in.string(), std::vector<int32_t>{});
      for (int32_t n = in.array_length(); n > 0; --n) parts.push_back(in.i32());
    }
    std::lock_guard lock(mutex_);
    auto& offsets = committed_offsets_[group];
    if (topics < 0) {  // all the group has
      std::map<std::string, std::vector<int32_t>> all;
      for (const auto& [key, value] : offsets) all[key.first].push_back(key.second);
      wanted.assign(all.begin(), all.end());
    }
    if (version >= 3) out.i32(0);
    out.i32(static_cast<int32_t>(wanted.size()));
    for (const auto& [name, parts] : wanted) {
      out.string(name);
      out.i32(static_cast<int32_t>(parts.size()));
      for (int32_t index : parts) {
        out.i32(index);
        auto it = offsets.find({name, index});
        out.i64(it == offsets.end() ? -1 : it->second.first);
        out.nullable_string(it == offsets.end() ? std::optional<std::string>{}
                                                : std::optional<std::string>{it->second.second});
        out.i16(kNone);
      }
    }
    if (version >= 2) out.i16(kNone);
    return true;
  }

 public:
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    data_cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable data_cv_;
  bool stopping_ = false;
  std::map<std::string, std::vector<Partition>> topics_;
  std::map<std::string, Transaction> transactions_;
  std::map<std::string, GroupOffsets> committed_offsets_;
  std::map<int16_t, std::pair<int16_t, int>> injected_;  // api key -> (error, remaining)
  int64_t next_producer_id_ = 1000;
  int auto_create_;
  int64_t max_transaction_ms_;
  std::atomic<int> delay_ms_{0};
  int64_t aborted_count_ = 0;
  int64_t committed_count_ = 0;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
};

// ---- Network: a thread per connection, requests answered in order ----
class Server {
 public:
  Server(Broker& broker, int port) : broker_(broker), port_(port) {}

  int listen_now() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw std::runtime_error("socket failed");
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error(std::string("bind failed: ") + std::strerror(errno));
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(listener_, 64);
    accepting_ = true;
    acceptor_ = std::thread([this] { accept_loop(); });
    return port_;
  }

  // Closes the listener and every connection (a broker outage).
  void down() {
    if (!accepting_) return;
    accepting_ = false;
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listener_);
    std::lock_guard lock(mutex_);
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
  }
  void up() {
    if (!accepting_) listen_now();
  }

  void stop() {
    down();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mutex_);
      threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
  }

 private:
  void accept_loop() {
    while (accepting_) {
      pollfd pfd{listener_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      std::lock_guard lock(mutex_);
      connections_.insert(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static bool read_exact(int fd, uint8_t* data, size_t n) {
    while (n > 0) {
      const ssize_t got = ::recv(fd, data, n, 0);
      if (got <= 0) return false;
      data += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  static bool write_all(int fd, const uint8_t* data, size_t n) {
    while (n > 0) {
      const ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
      if (sent <= 0) return false;
      data += sent;
      n -= static_cast<size_t>(sent);
    }
    return true;
  }

  void serve(int fd) {
    std::vector<uint8_t> request;
    while (true) {
      uint8_t size_bytes[4];
      if (!read_exact(fd, size_bytes, 4)) break;
      const auto size = static_cast<size_t>(load_be(size_bytes, 4));
      if (size > (256u << 20)) break;
      request.resize(size);
      if (!read_exact(fd, request.data(), size)) break;
      Reader in(request.data(), request.size());
      Writer out;
      bool respond = true;
      int32_t correlation = 0;
      try {
        const int16_t key = in.i16();
        const int16_t version = in.i16();
        correlation = in.i32();
        in.nullable_string();  // client id
        out.i32(correlation);
        if (key == kApiVersions && version >= 3) {
          // Request header v2: tagged fields; the body's client software fields are not needed.
        } else if (!Broker::supported(key, version)) {
          if (key != kApiVersions) throw ProtocolError("unsupported version");
          // KIP-511: an unknown ApiVersions version gets a v0 response with the error.
          out.i16(kUnsupportedVersion);
          Writer list;
          broker_.handle(kApiVersions, 0, in, list);
          out.raw(list.buffer().data() + 2, list.buffer().size() - 2);
          respond = true;
          goto send;
        }
        respond = broker_.handle(key, version, in, out);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "kafka_test_broker: %s\n", e.what());
        break;
      }
    send:
      if (!respond) continue;
      if (const int delay = broker_.delay_ms(); delay > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      }
      auto& body = out.buffer();
      uint8_t prefix[4];
      store_be(prefix, body.size(), 4);
      if (!write_all(fd, prefix, 4) || !write_all(fd, body.data(), body.size())) break;
    }
    {
      std::lock_guard lock(mutex_);
      connections_.erase(fd);  // before close: the number may be reused at once
    }
    ::close(fd);
  }

  Broker& broker_;
  int port_;
  int listener_ = -1;
  std::atomic<bool> accepting_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::set<int> connections_;
  std::vector<std::thread> threads_;
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0, auto_create = 4;
  int64_t transaction_timeout = 60'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (flag == "--auto-create-partitions") {
      auto_create = std::atoi(argv[i + 1]);
    } else if (flag == "--transaction-timeout-ms") {
      transaction_timeout = std::atoll(argv[i + 1]);
    } else {
      std::fprintf(stderr, "kafka_test_broker: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    Broker broker(auto_create, transaction_timeout);
    Server server(broker, port);
    port = server.listen_now();
    broker.set_address("127.0.0.1", port);
    std::atomic<bool> running{true};
    std::thread reaper([&] {
      while (running) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        broker.reap();
      }
    });
    std::printf("127.0.0.1:%d\n", port);
    std::fflush(stdout);
    for (std::string line; std::getline(std::cin, line);) {
      if (line == "quit") break;
      std::string reply;
      if (line == "down") {
        server.down();
        reply = "ok";
      } else if (line == "up") {
        server.up();
        reply = "ok";
      } else {
        reply = broker.command(line);
      }
      std::printf("%s\n", reply.c_str());
      std::fflush(stdout);
    }
    running = false;
    reaper.join();
    broker.stop();
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kafka_test_broker: %s\n", e.what());
    return 1;
  }
  return 0;
}
