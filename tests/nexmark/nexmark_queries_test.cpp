// The Nexmark queries against brute-force references computed from the same generated events
// (NexmarkGenerator::event_at), at several parallelisms.
#include <gtest/gtest.h>

#include "nexmark/nexmark_queries.h"
#include "sluice/sluice.h"
#include "test_util.h"

namespace sluice {
namespace {

namespace q = nexmark_queries;
using nexmark::Bid;

constexpr int64_t kEvents = 20'000;

NexmarkConfig small_config() {
  NexmarkConfig config;
  config.max_events = kEvents;
  return config;
}

std::vector<Bid> reference_bids() {
  NexmarkGenerator generator(small_config());
  std::vector<Bid> bids;
  for (int64_t n = 0; n < kEvents; ++n) {
    auto event = generator.event_at(n);
    if (event.is_bid()) bids.push_back(event.bid());
  }
  return bids;
}

// Runs `query` at each parallelism and compares its results, as a multiset, with `expected`.
template <class Query, class T>
void expect_query(Query query, std::vector<T> expected, const std::string& name) {
  auto by_value = [](const T& a, const T& b) { return to_bytes(a) < to_bytes(b); };
  std::sort(expected.begin(), expected.end(), by_value);
  for (int p : {1, 2, 3}) {
    SCOPED_TRACE(name + " at parallelism " + std::to_string(p));
    auto env = testing::quiet_env(p);
    auto results = query(env.from_source(nexmark_source(small_config()), "nexmark")).collect();
    env.execute();
    auto actual = results->values();
    std::sort(actual.begin(), actual.end(), by_value);
    ASSERT_EQ(actual.size(), expected.size());
    EXPECT_TRUE(actual == expected);
  }
}

TEST(NexmarkQueries, Q0PassesEveryBidThrough) {
  const auto bids = reference_bids();
  ASSERT_EQ(bids.size(), static_cast<size_t>(kEvents / 50 * 46));
  expect_query([](DataStream<nexmark::Event> e) { return q::q0(e); }, bids, "q0");
}

TEST(NexmarkQueries, Q1ConvertsPricesToEuros) {
  std::vector<q::EuroBid> expected;
  for (const Bid& b : reference_bids()) {
    expected.push_back(
        {b.auction, b.bidder, 0.908 * static_cast<double>(b.price), b.date_time, b.extra});
  }
  expect_query([](DataStream<nexmark::Event> e) { return q::q1(e); }, expected, "q1");
}

TEST(NexmarkQueries, Q2SelectsEvery123rdAuction) {
  std::vector<q::AuctionPrice> expected;
  for (const Bid& b : reference_bids()) {
    if (b.auction % 123 == 0) expected.push_back({b.auction, b.price});
  }
  ASSERT_FALSE(expected.empty());
  expect_query([](DataStream<nexmark::Event> e) { return q::q2(e); }, expected, "q2");
}

TEST(NexmarkQueries, Q21ExtractsChannelIds) {
  EXPECT_EQ(q::url_parameter("https://x/y?a=1&channel_id=42&b=2", "channel_id"), "42");
  EXPECT_EQ(q::url_parameter("https://x/y?xchannel_id=42", "channel_id"), std::nullopt);
  EXPECT_EQ(q::url_parameter("https://x/y?channel_id=7", "channel_id"), "7");
  std::vector<q::ChannelBid> expected;
  int known = 0, from_url = 0;
  for (const Bid& b : reference_bids()) {
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
  expect_query([](DataStream<nexmark::Event> e) { return q::q21(e); }, expected, "q21");
}

TEST(NexmarkQueries, Q22SplitsUrls) {
  EXPECT_EQ(q::split_index("https://www.nexmark.com/a/b/item.htm", '/', 3), "a");
  EXPECT_EQ(q::split_index("https://www.nexmark.com/a/b/item.htm", '/', 5), "item.htm");
  EXPECT_EQ(q::split_index("https://www.nexmark.com", '/', 4), "");
  std::vector<q::UrlBid> expected;
  for (const Bid& b : reference_bids()) {
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
  expect_query([](DataStream<nexmark::Event> e) { return q::q22(e); }, expected, "q22");
}

}  // namespace
}  // namespace sluice
