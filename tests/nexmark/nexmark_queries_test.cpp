// The Nexmark queries against brute-force references computed from the same generated events
// (NexmarkGenerator::event_at), at parallelism 1, 2 and 3. The references follow each query's
// definition over the whole input (docs/NEXMARK.md): windows by their bounds, joins by nested
// loops; the watermark rules decide nothing here because the generator's watermark lets no
// record be late. Event rates are chosen per query so that the input spans several windows,
// auction lifetimes or days.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "nexmark/nexmark_queries.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace q = nexmark_queries;
namespace fs = std::filesystem;
using nexmark::Auction;
using nexmark::Bid;
using nexmark::Event;
using nexmark::Person;

NexmarkConfig config_of(int64_t events, int64_t events_per_second = 10'000) {
  NexmarkConfig config;
  config.max_events = events;
  config.events_per_second = events_per_second;
  return config;
}

std::vector<Event> all_events(const NexmarkConfig& config) {
  NexmarkGenerator generator(config);
  std::vector<Event> events;
  for (int64_t n = 0; n < config.max_events; ++n) events.push_back(generator.event_at(n));
  return events;
}
template <class T>
std::vector<T> all_of(const NexmarkConfig& config) {
  std::vector<T> out;
  for (const Event& e : all_events(config)) {
    if (const T* v = std::get_if<T>(&e.value())) out.push_back(*v);
  }
  return out;
}

// Runs `query` over the generated events at parallelism p and returns its results in arrival
// order (which keeps each key's order: a key's results come from one subtask).
template <class Query>
auto run_query(Query query, const NexmarkConfig& config, int p) {
  auto env = testing::quiet_env(p);
  auto results = query(q::nexmark_events(env, config)).collect();
  env.execute();
  return results->values();
}

template <class T>
std::vector<T> by_bytes(std::vector<T> values) {
  std::sort(values.begin(), values.end(),
            [](const T& a, const T& b) { return to_bytes(a) < to_bytes(b); });
  return values;
}

// Runs `query` at each parallelism and compares its results, as a multiset, with `expected`.
template <class Query, class T>
void expect_query(Query query, const NexmarkConfig& config, std::vector<T> expected,
                  const std::string& name) {
  expected = by_bytes(std::move(expected));
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE(name + " at parallelism " + std::to_string(p));
    auto actual = by_bytes(run_query(query, config, p));
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_TRUE(actual == expected);
  }
}

#define QUERY(name) [](DataStream<Event> e) { return q::name(e); }

// ---- stateless ----

const NexmarkConfig kSmall = config_of(20'000);

TEST(NexmarkQueries, Q0PassesEveryBidThrough) {
  const auto bids = all_of<Bid>(kSmall);
  ASSERT_EQ(bids.size(), static_cast<size_t>(20'000 / 50 * 46));
  expect_query(QUERY(q0), kSmall, bids, "q0");
}

TEST(NexmarkQueries, Q1ConvertsPricesToEuros) {
  std::vector<q::EuroBid> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    expected.push_back(
        {b.auction, b.bidder, 0.908 * static_cast<double>(b.price), b.date_time, b.extra});
  }
  expect_query(QUERY(q1), kSmall, expected, "q1");
}

TEST(NexmarkQueries, Q2SelectsEvery123rdAuction) {
  std::vector<q::AuctionPrice> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    if (b.auction % 123 == 0) expected.push_back({b.auction, b.price});
  }
  ASSERT_FALSE(expected.empty());
  expect_query(QUERY(q2), kSmall, expected, "q2");
}

TEST(NexmarkQueries, Q14LabelsExpensiveBidsByTimeOfDay) {
  EXPECT_EQ(q::hour_of(0), 0);
  EXPECT_EQ(q::hour_of(19 * 3'600'000 + 5), 19);
  // One event per second from midnight: 30,000 s reach into the day-time hours.
  const NexmarkConfig config = config_of(30'000, 1);
  std::vector<q::LabelledBid> expected;
  std::set<std::string> types;
  for (const Bid& b : all_of<Bid>(config)) {
    const double price = 0.908 * static_cast<double>(b.price);
    if (price <= 1'000'000 || price >= 50'000'000) continue;
    const int hour = static_cast<int>((b.date_time / 1000 / 3600) % 24);
    const std::string type = (hour >= 8 && hour <= 18)   ? "dayTime"
                             : (hour <= 6 || hour >= 20) ? "nightTime"
                                                         : "otherTime";
    int64_t cs = 0;
    for (char c : b.extra) cs += c == 'c';
    expected.push_back({b.auction, b.bidder, price, type, b.date_time, b.extra, cs});
    types.insert(type);
  }
  EXPECT_EQ(types.size(), 3u);
  expect_query(QUERY(q14), config, expected, "q14");
}

TEST(NexmarkQueries, Q21ExtractsChannelIds) {
  EXPECT_EQ(q::url_parameter("https://x/y?a=1&channel_id=42&b=2", "channel_id"), "42");
  EXPECT_EQ(q::url_parameter("https://x/y?xchannel_id=42", "channel_id"), std::nullopt);
  EXPECT_EQ(q::url_parameter("https://x/y?channel_id=7", "channel_id"), "7");
  std::vector<q::ChannelBid> expected;
  int known = 0, from_url = 0;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    std::string lower = b.channel;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::map<std::string, std::string> ids = {
        {"apple", "0"}, {"google", "1"}, {"facebook", "2"}, {"baidu", "3"}};
    if (auto it = ids.find(lower); it != ids.end()) {
      expected.push_back({b.auction, b.bidder, b.price, b.channel, it->second});
      ++known;
      continue;
    }
    // The slow way: the text between "channel_id=" and the next '&'.
    const size_t at = b.url.find("channel_id=");
    if (at == std::string::npos || (at > 0 && b.url[at - 1] != '&' && b.url[at - 1] != '?'))
      continue;
    std::string id;
    for (size_t i = at + 11; i < b.url.size() && b.url[i] != '&'; ++i) id += b.url[i];
    expected.push_back({b.auction, b.bidder, b.price, b.channel, id});
    ++from_url;
  }
  EXPECT_GT(known, 0);
  EXPECT_GT(from_url, 0);
  expect_query(QUERY(q21), kSmall, expected, "q21");
}

TEST(NexmarkQueries, Q22SplitsUrls) {
  EXPECT_EQ(q::split_index("https://www.nexmark.com/a/b/item.htm", '/', 3), "a");
  EXPECT_EQ(q::split_index("https://www.nexmark.com/a/b/item.htm", '/', 5), "item.htm");
  EXPECT_EQ(q::split_index("https://www.nexmark.com", '/', 4), "");
  std::vector<q::UrlBid> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    std::vector<std::string> pieces(1);
    for (char c : b.url) {
      if (c == '/') {
        pieces.emplace_back();
      } else {
        pieces.back() += c;
      }
    }
    auto piece = [&](size_t i) { return i < pieces.size() ? pieces[i] : std::string(); };
    expected.push_back({b.auction, b.bidder, b.price, b.channel, piece(3), piece(4), piece(5)});
  }
  expect_query(QUERY(q22), kSmall, expected, "q22");
}

// ---- joins ----

TEST(NexmarkQueries, Q3JoinsCategory10AuctionsWithLocalSellers) {
  const NexmarkConfig config = config_of(50'000);
  const auto people = all_of<Person>(config);
  std::vector<q::LocalItem> expected;
  for (const Auction& a : all_of<Auction>(config)) {
    if (a.category != 10) continue;
    for (const Person& p : people) {
      if (p.id == a.seller && (p.state == "OR" || p.state == "ID" || p.state == "CA")) {
        expected.push_back({p.name, p.city, p.state, a.id});
      }
    }
  }
  ASSERT_GT(expected.size(), 5u);
  expect_query(QUERY(q3), config, expected, "q3");
}

// Auctions with their winning bid, by nested loops. 1,000 events per second: auctions stay open
// for up to about 3 s and collect many bids.
const NexmarkConfig kAuctions = config_of(30'000, 1'000);

std::vector<q::WinningBid> reference_winning_bids(const NexmarkConfig& config) {
  const auto bids = all_of<Bid>(config);
  std::vector<q::WinningBid> winners;
  for (const Auction& a : all_of<Auction>(config)) {
    const Bid* best = nullptr;
    for (const Bid& b : bids) {
      const bool counts =
          b.auction == a.id && b.date_time >= a.date_time && b.date_time <= a.expires;
      if (counts && (best == nullptr || b.price > best->price ||
                     (b.price == best->price &&
                      (b.date_time < best->date_time ||
                       (b.date_time == best->date_time && b.bidder < best->bidder))))) {
        best = &b;
      }
    }
    if (best != nullptr) winners.push_back({a, *best});
  }
  return winners;
}

TEST(NexmarkQueries, Q9FindsEveryAuctionsWinningBid) {
  const auto expected = reference_winning_bids(kAuctions);
  ASSERT_GT(expected.size(), 100u);
  expect_query(QUERY(q9), kAuctions, expected, "q9");
}

TEST(NexmarkQueries, Q4AveragesWinningPricesPerCategory) {
  std::map<int64_t, std::pair<int64_t, int64_t>> totals;  // category -> (sum, count)
  for (const auto& w : reference_winning_bids(kAuctions)) {
    totals[w.auction.category].first += w.bid.price;
    ++totals[w.auction.category].second;
  }
  ASSERT_EQ(totals.size(), 5u);
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    // One update per closed auction; the one counting the most auctions is the final average.
    std::map<int64_t, q::CategoryAverage> final_rows;
    std::map<int64_t, std::set<int64_t>> counts_seen;
    for (const auto& r : run_query(QUERY(q4), kAuctions, p)) {
      counts_seen[r.category].insert(r.auctions);
      if (r.auctions > final_rows[r.category].auctions) final_rows[r.category] = r;
    }
    ASSERT_EQ(final_rows.size(), totals.size());
    for (const auto& [category, t] : totals) {
      const auto& row = final_rows[category];
      EXPECT_EQ(row.sum, t.first);
      EXPECT_EQ(row.auctions, t.second);
      EXPECT_DOUBLE_EQ(row.average, static_cast<double>(t.first) / static_cast<double>(t.second));
      EXPECT_EQ(counts_seen[category].size(), static_cast<size_t>(t.second));
    }
  }
}

TEST(NexmarkQueries, Q6AveragesEachSellersLastTenWinningPrices) {
  std::map<int64_t, std::vector<q::WinningBid>> by_seller;
  for (const auto& w : reference_winning_bids(kAuctions)) by_seller[w.auction.seller].push_back(w);
  std::vector<q::SellerAverage> expected;
  bool some_seller_has_more_than_ten = false;
  for (auto& [seller, wins] : by_seller) {
    std::sort(wins.begin(), wins.end(), [](const auto& a, const auto& b) {
      return std::pair(a.auction.expires, a.auction.id) <
             std::pair(b.auction.expires, b.auction.id);
    });
    some_seller_has_more_than_ten = some_seller_has_more_than_ten || wins.size() > 10;
    for (size_t i = 0; i < wins.size(); ++i) {
      const size_t from = i >= 9 ? i - 9 : 0;
      int64_t sum = 0;
      for (size_t j = from; j <= i; ++j) sum += wins[j].bid.price;
      expected.push_back({seller, wins[i].auction.id,
                          static_cast<double>(sum) / static_cast<double>(i - from + 1)});
    }
  }
  EXPECT_TRUE(some_seller_has_more_than_ten);
  expect_query(QUERY(q6), kAuctions, expected, "q6");
}

TEST(NexmarkQueries, Q20ExpandsBidsOnCategory10Auctions) {
  const auto auctions = all_of<Auction>(kSmall);
  std::vector<q::ExpandedBid> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    for (const Auction& a : auctions) {
      if (a.id == b.auction && a.category == 10) expected.push_back({b, a});
    }
  }
  ASSERT_GT(expected.size(), 100u);
  expect_query(QUERY(q20), kSmall, expected, "q20");
}

TEST(NexmarkQueries, Q13JoinsBidsWithASideInputFile) {
  testing::TempDir scratch;
  const std::string side_input = (scratch.path() / "side.csv").string();
  q::write_side_input(side_input, 500);
  std::vector<q::SideInputBid> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    expected.push_back(
        {b.auction, b.bidder, b.price, b.date_time, "value-of-" + std::to_string(b.auction % 500)});
  }
  expect_query([&](DataStream<Event> e) { return q::q13(e, side_input); }, kSmall, expected, "q13");
}

TEST(NexmarkQueries, Q13NamesTheFileAndLineOfABadSideInput) {
  testing::TempDir scratch;
  const std::string side_input = (scratch.path() / "side.csv").string();
  std::ofstream(side_input) << "0,a\n1,b\nnot a row\n";
  auto env = testing::quiet_env(1);
  q::q13(q::nexmark_events(env, config_of(100)), side_input).collect();
  try {
    env.execute();
    FAIL() << "a bad side input ran";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("side.csv"), std::string::npos) << what;
    EXPECT_NE(what.find("side.csv:3]"), std::string::npos) << what;
  }
}

// ---- windows ----

// Every window [start, start + size) of a `slide` grid that contains ts.
std::vector<int64_t> window_starts(int64_t ts, int64_t size, int64_t slide) {
  std::vector<int64_t> starts;
  for (int64_t start = ts - ((ts % slide) + slide) % slide; start > ts - size; start -= slide) {
    starts.push_back(start);
  }
  return starts;
}

TEST(NexmarkQueries, Q5FindsTheHotItemsOfEverySlidingWindow) {
  const NexmarkConfig config = config_of(20'000, 1'000);  // 20 s: 14 windows
  std::map<int64_t, std::map<int64_t, int64_t>> counts;   // start -> auction -> bids
  for (const Bid& b : all_of<Bid>(config)) {
    for (int64_t start : window_starts(b.date_time, q::kQ5SizeMs, q::kQ5SlideMs)) {
      ++counts[start][b.auction];
    }
  }
  std::vector<q::HotItem> expected;
  for (const auto& [start, per_auction] : counts) {
    int64_t max = 0;
    for (const auto& [auction, n] : per_auction) max = std::max(max, n);
    for (const auto& [auction, n] : per_auction) {
      if (n == max) expected.push_back({auction, n, start});
    }
  }
  ASSERT_GE(counts.size(), 10u);
  expect_query(QUERY(q5), config, expected, "q5");
}

TEST(NexmarkQueries, Q7FindsTheHighestBidsOfEveryTumblingWindow) {
  const NexmarkConfig config = config_of(30'000, 500);  // 60 s: 6 windows
  std::map<int64_t, std::vector<Bid>> windows;
  for (const Bid& b : all_of<Bid>(config)) {
    windows[b.date_time / q::kQ7WindowMs].push_back(b);
  }
  std::vector<q::HighestBid> expected;
  for (const auto& [window, bids] : windows) {
    int64_t max = 0;
    for (const Bid& b : bids) max = std::max(max, b.price);
    for (const Bid& b : bids) {
      if (b.price == max) expected.push_back({b.auction, b.price, b.bidder, b.date_time, b.extra});
    }
  }
  ASSERT_GE(windows.size(), 6u);
  expect_query(QUERY(q7), config, expected, "q7");
}

TEST(NexmarkQueries, Q8FindsPeopleWhoOpenedAnAuctionInTheirFirstWindow) {
  const NexmarkConfig config = config_of(40'000, 1'000);
  // (seller, window start) -> the first auction's position in the input
  std::map<std::pair<int64_t, int64_t>, size_t> sellers;
  const std::vector<Event> events = all_events(config);
  for (size_t n = 0; n < events.size(); ++n) {
    if (const Auction* a = events[n].if_auction()) {
      sellers.emplace(std::pair{a->seller, a->date_time - a->date_time % q::kQ8WindowMs}, n);
    }
  }
  std::vector<q::NewUser> expected;
  size_t auction_first = 0;  // rows whose auction came before the registration
  for (size_t n = 0; n < events.size(); ++n) {
    const Person* p = events[n].if_person();
    if (p == nullptr) continue;
    const int64_t start = p->date_time - p->date_time % q::kQ8WindowMs;
    auto seller = sellers.find({p->id, start});
    if (seller == sellers.end()) continue;
    expected.push_back({p->id, p->name, start});
    if (seller->second < n) ++auction_first;
  }
  // q8 emits a row when its pair completes: both orders must occur.
  ASSERT_GT(auction_first, 0u);
  ASSERT_GT(expected.size() - auction_first, 0u);
  expect_query(QUERY(q8), config, expected, "q8");
}

TEST(NexmarkQueries, Q11CountsBidsPerBidderSession) {
  const NexmarkConfig config = config_of(20'000, 100);  // 200 s, sessions of 10 s gap
  std::map<int64_t, std::vector<int64_t>> times;
  for (const Bid& b : all_of<Bid>(config)) times[b.bidder].push_back(b.date_time);
  std::vector<q::BidderSession> expected;
  for (auto& [bidder, ts] : times) {
    std::sort(ts.begin(), ts.end());
    // Flink's rule: [t, t + gap) windows that overlap or touch merge.
    q::BidderSession session{bidder, 1, ts[0], ts[0] + q::kQ11GapMs};
    for (size_t i = 1; i < ts.size(); ++i) {
      if (ts[i] <= session.end) {
        ++session.bids;
        session.end = std::max(session.end, ts[i] + q::kQ11GapMs);
      } else {
        expected.push_back(session);
        session = {bidder, 1, ts[i], ts[i] + q::kQ11GapMs};
      }
    }
    expected.push_back(session);
  }
  ASSERT_LT(expected.size(), all_of<Bid>(config).size() / 2);  // sessions merge
  expect_query(QUERY(q11), config, expected, "q11");
}

TEST(NexmarkQueries, Q12CountsEveryBidOnceInProcessingTimeWindows) {
  std::map<int64_t, int64_t> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) ++expected[b.bidder];
  for (int p : {1, 2}) {
    std::map<int64_t, int64_t> counted;
    for (const auto& r : run_query(QUERY(q12), kSmall, p)) {
      EXPECT_EQ(r.start % 10'000, 0);
      EXPECT_EQ(r.end - r.start, 10'000);
      counted[r.bidder] += r.bids;
    }
    EXPECT_EQ(counted, expected) << "parallelism " << p;
  }
}

// ---- daily statistics ----

// One event per second from 22:00: the input crosses midnight into a second day.
NexmarkConfig two_days() {
  NexmarkConfig config = config_of(20'000, 1);
  config.base_time_ms += 22 * 3'600'000;
  return config;
}

struct DistinctReference {
  std::array<int64_t, 4> bids{};
  std::array<std::set<int64_t>, 4> bidders, auctions;
  int64_t last = 0;
  void add(const Bid& b) {
    const size_t rank = b.price < 10'000 ? 1 : b.price < 1'000'000 ? 2 : 3;
    for (size_t i : {size_t{0}, rank}) {
      ++bids[i];
      bidders[i].insert(b.bidder);
      auctions[i].insert(b.auction);
    }
    last = std::max(last, b.date_time);
  }
  q::DistinctCounts counts() const {
    q::DistinctCounts c;
    for (size_t i = 0; i < 4; ++i) {
      c.bids[i] = bids[i];
      c.bidders[i] = static_cast<int64_t>(bidders[i].size());
      c.auctions[i] = static_cast<int64_t>(auctions[i].size());
    }
    return c;
  }
};

TEST(NexmarkQueries, DateFormats) {
  const int64_t base = NexmarkConfig{}.base_time_ms;
  EXPECT_EQ(q::format_day(base), "2015-07-15");
  EXPECT_EQ(q::format_day(base + q::kMillisPerDay - 1), "2015-07-15");
  EXPECT_EQ(q::format_day(base + q::kMillisPerDay), "2015-07-16");
  EXPECT_EQ(q::format_minute(base + 13 * 3'600'000 + 7 * 60'000 + 59'999), "13:07");
  EXPECT_EQ(q::q10_partition(base + 60'000), "dt=2015-07-15/hm=00:01");
}

TEST(NexmarkQueries, Q15ComputesDailyStatistics) {
  std::map<std::string, DistinctReference> days;
  for (const Bid& b : all_of<Bid>(two_days())) days[q::format_day(b.date_time)].add(b);
  ASSERT_EQ(days.size(), 2u);
  std::vector<q::DailyStats> expected;
  for (const auto& [day, r] : days) expected.push_back({day, r.counts()});
  expect_query(QUERY(q15), two_days(), expected, "q15");
}

TEST(NexmarkQueries, Q16ComputesDailyStatisticsPerChannel) {
  std::map<std::pair<std::string, std::string>, DistinctReference> groups;
  for (const Bid& b : all_of<Bid>(two_days()))
    groups[{b.channel, q::format_day(b.date_time)}].add(b);
  std::vector<q::ChannelStats> expected;
  for (const auto& [key, r] : groups) {
    expected.push_back({key.first, key.second, q::format_minute(r.last), r.counts()});
  }
  expect_query(QUERY(q16), two_days(), expected, "q16");
}

TEST(NexmarkQueries, Q17ComputesDailyStatisticsPerAuction) {
  std::map<std::pair<int64_t, std::string>, std::vector<int64_t>> prices;
  for (const Bid& b : all_of<Bid>(two_days())) {
    prices[{b.auction, q::format_day(b.date_time)}].push_back(b.price);
  }
  std::vector<q::AuctionStats> expected;
  for (const auto& [key, ps] : prices) {
    q::AuctionStats s{key.first, key.second, {}, ps[0], ps[0], 0, 0};
    for (int64_t p : ps) {
      ++s.bids[0];
      ++s.bids[static_cast<size_t>(p < 10'000 ? 1 : p < 1'000'000 ? 2 : 3)];
      s.min_price = std::min(s.min_price, p);
      s.max_price = std::max(s.max_price, p);
      s.sum_price += p;
    }
    s.avg_price = static_cast<double>(s.sum_price) / static_cast<double>(ps.size());
    expected.push_back(s);
  }
  expect_query(QUERY(q17), two_days(), expected, "q17");
}

// ---- top-n ----

TEST(NexmarkQueries, Q18KeepsTheLastBidPerBidderAndAuction) {
  std::map<std::pair<int64_t, int64_t>, Bid> latest;
  for (const Bid& b : all_of<Bid>(kSmall)) {
    auto [it, inserted] = latest.try_emplace({b.bidder, b.auction}, b);
    if (!inserted && q::later_than(b, it->second)) it->second = b;
  }
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    std::map<std::pair<int64_t, int64_t>, Bid> last_update;
    for (const Bid& b : run_query(QUERY(q18), kSmall, p)) {
      auto [it, inserted] = last_update.try_emplace({b.bidder, b.auction}, b);
      if (!inserted) {
        EXPECT_TRUE(q::later_than(b, it->second)) << "an update that is not newer";
        it->second = b;
      }
    }
    EXPECT_TRUE(last_update == latest);
  }
}

TEST(NexmarkQueries, Q19KeepsTheTenHighestBidsPerAuction) {
  const auto ranks_above = [](const Bid& a, const Bid& b) {
    return std::tuple(-a.price, a.date_time, a.bidder) <
           std::tuple(-b.price, b.date_time, b.bidder);
  };
  std::map<int64_t, std::vector<Bid>> expected;
  for (const Bid& b : all_of<Bid>(kSmall)) expected[b.auction].push_back(b);
  size_t full = 0;
  for (auto& [auction, bids] : expected) {
    std::stable_sort(bids.begin(), bids.end(), ranks_above);
    if (bids.size() > q::kQ19TopN) bids.resize(q::kQ19TopN);
    full += bids.size() == q::kQ19TopN;
  }
  ASSERT_GT(full, 10u);
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    std::map<int64_t, std::vector<Bid>> replayed;
    for (const auto& r : run_query(QUERY(q19), kSmall, p)) {
      auto& top = replayed[r.bid.auction];
      ASSERT_GE(r.rank, 1);
      ASSERT_LE(static_cast<size_t>(r.rank), top.size() + 1);
      top.insert(top.begin() + (r.rank - 1), r.bid);
      if (top.size() > q::kQ19TopN) top.pop_back();
    }
    EXPECT_TRUE(replayed == expected);
  }
}

// ---- files ----

TEST(NexmarkQueries, Q10WritesEveryBidIntoItsMinutesPartition) {
  const NexmarkConfig config = config_of(20'000, 100);  // 200 s: four minutes
  std::multiset<std::string> expected;
  std::set<std::string> partitions;
  for (const Bid& b : all_of<Bid>(config)) {
    std::string line = fmt::format("{},{},{},{},", b.auction, b.bidder, b.price, b.date_time);
    append_csv_field(line, b.extra);
    expected.insert(q::q10_partition(b.date_time) + " " + line);
    partitions.insert(q::q10_partition(b.date_time));
  }
  ASSERT_EQ(partitions.size(), 4u);
  for (int p : {1, 3}) {
    SCOPED_TRACE("parallelism " + std::to_string(p));
    testing::TempDir out;
    auto env = testing::quiet_env(p);
    q::q10(q::nexmark_events(env, config), out.path().string());
    env.execute();
    std::multiset<std::string> written;
    for (const auto& entry : fs::recursive_directory_iterator(out.path())) {
      if (!entry.is_regular_file()) continue;
      const std::string partition = fs::relative(entry.path().parent_path(), out.path()).string();
      ASSERT_NE(entry.path().filename().string()[0], '.') << "an uncommitted file";
      std::ifstream in(entry.path());
      for (std::string line; std::getline(in, line);) written.insert(partition + " " + line);
    }
    EXPECT_EQ(written.size(), expected.size());
    EXPECT_TRUE(written == expected);
  }
}

}  // namespace
}  // namespace sluice
