// The Nexmark generator and source. The formulas are Beam's (sdks/java/testing/nexmark, model/
// PersonGenerator, AuctionGenerator, BidGenerator, StringsGenerator, PriceGenerator) and
// nexmark/nexmark's additions (bid channel and url), function by function. The randomness is ours:
// a SplitMix64 stream seeded with the event id replaces Java's `new Random(eventId)`, so the
// distributions match Beam's but not its bits.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>

#include "sluice/connectors/nexmark.h"

namespace sluice {
namespace {

using nexmark::Auction;
using nexmark::Bid;
using nexmark::Event;
using nexmark::EventType;
using nexmark::Person;

// SplitMix64 (Steele, Lea, Flood 2014): one add and a few multiplies per 64 bits, and consecutive
// seeds give independent-looking streams, which is what seeding per event id needs. A fresh
// generator per event costs nothing (its whole state is one word).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, bound) by Lemire's multiply-shift; the bias (below bound / 2^32) is far under
  // anything the benchmark can observe, and it avoids a division.
  int next_int(uint32_t bound) {
    return static_cast<int>((static_cast<uint64_t>(next() >> 32) * bound) >> 32);
  }
  // Uniform in [0, bound). Beam falls back to a skewed `abs(nextLong() % n)` above 2^31; we do not.
  int64_t next_long(int64_t bound) {
    __extension__ using U128 = unsigned __int128;
    return static_cast<int64_t>((static_cast<U128>(next()) * static_cast<uint64_t>(bound)) >> 64);
  }
  double next_double() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

constexpr std::array<std::string_view, 6> kUsStates = {"AZ", "CA", "ID", "OR", "WA", "WY"};
constexpr std::array<std::string_view, 10> kUsCities = {
    "Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland",
    "Bend",    "Redmond",     "Seattle",       "Kent",  "Cheyenne"};
constexpr std::array<std::string_view, 11> kFirstNames = {
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"};
constexpr std::array<std::string_view, 9> kLastNames = {
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"};
constexpr std::array<std::string_view, 4> kHotChannels = {"Google", "Facebook", "Baidu", "Apple"};
constexpr int kMinStringLength = 3;
constexpr int kHotChannelsRatio = 2;

// Beam's nextString: 3 + rand(max_length - 3) characters, each `special` with probability 1/13,
// else a..z; then Java's trim() (which removes spaces, not '_'). Appended to `out`.
void append_next_string(Rng& rng, int max_length, char special, std::string& out) {
  const int length = kMinStringLength + rng.next_int(static_cast<uint32_t>(max_length - 3));
  char buffer[128];
  for (int i = 0; i < length; ++i) {
    buffer[i] = rng.next_int(13) == 0 ? special : static_cast<char>('a' + rng.next_int(26));
  }
  int begin = 0;
  int end = length;
  while (begin < end && buffer[begin] == ' ') ++begin;
  while (end > begin && buffer[end - 1] == ' ') --end;
  out.append(buffer + begin, static_cast<size_t>(end - begin));
}

// The two characters of Beam's nextExactString for every remainder r = x % 676 in [-675, 675]:
// 'a' + r % 26, then 'a' + r / 26 (Java's and C++'s truncating arithmetic, so a negative x gives
// characters below 'a').
constexpr auto kCharPairs = [] {
  std::array<std::array<char, 2>, 2 * 675 + 1> pairs{};
  for (int r = -675; r <= 675; ++r) {
    pairs[static_cast<size_t>(r + 675)] = {static_cast<char>('a' + r % 26),
                                           static_cast<char>('a' + r / 26)};
  }
  return pairs;
}();

// Six characters of Beam's nextExactString from one int: 'a' + rnd % 26, then rnd /= 26, six
// times. Two at a time from a table (truncating division composes: (r / a) / b == r / (a * b),
// and (r / 26) % 26 == (r % 676) / 26), so three divisions by constants instead of six.
inline void write_six_chars(int32_t rnd, char* out) {
  const int32_t q1 = rnd / 676;
  const int32_t q2 = rnd / 456'976;
  const int32_t q3 = rnd / 308'915'776;
  std::memcpy(out, kCharPairs[static_cast<size_t>(rnd - 676 * q1 + 675)].data(), 2);
  std::memcpy(out + 2, kCharPairs[static_cast<size_t>(q1 - 676 * q2 + 675)].data(), 2);
  std::memcpy(out + 4, kCharPairs[static_cast<size_t>(q2 - 676 * q3 + 675)].data(), 2);
}

// Beam's nextExactString, Java's arithmetic included: each signed int gives six characters,
// and a negative one yields 'H'..'a' — so about half the characters are not lower-case letters.
// Kept because it changes what queries count (q14 counts 'c' in extra). Two ints per 64-bit draw:
// Java's successive nextInt() calls are independent uniform ints too.
void assign_exact_string(Rng& rng, int length, std::string& out) {
  out.resize(static_cast<size_t>(length));
  char* data = out.data();
  int i = 0;
  for (; i + 12 <= length; i += 12) {
    const uint64_t bits = rng.next();
    write_six_chars(static_cast<int32_t>(static_cast<uint32_t>(bits)), data + i);
    write_six_chars(static_cast<int32_t>(static_cast<uint32_t>(bits >> 32)), data + i + 6);
  }
  if (i < length) {
    char tail[12];
    const uint64_t bits = rng.next();
    write_six_chars(static_cast<int32_t>(static_cast<uint32_t>(bits)), tail);
    write_six_chars(static_cast<int32_t>(static_cast<uint32_t>(bits >> 32)), tail + 6);
    std::memcpy(data + i, tail, static_cast<size_t>(length - i));
  }
}

// Beam's nextExtra: padding so that current_size + its length averages desired_average.
void assign_extra(Rng& rng, int current_size, int desired_average, std::string& out) {
  if (current_size > desired_average) {
    out.clear();
    return;
  }
  const int desired = desired_average - current_size;
  const auto delta = static_cast<int>(std::floor(desired * 0.2 + 0.5));  // Java Math.round
  const int size =
      desired - delta + (delta == 0 ? 0 : rng.next_int(static_cast<uint32_t>(2 * delta)));
  assign_exact_string(rng, size, out);
}

// Beam's nextPrice: 10^(6u) dollars' worth of cents, log-uniform from $1 to $1,000,000.
int64_t next_price(Rng& rng) {
  // exp(6u ln 10) is 10^(6u), and cheaper than pow.
  constexpr double kSixLn10 = 13.815510557964274;
  return static_cast<int64_t>(std::floor(std::exp(rng.next_double() * kSixLn10) * 100.0 + 0.5));
}

int size_of(const std::string& s) { return static_cast<int>(s.size()); }

// nexmark/nexmark's getBaseUrl(): three random path segments of 3-4 characters.
std::string base_url(Rng& rng) {
  std::string url = "https://www.nexmark.com/";
  for (int i = 0; i < 3; ++i) {
    append_next_string(rng, 5, '_', url);
    url += '/';
  }
  url += "item.htm?query=1";
  return url;
}

// The channels and their urls. nexmark/nexmark draws each url once per process from an unseeded
// Random (and caches it); we draw it from the channel number, so that every run and subtask agree.
struct ChannelTable {
  std::array<std::string, 4> hot_urls;
  std::vector<std::string> names;
  std::vector<std::string> urls;

  ChannelTable() {
    for (size_t i = 0; i < hot_urls.size(); ++i) {
      Rng rng(0x686f740000000000ULL + i);  // seeds far from any event id
      hot_urls[i] = base_url(rng);
    }
    names.reserve(nexmark::kNumChannels);
    urls.reserve(nexmark::kNumChannels);
    for (int c = 0; c < nexmark::kNumChannels; ++c) {
      Rng rng(0x6368616e00000000ULL + static_cast<uint64_t>(c));  // "chan" + c
      names.push_back("channel-" + std::to_string(c));
      std::string url = base_url(rng);
      if (rng.next_int(10) > 0) {
        // Math.abs(Integer.reverse(c)), with Java's wrap-around: channel 1 reverses to INT_MIN,
        // whose abs is itself.
        uint32_t bits = static_cast<uint32_t>(c);
        uint32_t reversed = 0;
        for (int b = 0; b < 32; ++b) reversed |= ((bits >> b) & 1U) << (31 - b);
        const auto value = static_cast<int32_t>(reversed);
        const int64_t shown = value == std::numeric_limits<int32_t>::min()
                                  ? value
                                  : (value < 0 ? -static_cast<int64_t>(value) : value);
        url += "&channel_id=" + std::to_string(shown);
      }
      urls.push_back(std::move(url));
    }
  }
};

const ChannelTable& channel_table() {
  static const ChannelTable table;  // built once, on first use; thread-safe initialization
  return table;
}

// Puts alternative `A` into `event`, keeping an existing one (and its strings' capacity).
template <class A>
A& reuse_as(Event& event) {
  if (auto* existing = std::get_if<A>(&event.value())) return *existing;
  return event.value().template emplace<A>();
}

[[noreturn]] void invalid(const std::string& what) {
  throw Error(ErrorCategory::kInvalidArgument, "NexmarkConfig: " + what);
}

}  // namespace

// --- NexmarkGenerator ---

NexmarkGenerator::NexmarkGenerator(NexmarkConfig config) : config_(std::move(config)) {
  const NexmarkConfig& c = config_;
  if (c.events_per_second <= 0) invalid("events_per_second must be positive");
  if (c.max_events < 0) invalid("max_events must be 0 (unbounded) or positive");
  if (c.first_event_id < 0) invalid("first_event_id must not be negative");
  if (c.out_of_order_group_size < 1 || c.out_of_order_group_size > 1'000'000'000)
    invalid("out_of_order_group_size must be in [1, 1e9]");
  if (c.out_of_order_group_size % 953 == 0)
    invalid("out_of_order_group_size must not be a multiple of 953 (ids would repeat)");
  if (c.person_proportion < 1 || c.auction_proportion < 1 || c.bid_proportion < 0)
    invalid("proportions: person and auction at least 1, bid at least 0");
  if (c.hot_auction_ratio < 1 || c.hot_sellers_ratio < 1 || c.hot_bidders_ratio < 1)
    invalid("hot ratios must be at least 1");
  if (c.num_in_flight_auctions < 0 || c.num_active_people < 1)
    invalid("num_in_flight_auctions must be >= 0 and num_active_people >= 1");
  if (c.avg_person_byte_size < 0 || c.avg_auction_byte_size < 0 || c.avg_bid_byte_size < 0)
    invalid("average sizes must not be negative");
  total_proportion_ =
      int64_t{c.person_proportion} + int64_t{c.auction_proportion} + int64_t{c.bid_proportion};
  channel_table();  // built now rather than inside the first timed poll
}

int64_t NexmarkGenerator::adjusted_event_number(int64_t event_number) const {
  // Beam's nextAdjustedEventNumber: a fixed permutation inside each group of n.
  const int64_t n = config_.out_of_order_group_size;
  if (n == 1) return event_number;
  return event_number / n * n + (event_number % n) * 953 % n;
}

nexmark::EventType NexmarkGenerator::type_of_event_id(int64_t event_id) const {
  const int64_t rem = event_id % total_proportion_;
  if (rem < config_.person_proportion) return EventType::kPerson;
  if (rem < config_.person_proportion + config_.auction_proportion) return EventType::kAuction;
  return EventType::kBid;
}

Timestamp NexmarkGenerator::timestamp_of_adjusted(int64_t adjusted) const {
  // 128-bit only where n * 1000 would overflow: its division is a library call.
  if (adjusted < std::numeric_limits<int64_t>::max() / 1000) {
    return config_.base_time_ms + adjusted * 1000 / config_.events_per_second;
  }
  __extension__ using I128 = __int128;
  return config_.base_time_ms +
         static_cast<int64_t>(static_cast<I128>(adjusted) * 1000 / config_.events_per_second);
}

Timestamp NexmarkGenerator::watermark_at(int64_t event_number) const {
  const int64_t n = config_.out_of_order_group_size;
  return timestamp_of_adjusted(event_number / n * n);
}

Duration NexmarkGenerator::max_out_of_orderness() const {
  const int64_t n = config_.out_of_order_group_size;
  if (n == 1) return Duration(0);
  // A group spans (n - 1) inter-event delays; flooring to milliseconds adds at most one.
  __extension__ using I128 = __int128;
  return Duration(
      static_cast<int64_t>(static_cast<I128>(n - 1) * 1000 / config_.events_per_second) + 1);
}

int64_t NexmarkGenerator::last_base0_person_id(int64_t event_id) const {
  const int64_t epoch = event_id / total_proportion_;
  int64_t offset = event_id % total_proportion_;
  if (offset >= config_.person_proportion) offset = config_.person_proportion - 1;
  return epoch * config_.person_proportion + offset;
}

int64_t NexmarkGenerator::last_base0_auction_id(int64_t event_id) const {
  int64_t epoch = event_id / total_proportion_;
  int64_t offset = event_id % total_proportion_;
  if (offset < config_.person_proportion) {
    --epoch;  // a person: the last auction is the previous epoch's last
    offset = config_.auction_proportion - 1;
  } else if (offset >= config_.person_proportion + config_.auction_proportion) {
    offset = config_.auction_proportion - 1;  // a bid: this epoch's last auction
  } else {
    offset -= config_.person_proportion;
  }
  return epoch * config_.auction_proportion + offset;
}

namespace {

// The per-event work, with the generator's derived values at hand. Beam's order of random draws
// is kept (it does not matter for distributions, but keeps the code comparable line by line).
struct EventMaker {
  const NexmarkGenerator& gen;
  const NexmarkConfig& c;

  // A random active person, up to kPersonIdLead ahead of the newest (Beam's nextBase0PersonId).
  int64_t next_base0_person_id(int64_t event_id, Rng& rng) const {
    const int64_t num_people = gen.last_base0_person_id(event_id) + 1;
    const int64_t active = std::min<int64_t>(num_people, c.num_active_people);
    return num_people - active + rng.next_long(active + nexmark::kPersonIdLead);
  }
  // A random auction among those likely in flight, plus leads (Beam's nextBase0AuctionId).
  int64_t next_base0_auction_id(int64_t event_id, Rng& rng) const {
    const int64_t max_auction = gen.last_base0_auction_id(event_id);
    const int64_t min_auction = std::max<int64_t>(max_auction - c.num_in_flight_auctions, 0);
    return min_auction + rng.next_long(max_auction - min_auction + 1 + nexmark::kAuctionIdLead);
  }

  void person(int64_t event_id, Rng& rng, Timestamp ts, Person& p) const {
    p.id = gen.last_base0_person_id(event_id) + nexmark::kFirstPersonId;
    p.name.assign(kFirstNames[static_cast<size_t>(rng.next_int(kFirstNames.size()))]);
    p.name += ' ';
    p.name += kLastNames[static_cast<size_t>(rng.next_int(kLastNames.size()))];
    p.email_address.clear();
    append_next_string(rng, 7, ' ', p.email_address);
    p.email_address += '@';
    append_next_string(rng, 5, ' ', p.email_address);
    p.email_address += ".com";
    p.credit_card.resize(19);  // "%04d %04d %04d %04d"
    char* cc = p.credit_card.data();
    for (int group = 0; group < 4; ++group) {
      int value = rng.next_int(10000);
      for (int digit = 3; digit >= 0; --digit) {
        cc[group * 5 + digit] = static_cast<char>('0' + value % 10);
        value /= 10;
      }
      if (group < 3) cc[group * 5 + 4] = ' ';
    }
    p.city.assign(kUsCities[static_cast<size_t>(rng.next_int(kUsCities.size()))]);
    p.state.assign(kUsStates[static_cast<size_t>(rng.next_int(kUsStates.size()))]);
    p.date_time = ts;
    const int current = 8 + size_of(p.name) + size_of(p.email_address) + size_of(p.credit_card) +
                        size_of(p.city) + size_of(p.state);
    assign_extra(rng, current, c.avg_person_byte_size, p.extra);
  }

  void auction(int64_t event_number, int64_t event_id, Rng& rng, Timestamp ts, Auction& a) const {
    a.id = gen.last_base0_auction_id(event_id) + nexmark::kFirstAuctionId;
    int64_t seller;
    if (rng.next_int(static_cast<uint32_t>(c.hot_sellers_ratio)) > 0) {
      // The first person of the latest batch of kHotBatch.
      seller = gen.last_base0_person_id(event_id) / nexmark::kHotBatch * nexmark::kHotBatch;
    } else {
      seller = next_base0_person_id(event_id, rng);
    }
    a.seller = seller + nexmark::kFirstPersonId;
    a.category = nexmark::kFirstCategoryId + rng.next_int(nexmark::kNumCategories);
    a.initial_bid = next_price(rng);
    a.date_time = ts;
    a.expires = ts + auction_length_ms(event_number, rng, ts);
    a.item_name.clear();
    append_next_string(rng, 20, ' ', a.item_name);
    a.description.clear();
    append_next_string(rng, 100, ' ', a.description);
    a.reserve = a.initial_bid + next_price(rng);
    const int current = 8 + size_of(a.item_name) + size_of(a.description) + 8 + 8 + 8 + 8 + 8;
    assign_extra(rng, current, c.avg_auction_byte_size, a.extra);
  }

  // Beam's nextAuctionLengthMs: uniform in [1, 2 * horizon], where the horizon is the event time
  // until num_in_flight_auctions more auctions have been created — so that many stay open.
  int64_t auction_length_ms(int64_t event_number, Rng& rng, Timestamp ts) const {
    const int64_t current = gen.adjusted_event_number(event_number);
    const int64_t events_for_auctions =
        int64_t{c.num_in_flight_auctions} *
        (c.person_proportion + c.auction_proportion + c.bid_proportion) / c.auction_proportion;
    // From the adjusted number, as Beam: timestamp_at() would apply the permutation again.
    const Timestamp future_auction = gen.timestamp_of_adjusted(current + events_for_auctions);
    const int64_t horizon = future_auction - ts;
    return 1 + rng.next_long(std::max<int64_t>(horizon * 2, 1));
  }

  void bid(int64_t event_id, Rng& rng, Timestamp ts, Bid& b) const {
    int64_t auction;
    if (rng.next_int(static_cast<uint32_t>(c.hot_auction_ratio)) > 0) {
      // The first auction of the latest batch of kHotBatch.
      auction = gen.last_base0_auction_id(event_id) / nexmark::kHotBatch * nexmark::kHotBatch;
    } else {
      auction = next_base0_auction_id(event_id, rng);
    }
    b.auction = auction + nexmark::kFirstAuctionId;
    int64_t bidder;
    if (rng.next_int(static_cast<uint32_t>(c.hot_bidders_ratio)) > 0) {
      // The second person of the batch, so that hot bidders are not also the hot sellers.
      bidder = gen.last_base0_person_id(event_id) / nexmark::kHotBatch * nexmark::kHotBatch + 1;
    } else {
      bidder = next_base0_person_id(event_id, rng);
    }
    // nexmark/nexmark's BidGenerator (with channels) adds kFirstPersonId a second time, so its
    // bidders are 1000 ids above any person; we add it once, as Beam does.
    b.bidder = bidder + nexmark::kFirstPersonId;
    b.price = next_price(rng);
    const ChannelTable& channels = channel_table();
    if (rng.next_int(kHotChannelsRatio) > 0) {
      const auto i = static_cast<size_t>(rng.next_int(kHotChannels.size()));
      b.channel.assign(kHotChannels[i]);
      b.url.assign(channels.hot_urls[i]);
    } else {
      const auto i = static_cast<size_t>(rng.next_int(nexmark::kNumChannels));
      b.channel.assign(channels.names[i]);
      b.url.assign(channels.urls[i]);
    }
    b.date_time = ts;
    assign_extra(rng, 8 + 8 + 8 + 8, c.avg_bid_byte_size, b.extra);
  }
};

}  // namespace

Timestamp NexmarkGenerator::generate(int64_t event_number, nexmark::Event& out) const {
  const int64_t adjusted = adjusted_event_number(event_number);
  const int64_t id = config_.first_event_id + adjusted;
  const Timestamp ts = timestamp_of_adjusted(adjusted);
  Rng rng(static_cast<uint64_t>(id));  // Beam: new Random(eventId)
  EventMaker maker{*this, config_};
  switch (type_of_event_id(id)) {
    case EventType::kPerson:
      maker.person(id, rng, ts, reuse_as<Person>(out));
      break;
    case EventType::kAuction:
      maker.auction(event_number, id, rng, ts, reuse_as<Auction>(out));
      break;
    case EventType::kBid:
      maker.bid(id, rng, ts, reuse_as<Bid>(out));
      break;
  }
  return ts;
}

nexmark::Event NexmarkGenerator::event_at(int64_t event_number) const {
  nexmark::Event event;
  generate(event_number, event);
  return event;
}

// --- the source ---

namespace {

class NexmarkReader final : public SourceReader<Event> {
 public:
  NexmarkReader(std::shared_ptr<const NexmarkGenerator> generator, double rate,
                SourceReaderContext& context)
      : generator_(std::move(generator)),
        rate_(rate),
        pace_start_ms_(generator_->config().pace_start_ms),
        context_(context) {}

  void add_splits(std::vector<std::unique_ptr<SourceSplit>> splits) override {
    for (auto& s : splits) {
      const auto& split = static_cast<const NexmarkSplit&>(*s);
      splits_.emplace_back(split.next, split.end, split.stride, split.index);
    }
  }
  void notify_no_more_splits() override { no_more_splits_ = true; }

  std::vector<std::unique_ptr<SourceSplit>> snapshot_state(int64_t) override {
    std::vector<std::unique_ptr<SourceSplit>> left;
    for (const NexmarkSplit& s : splits_) {
      if (s.remaining() > 0) left.push_back(std::make_unique<NexmarkSplit>(s));
    }
    return left;
  }

  InputStatus poll_next(ReaderOutput<Event>& output) override {
    // The split furthest behind in the sequence: with several splits the output then stays
    // within a batch of event-time order instead of running one split ahead of the other.
    NexmarkSplit* split = nullptr;
    for (NexmarkSplit& s : splits_) {
      if (s.remaining() > 0 && (split == nullptr || s.next < split->next)) split = &s;
    }
    if (split == nullptr) {
      return no_more_splits_ ? InputStatus::kEndOfInput : InputStatus::kNothingAvailable;
    }
    if (output.remaining() == 0) output.flush();
    const int64_t left = split->remaining();
    int64_t n = std::min<int64_t>(static_cast<int64_t>(output.remaining()), left);
    if (rate_ > 0) {
      n = std::min(n, allowed_now(*split));
      if (n <= 0) return InputStatus::kNothingAvailable;  // allowed_now() scheduled a wake-up
    }
    RecordBuffer<Event>& batch = output.batch();
    const size_t old_size = batch.values.size();
    batch.timestamps.resize(old_size, kNoTimestamp);  // records without one, if any came first
    batch.values.resize(old_size + static_cast<size_t>(n));
    batch.timestamps.resize(old_size + static_cast<size_t>(n));
    Event* values = batch.values.data() + old_size;
    Timestamp* timestamps = batch.timestamps.data() + old_size;
    const NexmarkGenerator& generator = *generator_;
    const int64_t first = split->next;
    const int64_t stride = split->stride;
    for (int64_t i = 0; i < n; ++i)
      timestamps[i] = generator.generate(first + i * stride, values[i]);
    // At the end of the range, `end` rather than one stride past the last number: no overflow
    // when the range is unbounded.
    split->next = n == left ? split->end : first + n * stride;
    emitted_ += n;
    output.flush_if_full();
    return InputStatus::kMoreAvailable;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // As DatagenSource's reader: events of `split` the rate allows now; when none, a wake-up when
  // one is due. With a common pace start, event n is due at that start + n / events_per_second
  // (also after a restore); otherwise this reader's k-th event at its first poll + k / rate_.
  int64_t allowed_now(const NexmarkSplit& split) {
    const auto now = Clock::now();
    if (started_ == Clock::time_point{}) {
      started_ = now;
      if (pace_start_ms_ > 0) {
        started_ -= std::chrono::milliseconds(wall_clock_millis() - pace_start_ms_);
      }
    }
    const double elapsed = std::chrono::duration<double>(now - started_).count();
    double next_due_s = 0;
    if (pace_start_ms_ > 0) {
      const double per_second = static_cast<double>(generator_->config().events_per_second);
      const auto last_due = static_cast<int64_t>(std::floor(elapsed * per_second));
      if (split.next <= last_due) return (last_due - split.next) / split.stride + 1;
      next_due_s = static_cast<double>(split.next) / per_second;
    } else {
      const auto due = static_cast<int64_t>(std::floor(elapsed * rate_)) + 1;
      if (due > emitted_) return due - emitted_;
      next_due_s = static_cast<double>(emitted_) / rate_;
    }
    const auto next_due = started_ + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(next_due_s));
    // Waking more often than every 200 µs costs more than it gains in smoothness.
    context_.wake_at(std::max(next_due, now + std::chrono::microseconds(200)));
    return 0;
  }

  std::shared_ptr<const NexmarkGenerator> generator_;
  double rate_;  // events per second of wall-clock time for this reader; 0: unthrottled
  int64_t pace_start_ms_;
  SourceReaderContext& context_;
  std::vector<NexmarkSplit> splits_;
  bool no_more_splits_ = false;
  int64_t emitted_ = 0;
  Clock::time_point started_{};
};

}  // namespace

NexmarkSource::NexmarkSource(NexmarkConfig config)
    : generator_(std::make_shared<const NexmarkGenerator>(std::move(config))) {}

Boundedness NexmarkSource::boundedness() const {
  return generator_->config().max_events == 0 ? Boundedness::kUnbounded : Boundedness::kBounded;
}

std::unique_ptr<SplitEnumerator> NexmarkSource::create_enumerator(SplitEnumeratorContext& context) {
  const int parallelism = context.parallelism();
  const int64_t max_events = generator_->config().max_events;
  const int64_t end = max_events == 0 ? std::numeric_limits<int64_t>::max() : max_events;
  std::vector<std::unique_ptr<SourceSplit>> splits;
  for (int i = 0; i < parallelism; ++i) {
    splits.push_back(std::make_unique<NexmarkSplit>(i, end, parallelism, i));
  }
  return std::make_unique<StaticSplitEnumerator>(context, std::move(splits));
}

std::unique_ptr<SourceReader<Event>> NexmarkSource::create_reader(SourceReaderContext& context) {
  const NexmarkConfig& config = generator_->config();
  const double rate = config.rate_limited
                          ? static_cast<double>(config.events_per_second) / context.parallelism()
                          : 0.0;
  return std::make_unique<NexmarkReader>(generator_, rate, context);
}

std::unique_ptr<SourceSplit> NexmarkSource::deserialize_split(std::string_view bytes) const {
  auto [next, end, stride, index] = from_bytes<std::tuple<int64_t, int64_t, int64_t, int>>(bytes);
  if (stride < 1) throw Error(ErrorCategory::kSerialization, "nexmark split with stride < 1");
  return std::make_unique<NexmarkSplit>(next, end, stride, index);
}

std::unique_ptr<SplitEnumerator> NexmarkSource::restore_enumerator(SplitEnumeratorContext& context,
                                                                   std::string_view state) {
  return std::make_unique<StaticSplitEnumerator>(context, deserialize_split_list(*this, state));
}

void NexmarkSource::describe(OperatorDescription& d) const {
  const NexmarkConfig& config = generator_->config();
  d.add("generator", "nexmark");
  d.add("events", config.max_events == 0 ? "unbounded" : std::to_string(config.max_events));
  d.add("events per second of event time", std::to_string(config.events_per_second));
  if (config.rate_limited) d.add("paced", "yes");
}

void Serializer<nexmark::Event>::throw_bad_type() {
  throw Error(ErrorCategory::kSerialization, "nexmark event with an unknown type tag");
}

// --- printing ---

namespace nexmark {

std::ostream& operator<<(std::ostream& out, const Person& p) {
  return out << "Person{id=" << p.id << ", name=" << p.name << ", email=" << p.email_address
             << ", credit_card=" << p.credit_card << ", city=" << p.city << ", state=" << p.state
             << ", date_time=" << p.date_time << ", extra=" << p.extra.size() << " chars}";
}
std::ostream& operator<<(std::ostream& out, const Auction& a) {
  return out << "Auction{id=" << a.id << ", item_name=" << a.item_name
             << ", initial_bid=" << a.initial_bid << ", reserve=" << a.reserve
             << ", date_time=" << a.date_time << ", expires=" << a.expires
             << ", seller=" << a.seller << ", category=" << a.category
             << ", description=" << a.description.size() << " chars, extra=" << a.extra.size()
             << " chars}";
}
std::ostream& operator<<(std::ostream& out, const Bid& b) {
  return out << "Bid{auction=" << b.auction << ", bidder=" << b.bidder << ", price=" << b.price
             << ", channel=" << b.channel << ", url=" << b.url << ", date_time=" << b.date_time
             << ", extra=" << b.extra.size() << " chars}";
}
std::ostream& operator<<(std::ostream& out, const Event& e) {
  std::visit([&](const auto& v) { out << v; }, e.value());
  return out;
}

}  // namespace nexmark
}  // namespace sluice
