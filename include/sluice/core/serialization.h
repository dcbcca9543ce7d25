// Binary serialization of user types, for state snapshots and the network transport.
//
// Serializer<T> is a trait with two static functions, serialize(const T&, BufferWriter&) and
// deserialize(BufferReader&) -> T. It is provided for arithmetic types, enums, std::string,
// std::vector, std::optional, std::pair, std::array, std::map and, through Boost.PFR, for every
// plain aggregate whose fields are themselves serializable — so a `struct Txn { int64_t id;
// std::string merchant; double amount; }` needs no code at all. Specialize sluice::Serializer<T>
// for anything else (classes with invariants, pointers, versioned formats).
//
// Format: little-endian fixed-width numbers, u32 length prefixes, fields in declaration order.
// It is the in-process and snapshot format of this build; it carries no schema.
//
// Threading: stateless; a BufferWriter or BufferReader is used by one thread at a time.
#pragma once

#include <algorithm>
#include <array>
#include <boost/pfr.hpp>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace sluice {

// Appends to a std::string through a cursor. The string is grown ahead of the cursor (its tail
// past the cursor is scratch) and cut back to the written bytes when the writer finishes: at
// finish() or destruction. So read the string only after that, or read view() meanwhile; and
// write to a string through one writer at a time. Growing ahead instead of std::string::append
// per field makes a fixed-width field one store: snapshots serialize millions of entries.
class BufferWriter {
 public:
  explicit BufferWriter(std::string& out) : out_(&out), start_(out.size()), pos_(start_) {}
  BufferWriter(BufferWriter&& other) noexcept
      : out_(std::exchange(other.out_, nullptr)), start_(other.start_), pos_(other.pos_) {}
  BufferWriter(const BufferWriter&) = delete;
  BufferWriter& operator=(const BufferWriter&) = delete;
  BufferWriter& operator=(BufferWriter&&) = delete;
  ~BufferWriter() { finish(); }

  void write_bytes(const void* data, size_t size) {
    if (size > 0) std::memcpy(claim(size), data, size);  // data may be null if 0
  }
  template <class T>
  void write_fixed(T value) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::memcpy(claim(sizeof(T)), &value, sizeof(T));
  }
  void write_length(size_t size) { write_fixed(static_cast<uint32_t>(size)); }
  // Bytes in the string so far, those it held before the writer included.
  size_t size() const { return pos_; }
  // The whole string as written so far, valid until the next write.
  std::string_view view() const { return {out_->data(), pos_}; }
  // Room for `more` bytes: one allocation for a large value instead of a growing copy.
  void reserve(size_t more) {
    if (out_->size() - pos_ < more) grow(more);
  }
  // A u32 length, then what `body(*this)` writes: the length is patched in afterwards.
  template <class Body>
  void write_length_prefixed(Body&& body) {
    const size_t at = pos_;
    write_fixed<uint32_t>(0);
    body(*this);
    const auto length = static_cast<uint32_t>(pos_ - at - sizeof(uint32_t));
    std::memcpy(out_->data() + at, &length, sizeof(length));
  }
  // Cuts the string back to the written bytes; writing may go on afterwards.
  void finish() {
    if (out_ != nullptr && out_->size() != pos_) out_->resize(pos_);
  }

 private:
  char* claim(size_t size) {
    if (out_->size() - pos_ < size) grow(size);
    char* at = out_->data() + pos_;
    pos_ += size;
    return at;
  }
  // Ahead by as much as this writer wrote so far (64 bytes to 1 MiB): a long-lived writer pays
  // the zero-filling resize about once per byte, and a short-lived one (one entry of a large
  // string) fills only a little scratch.
  void grow(size_t more) {
    constexpr size_t kMinAhead = 64;
    constexpr size_t kMaxAhead = size_t{1} << 20;
    const size_t ahead = std::clamp(pos_ - start_, kMinAhead, kMaxAhead);
    out_->resize(pos_ + std::max(more, ahead));
  }

  std::string* out_;
  size_t start_;  // where this writer began
  size_t pos_;
};

class BufferReader {
 public:
  BufferReader(const void* data, size_t size)
      : pos_(static_cast<const char*>(data)), end_(pos_ + size) {}
  explicit BufferReader(std::string_view bytes) : BufferReader(bytes.data(), bytes.size()) {}

  void read_bytes(void* out, size_t size) {
    require(size);
    if (size == 0) return;  // `out` may be null (an empty vector's data()); memcpy forbids it
    std::memcpy(out, pos_, size);
    pos_ += size;
  }
  std::string_view read_view(size_t size) {
    require(size);
    std::string_view view(pos_, size);
    pos_ += size;
    return view;
  }
  template <class T>
  T read_fixed() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    read_bytes(&value, sizeof(T));
    return value;
  }
  size_t read_length() { return read_fixed<uint32_t>(); }
  // What write_length_prefixed wrote.
  std::string_view read_length_prefixed() { return read_view(read_length()); }
  size_t remaining() const { return static_cast<size_t>(end_ - pos_); }
  bool at_end() const { return pos_ == end_; }

 private:
  void require(size_t size) const {
    if (static_cast<size_t>(end_ - pos_) < size) throw_truncated(size);
  }
  [[noreturn]] void throw_truncated(size_t wanted) const;

  const char* pos_;
  const char* end_;
};

template <class T, class Enable = void>
struct Serializer;

template <class T>
void serialize(const T& value, BufferWriter& out) {
  Serializer<T>::serialize(value, out);
}
template <class T>
T deserialize(BufferReader& in) {
  return Serializer<T>::deserialize(in);
}

// Convenience for tests and snapshots: whole value to bytes and back.
template <class T>
std::string to_bytes(const T& value) {
  std::string bytes;
  BufferWriter writer(bytes);
  serialize(value, writer);
  writer.finish();
  return bytes;
}
template <class T>
T from_bytes(std::string_view bytes);

template <class T>
struct Serializer<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  static void serialize(T value, BufferWriter& out) { out.write_fixed(value); }
  static T deserialize(BufferReader& in) { return in.read_fixed<T>(); }
};

// Any byte other than 0 decodes as true: copying an arbitrary byte into a bool is undefined.
template <>
struct Serializer<bool> {
  static void serialize(bool value, BufferWriter& out) { out.write_fixed<uint8_t>(value ? 1 : 0); }
  static bool deserialize(BufferReader& in) { return in.read_fixed<uint8_t>() != 0; }
};

template <>
struct Serializer<std::string> {
  static void serialize(const std::string& value, BufferWriter& out) {
    out.write_length(value.size());
    out.write_bytes(value.data(), value.size());
  }
  static std::string deserialize(BufferReader& in) {
    return std::string(in.read_view(in.read_length()));
  }
};

template <class E>
struct Serializer<std::vector<E>> {
  // Contiguous numbers are copied in bulk; std::vector<bool> is packed bits with no data(), so it
  // goes element by element.
  static constexpr bool kBulk = std::is_arithmetic_v<E> && !std::is_same_v<E, bool>;

  static void serialize(const std::vector<E>& value, BufferWriter& out) {
    out.write_length(value.size());
    if constexpr (kBulk) {
      out.write_bytes(value.data(), value.size() * sizeof(E));
    } else {
      for (const auto& e : value) Serializer<E>::serialize(e, out);
    }
  }
  static std::vector<E> deserialize(BufferReader& in) {
    size_t n = in.read_length();
    std::vector<E> result;
    if constexpr (kBulk) {
      if (n > in.remaining() / sizeof(E)) in.read_view(n * sizeof(E));  // throws: truncated
      result.resize(n);
      in.read_bytes(result.data(), n * sizeof(E));
    } else {
      result.reserve(std::min(n, in.remaining()));
      for (size_t i = 0; i < n; ++i) result.push_back(Serializer<E>::deserialize(in));
    }
    return result;
  }
};

template <class E>
struct Serializer<std::optional<E>> {
  static void serialize(const std::optional<E>& value, BufferWriter& out) {
    out.write_fixed<uint8_t>(value.has_value() ? 1 : 0);
    if (value) Serializer<E>::serialize(*value, out);
  }
  static std::optional<E> deserialize(BufferReader& in) {
    if (in.read_fixed<uint8_t>() == 0) return std::nullopt;
    return Serializer<E>::deserialize(in);
  }
};

template <class A, class B>
struct Serializer<std::pair<A, B>> {
  static void serialize(const std::pair<A, B>& value, BufferWriter& out) {
    Serializer<A>::serialize(value.first, out);
    Serializer<B>::serialize(value.second, out);
  }
  static std::pair<A, B> deserialize(BufferReader& in) {
    A first = Serializer<A>::deserialize(in);
    B second = Serializer<B>::deserialize(in);
    return {std::move(first), std::move(second)};
  }
};

template <class... E>
struct Serializer<std::tuple<E...>> {
  static void serialize(const std::tuple<E...>& value, BufferWriter& out) {
    std::apply([&](const auto&... e) { (Serializer<E>::serialize(e, out), ...); }, value);
  }
  static std::tuple<E...> deserialize(BufferReader& in) {
    return std::tuple<E...>{Serializer<E>::deserialize(in)...};  // braces: left to right
  }
};

template <class E, size_t N>
struct Serializer<std::array<E, N>> {
  static void serialize(const std::array<E, N>& value, BufferWriter& out) {
    for (const auto& e : value) Serializer<E>::serialize(e, out);
  }
  static std::array<E, N> deserialize(BufferReader& in) {
    std::array<E, N> result{};
    for (auto& e : result) e = Serializer<E>::deserialize(in);
    return result;
  }
};

template <class K, class V>
struct Serializer<std::map<K, V>> {
  static void serialize(const std::map<K, V>& value, BufferWriter& out) {
    out.write_length(value.size());
    for (const auto& [k, v] : value) {
      Serializer<K>::serialize(k, out);
      Serializer<V>::serialize(v, out);
    }
  }
  static std::map<K, V> deserialize(BufferReader& in) {
    size_t n = in.read_length();
    std::map<K, V> result;
    for (size_t i = 0; i < n; ++i) {
      K k = Serializer<K>::deserialize(in);
      result.emplace(std::move(k), Serializer<V>::deserialize(in));
    }
    return result;
  }
};

// std::array is an aggregate too; without this it would match both its own serializer and the
// aggregate one, and every use would be ambiguous.
template <class T>
inline constexpr bool kIsStdArray = false;
template <class E, size_t N>
inline constexpr bool kIsStdArray<std::array<E, N>> = true;

template <class T>
inline constexpr bool kIsReflectableAggregate =
    std::is_aggregate_v<T> && !std::is_array_v<T> && std::is_class_v<T> && !kIsStdArray<T>;

// Plain aggregates: every field in declaration order, through Boost.PFR.
template <class T>
struct Serializer<T, std::enable_if_t<kIsReflectableAggregate<T>>> {
  static void serialize(const T& value, BufferWriter& out) {
    boost::pfr::for_each_field(value, [&](const auto& field) {
      Serializer<std::decay_t<decltype(field)>>::serialize(field, out);
    });
  }
  static T deserialize(BufferReader& in) {
    T value{};
    boost::pfr::for_each_field(value, [&](auto& field) {
      field = Serializer<std::decay_t<decltype(field)>>::deserialize(in);
    });
    return value;
  }
};

template <class T>
T from_bytes(std::string_view bytes) {
  BufferReader reader(bytes);
  return deserialize<T>(reader);
}

// Whether T can be serialized all the way down: the fields of aggregates and the elements of
// containers too. Operators whose state is not serializable still run, but cannot be
// checkpointed (they say so at the first checkpoint).
template <class T, class Enable = void>
    struct IsSerializable : std::bool_constant < requires {
  sizeof(Serializer<T>);
} > {};
template <class T>
inline constexpr bool kSerializable = IsSerializable<std::remove_cv_t<T>>::value;

template <class T>
struct IsSerializable<T, std::enable_if_t<kIsReflectableAggregate<T>>> {
  static constexpr bool value = []<size_t... I>(std::index_sequence<I...>) {
    return (kSerializable<boost::pfr::tuple_element_t<I, T>> && ...);
  }
  (std::make_index_sequence<boost::pfr::tuple_size_v<T>>{});
};
template <class E>
struct IsSerializable<std::vector<E>> : IsSerializable<E> {};
template <class E>
struct IsSerializable<std::optional<E>> : IsSerializable<E> {};
template <class E, size_t N>
struct IsSerializable<std::array<E, N>> : IsSerializable<E> {};
template <class A, class B>
struct IsSerializable<std::pair<A, B>> : std::bool_constant<kSerializable<A> && kSerializable<B>> {
};
template <class K, class V>
struct IsSerializable<std::map<K, V>> : std::bool_constant<kSerializable<K> && kSerializable<V>> {};
template <class... E>
struct IsSerializable<std::tuple<E...>> : std::bool_constant<(kSerializable<E> && ...)> {};

}  // namespace sluice
