// The Nexmark generator against the formulas of Beam's and nexmark/nexmark's generator, and the
// source's splitting, checkpointing and parallel runs.
// Everything is deterministic: the generator has no seed but the event number.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sluice/api/data_stream.h"
#include "sluice/api/windowed_stream.h"
#include "sluice/connectors/nexmark.h"
#include "sluice/time/watermarks.h"
#include "sluice/window/windows.h"
#include "test_util.h"

namespace {

using sluice::NexmarkConfig;
using sluice::NexmarkGenerator;
using sluice::NexmarkSource;
using sluice::NexmarkSplit;
using sluice::Timestamp;
using sluice::nexmark::Auction;
using sluice::nexmark::Bid;
using sluice::nexmark::Event;
using sluice::nexmark::EventType;
using sluice::nexmark::Person;
namespace nexmark = sluice::nexmark;

// --- fakes for driving the source without a job ---

class FakeEnumeratorContext final : public sluice::SplitEnumeratorContext {
 public:
  explicit FakeEnumeratorContext(int parallelism)
      : parallelism_(parallelism), assigned_(static_cast<size_t>(parallelism)) {}
  int parallelism() const override { return parallelism_; }
  void assign_split(int subtask, std::unique_ptr<sluice::SourceSplit> split) override {
    assigned_[static_cast<size_t>(subtask)].push_back(std::move(split));
  }
  void signal_no_more_splits(int) override {}
  void send_event(int, std::string) override { FAIL() << "the nexmark enumerator sends none"; }
  void call_async(std::function<std::function<void()>()>, std::chrono::milliseconds) override {
    FAIL() << "the nexmark enumerator needs no async work";
  }
  std::vector<std::unique_ptr<sluice::SourceSplit>> take(int subtask) {
    return std::move(assigned_[static_cast<size_t>(subtask)]);
  }

 private:
  int parallelism_;
  std::vector<std::vector<std::unique_ptr<sluice::SourceSplit>>> assigned_;
};

class FakeReaderContext final : public sluice::SourceReaderContext {
 public:
  FakeReaderContext(int subtask, int parallelism) : subtask_(subtask), parallelism_(parallelism) {}
  int subtask_index() const override { return subtask_; }
  int parallelism() const override { return parallelism_; }
  const sluice::Configuration& config() const override { return config_; }
  sluice::OperatorMetrics& metrics() override { return metrics_; }
  void request_split() override {}
  void wake() override {}
  void wake_at(std::chrono::steady_clock::time_point) override {}
  sluice::Output* side_output(int) override { return &null_; }

 private:
  int subtask_;
  int parallelism_;
  sluice::Configuration config_;
  sluice::OperatorMetrics metrics_;
  sluice::NullOutput null_;
};

struct Emitted {
  std::vector<Event> events;
  std::vector<Timestamp> timestamps;
};

class CollectingOutput final : public sluice::Output {
 public:
  explicit CollectingOutput(Emitted& into) : into_(into) {}
  void emit(sluice::Buffer& buffer) override {
    auto& batch = static_cast<sluice::RecordBuffer<Event>&>(buffer);
    ASSERT_EQ(batch.timestamps.size(), batch.values.size()) << "every record has event time";
    into_.events.insert(into_.events.end(), batch.values.begin(), batch.values.end());
    into_.timestamps.insert(into_.timestamps.end(), batch.timestamps.begin(),
                            batch.timestamps.end());
  }
  void emit_watermark(Timestamp) override {}

 private:
  Emitted& into_;
};

// A reader with its output, polled by hand.
class DrivenReader {
 public:
  DrivenReader(NexmarkSource& source, int subtask, int parallelism, size_t batch_limit = 64)
      : context_(subtask, parallelism),
        output_(emitted_),
        reader_output_(batch_, batch_limit, output_),
        reader_(source.create_reader(context_)) {}

  sluice::SourceReader<Event>& reader() { return *reader_; }
  const Emitted& emitted() const { return emitted_; }

  // Polls `polls` times (or until the end); returns whether the input ended.
  bool poll(int polls = 1 << 30) {
    for (int i = 0; i < polls; ++i) {
      const auto status = reader_->poll_next(reader_output_);
      reader_output_.flush();
      if (status == sluice::InputStatus::kEndOfInput) return true;
      EXPECT_EQ(status, sluice::InputStatus::kMoreAvailable) << "an unthrottled reader never waits";
    }
    return false;
  }

 private:
  FakeReaderContext context_;
  Emitted emitted_;
  CollectingOutput output_;
  sluice::RecordBuffer<Event> batch_;
  sluice::ReaderOutput<Event> reader_output_;
  std::unique_ptr<sluice::SourceReader<Event>> reader_;
};

NexmarkConfig bounded(int64_t events) {
  NexmarkConfig config;
  config.max_events = events;
  return config;
}

// --- the sequence itself ---

TEST(NexmarkGenerator, ProportionsAreExactInEveryFiftyEvents) {
  NexmarkGenerator gen;
  for (int64_t epoch = 0; epoch < 2000; ++epoch) {
    int counts[3] = {0, 0, 0};
    for (int64_t i = 0; i < 50; ++i) {
      const int64_t n = epoch * 50 + i;
      const Event e = gen.event_at(n);
      ++counts[static_cast<int>(e.type())];
      // In order within the epoch: the person, three auctions, then 46 bids.
      const EventType expected =
          i == 0 ? EventType::kPerson : (i < 4 ? EventType::kAuction : EventType::kBid);
      ASSERT_EQ(e.type(), expected) << "event " << n;
    }
    ASSERT_EQ(counts[0], 1);
    ASSERT_EQ(counts[1], 3);
    ASSERT_EQ(counts[2], 46);
  }
}

TEST(NexmarkGenerator, OtherProportionsFollowTheConfig) {
  NexmarkConfig config;
  config.person_proportion = 2;
  config.auction_proportion = 5;
  config.bid_proportion = 13;
  NexmarkGenerator gen(config);
  int counts[3] = {0, 0, 0};
  for (int64_t n = 0; n < 20 * 100; ++n) ++counts[static_cast<int>(gen.event_at(n).type())];
  EXPECT_EQ(counts[0], 200);
  EXPECT_EQ(counts[1], 500);
  EXPECT_EQ(counts[2], 1300);
}

TEST(NexmarkGenerator, IdsAreSequentialAndReferencesPointAtExistingOrLeadIds) {
  NexmarkGenerator gen;
  const NexmarkConfig& c = gen.config();
  int64_t next_person = nexmark::kFirstPersonId;
  int64_t next_auction = nexmark::kFirstAuctionId;
  int64_t references = 0;
  int64_t to_existing = 0;
  // A reference may be up to the spec's lead ahead of the newest entity (hot bidders: the second
  // of their batch, so one more).
  auto check_person_ref = [&](int64_t id, int64_t n) {
    ASSERT_GE(id, nexmark::kFirstPersonId) << "event " << n;
    ASSERT_LE(id, next_person - 1 + nexmark::kPersonIdLead) << "event " << n;
    ++references;
    if (id < next_person) ++to_existing;
  };
  for (int64_t n = 0; n < 200'000; ++n) {
    const Event e = gen.event_at(n);
    if (const Person* p = e.if_person()) {
      ASSERT_EQ(p->id, next_person++) << "event " << n;
      ASSERT_EQ(p->credit_card.size(), 19u);
      ASSERT_NE(p->email_address.find('@'), std::string::npos);
      ASSERT_TRUE(p->state == "AZ" || p->state == "CA" || p->state == "ID" || p->state == "OR" ||
                  p->state == "WA" || p->state == "WY")
          << p->state;
    } else if (const Auction* a = e.if_auction()) {
      ASSERT_EQ(a->id, next_auction++) << "event " << n;
      check_person_ref(a->seller, n);
      ASSERT_GE(a->category, 10);
      ASSERT_LE(a->category, 14);
      ASSERT_GE(a->initial_bid, 100);
      ASSERT_LE(a->initial_bid, 100'000'000);
      ASSERT_GE(a->reserve, a->initial_bid + 100);
      ASSERT_GT(a->expires, a->date_time);
    } else {
      const Bid& b = e.bid();
      ASSERT_GE(b.auction, std::max<int64_t>(nexmark::kFirstAuctionId,
                                             next_auction - 1 - c.num_in_flight_auctions - 100))
          << "event " << n;
      ASSERT_LE(b.auction, next_auction - 1 + nexmark::kAuctionIdLead) << "event " << n;
      ++references;
      if (b.auction < next_auction) ++to_existing;
      check_person_ref(b.bidder, n);
      ASSERT_GE(b.price, 100);
      ASSERT_LE(b.price, 100'000'000);
    }
  }
  // Leads and the hot bidder's "+ 1" point at entities created a little later: rarely, once more
  // than a few hundred people exist (a lead is 10 of num_active_people + 10 choices).
  EXPECT_GT(static_cast<double>(to_existing) / static_cast<double>(references), 0.95);
}

TEST(NexmarkGenerator, HotFractionsAndSizesMatchTheSpecOverAMillionEvents) {
  NexmarkGenerator gen;
  const int64_t kEvents = 1'000'000;
  int64_t bids = 0, hot_auction = 0, hot_bidder = 0, hot_channel = 0, channel_ids = 0;
  int64_t auctions = 0, hot_seller = 0, persons = 0;
  double bid_bytes = 0, auction_bytes = 0, person_bytes = 0;
  std::vector<int64_t> prices;
  Event e;
  for (int64_t n = 0; n < kEvents; ++n) {
    gen.generate(n, e);  // reused: also exercises generating into an event of another type
    const int64_t id = gen.event_id(n);
    const int64_t batch_person = gen.last_base0_person_id(id) / 100 * 100;
    if (const Bid* b = e.if_bid()) {
      ++bids;
      const int64_t batch_auction = gen.last_base0_auction_id(id) / 100 * 100;
      hot_auction += b->auction == batch_auction + nexmark::kFirstAuctionId;
      hot_bidder += b->bidder == batch_person + 1 + nexmark::kFirstPersonId;
      const bool hot = b->channel == "Google" || b->channel == "Facebook" ||
                       b->channel == "Baidu" || b->channel == "Apple";
      hot_channel += hot;
      if (!hot) {
        EXPECT_EQ(b->channel.rfind("channel-", 0), 0u) << b->channel;
        channel_ids += b->url.find("&channel_id=") != std::string::npos;
      }
      EXPECT_EQ(b->url.rfind("https://www.nexmark.com/", 0), 0u) << b->url;
      bid_bytes += 32 + static_cast<double>(b->extra.size());
      prices.push_back(b->price);
    } else if (const Auction* a = e.if_auction()) {
      ++auctions;
      hot_seller += a->seller == batch_person + nexmark::kFirstPersonId;
      auction_bytes +=
          48 + static_cast<double>(a->item_name.size() + a->description.size() + a->extra.size());
    } else {
      const Person& p = e.person();
      ++persons;
      person_bytes +=
          8 + static_cast<double>(p.name.size() + p.email_address.size() + p.credit_card.size() +
                                  p.city.size() + p.state.size() + p.extra.size());
    }
  }
  ASSERT_EQ(bids, kEvents / 50 * 46);
  auto fraction = [](int64_t part, int64_t whole) {
    return static_cast<double>(part) / static_cast<double>(whole);
  };
  // 1 - 1/ratio from the hot branch, plus the rare random pick of the same id.
  EXPECT_NEAR(fraction(hot_auction, bids), 0.5 + 0.5 / 111, 0.005);
  EXPECT_NEAR(fraction(hot_bidder, bids), 0.75, 0.005);
  EXPECT_NEAR(fraction(hot_seller, auctions), 0.75, 0.01);
  EXPECT_NEAR(fraction(hot_channel, bids), 0.5, 0.005);
  EXPECT_NEAR(fraction(channel_ids, bids - hot_channel), 0.9, 0.01);
  // The extra padding makes the average sizes come out at the configured ones.
  EXPECT_NEAR(bid_bytes / static_cast<double>(bids), 100, 1.5);
  EXPECT_NEAR(auction_bytes / static_cast<double>(auctions), 500, 5);
  EXPECT_NEAR(person_bytes / static_cast<double>(persons), 200, 3);
  // Prices are log-uniform over [$1, $1,000,000]: the median is $1,000.
  std::nth_element(prices.begin(), prices.begin() + static_cast<long>(prices.size() / 2),
                   prices.end());
  const double median = static_cast<double>(prices[prices.size() / 2]);
  EXPECT_GT(median, 100'000 * 0.95);
  EXPECT_LT(median, 100'000 * 1.05);
}

TEST(NexmarkGenerator, SameEventNumberGivesTheSameEvent) {
  NexmarkGenerator a;
  NexmarkGenerator b;
  Event reused = a.event_at(7);  // a bid, with long strings
  for (int64_t n :
       std::vector<int64_t>{0, 1, 2, 3, 4, 5, 49, 50, 51, 12'345, 987'654'321, 123'456'789'012}) {
    const Event e = a.event_at(n);
    EXPECT_EQ(e, b.event_at(n)) << "event " << n;
    EXPECT_EQ(e, a.event_at(n)) << "event " << n;
    a.generate(n, reused);
    EXPECT_EQ(reused, e) << "event " << n << " generated into a reused event";
  }
  // Events differ from each other (the seed is the event id).
  EXPECT_NE(a.event_at(10).bid(), a.event_at(11).bid());
}

TEST(NexmarkGenerator, TimestampsAdvanceByTheInterEventDelay) {
  NexmarkConfig config;
  config.events_per_second = 3'000;
  NexmarkGenerator gen(config);
  Timestamp previous = sluice::kMinWatermark;
  Event e;
  for (int64_t n = 0; n < 30'000; ++n) {
    const Timestamp ts = gen.generate(n, e);
    ASSERT_EQ(ts, config.base_time_ms + n * 1000 / 3000) << "event " << n;
    ASSERT_EQ(e.date_time(), ts);
    ASSERT_GE(ts, previous);
    ASSERT_EQ(gen.watermark_at(n), ts);
    previous = ts;
  }
  EXPECT_EQ(gen.max_out_of_orderness(), sluice::Duration(0));
}

TEST(NexmarkGenerator, OutOfOrderGroupsPermuteEventsWithBoundedLateness) {
  NexmarkConfig config;
  config.events_per_second = 10'000;
  config.out_of_order_group_size = 1000;
  NexmarkGenerator gen(config);
  const int64_t kEvents = 50'000;  // whole groups
  std::vector<int64_t> ids;
  Timestamp max_seen = gen.timestamp_at(0);
  int64_t out_of_order = 0;
  Event e;
  for (int64_t n = 0; n < kEvents; ++n) {
    const Timestamp ts = gen.generate(n, e);
    ids.push_back(gen.event_id(n));
    ASSERT_GE(ts, gen.watermark_at(n)) << "event " << n;
    if (ts < max_seen) ++out_of_order;
    ASSERT_LE(max_seen - ts, gen.max_out_of_orderness().count()) << "event " << n;
    max_seen = std::max(max_seen, ts);
    // The watermark never passes an event still to come.
    if (n + 1 < kEvents) {
      ASSERT_LE(gen.watermark_at(n), gen.timestamp_at(n + 1));
    }
  }
  EXPECT_GT(out_of_order, kEvents / 4) << "the permutation does reorder";
  std::sort(ids.begin(), ids.end());
  for (int64_t i = 0; i < kEvents; ++i) ASSERT_EQ(ids[static_cast<size_t>(i)], i);
  EXPECT_EQ(gen.max_out_of_orderness(), sluice::Duration(100));
}

TEST(NexmarkGenerator, AuctionsLastAboutTheInFlightHorizon) {
  // At 10,000 events/s, 100 auctions in flight take 1,666 events = 166 ms; lengths are uniform in
  // [1, 2 * 166] ms.
  NexmarkGenerator gen;
  double total = 0;
  int64_t count = 0;
  for (int64_t n = 0; n < 500'000; ++n) {
    if (gen.type_of_event_id(gen.event_id(n)) != EventType::kAuction) continue;
    const Auction a = gen.event_at(n).auction();
    const int64_t length = a.expires - a.date_time;
    ASSERT_GE(length, 1);
    ASSERT_LE(length, 2 * 167);
    total += static_cast<double>(length);
    ++count;
  }
  EXPECT_NEAR(total / static_cast<double>(count), 166.6, 2);
}

TEST(NexmarkGenerator, EventsSerializeAndRoundTrip) {
  static_assert(sluice::kSerializable<Event>);
  NexmarkGenerator gen;
  for (int64_t n : {0, 1, 5, 50, 1234}) {
    const Event e = gen.event_at(n);
    EXPECT_EQ(sluice::from_bytes<Event>(sluice::to_bytes(e)), e) << "event " << n;
  }
  std::string bad = sluice::to_bytes(gen.event_at(0));
  bad[0] = 7;
  EXPECT_THROW(sluice::from_bytes<Event>(bad), sluice::Error);
}

TEST(NexmarkGenerator, RejectsUnusableConfigs) {
  auto with = [](auto change) {
    NexmarkConfig config;
    change(config);
    return config;
  };
  EXPECT_THROW(NexmarkGenerator(with([](NexmarkConfig& c) { c.events_per_second = 0; })),
               sluice::Error);
  EXPECT_THROW(NexmarkGenerator(with([](NexmarkConfig& c) { c.out_of_order_group_size = 953; })),
               sluice::Error);
  EXPECT_THROW(NexmarkGenerator(with([](NexmarkConfig& c) { c.auction_proportion = 0; })),
               sluice::Error);
  EXPECT_THROW(NexmarkGenerator(with([](NexmarkConfig& c) { c.hot_bidders_ratio = 0; })),
               sluice::Error);
  EXPECT_THROW(NexmarkGenerator(with([](NexmarkConfig& c) { c.max_events = -1; })), sluice::Error);
}

// --- the source ---

TEST(NexmarkSource, ParallelSplitsTogetherAreTheSequentialSequence) {
  const int64_t kEvents = 10'007;  // not a multiple of any parallelism below
  for (int parallelism : {1, 2, 3, 7}) {
    SCOPED_TRACE("parallelism " + std::to_string(parallelism));
    NexmarkSource source(bounded(kEvents));
    const NexmarkGenerator& gen = source.generator();
    FakeEnumeratorContext enumerator_context(parallelism);
    auto enumerator = source.create_enumerator(enumerator_context);
    std::vector<const Event*> by_number(kEvents, nullptr);
    std::vector<std::unique_ptr<DrivenReader>> readers;
    for (int i = 0; i < parallelism; ++i) {
      enumerator->add_reader(i);
      readers.push_back(std::make_unique<DrivenReader>(source, i, parallelism));
      readers.back()->reader().add_splits(enumerator_context.take(i));
      readers.back()->reader().notify_no_more_splits();
      ASSERT_TRUE(readers.back()->poll());
      // Subtask i generated event numbers i, i + p, i + 2p, ... in order.
      const Emitted& out = readers.back()->emitted();
      ASSERT_EQ(static_cast<int64_t>(out.events.size()),
                (kEvents - i + parallelism - 1) / parallelism);
      for (size_t k = 0; k < out.events.size(); ++k) {
        const int64_t n = i + static_cast<int64_t>(k) * parallelism;
        ASSERT_EQ(out.events[k], gen.event_at(n)) << "event " << n;
        ASSERT_EQ(out.timestamps[k], gen.timestamp_at(n));
        ASSERT_EQ(by_number[static_cast<size_t>(n)], nullptr);
        by_number[static_cast<size_t>(n)] = &out.events[k];
      }
    }
    EXPECT_EQ(std::count(by_number.begin(), by_number.end(), nullptr), 0);
  }
}

TEST(NexmarkSource, RestoresFromSplitPositionsAtAnotherParallelism) {
  // Two subtasks run a while, checkpoint, and one subtask takes over both splits.
  const int64_t kEvents = 5'000;
  NexmarkSource source(bounded(kEvents));
  const NexmarkGenerator& gen = source.generator();
  FakeEnumeratorContext enumerator_context(2);
  auto enumerator = source.create_enumerator(enumerator_context);
  std::multiset<std::string> seen;
  std::vector<std::string> checkpointed;
  for (int i = 0; i < 2; ++i) {
    enumerator->add_reader(i);
    DrivenReader reader(source, i, 2, /*batch_limit=*/50);
    reader.reader().add_splits(enumerator_context.take(i));
    ASSERT_FALSE(reader.poll(i == 0 ? 3 : 7));  // different positions per split
    for (const Event& e : reader.emitted().events) seen.insert(sluice::to_bytes(e));
    for (const auto& split : reader.reader().snapshot_state(1)) {
      checkpointed.push_back(split->serialize());
    }
  }
  ASSERT_EQ(checkpointed.size(), 2u);
  EXPECT_EQ(seen.size(), 3u * 50 + 7u * 50);
  // The enumerator assigned everything: its state has no splits left.
  FakeEnumeratorContext restored_context(1);
  auto restored_enumerator =
      source.restore_enumerator(restored_context, enumerator->snapshot_state());
  restored_enumerator->add_reader(0);
  EXPECT_TRUE(restored_context.take(0).empty());

  DrivenReader resumed(source, 0, 1, /*batch_limit=*/50);
  std::vector<std::unique_ptr<sluice::SourceSplit>> splits;
  for (const auto& bytes : checkpointed) splits.push_back(source.deserialize_split(bytes));
  resumed.reader().add_splits(std::move(splits));
  resumed.reader().notify_no_more_splits();
  ASSERT_TRUE(resumed.poll());
  const Emitted& out = resumed.emitted();
  for (const Event& e : out.events) seen.insert(sluice::to_bytes(e));
  // Exactly once: the whole sequence, nothing twice.
  std::multiset<std::string> expected;
  for (int64_t n = 0; n < kEvents; ++n) expected.insert(sluice::to_bytes(gen.event_at(n)));
  EXPECT_EQ(seen, expected);
  // The reader alternates between its splits by position: it never runs more than a batch of
  // either split (50 events, stride 2) ahead of event-time order.
  const int64_t slack_ms = 2 * 50 * 2 * 1000 / gen.config().events_per_second;
  ASSERT_FALSE(out.timestamps.empty());
  Timestamp max_seen = out.timestamps.front();
  for (Timestamp ts : out.timestamps) {
    ASSERT_LE(max_seen - ts, slack_ms);
    max_seen = std::max(max_seen, ts);
  }
}

TEST(NexmarkSource, JobAtParallelismTwoProducesExactlyTheSequence) {
  const int64_t kEvents = 100'003;
  NexmarkSource source(bounded(kEvents));
  std::vector<std::string> expected;
  for (int64_t n = 0; n < kEvents; ++n) {
    expected.push_back(sluice::to_bytes(source.generator().event_at(n)));
  }
  std::sort(expected.begin(), expected.end());

  auto env = sluice::testing::quiet_env(2);
  // Through a network edge, so that events and their timestamps are copied between tasks.
  auto out = env.from_source(source, "nexmark").rebalance().collect();
  env.execute();

  const auto events = out->values();
  const auto timestamps = out->timestamps();
  ASSERT_EQ(events.size(), static_cast<size_t>(kEvents));
  ASSERT_EQ(timestamps.size(), events.size());
  std::vector<std::string> got;
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(timestamps[i], events[i].date_time()) << "records carry their event time";
    got.push_back(sluice::to_bytes(events[i]));
  }
  std::sort(got.begin(), got.end());
  EXPECT_TRUE(got == expected);
}

TEST(NexmarkSource, EventTimeWindowsDownstreamLoseNoEventAsLate) {
  // Subtasks advance through event time side by side, so a watermark of max timestamp minus the
  // generator's own out-of-orderness never declares an event late: every window counts all of
  // its events. Watermarks every millisecond, so that they do advance while events flow.
  for (int64_t group : {1, 999}) {  // 999: groups straddle window boundaries
    SCOPED_TRACE("out_of_order_group_size " + std::to_string(group));
    NexmarkConfig config = bounded(400'000);
    config.events_per_second = 100'000;  // 4 s of event time
    config.out_of_order_group_size = group;
    NexmarkSource source(config);
    const NexmarkGenerator& gen = source.generator();
    std::map<int64_t, int64_t> expected;  // window start -> events
    for (int64_t n = 0; n < config.max_events; ++n) {
      ++expected[(gen.timestamp_at(n) - config.base_time_ms) / 100 * 100 + config.base_time_ms];
    }

    auto strategy =
        sluice::WatermarkStrategy<Event>::for_bounded_out_of_orderness(gen.max_out_of_orderness());
    sluice::Configuration flags;
    flags.set("auto-watermark-interval", "1ms");
    sluice::StreamEnvironment env(flags);
    env.set_parallelism(2).set_workers(2).set_print_summary(false);
    struct Count {
      int64_t window;
      int64_t n;
    };
    auto counts = env.from_source(source, strategy, "nexmark")
                      .map([](const Event& e) {
                        return Count{e.date_time() / 100 * 100, 1};
                      })
                      .key_by(&Count::window)
                      .window(sluice::TumblingEventTimeWindows::of(std::chrono::milliseconds(100)))
                      .reduce([](const Count& a, const Count& b) {
                        return Count{a.window, a.n + b.n};
                      })
                      .collect();
    env.execute();
    std::map<int64_t, int64_t> got;
    for (const Count& c : counts->values()) got[c.window] += c.n;
    EXPECT_EQ(got, expected);
  }
}

TEST(NexmarkSource, RateLimitedJobStillProducesEveryEvent) {
  NexmarkConfig config = bounded(2'000);
  config.events_per_second = 100'000;  // 20 ms of wall-clock time
  config.rate_limited = true;
  auto env = sluice::testing::quiet_env(2);
  auto out = env.from_source(sluice::nexmark_source(config), "nexmark")
                 .filter([](const Event& e) { return e.is_bid(); })
                 .collect();
  env.execute();
  EXPECT_EQ(out->size(), 2'000u / 50 * 46);
}

// With a common pace start, no reader emits event n before start + n / events_per_second, and the
// whole sequence arrives about when the last event is due.
TEST(NexmarkSource, ACommonPaceStartHoldsEveryEventUntilItIsDue) {
  NexmarkConfig config = bounded(3'000);
  config.events_per_second = 20'000;  // 150 ms
  config.rate_limited = true;
  config.pace_start_ms = sluice::wall_clock_millis() + 100;
  auto env = sluice::testing::quiet_env(2);
  auto out =
      env.from_source(sluice::nexmark_source(config), "nexmark")
          .map([](const Event& e) { return std::pair(e.date_time(), sluice::wall_clock_millis()); })
          .collect();
  env.execute();
  ASSERT_EQ(out->size(), 3'000u);
  int64_t last_arrival = 0;
  for (const auto& [event_time, arrival] : out->values()) {
    const int64_t due = config.pace_start_ms + (event_time - config.base_time_ms);
    EXPECT_GE(arrival, due) << "event at " << event_time;
    last_arrival = std::max(last_arrival, arrival);
  }
  EXPECT_GE(last_arrival, config.pace_start_ms + 149);
}

TEST(NexmarkSource, UnboundedUnlessMaxEventsIsSet) {
  EXPECT_EQ(NexmarkSource().boundedness(), sluice::Boundedness::kUnbounded);
  EXPECT_EQ(NexmarkSource(bounded(10)).boundedness(), sluice::Boundedness::kBounded);
  // An unbounded split is numbered up to the largest int64 without overflowing.
  NexmarkSplit split(3, std::numeric_limits<int64_t>::max(), 4, 3);
  EXPECT_GT(split.remaining(), int64_t{1} << 60);
}

}  // namespace
