// The Nexmark queries as DataStream jobs (the definitions: docs/NEXMARK.md). Each query is a
// function from the event stream to its result stream, so the harness (sluice_nexmark.cpp) and the
// tests (tests/nexmark/) build exactly the same job. Result types are plain structs with equality,
// so a test can compare them with a brute-force reference computed from the same events; the
// small pure helpers the queries use (orderings, date formats, url parsing) are here too, for the
// references to share the definition and not the implementation of the operators.
//
// The jobs are built in nexmark_queries.cpp, compiled once into sluice_nexmark_queries: the
// harness and the tests link it rather than instantiating every operator twice.
//
// Event time: nexmark_events() reads the generator with a watermark as late as its
// out-of-orderness allows (in order: the largest timestamp so far - 1 per split), so no record is
// ever late and window queries equal their definitions over the whole input.
//
// Threading: the functions build a job graph on the caller's thread; the operators they add run
// like any others.
#pragma once

#include <array>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>

#include "sluice/api/data_stream.h"
#include "sluice/connectors/nexmark.h"

namespace sluice::nexmark_queries {

using nexmark::Auction;
using nexmark::Bid;
using nexmark::Event;
using nexmark::Person;

// The generator as a source with event-time watermarks.
DataStream<Event> nexmark_events(StreamEnvironment& env, const NexmarkConfig& config,
                                 const std::string& name = "nexmark");

DataStream<Bid> bids(const DataStream<Event>& events);

// ---- helpers shared with the references ----

inline constexpr int64_t kMillisPerDay = 86'400'000;
inline int64_t day_of(int64_t millis) {
  return millis >= 0 ? millis / kMillisPerDay : (millis + 1) / kMillisPerDay - 1;
}
// Flink's DATE_FORMAT(t, 'yyyy-MM-dd') and DATE_FORMAT(t, 'HH:mm') in UTC.
std::string format_day(int64_t millis);
std::string format_minute(int64_t millis);
inline int hour_of(int64_t millis) {
  return static_cast<int>((millis - day_of(millis) * kMillisPerDay) / 3'600'000);
}

// The value of `name` in a url's query (after '?' or '&'), or nullopt.
inline std::optional<std::string_view> url_parameter(std::string_view url, std::string_view name) {
  for (size_t at = url.find(name); at != std::string_view::npos; at = url.find(name, at + 1)) {
    const bool starts = at == 0 || url[at - 1] == '&' || url[at - 1] == '?';
    if (!starts || at + name.size() >= url.size() || url[at + name.size()] != '=') continue;
    const size_t begin = at + name.size() + 1;
    const size_t end = url.find('&', begin);
    return url.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
  }
  return std::nullopt;
}
// Flink's SPLIT_INDEX(url, '/', i): the i-th (from 0) piece between slashes.
inline std::string_view split_index(std::string_view text, char separator, int index) {
  size_t begin = 0;
  for (int i = 0; i < index; ++i) {
    begin = text.find(separator, begin);
    if (begin == std::string_view::npos) return {};
    ++begin;
  }
  const size_t end = text.find(separator, begin);
  return text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
}

// A bid's place in an order where ties of the queries' own order keys are broken by the rest of
// the bid, so that every parallelism and arrival order gives the same winner.
// Winning bid (q4, q6, q9): highest price, then earliest, then lowest bidder.
inline bool wins_over(const Bid& a, const Bid& b) {
  if (a.price != b.price) return a.price > b.price;
  if (a.date_time != b.date_time) return a.date_time < b.date_time;
  return a.bidder < b.bidder;
}
// A bid counts for an auction when placed while it was open (Flink: BETWEEN, both ends in).
inline bool bid_in_auction(const Bid& b, const Auction& a) {
  return b.auction == a.id && b.date_time >= a.date_time && b.date_time <= a.expires;
}

// ---- stateless ----

// q0: every bid, unchanged (what the source and the runtime cost).
DataStream<Bid> q0(const DataStream<Event>& events);

// q1: bids with the price converted from dollars to euros.
struct EuroBid {
  int64_t auction = 0;
  int64_t bidder = 0;
  double price = 0;
  int64_t date_time = 0;
  std::string extra;
  bool operator==(const EuroBid&) const = default;
};
inline EuroBid to_euros(const Bid& b) {
  return EuroBid{b.auction, b.bidder, 0.908 * static_cast<double>(b.price), b.date_time, b.extra};
}
DataStream<EuroBid> q1(const DataStream<Event>& events);

// q2: the auction and price of bids on every 123rd auction.
struct AuctionPrice {
  int64_t auction = 0;
  int64_t price = 0;
  bool operator==(const AuctionPrice&) const = default;
};
inline bool q2_selects(const Bid& b) { return b.auction % 123 == 0; }
DataStream<AuctionPrice> q2(const DataStream<Event>& events);

// q14: bids priced between 1 M and 50 M euros, labelled by time of day, with a user function
// counting 'c' in the extra field.
struct LabelledBid {
  int64_t auction = 0;
  int64_t bidder = 0;
  double price = 0;
  std::string bid_time_type;  // dayTime (8-18 h), nightTime (up to 6 h, from 20 h), otherTime
  int64_t date_time = 0;
  std::string extra;
  int64_t c_counts = 0;
  bool operator==(const LabelledBid&) const = default;
};
DataStream<LabelledBid> q14(const DataStream<Event>& events);

// q21: bids with a channel id: the four known channels by name, others from the url's
// channel_id parameter; bids with neither are dropped.
struct ChannelBid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string channel;
  std::string channel_id;
  bool operator==(const ChannelBid&) const = default;
};
DataStream<ChannelBid> q21(const DataStream<Event>& events);

// q22: bids with the first three directories of their url (empty where the url has fewer).
struct UrlBid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string channel;
  std::string dir1;
  std::string dir2;
  std::string dir3;
  bool operator==(const UrlBid&) const = default;
};
DataStream<UrlBid> q22(const DataStream<Event>& events);

// ---- joins ----

// q3: auctions in category 10 with their sellers from Oregon, Idaho or California.
struct LocalItem {
  std::string name;
  std::string city;
  std::string state;
  int64_t auction = 0;
  bool operator==(const LocalItem&) const = default;
};
inline bool q3_person(const Person& p) {
  return p.state == "OR" || p.state == "ID" || p.state == "CA";
}
DataStream<LocalItem> q3(const DataStream<Event>& events);

// q9: every auction that received a bid while open, with its winning bid; emitted when the
// watermark passes the auction's expiry (or the input ends). The result's event time is `expires`.
struct WinningBid {
  Auction auction;
  Bid bid;
  bool operator==(const WinningBid&) const = default;
};
DataStream<WinningBid> q9(const DataStream<Event>& events);

// q4: per category, the average winning price of the auctions closed so far (one update per
// closed auction; the last update of a category is the query's result over the input).
struct CategoryAverage {
  int64_t category = 0;
  int64_t auctions = 0;
  int64_t sum = 0;
  double average = 0;
  bool operator==(const CategoryAverage&) const = default;
};
DataStream<CategoryAverage> q4(const DataStream<Event>& events);

// q6: per seller, at every closed auction (in order of expiry, then auction id), the average
// winning price of the seller's last (up to) 10 closed auctions.
struct SellerAverage {
  int64_t seller = 0;
  int64_t auction = 0;  // the auction whose close produced this update
  double average = 0;
  bool operator==(const SellerAverage&) const = default;
};
DataStream<SellerAverage> q6(const DataStream<Event>& events);

// q20: bids joined with their auction, for auctions in category 10.
struct ExpandedBid {
  Bid bid;
  Auction auction;
  bool operator==(const ExpandedBid&) const = default;
};
DataStream<ExpandedBid> q20(const DataStream<Event>& events);

// q13: bids joined with a bounded side input read from a CSV file of `key,value` lines, on
// auction % (number of lines) = key.
struct SideInputBid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t date_time = 0;
  std::string value;
  bool operator==(const SideInputBid&) const = default;
};
// Writes the side input the harness and tests use: `rows` lines "i,value-of-i".
void write_side_input(const std::string& path, int64_t rows);
DataStream<SideInputBid> q13(const DataStream<Event>& events, const std::string& side_input_csv);

// ---- windows ----

// q5: per 10 s window sliding every 2 s, the auctions with the most bids (all of them on a tie).
struct HotItem {
  int64_t auction = 0;
  int64_t bids = 0;
  int64_t window_start = 0;
  bool operator==(const HotItem&) const = default;
};
inline constexpr int64_t kQ5SizeMs = 10'000;
inline constexpr int64_t kQ5SlideMs = 2'000;
DataStream<HotItem> q5(const DataStream<Event>& events);

// q7: per 10 s tumbling window, the bids with the window's highest price.
struct HighestBid {
  int64_t auction = 0;
  int64_t price = 0;
  int64_t bidder = 0;
  int64_t date_time = 0;
  std::string extra;
  bool operator==(const HighestBid&) const = default;
};
inline constexpr int64_t kQ7WindowMs = 10'000;
DataStream<HighestBid> q7(const DataStream<Event>& events);

// q8: people who registered and opened an auction in the same 10 s tumbling window, each emitted
// as soon as both were seen (carrying the time of the later event), not at the window's end.
struct NewUser {
  int64_t id = 0;
  std::string name;
  int64_t window_start = 0;
  bool operator==(const NewUser&) const = default;
};
inline constexpr int64_t kQ8WindowMs = 10'000;
DataStream<NewUser> q8(const DataStream<Event>& events);

// q11: bids per bidder per session (sessions end after 10 s without a bid).
struct BidderSession {
  int64_t bidder = 0;
  int64_t bids = 0;
  int64_t start = 0;
  int64_t end = 0;
  bool operator==(const BidderSession&) const = default;
};
inline constexpr int64_t kQ11GapMs = 10'000;
DataStream<BidderSession> q11(const DataStream<Event>& events);

// q12: bids per bidder per 10 s processing-time window.
DataStream<BidderSession> q12(const DataStream<Event>& events);

// ---- daily statistics (one row per group when its day closes in event time) ----

// Price ranges of q15-q17: rank 1 below 10,000, rank 2 below 1,000,000, rank 3 above.
inline int price_rank(int64_t price) { return price < 10'000 ? 1 : price < 1'000'000 ? 2 : 3; }

// Counts indexed [total, rank 1, rank 2, rank 3].
struct DistinctCounts {
  std::array<int64_t, 4> bids{};
  std::array<int64_t, 4> bidders{};
  std::array<int64_t, 4> auctions{};
  bool operator==(const DistinctCounts&) const = default;
};

// q15: per day.
struct DailyStats {
  std::string day;
  DistinctCounts counts;
  bool operator==(const DailyStats&) const = default;
};
DataStream<DailyStats> q15(const DataStream<Event>& events);

// q16: per channel and day, with the minute of the day's last bid.
struct ChannelStats {
  std::string channel;
  std::string day;
  std::string minute;
  DistinctCounts counts;
  bool operator==(const ChannelStats&) const = default;
};
DataStream<ChannelStats> q16(const DataStream<Event>& events);

// q17: per auction and day.
struct AuctionStats {
  int64_t auction = 0;
  std::string day;
  std::array<int64_t, 4> bids{};
  int64_t min_price = 0;
  int64_t max_price = 0;
  double avg_price = 0;
  int64_t sum_price = 0;
  bool operator==(const AuctionStats&) const = default;
};
DataStream<AuctionStats> q17(const DataStream<Event>& events);

// ---- top-n ----

// q18: per bidder and auction, every bid that becomes the latest one; the last update per pair
// is the query's result. Order: date_time, then price, then (a deterministic tie-break that needs
// no copy of the string in the state) the hash of extra.
inline uint64_t extra_hash(const Bid& b) { return hash_bytes(b.extra.data(), b.extra.size()); }
inline bool later_than(const Bid& a, const Bid& b) {
  if (a.date_time != b.date_time) return a.date_time > b.date_time;
  if (a.price != b.price) return a.price > b.price;
  return extra_hash(a) > extra_hash(b);
}
DataStream<Bid> q18(const DataStream<Event>& events);

// q19: per auction, every bid that enters the 10 highest (price, then earlier, then lower bidder),
// with its rank from 1; replaying the updates in order (insert at rank, keep 10) gives the top 10.
struct RankedBid {
  Bid bid;
  int64_t rank = 0;
  bool operator==(const RankedBid&) const = default;
};
inline constexpr size_t kQ19TopN = 10;
DataStream<RankedBid> q19(const DataStream<Event>& events);

// ---- files ----

// q10: every bid as a CSV line (auction, bidder, price, date_time, extra) into exactly-once part
// files under `directory`/dt=yyyy-MM-dd/hm=HH:mm (the bid's event time, UTC).
struct LoggedBid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  int64_t date_time = 0;
  std::string extra;
  bool operator==(const LoggedBid&) const = default;
};
std::string q10_partition(int64_t date_time);
SinkHandle q10(const DataStream<Event>& events, const std::string& directory);

}  // namespace sluice::nexmark_queries
