// The Nexmark benchmark's event generator as a Sluice source: a deterministic stream of people,
// auctions and bids (1 : 3 : 46 by default) following Apache Beam's and nexmark/nexmark's
// generator — the same constants, id formulas, hot-item skew and field-size targets. Where ours
// differs (randomness, one event-time line for all subtasks) the comments below say so.
//
//   sluice::NexmarkConfig config;
//   config.max_events = 100'000'000;         // 0: unbounded
//   config.events_per_second = 10'000'000;   // event-time rate (the Flink benchmark's TPS)
//   auto events = env.from_source(
//       sluice::nexmark_source(config),
//       sluice::WatermarkStrategy<sluice::nexmark::Event>::for_bounded_out_of_orderness(4s),
//       "nexmark");                           // records carry their date_time as event time
//   auto bids = events.filter([](const nexmark::Event& e) { return e.is_bid(); })
//                   .map([](const nexmark::Event& e) { return e.bid(); });
//
// Event number n (0, 1, 2, ...) is the position in one global sequence, and event_at(n) is a pure
// function of n and the config: the same number gives the same event in every run, subtask and
// parallelism. Its timestamp is base_time + n / events_per_second (up to the out-of-order
// permutation), so event time does not depend on the wall clock; `rate_limited` only paces the
// emission. Parallel subtasks take interleaved splits (subtask i of p generates n = i, i + p,
// i + 2p, ...), so together they produce exactly the sequential sequence and advance through event
// time side by side; a checkpoint stores each split's next event number.
//
// Threading: NexmarkGenerator is immutable after construction; its const methods may be called
// from any number of threads at once. The source's readers follow the SourceReader rules (one
// task thread each).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sluice/core/serialization.h"
#include "sluice/core/time.h"
#include "sluice/runtime/source.h"

namespace sluice {
namespace nexmark {

// The three entities. Field names follow nexmark/nexmark's schema in snake_case; times are
// milliseconds since the epoch, prices are cents.
struct Person {
  int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  int64_t date_time = 0;
  std::string extra;  // padding so that the event averages avg_person_byte_size
  bool operator==(const Person&) const = default;
};

struct Auction {
  int64_t id = 0;
  std::string item_name;
  std::string description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t seller = 0;    // Person.id
  int64_t category = 0;  // 10..14
  std::string extra;
  bool operator==(const Auction&) const = default;
};

struct Bid {
  int64_t auction = 0;  // Auction.id
  int64_t bidder = 0;   // Person.id
  int64_t price = 0;
  std::string channel;
  std::string url;
  int64_t date_time = 0;
  std::string extra;
  bool operator==(const Bid&) const = default;
};

// The values match Flink's `event_type` column (0 person, 1 auction, 2 bid).
enum class EventType : uint8_t { kPerson = 0, kAuction = 1, kBid = 2 };

// One of the three. A variant rather than Flink's row of three nullable structs: a third of the
// size (records are moved through buffers by value) and the type cannot disagree with the payload.
class Event {
 public:
  using Value = std::variant<Person, Auction, Bid>;

  // Implicit: a person, auction or bid is an event wherever one is expected.
  Event() = default;
  Event(Person person) : value_(std::move(person)) {}
  Event(Auction auction) : value_(std::move(auction)) {}
  Event(Bid bid) : value_(std::move(bid)) {}

  EventType type() const noexcept { return static_cast<EventType>(value_.index()); }
  bool is_person() const noexcept { return value_.index() == 0; }
  bool is_auction() const noexcept { return value_.index() == 1; }
  bool is_bid() const noexcept { return value_.index() == 2; }

  // Throw std::bad_variant_access for another type; the if_ forms return null instead.
  const Person& person() const { return std::get<Person>(value_); }
  const Auction& auction() const { return std::get<Auction>(value_); }
  const Bid& bid() const { return std::get<Bid>(value_); }
  Person& person() { return std::get<Person>(value_); }
  Auction& auction() { return std::get<Auction>(value_); }
  Bid& bid() { return std::get<Bid>(value_); }
  const Person* if_person() const noexcept { return std::get_if<Person>(&value_); }
  const Auction* if_auction() const noexcept { return std::get_if<Auction>(&value_); }
  const Bid* if_bid() const noexcept { return std::get_if<Bid>(&value_); }

  // The entity's date_time: the record's event time.
  int64_t date_time() const noexcept {
    return std::visit([](const auto& v) { return v.date_time; }, value_);
  }

  const Value& value() const noexcept { return value_; }
  Value& value() noexcept { return value_; }

  bool operator==(const Event&) const = default;

 private:
  Value value_;
};

std::ostream& operator<<(std::ostream& out, const Person& person);
std::ostream& operator<<(std::ostream& out, const Auction& auction);
std::ostream& operator<<(std::ostream& out, const Bid& bid);
std::ostream& operator<<(std::ostream& out, const Event& event);

// Constants of the generator that are not configurable in Beam or nexmark/nexmark.
inline constexpr int64_t kFirstPersonId = 1000;
inline constexpr int64_t kFirstAuctionId = 1000;
inline constexpr int64_t kFirstCategoryId = 10;
inline constexpr int kNumCategories = 5;
// People and auctions chosen at random may be up to this many ids ahead of the last one
// generated: bids and auctions then appear to arrive before the entity they refer to.
inline constexpr int64_t kPersonIdLead = 10;
inline constexpr int64_t kAuctionIdLead = 10;
// A hot seller, auction or bidder is the first (bidder: second) of the latest batch of this
// many ids.
inline constexpr int64_t kHotBatch = 100;
inline constexpr int kNumChannels = 10'000;

}  // namespace nexmark

// The generator's parameters. Defaults are nexmark/nexmark's NexmarkConfiguration unless noted.
struct NexmarkConfig {
  // Events per second of event time over the whole sequence (Flink's first-event.rate; its
  // benchmark runs 10,000,000). Event n has timestamp base_time_ms + n * 1000 / events_per_second.
  int64_t events_per_second = 10'000;
  // Timestamp of event 0. Fixed (2015-07-15T00:00:00Z) so that runs are repeatable; Flink uses
  // the wall clock at job start.
  int64_t base_time_ms = 1'436'918'400'000;
  // Events in the sequence; 0 means unbounded (Flink's events.num).
  int64_t max_events = 0;
  // Event id of event number 0; ids decide the event type and seed each event's randomness.
  // nexmark/nexmark effectively starts at 2 (firstEventId 1 + firstEventNumber 1).
  int64_t first_event_id = 0;
  // Events are permuted within consecutive groups of this many (1: in order). Must not be a
  // multiple of 953, the permutation's multiplier.
  int64_t out_of_order_group_size = 1;
  // Emit no faster than events_per_second of wall-clock time, so event time keeps pace with the
  // clock (Flink's rate.limited / max-emit-speed=false). Default: as fast as possible.
  bool rate_limited = false;
  // With rate_limited: the wall-clock time (milliseconds since the epoch) that pacing counts from,
  // the same for every reader, so event n is due at pace_start_ms + n / events_per_second; 0:
  // each reader's first poll. Set by a harness that measures latency from those due times.
  int64_t pace_start_ms = 0;

  // Of every person + auction + bid events, this many of each, in that order.
  int person_proportion = 1;
  int auction_proportion = 3;
  int bid_proportion = 46;

  // Average event sizes the `extra` padding aims for, in bytes of id fields plus characters.
  int avg_person_byte_size = 200;
  int avg_auction_byte_size = 500;
  int avg_bid_byte_size = 100;

  // A bid goes to the hot auction with probability 1 - 1/hot_auction_ratio; likewise hot
  // sellers for auctions and hot bidders for bids. Beam's defaults are the same.
  int hot_auction_ratio = 2;
  int hot_sellers_ratio = 4;
  int hot_bidders_ratio = 4;

  // Auctions still open at any time (also sets their length); people who place auctions and bids.
  int num_in_flight_auctions = 100;
  int num_active_people = 1000;
};

// Produces event number n of the sequence that `config` describes.
class NexmarkGenerator {
 public:
  // Throws sluice::Error (kInvalidArgument) for an unusable config.
  explicit NexmarkGenerator(NexmarkConfig config = {});

  const NexmarkConfig& config() const { return config_; }

  nexmark::Event event_at(int64_t event_number) const;
  // The same event written into `out`, reusing its strings' storage when `out` already holds an
  // event of the same type (a loop over one Event allocates nothing once warm). Returns its
  // timestamp.
  Timestamp generate(int64_t event_number, nexmark::Event& out) const;

  // Event number after the out-of-order permutation: what decides the id and the timestamp.
  int64_t adjusted_event_number(int64_t event_number) const;
  int64_t event_id(int64_t event_number) const {
    return config_.first_event_id + adjusted_event_number(event_number);
  }
  nexmark::EventType type_of_event_id(int64_t event_id) const;
  // Event time of event number n.
  Timestamp timestamp_at(int64_t event_number) const {
    return timestamp_of_adjusted(adjusted_event_number(event_number));
  }
  // Event time of an adjusted event number: base_time_ms + adjusted * 1000 / events_per_second.
  Timestamp timestamp_of_adjusted(int64_t adjusted) const;
  // No event at number n or later is earlier than this (Beam's nextEventNumberForWatermark).
  Timestamp watermark_at(int64_t event_number) const;
  // How far behind the latest timestamp seen an event of the sequential order can be.
  Duration max_out_of_orderness() const;

  // The newest person and auction (0-based, without kFirstPersonId / kFirstAuctionId) at event id
  // `event_id`: the current one if this event creates it. The auction is -1 before the first.
  int64_t last_base0_person_id(int64_t event_id) const;
  int64_t last_base0_auction_id(int64_t event_id) const;

 private:
  NexmarkConfig config_;
  int64_t total_proportion_;
};

// A strided range of event numbers: next, next + stride, ... below end.
struct NexmarkSplit final : SourceSplit {
  NexmarkSplit(int64_t next, int64_t end, int64_t stride, int index)
      : next(next), end(end), stride(stride), index(index) {}
  std::string split_id() const override { return "nexmark-" + std::to_string(index); }
  std::string serialize() const override { return to_bytes(std::tuple(next, end, stride, index)); }
  int64_t remaining() const { return next < end ? (end - next - 1) / stride + 1 : 0; }

  int64_t next;
  int64_t end;  // exclusive
  int64_t stride;
  int index;
};

// The source: one split per subtask of the first run, each a stride of the event numbers.
// A reader owning several splits (after a restore at a lower parallelism) generates from the one
// that is furthest behind, so its output stays close to event-time order.
class NexmarkSource final : public Source<nexmark::Event> {
 public:
  explicit NexmarkSource(NexmarkConfig config = {});

  const NexmarkGenerator& generator() const { return *generator_; }

  Boundedness boundedness() const override;
  std::unique_ptr<SplitEnumerator> create_enumerator(SplitEnumeratorContext& context) override;
  std::unique_ptr<SourceReader<nexmark::Event>> create_reader(
      SourceReaderContext& context) override;
  std::unique_ptr<SourceSplit> deserialize_split(std::string_view bytes) const override;
  std::unique_ptr<SplitEnumerator> restore_enumerator(SplitEnumeratorContext& context,
                                                      std::string_view state) override;
  void describe(OperatorDescription& description) const override;

 private:
  std::shared_ptr<const NexmarkGenerator> generator_;
};

inline NexmarkSource nexmark_source(NexmarkConfig config = {}) {
  return NexmarkSource(std::move(config));
}

// An event is its type tag, then that entity's fields in declaration order.
template <>
struct Serializer<nexmark::Event> {
  static void serialize(const nexmark::Event& event, BufferWriter& out) {
    out.write_fixed(static_cast<uint8_t>(event.type()));
    std::visit([&](const auto& v) { sluice::serialize(v, out); }, event.value());
  }
  static nexmark::Event deserialize(BufferReader& in) {
    switch (in.read_fixed<uint8_t>()) {
      case 0:
        return sluice::deserialize<nexmark::Person>(in);
      case 1:
        return sluice::deserialize<nexmark::Auction>(in);
      case 2:
        return sluice::deserialize<nexmark::Bid>(in);
      default:
        throw_bad_type();
    }
  }
  [[noreturn]] static void throw_bad_type();
};

}  // namespace sluice
