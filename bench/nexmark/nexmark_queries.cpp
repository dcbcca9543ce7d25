// The Nexmark queries' jobs (what each computes: nexmark_queries.h and docs/NEXMARK.md). Over 800
// lines as a catalogue: 23 independent job definitions of 20-80 lines each, which share a few
// helpers (event filters, key selectors, formatters); one file keeps them side by side, as the
// benchmark suite lists them.
//
// Joins key both inputs' events on the join key and keep, per key, what a later event of the
// other side can still match; windows use the window operators; "per group, when its day ends"
// statistics are one-day tumbling windows with incremental accumulators.
#include "nexmark/nexmark_queries.h"

#include <absl/container/flat_hash_set.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>

#include "sluice/sluice.h"

namespace sluice::nexmark_queries {

namespace {

using Key2 = std::pair<int64_t, int64_t>;

struct Count : AggregateFunction<Bid, int64_t, int64_t> {
  int64_t create_accumulator() const override { return 0; }
  void add(const Bid&, int64_t& acc) const override { ++acc; }
  int64_t get_result(const int64_t& acc) const override { return acc; }
  void merge(const int64_t& from, int64_t& into) const override { into += from; }
};

// Session or processing-time window counts as BidderSession rows.
struct LabelBidderWindow : ProcessWindowFunction<int64_t, BidderSession, int64_t> {
  void process(const int64_t& bidder, const Context& ctx, const std::vector<int64_t>& counts,
               Collector<BidderSession>& out) override {
    out.collect(BidderSession{bidder, counts[0], ctx.window().start, ctx.window().end});
  }
};

}  // namespace

DataStream<Event> nexmark_events(StreamEnvironment& env, const NexmarkConfig& config,
                                 const std::string& name) {
  const Duration bound = NexmarkGenerator(config).max_out_of_orderness();
  return env.from_source(nexmark_source(config),
                         WatermarkStrategy<Event>::for_bounded_out_of_orderness(bound), name);
}

DataStream<Bid> bids(const DataStream<Event>& events) {
  return events.filter([](const Event& e) { return e.is_bid(); })
      .map([](Event&& e) { return std::move(e.bid()); })
      .name("bids");
}

std::string format_day(int64_t millis) {
  using namespace std::chrono;
  const year_month_day date{sys_days{days{day_of(millis)}}};
  return fmt::format("{:04d}-{:02d}-{:02d}", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
}

std::string format_minute(int64_t millis) {
  const int64_t minute_of_day = (millis - day_of(millis) * kMillisPerDay) / 60'000;
  return fmt::format("{:02d}:{:02d}", minute_of_day / 60, minute_of_day % 60);
}

// ---- stateless ----

DataStream<Bid> q0(const DataStream<Event>& events) { return bids(events); }

DataStream<EuroBid> q1(const DataStream<Event>& events) {
  return bids(events).map([](const Bid& b) { return to_euros(b); }).name("q1");
}

DataStream<AuctionPrice> q2(const DataStream<Event>& events) {
  return bids(events)
      .filter([](const Bid& b) { return q2_selects(b); })
      .map([](const Bid& b) {
        return AuctionPrice{b.auction, b.price};
      })
      .name("q2");
}

namespace {
// The user function of q14 (Flink's count_char UDF).
int64_t count_char(std::string_view text, char c) {
  return static_cast<int64_t>(std::count(text.begin(), text.end(), c));
}
}  // namespace

DataStream<LabelledBid> q14(const DataStream<Event>& events) {
  return bids(events)
      .flat_map([](const Bid& b, Collector<LabelledBid>& out) {
        const double price = 0.908 * static_cast<double>(b.price);
        if (!(price > 1'000'000 && price < 50'000'000)) return;
        const int hour = hour_of(b.date_time);
        const char* type = hour >= 8 && hour <= 18   ? "dayTime"
                           : hour <= 6 || hour >= 20 ? "nightTime"
                                                     : "otherTime";
        out.collect(LabelledBid{b.auction, b.bidder, price, type, b.date_time, b.extra,
                                count_char(b.extra, 'c')});
      })
      .name("q14");
}

namespace {
std::optional<ChannelBid> channel_bid(const Bid& b) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kKnown = {
      {{"apple", "0"}, {"google", "1"}, {"facebook", "2"}, {"baidu", "3"}}};
  const auto equals_lower = [](std::string_view text, std::string_view lower) {
    if (text.size() != lower.size()) return false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(text[i])) != lower[i]) return false;
    }
    return true;
  };
  for (const auto& [name, id] : kKnown) {
    if (equals_lower(b.channel, name)) {
      return ChannelBid{b.auction, b.bidder, b.price, b.channel, std::string(id)};
    }
  }
  if (auto id = url_parameter(b.url, "channel_id")) {
    return ChannelBid{b.auction, b.bidder, b.price, b.channel, std::string(*id)};
  }
  return std::nullopt;
}
}  // namespace

DataStream<ChannelBid> q21(const DataStream<Event>& events) {
  return bids(events)
      .flat_map([](const Bid& b, Collector<ChannelBid>& out) {
        if (auto c = channel_bid(b)) out.collect(std::move(*c));
      })
      .name("q21");
}

DataStream<UrlBid> q22(const DataStream<Event>& events) {
  return bids(events)
      .map([](const Bid& b) {
        return UrlBid{b.auction,
                      b.bidder,
                      b.price,
                      b.channel,
                      std::string(split_index(b.url, '/', 3)),
                      std::string(split_index(b.url, '/', 4)),
                      std::string(split_index(b.url, '/', 5))};
      })
      .name("q22");
}

// ---- joins ----

namespace {

// What a join key has seen of the side whose ids are unique (people in q3, auctions in q20):
// nothing yet, a matching entity (kept), or one that matches nothing (only this byte is kept,
// so the other side's later events are dropped at once instead of waiting forever).
enum class Seen : uint8_t { kMatching = 1, kNotMatching = 2 };

// q3: people by id and category-10 auctions by seller. People's ids are unique, so an auction
// waits only until its seller registers (the generator picks sellers up to 10 people ahead).
struct LocalItemJoin : KeyedProcessFunction<int64_t, Event, LocalItem> {
  ValueState<Seen>* seen = nullptr;
  ValueState<LocalItem>* seller = nullptr;         // name, city and state; auction unset
  ListState<int64_t>* waiting_auctions = nullptr;  // ids of auctions before their seller

  void open(KeyedRuntimeContext<int64_t>& ctx) {
    seen = &ctx.get_state(ValueStateDescriptor<Seen>{"seen"});
    seller = &ctx.get_state(ValueStateDescriptor<LocalItem>{"seller"});
    waiting_auctions = &ctx.get_list_state(ListStateDescriptor<int64_t>{"waiting_auctions"});
  }
  void process_element(const Event& e, Context&, Collector<LocalItem>& out) override {
    if (const Person* p = e.if_person()) {
      if (!q3_person(*p)) {
        seen->update(Seen::kNotMatching);
        waiting_auctions->clear();
        return;
      }
      LocalItem item{p->name, p->city, p->state, 0};
      for (int64_t auction : waiting_auctions->get()) {
        item.auction = auction;
        out.collect(item);
      }
      waiting_auctions->clear();
      seen->update(Seen::kMatching);
      seller->update(item);
      return;
    }
    const Auction& a = e.auction();
    const auto state = seen->value();
    if (!state) {
      waiting_auctions->add(a.id);
    } else if (*state == Seen::kMatching) {
      LocalItem item = *seller->value();
      item.auction = a.id;
      out.collect(std::move(item));
    }
  }
};

}  // namespace

DataStream<LocalItem> q3(const DataStream<Event>& events) {
  return events
      .filter([](const Event& e) {
        return e.is_person() || (e.is_auction() && e.auction().category == 10);
      })
      .name("q3_inputs")
      .key_by([](const Event& e) { return e.is_person() ? e.person().id : e.auction().seller; })
      .process(LocalItemJoin{})
      .name("q3");
}

namespace {

struct OpenAuction {
  int64_t date_time = 0;
  int64_t expires = 0;
};

// q9's operator, keyed by auction id over auctions and bids. The auction's open interval decides
// which bids count; the best one so far is kept whole, the others dropped. A bid can arrive
// before its auction (another split emitted it first); such bids wait, but never past the
// watermark reaching their own time: an auction opened at or before the bid is not late, so by
// then it has arrived, and one opened later cannot count the bid. Every kept bid thus has a timer
// that removes it, and every auction one (at its expiry) that emits the winner and clears the key.
struct WinningBids : KeyedProcessFunction<int64_t, Event, WinningBid> {
  ValueState<OpenAuction>* open_interval = nullptr;
  ValueState<Auction>* auction = nullptr;
  ValueState<Bid>* best = nullptr;
  ValueState<int64_t>* best_price = nullptr;  // best's price: most bids are rejected on it alone
  ListState<Bid>* early_bids = nullptr;

  void open(KeyedRuntimeContext<int64_t>& ctx) {
    open_interval = &ctx.get_state(ValueStateDescriptor<OpenAuction>{"open_interval"});
    auction = &ctx.get_state(ValueStateDescriptor<Auction>{"auction"});
    best = &ctx.get_state(ValueStateDescriptor<Bid>{"best"});
    best_price = &ctx.get_state(ValueStateDescriptor<int64_t>{"best_price"});
    early_bids = &ctx.get_list_state(ListStateDescriptor<Bid>{"early_bids"});
  }

  void offer(const Bid& b) {
    const auto price = best_price->value();
    if (price && b.price < *price) return;
    if (price && b.price == *price && !wins_over(b, *best->value())) return;
    best->update(b);
    best_price->update(b.price);
  }

  void process_element(const Event& e, Context& ctx, Collector<WinningBid>&) override {
    if (const Auction* a = e.if_auction()) {
      open_interval->update(OpenAuction{a->date_time, a->expires});
      auction->update(*a);
      ctx.timer_service().register_event_time_timer(a->expires);
      for (const Bid& b : early_bids->get()) {
        if (bid_in_auction(b, *a)) offer(b);
      }
      early_bids->clear();
      return;
    }
    const Bid& b = e.bid();
    if (const auto interval = open_interval->value()) {
      if (b.date_time >= interval->date_time && b.date_time <= interval->expires) offer(b);
      return;
    }
    early_bids->add(b);
    ctx.timer_service().register_event_time_timer(b.date_time);
  }

  void on_timer(Timestamp time, OnTimerContext&, Collector<WinningBid>& out) override {
    if (const auto interval = open_interval->value()) {
      if (time < interval->expires) return;  // an early bid's timer; the auction took them
      if (auto winner = best->value()) out.collect(WinningBid{*auction->value(), *winner});
      open_interval->clear();
      auction->clear();
      best->clear();
      best_price->clear();
      return;
    }
    const auto& waiting = early_bids->get();
    std::vector<Bid> kept;
    for (const Bid& b : waiting) {
      if (b.date_time > time) kept.push_back(b);
    }
    if (kept.size() == waiting.size()) return;
    if (kept.empty()) {
      early_bids->clear();
    } else {
      early_bids->update(std::move(kept));
    }
  }
};

// Auctions and bids keyed by auction id: the input of q9's and q20's joins.
auto auctions_and_bids_by_auction(const DataStream<Event>& events) {
  return events.filter([](const Event& e) { return e.is_auction() || e.is_bid(); })
      .name("auctions_and_bids")
      .key_by([](const Event& e) { return e.is_bid() ? e.bid().auction : e.auction().id; });
}

DataStream<WinningBid> winning_bids(const DataStream<Event>& events) {
  return auctions_and_bids_by_auction(events).process(WinningBids{}).name("winning_bids");
}

}  // namespace

DataStream<WinningBid> q9(const DataStream<Event>& events) {
  return winning_bids(events).name("q9");
}

namespace {
struct SumCount {
  int64_t sum = 0;
  int64_t count = 0;
};
struct RunningCategoryAverage : KeyedProcessFunction<int64_t, Key2, CategoryAverage> {
  ValueState<SumCount>* totals = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    totals = &ctx.get_state(ValueStateDescriptor<SumCount>{"totals"});
  }
  void process_element(const Key2& category_price, Context&,
                       Collector<CategoryAverage>& out) override {
    SumCount t = totals->value().value_or(SumCount{});
    t.sum += category_price.second;
    ++t.count;
    totals->update(t);
    out.collect(CategoryAverage{category_price.first, t.count, t.sum,
                                static_cast<double>(t.sum) / static_cast<double>(t.count)});
  }
};
}  // namespace

DataStream<CategoryAverage> q4(const DataStream<Event>& events) {
  return winning_bids(events)
      .map([](const WinningBid& w) {
        return Key2{w.auction.category, w.bid.price};
      })
      .key_by([](const Key2& category_price) { return category_price.first; })
      .process(RunningCategoryAverage{})
      .name("q4");
}

namespace {
struct ClosedAuction {
  int64_t expires = 0;
  int64_t auction = 0;
  int64_t price = 0;
  auto operator<=>(const ClosedAuction&) const = default;
};
// Closed auctions of one seller reach this operator from every subtask of winning_bids, in no
// fixed order; they wait for the watermark of their expiry and are then taken in (expires, id)
// order, so the "last 10" are the same at every parallelism.
struct LastTenAverage : KeyedProcessFunction<int64_t, WinningBid, SellerAverage> {
  ListState<ClosedAuction>* arrived = nullptr;
  ValueState<std::vector<int64_t>>* last_prices = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    arrived = &ctx.get_list_state(ListStateDescriptor<ClosedAuction>{"arrived"});
    last_prices = &ctx.get_state(ValueStateDescriptor<std::vector<int64_t>>{"last_prices"});
  }
  void process_element(const WinningBid& w, Context& ctx, Collector<SellerAverage>&) override {
    arrived->add(ClosedAuction{w.auction.expires, w.auction.id, w.bid.price});
    ctx.timer_service().register_event_time_timer(w.auction.expires);
  }
  void on_timer(Timestamp time, OnTimerContext& ctx, Collector<SellerAverage>& out) override {
    std::vector<ClosedAuction> ready, later;
    for (const auto& c : arrived->get()) (c.expires <= time ? ready : later).push_back(c);
    if (ready.empty()) return;
    std::sort(ready.begin(), ready.end());
    std::vector<int64_t> prices = last_prices->value().value_or(std::vector<int64_t>{});
    for (const auto& c : ready) {
      prices.push_back(c.price);
      if (prices.size() > 10) prices.erase(prices.begin());
      int64_t sum = 0;
      for (int64_t p : prices) sum += p;
      out.collect(SellerAverage{ctx.current_key(), c.auction,
                                static_cast<double>(sum) / static_cast<double>(prices.size())});
    }
    last_prices->update(prices);
    if (later.empty()) {
      arrived->clear();
    } else {
      arrived->update(std::move(later));
    }
  }
};
}  // namespace

DataStream<SellerAverage> q6(const DataStream<Event>& events) {
  return winning_bids(events)
      .key_by([](const WinningBid& w) { return w.auction.seller; })
      .process(LastTenAverage{})
      .name("q6");
}

namespace {
// q20: keyed by auction id. Auction ids are unique: a bid waits only until its auction arrives.
struct ExpandBids : KeyedProcessFunction<int64_t, Event, ExpandedBid> {
  ValueState<Seen>* seen = nullptr;
  ValueState<Auction>* auction = nullptr;
  ListState<Bid>* waiting_bids = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    seen = &ctx.get_state(ValueStateDescriptor<Seen>{"seen"});
    auction = &ctx.get_state(ValueStateDescriptor<Auction>{"auction"});
    waiting_bids = &ctx.get_list_state(ListStateDescriptor<Bid>{"waiting_bids"});
  }
  void process_element(const Event& e, Context&, Collector<ExpandedBid>& out) override {
    if (const Auction* a = e.if_auction()) {
      if (a->category != 10) {
        seen->update(Seen::kNotMatching);
      } else {
        for (const Bid& b : waiting_bids->get()) out.collect(ExpandedBid{b, *a});
        seen->update(Seen::kMatching);
        auction->update(*a);
      }
      waiting_bids->clear();
      return;
    }
    const auto state = seen->value();
    if (!state) {
      waiting_bids->add(e.bid());
    } else if (*state == Seen::kMatching) {
      out.collect(ExpandedBid{e.bid(), *auction->value()});
    }
  }
};
}  // namespace

DataStream<ExpandedBid> q20(const DataStream<Event>& events) {
  return auctions_and_bids_by_auction(events).process(ExpandBids{}).name("q20");
}

void write_side_input(const std::string& path, int64_t rows) {
  std::ofstream out(path, std::ios::trunc);
  for (int64_t key = 0; key < rows; ++key) out << key << ",value-of-" << key << '\n';
  if (!out.flush()) {
    throw Error(ErrorCategory::kIo, "cannot write the q13 side input", ErrorContext{.file = path});
  }
}

namespace {
// q13's lookup: the side input, read once per subtask when it opens (Flink's lookup join against
// a bounded filesystem table, cached).
struct SideInputLookup {
  std::string path;
  std::vector<std::string> values;  // by key: keys are 0..n-1

  void open(const RuntimeContext&) {
    std::ifstream in(path);
    if (!in) {
      throw Error(ErrorCategory::kIo, "cannot open the q13 side input", ErrorContext{.file = path});
    }
    std::string line;
    for (int64_t number = 1; std::getline(in, line); ++number) {
      const size_t comma = line.find(',');
      int64_t key = -1;
      if (comma != std::string::npos) std::from_chars(line.data(), line.data() + comma, key);
      if (key != static_cast<int64_t>(values.size())) {
        throw Error(ErrorCategory::kInvalidArgument,
                    "side input line is not 'key,value' with keys 0, 1, 2, ... in order: " + line,
                    ErrorContext{.file = path, .line = number});
      }
      values.push_back(line.substr(comma + 1));
    }
    if (values.empty()) {
      throw Error(ErrorCategory::kInvalidArgument, "the q13 side input is empty",
                  ErrorContext{.file = path});
    }
  }
  SideInputBid operator()(const Bid& b) const {
    const auto key = static_cast<size_t>(b.auction % static_cast<int64_t>(values.size()));
    return SideInputBid{b.auction, b.bidder, b.price, b.date_time, values[key]};
  }
};
}  // namespace

DataStream<SideInputBid> q13(const DataStream<Event>& events, const std::string& side_input_csv) {
  return bids(events).map(SideInputLookup{side_input_csv, {}}).name("q13");
}

// ---- windows ----

namespace {
// The auctions with the most bids, and that number.
struct HotAuctions {
  int64_t bids = 0;
  std::vector<int64_t> auctions;
  void add(int64_t auction, int64_t count) {
    if (count < bids) return;
    if (count > bids) {
      bids = count;
      auctions.clear();
    }
    auctions.push_back(auction);
  }
};
// q5's first step, per group of auctions and window: each auction's bids and the leaders, kept
// up to date as bids arrive, so that a window's end only reads them.
using BidsPerAuction = absl::flat_hash_map<int64_t, int64_t>;
struct AuctionBids {
  BidsPerAuction counts;
  HotAuctions leaders;
};
struct CountPerAuction : AggregateFunction<Bid, AuctionBids, HotAuctions> {
  AuctionBids create_accumulator() const override { return {}; }
  void add(const Bid& b, AuctionBids& acc) const override {
    // Counts only grow: an auction that reaches the leaders' count joins or replaces them.
    acc.leaders.add(b.auction, ++acc.counts[b.auction]);
  }
  HotAuctions get_result(const AuctionBids& acc) const override { return acc.leaders; }
  void merge(const AuctionBids& from, AuctionBids& into) const override {
    for (const auto& [auction, bids] : from.counts) into.counts[auction] += bids;
    into.leaders = {};
    for (const auto& [auction, bids] : into.counts) into.leaders.add(auction, bids);
  }
};
struct GroupLeaders {
  HotAuctions hot;
  int64_t window_start = 0;
};
struct LabelGroupWindow : ProcessWindowFunction<HotAuctions, GroupLeaders, int64_t> {
  void process(const int64_t&, const Context& ctx, const std::vector<HotAuctions>& hot,
               Collector<GroupLeaders>& out) override {
    out.collect(GroupLeaders{hot[0], ctx.window().start});
  }
};
// Keyed by window start: every group's leaders of the window arrive before the watermark passes
// the window's end (they carry its max timestamp), when the window's leaders are emitted.
struct MaxCountPerWindow : KeyedProcessFunction<int64_t, GroupLeaders, HotItem> {
  ValueState<HotAuctions>* leaders = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    leaders = &ctx.get_state(ValueStateDescriptor<HotAuctions>{"leaders"});
  }
  void process_element(const GroupLeaders& g, Context& ctx, Collector<HotItem>&) override {
    HotAuctions hot = leaders->value().value_or(HotAuctions{});
    if (g.hot.bids < hot.bids) return;
    if (hot.auctions.empty()) ctx.timer_service().register_event_time_timer(ctx.timestamp());
    for (int64_t auction : g.hot.auctions) hot.add(auction, g.hot.bids);
    leaders->update(hot);
  }
  void on_timer(Timestamp, OnTimerContext& ctx, Collector<HotItem>& out) override {
    const auto hot = leaders->value();
    if (!hot) return;
    for (int64_t auction : hot->auctions)
      out.collect(HotItem{auction, hot->bids, ctx.current_key()});
    leaders->clear();
  }
};
}  // namespace

DataStream<HotItem> q5(const DataStream<Event>& events) {
  // Two steps, so that no single subtask counts every bid: per window and group of auctions (a
  // few hundred groups, spread over the subtasks), each auction's count and the group's leaders;
  // then per window, the leaders of the groups. A window's end fires one record per group, not
  // one per auction that got a bid (hundreds of thousands).
  constexpr int64_t kGroups = 256;
  return bids(events)
      .key_by([](const Bid& b) { return b.auction % kGroups; })
      .window(SlidingEventTimeWindows::of(std::chrono::milliseconds(kQ5SizeMs),
                                          std::chrono::milliseconds(kQ5SlideMs)))
      .accumulate_per_window()
      .aggregate(CountPerAuction{}, LabelGroupWindow{})
      .name("q5_counts")
      .key_by([](const GroupLeaders& g) { return g.window_start; })
      .process(MaxCountPerWindow{})
      .name("q5");
}

namespace {
struct MaxBids {
  int64_t price = -1;
  std::vector<HighestBid> bids;  // every bid at `price`
  void add(const HighestBid& b) {
    if (b.price < price) return;
    if (b.price > price) {
      price = b.price;
      bids.clear();
    }
    bids.push_back(b);
  }
};
struct MaxBidsAggregate : AggregateFunction<Bid, MaxBids, MaxBids> {
  MaxBids create_accumulator() const override { return {}; }
  void add(const Bid& b, MaxBids& acc) const override {
    if (b.price < acc.price) return;  // the common case: no copy of the bid
    acc.add(HighestBid{b.auction, b.price, b.bidder, b.date_time, b.extra});
  }
  MaxBids get_result(const MaxBids& acc) const override { return acc; }
  void merge(const MaxBids& from, MaxBids& into) const override {
    for (const auto& b : from.bids) into.add(b);
  }
};
// Keyed by window end: the per-auction maxima of one window, combined when its end passes.
struct MaxBidsPerWindow : KeyedProcessFunction<int64_t, MaxBids, HighestBid> {
  ValueState<MaxBids>* leaders = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    leaders = &ctx.get_state(ValueStateDescriptor<MaxBids>{"leaders"});
  }
  void process_element(const MaxBids& m, Context& ctx, Collector<HighestBid>&) override {
    auto current = leaders->value();
    if (current && m.price < current->price) return;
    MaxBids merged = current.value_or(MaxBids{});
    for (const auto& b : m.bids) merged.add(b);
    leaders->update(merged);
    ctx.timer_service().register_event_time_timer(ctx.timestamp());
  }
  void on_timer(Timestamp, OnTimerContext&, Collector<HighestBid>& out) override {
    if (auto m = leaders->value()) {
      for (auto& b : m->bids) out.collect(std::move(b));
    }
    leaders->clear();
  }
};
}  // namespace

DataStream<HighestBid> q7(const DataStream<Event>& events) {
  // Two steps, so that no single subtask sees every bid: the maxima per window of a few hundred
  // groups of auctions, in parallel, then per window. Groups rather than auctions: a window's end
  // then fires a few hundred maxima, not one per auction of the window (hundreds of thousands).
  constexpr int64_t kGroups = 256;
  return bids(events)
      .key_by([](const Bid& b) { return b.auction % kGroups; })
      .window(TumblingEventTimeWindows::of(std::chrono::milliseconds(kQ7WindowMs)))
      .aggregate(MaxBidsAggregate{})
      .name("q7_auction_maxima")
      .key_by([](const MaxBids& m) { return m.bids.front().date_time / kQ7WindowMs; })
      .process(MaxBidsPerWindow{})
      .name("q7");
}

namespace {
struct PersonOrSeller {
  int64_t id = 0;
  std::string name;  // set for a person
  bool is_person = false;
};
// One person id's part in q8's open windows. Person ids are unique, so only the window the person
// registered in can match; auctions seen before the person remember their windows until then.
struct NewUserState {
  int64_t person_window = -1;  // start of the registration's window; -1 before it is seen
  std::string name;
  bool emitted = false;
  std::vector<int64_t> auction_windows;  // windows of auctions before the registration
};
// Emits a person as soon as both the registration and an auction of the same window have been
// seen, instead of at the window's end: the same rows as the window join (events behind the
// watermark are dropped, as the window would), each due when its pair completes.
struct EmitNewUserEarly : KeyedProcessFunction<int64_t, PersonOrSeller, NewUser> {
  ValueState<NewUserState>* state = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    state = &ctx.get_state(ValueStateDescriptor<NewUserState>{"new_user"});
  }
  void process_element(const PersonOrSeller& v, Context& ctx, Collector<NewUser>& out) override {
    const int64_t window = ctx.timestamp() - ctx.timestamp() % kQ8WindowMs;
    const Timestamp window_max = window + kQ8WindowMs - 1;
    if (window_max <= ctx.timer_service().current_watermark()) return;  // late
    NewUserState s = state->value().value_or(NewUserState{});
    const bool auction_before = std::find(s.auction_windows.begin(), s.auction_windows.end(),
                                          window) != s.auction_windows.end();
    bool completes = false;
    if (v.is_person) {
      s.person_window = window;
      s.name = v.name;
      s.auction_windows.clear();  // no other window can match any more
      completes = auction_before;
    } else if (s.person_window < 0) {
      if (auction_before) return;
      s.auction_windows.push_back(window);
    } else if (s.person_window != window || s.emitted) {
      return;
    } else {
      completes = true;
    }
    if (completes) {
      s.emitted = true;
      out.collect(NewUser{v.id, s.name, window});
    }
    // The state is cleaned up within about a second after the window's end, at a time spread by
    // person id: a window's end would otherwise clean up every key of the window at once (700 K
    // at 3.6 M events/s, 200 ms of the task's time).
    const auto spread =
        static_cast<Timestamp>((static_cast<uint64_t>(v.id) * 0x9E3779B97F4A7C15ull) >> 54);
    ctx.timer_service().register_event_time_timer(window_max + spread);
    state->update(s);
  }
  void on_timer(Timestamp time, OnTimerContext&, Collector<NewUser>&) override {
    std::optional<NewUserState> s = state->value();
    if (!s) return;
    const int64_t closed = time - kQ8WindowMs + 1;  // windows starting up to here are closed
    std::erase_if(s->auction_windows, [&](int64_t w) { return w <= closed; });
    if (s->person_window >= 0 && s->person_window <= closed) {
      s->person_window = -1;
      s->name.clear();
      s->emitted = false;
    }
    if (s->person_window < 0 && s->auction_windows.empty()) {
      state->clear();
    } else {
      state->update(*s);
    }
  }
};
}  // namespace

DataStream<NewUser> q8(const DataStream<Event>& events) {
  // A window join that only needs to know whether both sides occurred, keyed by person id, with
  // each row emitted when it becomes certain rather than when the window ends (docs/NEXMARK.md).
  return events
      .flat_map([](const Event& e, Collector<PersonOrSeller>& out) {
        if (const Person* p = e.if_person()) {
          out.collect(PersonOrSeller{p->id, p->name, true});
        } else if (const Auction* a = e.if_auction()) {
          out.collect(PersonOrSeller{a->seller, {}, false});
        }
      })
      .name("people_and_sellers")
      .key_by([](const PersonOrSeller& v) { return v.id; })
      .process(EmitNewUserEarly{})
      .name("q8");
}

DataStream<BidderSession> q11(const DataStream<Event>& events) {
  return bids(events)
      .key_by([](const Bid& b) { return b.bidder; })
      .window(EventTimeSessionWindows::with_gap(std::chrono::milliseconds(kQ11GapMs)))
      .aggregate(Count{}, LabelBidderWindow{})
      .name("q11");
}

DataStream<BidderSession> q12(const DataStream<Event>& events) {
  return bids(events)
      .key_by([](const Bid& b) { return b.bidder; })
      .window(TumblingProcessingTimeWindows::of(std::chrono::seconds(10)))
      .aggregate(Count{}, LabelBidderWindow{})
      .name("q12");
}

// ---- daily statistics ----

namespace {

struct DistinctAcc {
  std::array<int64_t, 4> bids{};
  // Vectors of 4, not arrays: g++ 12 crashes reflecting an aggregate holding arrays of sets.
  std::vector<absl::flat_hash_set<int64_t>> bidders = std::vector<absl::flat_hash_set<int64_t>>(4);
  std::vector<absl::flat_hash_set<int64_t>> auctions = std::vector<absl::flat_hash_set<int64_t>>(4);
  int64_t last_time = 0;  // q16's minute
  void add(const Bid& b) {
    const auto rank = static_cast<size_t>(price_rank(b.price));
    ++bids[0];
    ++bids[rank];
    bidders[0].insert(b.bidder);
    bidders[rank].insert(b.bidder);
    auctions[0].insert(b.auction);
    auctions[rank].insert(b.auction);
    last_time = std::max(last_time, b.date_time);
  }
  void merge_into(DistinctAcc& into) const {
    for (size_t i = 0; i < 4; ++i) {
      into.bids[i] += bids[i];
      into.bidders[i].insert(bidders[i].begin(), bidders[i].end());
      into.auctions[i].insert(auctions[i].begin(), auctions[i].end());
    }
    into.last_time = std::max(into.last_time, last_time);
  }
  DistinctCounts counts() const {
    DistinctCounts c;
    for (size_t i = 0; i < 4; ++i) {
      c.bids[i] = bids[i];
      c.bidders[i] = static_cast<int64_t>(bidders[i].size());
      c.auctions[i] = static_cast<int64_t>(auctions[i].size());
    }
    return c;
  }
};

struct DistinctAggregate : AggregateFunction<Bid, DistinctAcc, DistinctAcc> {
  DistinctAcc create_accumulator() const override { return {}; }
  void add(const Bid& b, DistinctAcc& acc) const override { acc.add(b); }
  // Called once per group and day: the copy is not on the per-record path.
  DistinctAcc get_result(const DistinctAcc& acc) const override { return acc; }
  void merge(const DistinctAcc& from, DistinctAcc& into) const override { from.merge_into(into); }
};

const auto kOneDay = std::chrono::milliseconds(kMillisPerDay);

struct EmitDailyStats : ProcessWindowFunction<DistinctAcc, DailyStats, int64_t> {
  void process(const int64_t&, const Context& ctx, const std::vector<DistinctAcc>& acc,
               Collector<DailyStats>& out) override {
    out.collect(DailyStats{format_day(ctx.window().start), acc[0].counts()});
  }
};

struct EmitChannelStats : ProcessWindowFunction<DistinctAcc, ChannelStats, std::string> {
  void process(const std::string& channel, const Context& ctx, const std::vector<DistinctAcc>& acc,
               Collector<ChannelStats>& out) override {
    out.collect(ChannelStats{channel, format_day(ctx.window().start),
                             format_minute(acc[0].last_time), acc[0].counts()});
  }
};

struct PriceStats {
  std::array<int64_t, 4> bids{};
  int64_t min_price = std::numeric_limits<int64_t>::max();
  int64_t max_price = std::numeric_limits<int64_t>::min();
  int64_t sum_price = 0;
};
struct PriceAggregate : AggregateFunction<Bid, PriceStats, PriceStats> {
  PriceStats create_accumulator() const override { return {}; }
  void add(const Bid& b, PriceStats& acc) const override {
    ++acc.bids[0];
    ++acc.bids[static_cast<size_t>(price_rank(b.price))];
    acc.min_price = std::min(acc.min_price, b.price);
    acc.max_price = std::max(acc.max_price, b.price);
    acc.sum_price += b.price;
  }
  PriceStats get_result(const PriceStats& acc) const override { return acc; }
  void merge(const PriceStats& from, PriceStats& into) const override {
    for (size_t i = 0; i < 4; ++i) into.bids[i] += from.bids[i];
    into.min_price = std::min(into.min_price, from.min_price);
    into.max_price = std::max(into.max_price, from.max_price);
    into.sum_price += from.sum_price;
  }
};
struct EmitAuctionStats : ProcessWindowFunction<PriceStats, AuctionStats, int64_t> {
  void process(const int64_t& auction, const Context& ctx, const std::vector<PriceStats>& acc,
               Collector<AuctionStats>& out) override {
    const PriceStats& s = acc[0];
    out.collect(AuctionStats{
        auction, format_day(ctx.window().start), s.bids, s.min_price, s.max_price,
        static_cast<double>(s.sum_price) / static_cast<double>(s.bids[0]), s.sum_price});
  }
};

}  // namespace

DataStream<DailyStats> q15(const DataStream<Event>& events) {
  return bids(events)
      .key_by([](const Bid& b) { return day_of(b.date_time); })
      .window(TumblingEventTimeWindows::of(kOneDay))
      .aggregate(DistinctAggregate{}, EmitDailyStats{})
      .name("q15");
}

DataStream<ChannelStats> q16(const DataStream<Event>& events) {
  // The day is the window; the key is the channel alone.
  return bids(events)
      .key_by([](const Bid& b) { return b.channel; })
      .window(TumblingEventTimeWindows::of(kOneDay))
      .aggregate(DistinctAggregate{}, EmitChannelStats{})
      .name("q16");
}

DataStream<AuctionStats> q17(const DataStream<Event>& events) {
  return bids(events)
      .key_by([](const Bid& b) { return b.auction; })
      .window(TumblingEventTimeWindows::of(kOneDay))
      .aggregate(PriceAggregate{}, EmitAuctionStats{})
      .name("q17");
}

// ---- top-n ----

namespace {
// q18's state per (bidder, auction): the latest bid's order fields, not the bid.
struct LatestOrder {
  int64_t date_time = 0;
  int64_t price = 0;
  uint64_t extra_hash = 0;
};
struct LatestBid : KeyedProcessFunction<Key2, Bid, Bid> {
  ValueState<LatestOrder>* latest = nullptr;
  void open(KeyedRuntimeContext<Key2>& ctx) {
    latest = &ctx.get_state(ValueStateDescriptor<LatestOrder>{"latest"});
  }
  void process_element(const Bid& b, Context&, Collector<Bid>& out) override {
    const auto current = latest->value();
    uint64_t hash = 0;
    if (current) {
      if (b.date_time != current->date_time) {
        if (b.date_time < current->date_time) return;
      } else if (b.price != current->price) {
        if (b.price < current->price) return;
      } else if ((hash = extra_hash(b)) <= current->extra_hash) {
        return;
      }
    }
    latest->update(LatestOrder{b.date_time, b.price, hash != 0 ? hash : extra_hash(b)});
    out.collect(b);
  }
};
}  // namespace

DataStream<Bid> q18(const DataStream<Event>& events) {
  return bids(events)
      .key_by([](const Bid& b) {
        return Key2{b.bidder, b.auction};
      })
      .process(LatestBid{})
      .name("q18");
}

namespace {
struct RankKey {
  int64_t price = 0;
  int64_t date_time = 0;
  int64_t bidder = 0;
};
inline bool ranks_above(const RankKey& a, const RankKey& b) {
  if (a.price != b.price) return a.price > b.price;
  if (a.date_time != b.date_time) return a.date_time < b.date_time;
  return a.bidder < b.bidder;
}
// q19's state per auction: the order keys of its top 10, best first.
struct TopBids : KeyedProcessFunction<int64_t, Bid, RankedBid> {
  ValueState<std::vector<RankKey>>* top = nullptr;
  void open(KeyedRuntimeContext<int64_t>& ctx) {
    top = &ctx.get_state(ValueStateDescriptor<std::vector<RankKey>>{"top"});
  }
  void process_element(const Bid& b, Context&, Collector<RankedBid>& out) override {
    std::vector<RankKey> keys = top->value().value_or(std::vector<RankKey>{});
    const RankKey key{b.price, b.date_time, b.bidder};
    if (keys.size() == kQ19TopN && !ranks_above(key, keys.back())) return;
    const auto at = std::upper_bound(keys.begin(), keys.end(), key, ranks_above);
    const auto rank = at - keys.begin() + 1;
    keys.insert(at, key);
    if (keys.size() > kQ19TopN) keys.pop_back();
    top->update(keys);
    out.collect(RankedBid{b, rank});
  }
};
}  // namespace

DataStream<RankedBid> q19(const DataStream<Event>& events) {
  return bids(events).key_by([](const Bid& b) { return b.auction; }).process(TopBids{}).name("q19");
}

// ---- files ----

std::string q10_partition(int64_t date_time) {
  return "dt=" + format_day(date_time) + "/hm=" + format_minute(date_time);
}

SinkHandle q10(const DataStream<Event>& events, const std::string& directory) {
  return bids(events)
      .map([](const Bid& b) {
        return LoggedBid{b.auction, b.bidder, b.price, b.date_time, b.extra};
      })
      .name("q10_rows")
      .sink_to(FileSink<LoggedBid>::csv(directory).bucket_by(
          [](const LoggedBid& b) { return q10_partition(b.date_time); }))
      .name("q10");
}

}  // namespace sluice::nexmark_queries
