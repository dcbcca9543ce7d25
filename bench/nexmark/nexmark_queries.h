// The Nexmark queries as DataStream jobs (the definitions: docs/NEXMARK.md). Each query is a
// function from the event stream to its result stream, so the harness (sluice_nexmark.cpp) and the
// tests (tests/nexmark/) build exactly the same job. Result types are plain structs with equality,
// so a test can compare them with a brute-force reference computed from the same events.
//
// Built so far: the stateless queries q0, q1, q2, q21, q22. The rest follow (see docs/NEXMARK.md).
//
// Threading: the functions build a job graph on the caller's thread; the operators they add run
// like any others.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "sluice/api/data_stream.h"
#include "sluice/connectors/nexmark.h"

namespace sluice::nexmark_queries {

using nexmark::Bid;
using nexmark::Event;

inline DataStream<Bid> bids(const DataStream<Event>& events) {
  return events.filter([](const Event& e) { return e.is_bid(); })
      .map([](const Event& e) { return e.bid(); })
      .name("bids");
}

// q0: every bid, unchanged (what the source and the runtime cost).
inline DataStream<Bid> q0(const DataStream<Event>& events) { return bids(events); }

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
inline DataStream<EuroBid> q1(const DataStream<Event>& events) {
  return bids(events).map([](const Bid& b) { return to_euros(b); }).name("q1");
}

// q2: the auction and price of bids on every 123rd auction.
struct AuctionPrice {
  int64_t auction = 0;
  int64_t price = 0;
  bool operator==(const AuctionPrice&) const = default;
};
inline bool q2_selects(const Bid& b) { return b.auction % 123 == 0; }
inline DataStream<AuctionPrice> q2(const DataStream<Event>& events) {
  return bids(events)
      .filter([](const Bid& b) { return q2_selects(b); })
      .map([](const Bid& b) {
        return AuctionPrice{b.auction, b.price};
      })
      .name("q2");
}

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
inline std::optional<ChannelBid> channel_bid(const Bid& b) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kKnown = {
      {{"apple", "0"}, {"google", "1"}, {"facebook", "2"}, {"baidu", "3"}}};
  std::string lower = b.channel;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& [name, id] : kKnown) {
    if (lower == name) return ChannelBid{b.auction, b.bidder, b.price, b.channel, std::string(id)};
  }
  if (auto id = url_parameter(b.url, "channel_id")) {
    return ChannelBid{b.auction, b.bidder, b.price, b.channel, std::string(*id)};
  }
  return std::nullopt;
}
inline DataStream<ChannelBid> q21(const DataStream<Event>& events) {
  return bids(events)
      .flat_map([](const Bid& b, Collector<ChannelBid>& out) {
        if (auto c = channel_bid(b)) out.collect(std::move(*c));
      })
      .name("q21");
}

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
inline UrlBid url_bid(const Bid& b) {
  return UrlBid{b.auction,
                b.bidder,
                b.price,
                b.channel,
                std::string(split_index(b.url, '/', 3)),
                std::string(split_index(b.url, '/', 4)),
                std::string(split_index(b.url, '/', 5))};
}
inline DataStream<UrlBid> q22(const DataStream<Event>& events) {
  return bids(events).map([](const Bid& b) { return url_bid(b); }).name("q22");
}

}  // namespace sluice::nexmark_queries
