#include "sluice/core/serialization.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sluice/core/error.h"

namespace {

using sluice::from_bytes;
using sluice::to_bytes;

template <class T>
T round_trip(const T& value) {
  std::string bytes = to_bytes(value);
  sluice::BufferReader reader(bytes);
  T result = sluice::deserialize<T>(reader);
  // A decoder that stops short would leave bytes for the next value to misread.
  EXPECT_TRUE(reader.at_end()) << reader.remaining() << " bytes left over";
  return result;
}

// Expects decoding `bytes` as T to fail with a serialization error, not crash or succeed.
template <class T>
void expect_truncated(std::string_view bytes) {
  try {
    (void)from_bytes<T>(bytes);
    ADD_FAILURE() << "decoding " << bytes.size() << " bytes did not throw";
  } catch (const sluice::Error& e) {
    EXPECT_EQ(e.category(), sluice::ErrorCategory::kSerialization) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

enum class Color : uint8_t { kRed = 1, kGreen = 2, kBlue = 200 };
enum Plain { kPlainA = -5, kPlainB = 70000 };

struct Item {
  int32_t sku = 0;
  std::string label;
  bool operator==(const Item&) const = default;
};

struct Order {
  int64_t id = 0;
  double total = 0;
  std::string customer;
  std::vector<Item> items;
  bool operator==(const Order&) const = default;
};

struct Wrapper {
  Order order;
  std::optional<std::string> note;
  std::array<int16_t, 3> flags{};
  std::map<std::string, Item> by_name;
  bool operator==(const Wrapper&) const = default;
};

struct Empty {
  bool operator==(const Empty&) const = default;
};

Order sample_order() {
  return Order{-9'000'000'000'123,
               1234.5678,
               "Zoë \"quoted\", with comma",
               {Item{1, "apple"}, Item{-2, ""}, Item{std::numeric_limits<int32_t>::max(), "pear"}}};
}

}  // namespace

// A class with an invariant (lo <= hi) and private members: not an aggregate, so it needs a
// user specialization, which must be found instead of the aggregate path.
class Interval {
 public:
  Interval(int64_t lo, int64_t hi) : lo_(std::min(lo, hi)), hi_(std::max(lo, hi)) {}
  int64_t lo() const { return lo_; }
  int64_t hi() const { return hi_; }
  bool operator==(const Interval&) const = default;

 private:
  int64_t lo_;
  int64_t hi_;
};

// Stores lo and the width, with a version byte, to show a custom format is really used.
template <>
struct sluice::Serializer<Interval> {
  static constexpr uint8_t kVersion = 7;
  static void serialize(const Interval& value, BufferWriter& out) {
    out.write_fixed(kVersion);
    out.write_fixed(value.lo());
    out.write_fixed(static_cast<uint64_t>(value.hi() - value.lo()));
  }
  static Interval deserialize(BufferReader& in) {
    if (in.read_fixed<uint8_t>() != kVersion) {
      throw Error(ErrorCategory::kSerialization, "unknown Interval version");
    }
    auto lo = in.read_fixed<int64_t>();
    auto width = in.read_fixed<uint64_t>();
    return Interval(lo, lo + static_cast<int64_t>(width));
  }
};

namespace {

TEST(SerializationTest, ArithmeticRoundTrip) {
  EXPECT_EQ(round_trip<int8_t>(-128), -128);
  EXPECT_EQ(round_trip<uint8_t>(255), 255);
  EXPECT_EQ(round_trip<int16_t>(-12345), -12345);
  EXPECT_EQ(round_trip<uint16_t>(65535), 65535);
  EXPECT_EQ(round_trip<int32_t>(std::numeric_limits<int32_t>::min()),
            std::numeric_limits<int32_t>::min());
  EXPECT_EQ(round_trip<uint32_t>(0xdeadbeefU), 0xdeadbeefU);
  EXPECT_EQ(round_trip<int64_t>(std::numeric_limits<int64_t>::min()),
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(round_trip<int64_t>(std::numeric_limits<int64_t>::max()),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(round_trip<uint64_t>(0xfedcba9876543210ULL), 0xfedcba9876543210ULL);
  EXPECT_EQ(round_trip<bool>(true), true);
  EXPECT_EQ(round_trip<bool>(false), false);
  EXPECT_EQ(round_trip<char>('z'), 'z');
  EXPECT_EQ(round_trip<float>(-1.5e-30f), -1.5e-30f);
  EXPECT_EQ(round_trip<double>(3.141592653589793), 3.141592653589793);
  EXPECT_EQ(round_trip<double>(std::numeric_limits<double>::denorm_min()),
            std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(round_trip<double>(-std::numeric_limits<double>::infinity()),
            -std::numeric_limits<double>::infinity());
  double nan = round_trip<double>(std::numeric_limits<double>::quiet_NaN());
  EXPECT_NE(nan, nan);
}

TEST(SerializationTest, FixedWidthLittleEndianFormat) {
  // The format is documented as little-endian fixed width with u32 length prefixes; snapshots
  // written by one build must be readable by another, so pin the exact bytes.
  EXPECT_EQ(to_bytes<int32_t>(0x01020304), std::string("\x04\x03\x02\x01", 4));
  EXPECT_EQ(to_bytes<int64_t>(-1), std::string(8, '\xff'));
  EXPECT_EQ(to_bytes(std::string("ab")), std::string("\x02\x00\x00\x00"
                                                     "ab",
                                                     6));
  EXPECT_EQ(to_bytes(std::vector<uint16_t>{1, 0x0203}),
            std::string("\x02\x00\x00\x00\x01\x00\x03\x02", 8));
  EXPECT_EQ(to_bytes(std::optional<int8_t>{}), std::string("\x00", 1));
  EXPECT_EQ(to_bytes(std::optional<int8_t>{5}), std::string("\x01\x05", 2));
  EXPECT_EQ(to_bytes(Item{1, "x"}), std::string("\x01\x00\x00\x00\x01\x00\x00\x00x", 9));
}

TEST(SerializationTest, EnumRoundTrip) {
  EXPECT_EQ(round_trip(Color::kBlue), Color::kBlue);
  EXPECT_EQ(round_trip(Color::kRed), Color::kRed);
  EXPECT_EQ(to_bytes(Color::kBlue).size(), sizeof(Color));
  EXPECT_EQ(round_trip(kPlainA), kPlainA);
  EXPECT_EQ(round_trip(kPlainB), kPlainB);
}

TEST(SerializationTest, StringRoundTrip) {
  EXPECT_EQ(round_trip(std::string()), "");
  EXPECT_EQ(round_trip(std::string("hello")), "hello");
  std::string binary("a\0b\xff\n\r", 6);
  EXPECT_EQ(round_trip(binary), binary);
  std::string large(100'000, 'q');
  large[54'321] = '\0';
  EXPECT_EQ(round_trip(large), large);
  EXPECT_EQ(to_bytes(large).size(), 4 + large.size());
}

TEST(SerializationTest, NumericVectorRoundTrip) {
  EXPECT_EQ(round_trip(std::vector<int64_t>{}), std::vector<int64_t>{});
  std::vector<int64_t> ints;
  for (int64_t i = -500; i < 500; ++i) ints.push_back(i * 1'000'003);
  EXPECT_EQ(round_trip(ints), ints);
  std::vector<double> doubles{0.0, -0.0, 1e300, -2.5, std::numeric_limits<double>::lowest()};
  EXPECT_EQ(round_trip(doubles), doubles);
  std::vector<uint8_t> bytes{0, 1, 254, 255};
  EXPECT_EQ(round_trip(bytes), bytes);
  // std::vector<bool> has no contiguous storage, unlike every other vector of numbers.
  std::vector<bool> bits{true, false, false, true, true};
  EXPECT_EQ(round_trip(bits), bits);
  EXPECT_EQ(to_bytes(bits), std::string("\x05\x00\x00\x00\x01\x00\x00\x01\x01", 9));
}

TEST(SerializationTest, StringVectorRoundTrip) {
  std::vector<std::string> words{"", "one", std::string("t\0o", 3), std::string(1000, 'x'), "end"};
  EXPECT_EQ(round_trip(words), words);
  std::vector<std::vector<std::string>> nested{{}, {"a"}, {"b", "c"}};
  EXPECT_EQ(round_trip(nested), nested);
  std::vector<Color> colors{Color::kGreen, Color::kBlue, Color::kRed};
  EXPECT_EQ(round_trip(colors), colors);
}

TEST(SerializationTest, OptionalRoundTrip) {
  EXPECT_EQ(round_trip(std::optional<int32_t>{}), std::nullopt);
  EXPECT_EQ(round_trip(std::optional<int32_t>{0}), std::optional<int32_t>{0});
  EXPECT_EQ(round_trip(std::optional<std::string>{"set"}), std::optional<std::string>{"set"});
  EXPECT_EQ(round_trip(std::optional<std::string>{""}), std::optional<std::string>{""});
  std::optional<std::vector<int32_t>> vec{{1, 2, 3}};
  EXPECT_EQ(round_trip(vec), vec);
}

TEST(SerializationTest, PairRoundTrip) {
  std::pair<int64_t, std::string> p{-7, "seven"};
  EXPECT_EQ(round_trip(p), p);
  std::pair<std::string, std::pair<double, bool>> nested{"x", {2.5, true}};
  EXPECT_EQ(round_trip(nested), nested);
}

TEST(SerializationTest, ArrayRoundTrip) {
  std::array<int32_t, 4> ints{1, -2, 3, -4};
  EXPECT_EQ(round_trip(ints), ints);
  // No length prefix: the size is part of the type.
  EXPECT_EQ(to_bytes(ints).size(), 4 * sizeof(int32_t));
  std::array<std::string, 3> strings{"a", "", "ccc"};
  EXPECT_EQ(round_trip(strings), strings);
  std::array<double, 0> none{};
  EXPECT_EQ(to_bytes(none).size(), 0u);
}

TEST(SerializationTest, MapRoundTrip) {
  EXPECT_EQ(round_trip(std::map<int, int>{}), (std::map<int, int>{}));
  std::map<std::string, int64_t> counts{{"apple", 3}, {"", -1}, {"zebra", 1LL << 40}};
  EXPECT_EQ(round_trip(counts), counts);
  std::map<int32_t, std::vector<std::string>> lists{{1, {"a", "b"}}, {-3, {}}, {9, {""}}};
  EXPECT_EQ(round_trip(lists), lists);
}

TEST(SerializationTest, NestedAggregateRoundTrip) {
  Order order = sample_order();
  EXPECT_EQ(round_trip(order), order);
  EXPECT_EQ(round_trip(Order{}), Order{});

  Wrapper wrapper{order, "gift", {1, -1, 32767}, {{"first", Item{1, "one"}}, {"second", Item{}}}};
  EXPECT_EQ(round_trip(wrapper), wrapper);
  Wrapper no_note = wrapper;
  no_note.note.reset();
  EXPECT_EQ(round_trip(no_note), no_note);

  std::vector<Order> orders{order, Order{}, order};
  EXPECT_EQ(round_trip(orders), orders);
  EXPECT_EQ(round_trip(Empty{}), Empty{});
}

TEST(SerializationTest, ConsecutiveValuesShareOneBuffer) {
  // Snapshots write many values back to back; each decoder must consume exactly its own bytes.
  std::string bytes;
  sluice::BufferWriter writer(bytes);
  sluice::serialize(std::string("first"), writer);
  sluice::serialize(sample_order(), writer);
  sluice::serialize<int16_t>(-3, writer);
  writer.finish();
  EXPECT_EQ(writer.size(), bytes.size());

  sluice::BufferReader reader(bytes);
  EXPECT_EQ(sluice::deserialize<std::string>(reader), "first");
  EXPECT_EQ(sluice::deserialize<Order>(reader), sample_order());
  EXPECT_EQ(sluice::deserialize<int16_t>(reader), -3);
  EXPECT_TRUE(reader.at_end());
}

TEST(SerializationTest, WriterAppendsAndCutsTheStringBackWhenDone) {
  // The writer grows the string ahead of what it wrote; finish() and destruction cut it back.
  std::string bytes = "ab";
  {
    sluice::BufferWriter writer(bytes);
    writer.write_fixed<uint8_t>('c');
    EXPECT_EQ(writer.view(), "abc");
    EXPECT_EQ(writer.size(), 3u);
    std::string large(100'000, 'x');  // more than the writer grows ahead
    writer.write_bytes(large.data(), large.size());
    writer.write_length_prefixed([](sluice::BufferWriter& w) { w.write_fixed<uint16_t>(7); });
    writer.finish();
    EXPECT_EQ(bytes.size(), 3u + 100'000 + 4 + 2);
    writer.write_fixed<uint8_t>('z');  // writing goes on after finish()
  }
  ASSERT_EQ(bytes.size(), 3u + 100'000 + 4 + 2 + 1);
  EXPECT_EQ(bytes.substr(0, 3), "abc");
  EXPECT_EQ(bytes.back(), 'z');
  sluice::BufferReader reader(std::string_view(bytes).substr(3 + 100'000));
  EXPECT_EQ(reader.read_length_prefixed(), std::string_view("\x07\x00", 2));

  // Many short-lived writers on one string, as snapshots write one entry each.
  std::string entries;
  for (int i = 0; i < 1000; ++i) {
    sluice::BufferWriter writer(entries);
    sluice::serialize<int32_t>(i, writer);
  }
  ASSERT_EQ(entries.size(), 4000u);
  sluice::BufferReader all(entries);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sluice::deserialize<int32_t>(all), i);
}

TEST(SerializationTest, UserSpecializationIsUsed) {
  Interval interval(50, -10);
  EXPECT_EQ(interval.lo(), -10);
  std::string bytes = to_bytes(interval);
  ASSERT_EQ(bytes.size(), 1 + 8 + 8);
  EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 7);
  EXPECT_EQ(round_trip(interval), interval);

  // The specialization composes with the generic containers.
  std::vector<std::optional<Interval>> intervals{Interval(1, 2), std::nullopt, Interval(-5, 5)};
  EXPECT_EQ(round_trip(intervals), intervals);
  std::map<std::string, Interval> named{{"a", Interval(0, 0)}, {"b", Interval(3, 9)}};
  EXPECT_EQ(round_trip(named), named);

  bytes[0] = 8;
  try {
    (void)from_bytes<Interval>(bytes);
    FAIL() << "a wrong version byte was accepted";
  } catch (const sluice::Error& e) {
    EXPECT_EQ(e.category(), sluice::ErrorCategory::kSerialization);
  }
}

TEST(SerializationTest, TruncatedStructThrowsAtEveryCut) {
  std::string bytes = to_bytes(sample_order());
  // Cut points inside each field: the int64 id, the double, the string's length prefix and
  // body, the vector's length prefix and an element's nested string.
  const size_t customer_length = sample_order().customer.size();
  const size_t items_at = 8 + 8 + 4 + customer_length;
  std::vector<size_t> cuts{0,
                           1,
                           7,
                           8,
                           12,
                           16,
                           18,
                           20,
                           20 + customer_length / 2,
                           items_at,
                           items_at + 2,
                           items_at + 4,
                           items_at + 4 + 3,
                           items_at + 4 + 4 + 2,
                           bytes.size() - 1};
  for (size_t cut : cuts) {
    SCOPED_TRACE(testing::Message() << "cut at " << cut << " of " << bytes.size());
    ASSERT_LT(cut, bytes.size());
    expect_truncated<Order>(std::string_view(bytes).substr(0, cut));
  }
  // Every prefix must fail the same way, not only the ones picked above.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    SCOPED_TRACE(testing::Message() << "cut at " << cut);
    expect_truncated<Order>(std::string_view(bytes).substr(0, cut));
  }
  EXPECT_EQ(from_bytes<Order>(bytes), sample_order());
}

TEST(SerializationTest, TruncatedContainersThrow) {
  expect_truncated<int64_t>(std::string(7, '\0'));
  expect_truncated<std::string>(
      std::string("\x05\x00\x00\x00"
                  "abcd",
                  8));
  expect_truncated<std::optional<int32_t>>(std::string("\x01\x00", 2));
  expect_truncated<std::pair<int32_t, int32_t>>(std::string(6, '\0'));
  expect_truncated<std::array<int32_t, 2>>(std::string(5, '\0'));
  expect_truncated<std::map<int32_t, int32_t>>(std::string("\x01\x00\x00\x00\x01\x00\x00\x00", 8));
  expect_truncated<Interval>(to_bytes(Interval(1, 2)).substr(0, 12));

  // A huge length prefix with few bytes behind it must fail cleanly rather than allocate
  // gigabytes or read past the end.
  std::string huge_length("\xff\xff\xff\xff\x01\x02\x03", 7);
  expect_truncated<std::vector<int64_t>>(huge_length);
  expect_truncated<std::vector<std::string>>(huge_length);
  expect_truncated<std::vector<Item>>(huge_length);
  expect_truncated<std::string>(huge_length);
  expect_truncated<std::map<int64_t, int64_t>>(huge_length);
}

}  // namespace

namespace sluice {
namespace {

TEST(SerializationBool, AnyNonZeroByteDecodesAsTrue) {
  for (int byte : {1, 2, 127, 255}) {
    std::string bytes(1, static_cast<char>(byte));
    EXPECT_TRUE(from_bytes<bool>(bytes)) << byte;
  }
  EXPECT_FALSE(from_bytes<bool>(std::string(1, '\0')));
}

}  // namespace
}  // namespace sluice
