// The Kafka source's untyped parts: partition splits and the enumerator that discovers partitions,
// resolves where each starts (and, bounded, stops), and assigns them to readers.
#include <fmt/format.h>

#include <set>

#include "sluice/connectors/kafka.h"

namespace sluice::detail {
namespace {

using kafka::TopicPartition;

struct SplitBytes {
  std::string topic;
  int32_t partition;
  int64_t next;
  int64_t stop;
};

// The enumerator's checkpoint: every partition it handed out or holds, the splits not yet
// delivered to a reader, and whether the first discovery (which applies the starting offsets and,
// bounded, the stopping ones) is done.
struct EnumeratorState {
  std::vector<std::pair<std::string, int32_t>> known;
  std::vector<std::string> pending;
  bool initial_done = false;
};

// Java's String.hashCode, so that partitions go to the readers Flink's KafkaSource would pick.
int32_t java_hash(const std::string& s) {
  uint32_t h = 0;
  for (unsigned char c : s) h = 31 * h + c;
  return static_cast<int32_t>(h);
}

int owner_of(const TopicPartition& tp, int readers) {
  const int start =
      static_cast<int>(((static_cast<uint32_t>(java_hash(tp.topic)) * 31u) & 0x7FFFFFFFu) %
                       static_cast<uint32_t>(readers));
  return (start + tp.partition) % readers;
}

class KafkaEnumerator final : public SplitEnumerator {
 public:
  KafkaEnumerator(SplitEnumeratorContext& context,
                  std::shared_ptr<const KafkaSourceOptions> options, const std::string* restored)
      : context_(context), options_(std::move(options)) {
    if (restored != nullptr) {
      const auto state = from_bytes<EnumeratorState>(*restored);
      for (const auto& [topic, partition] : state.known) known_.insert({topic, partition});
      for (const auto& bytes : state.pending) {
        auto split = KafkaPartitionSplit::deserialize(bytes);
        auto& kafka_split = static_cast<KafkaPartitionSplit&>(*split);
        pending_[owner_of(kafka_split.partition, context_.parallelism())].push_back(
            std::move(split));
      }
      initial_done_ = state.initial_done;
    }
  }

  void start() override {
    // Discovery state owned by the coordinator's thread (the work runs there, unlocked).
    struct Discovery {
      std::unique_ptr<kafka::KafkaAdmin> admin;
      std::set<TopicPartition> seen;
      bool initial_done;
    };
    auto discovery = std::make_shared<Discovery>();
    discovery->seen = known_;
    discovery->initial_done = initial_done_;
    auto options = options_;
    const bool bounded = options_->bounded;
    context_.call_async(
        [this, discovery, options]() -> std::function<void()> {
          if (!discovery->admin) {
            discovery->admin = std::make_unique<kafka::KafkaAdmin>(options->properties);
          }
          auto splits =
              discover(*discovery->admin, *options, discovery->seen, !discovery->initial_done);
          const bool first = !discovery->initial_done;
          discovery->initial_done = true;
          auto shared = std::make_shared<decltype(splits)>(std::move(splits));
          return [this, shared, first] { add_discovered(std::move(*shared), first); };
        },
        bounded ? std::chrono::milliseconds(0) : options_->discovery_interval);
  }

  void add_reader(int subtask) override {
    readers_.insert(subtask);
    deliver(subtask);
  }
  void handle_split_request(int) override {}

  std::string snapshot_state() override {
    EnumeratorState state;
    for (const auto& tp : known_) state.known.emplace_back(tp.topic, tp.partition);
    for (const auto& [reader, splits] : pending_) {
      for (const auto& split : splits) state.pending.push_back(split->serialize());
    }
    state.initial_done = initial_done_;
    return to_bytes(state);
  }

 private:
  // On the coordinator's thread: the partitions not seen yet, with their offsets.
  static std::vector<std::unique_ptr<SourceSplit>> discover(kafka::KafkaAdmin& admin,
                                                            const KafkaSourceOptions& options,
                                                            std::set<TopicPartition>& seen,
                                                            bool initial) {
    std::vector<std::unique_ptr<SourceSplit>> splits;
    std::vector<TopicPartition> fresh;
    for (auto& tp :
         admin.partitions(options.topics, options.topic_pattern, options.request_timeout)) {
      if (seen.insert(tp).second) fresh.push_back(tp);
    }
    if (fresh.empty()) return splits;
    const KafkaOffsets starting = initial ? options.starting : KafkaOffsets::earliest();
    std::map<TopicPartition, int64_t> committed;
    if (starting.kind == KafkaOffsets::Kind::kCommitted) {
      committed = admin.committed(fresh, options.request_timeout);
    }
    auto resolve = [&](const TopicPartition& tp, KafkaOffsets::Kind kind) -> int64_t {
      switch (kind) {
        case KafkaOffsets::Kind::kEarliest:
          return admin.watermarks(tp, options.request_timeout).first;
        case KafkaOffsets::Kind::kLatest:
          return admin.watermarks(tp, options.request_timeout).second;
        case KafkaOffsets::Kind::kTimestamp: {
          const int64_t offset =
              admin.offset_for_time(tp, starting.timestamp, options.request_timeout);
          return offset >= 0 ? offset : admin.watermarks(tp, options.request_timeout).second;
        }
        default:
          return -1;
      }
    };
    for (const auto& tp : fresh) {
      int64_t next = -1;
      if (starting.kind == KafkaOffsets::Kind::kCommitted) {
        auto it = committed.find(tp);
        if (it != committed.end() && it->second >= 0) next = it->second;
      } else if (starting.kind == KafkaOffsets::Kind::kSpecific) {
        auto it = starting.offsets.find(tp);
        if (it != starting.offsets.end()) next = it->second;
      } else {
        next = resolve(tp, starting.kind);
      }
      if (next < 0) next = resolve(tp, starting.fallback);
      const int64_t stop =
          options.bounded ? admin.watermarks(tp, options.request_timeout).second : -1;
      splits.push_back(std::make_unique<KafkaPartitionSplit>(tp, next, stop));
    }
    return splits;
  }

  // Under the enumerator's lock.
  void add_discovered(std::vector<std::unique_ptr<SourceSplit>> splits, bool first) {
    for (auto& split : splits) {
      const auto& tp = static_cast<KafkaPartitionSplit&>(*split).partition;
      known_.insert(tp);
      pending_[owner_of(tp, context_.parallelism())].push_back(std::move(split));
    }
    if (first) initial_done_ = true;
    for (int reader : readers_) deliver(reader);
  }

  void deliver(int reader) {
    for (auto& split : pending_[reader]) context_.assign_split(reader, std::move(split));
    pending_[reader].clear();
    if (initial_done_ && announced_.insert(reader).second) {
      context_.send_event(reader, std::string(kKafkaPartitionsAssigned));
    }
    // Bounded: every partition is known after the first discovery; nothing more will come.
    if (options_->bounded && initial_done_) context_.signal_no_more_splits(reader);
  }

  SplitEnumeratorContext& context_;
  std::shared_ptr<const KafkaSourceOptions> options_;
  std::set<TopicPartition> known_;
  std::map<int, std::vector<std::unique_ptr<SourceSplit>>> pending_;
  std::set<int> readers_;
  std::set<int> announced_;  // readers told kKafkaPartitionsAssigned
  bool initial_done_ = false;
};

}  // namespace

std::string KafkaPartitionSplit::serialize() const {
  return to_bytes(SplitBytes{partition.topic, partition.partition, next, stop});
}

std::unique_ptr<SourceSplit> KafkaPartitionSplit::deserialize(std::string_view bytes) {
  const auto s = from_bytes<SplitBytes>(bytes);
  return std::make_unique<KafkaPartitionSplit>(TopicPartition{s.topic, s.partition}, s.next,
                                               s.stop);
}

std::unique_ptr<SplitEnumerator> make_kafka_enumerator(
    SplitEnumeratorContext& context, std::shared_ptr<const KafkaSourceOptions> options,
    const std::string* restored_state) {
  return std::make_unique<KafkaEnumerator>(context, std::move(options), restored_state);
}

}  // namespace sluice::detail
