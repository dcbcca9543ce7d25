#include "tpch_generator.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace sluice::tpch {
namespace {

__extension__ typedef unsigned __int128 Uint128;

// ---- randomness ----

// splitmix64's finalizer: consecutive inputs (row numbers) give unrelated outputs.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// One independent stream per table (and per extra per-row decision), so adding a draw to one
// table never shifts the values of another.
enum class Stream : uint64_t {
  kRegion = 1,
  kNation,
  kPart,
  kPartsupp,
  kSupplier,
  kSupplierRemark,
  kCustomer,
  kOrder,
  kTextPool,
};

// splitmix64 seeded from (stream, row): a row's values depend on nothing but its number, which is
// what lets chunks of a table be generated in any order on any thread.
class Rng {
 public:
  Rng(Stream stream, uint64_t row)
      : state_(mix64(mix64(static_cast<uint64_t>(stream) * 0x9e3779b97f4a7c15ULL) ^ row)) {}

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }

  // Uniform in [lo, hi]. Multiply-shift instead of modulo: no division in the hot loop, and the
  // bias (range / 2^64) is far below anything a query could see.
  int64_t uniform(int64_t lo, int64_t hi) {
    const uint64_t range = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>((static_cast<Uint128>(next()) * range) >> 64);
  }

 private:
  uint64_t state_;
};

template <size_t N>
std::string_view pick(Rng& rng, const std::array<std::string_view, N>& words) {
  return words[static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(N) - 1))];
}

// ---- fixed domains (clause 4.2.2.13 and 4.2.3) ----

constexpr std::array<std::string_view, 92> kColors = {
    "almond",   "antique",   "aquamarine", "azure",      "beige",     "bisque",    "black",
    "blanched", "blue",      "blush",      "brown",      "burlywood", "burnished", "chartreuse",
    "chiffon",  "chocolate", "coral",      "cornflower", "cornsilk",  "cream",     "cyan",
    "dark",     "deep",      "dim",        "dodger",     "drab",      "firebrick", "floral",
    "forest",   "frosted",   "gainsboro",  "ghost",      "goldenrod", "green",     "grey",
    "honeydew", "hot",       "indian",     "ivory",      "khaki",     "lace",      "lavender",
    "lawn",     "lemon",     "light",      "lime",       "linen",     "magenta",   "maroon",
    "medium",   "metallic",  "midnight",   "mint",       "misty",     "moccasin",  "navajo",
    "navy",     "olive",     "orange",     "orchid",     "pale",      "papaya",    "peach",
    "peru",     "pink",      "plum",       "powder",     "puff",      "purple",    "red",
    "rose",     "rosy",      "royal",      "saddle",     "salmon",    "sandy",     "seashell",
    "sienna",   "sky",       "slate",      "smoke",      "snow",      "spring",    "steel",
    "tan",      "thistle",   "tomato",     "turquoise",  "violet",    "wheat",     "white",
    "yellow"};
// A short initializer list would leave empty names at the end without a compile error.
static_assert(!kColors.back().empty());

constexpr std::array<std::string_view, 6> kTypeSize = {"STANDARD", "SMALL",   "MEDIUM",
                                                       "LARGE",    "ECONOMY", "PROMO"};
constexpr std::array<std::string_view, 5> kTypeFinish = {"ANODIZED", "BURNISHED", "PLATED",
                                                         "POLISHED", "BRUSHED"};
constexpr std::array<std::string_view, 5> kTypeMaterial = {"TIN", "NICKEL", "BRASS", "STEEL",
                                                           "COPPER"};
constexpr std::array<std::string_view, 5> kContainerSize = {"SM", "LG", "MED", "JUMBO", "WRAP"};
constexpr std::array<std::string_view, 8> kContainerKind = {"CASE", "BOX",  "BAG", "JAR",
                                                            "PKG",  "PACK", "CAN", "DRUM"};
constexpr std::array<std::string_view, 5> kSegments = {"AUTOMOBILE", "BUILDING", "FURNITURE",
                                                       "MACHINERY", "HOUSEHOLD"};
constexpr std::array<std::string_view, 5> kPriorities = {"1-URGENT", "2-HIGH", "3-MEDIUM",
                                                         "4-NOT SPECIFIED", "5-LOW"};
constexpr std::array<std::string_view, 4> kInstructions = {"DELIVER IN PERSON", "COLLECT COD",
                                                           "NONE", "TAKE BACK RETURN"};
constexpr std::array<std::string_view, 7> kShipModes = {"REG AIR", "AIR",  "RAIL", "SHIP",
                                                        "TRUCK",   "MAIL", "FOB"};

constexpr std::array<std::string_view, 5> kRegions = {"AFRICA", "AMERICA", "ASIA", "EUROPE",
                                                      "MIDDLE EAST"};
struct Nation {
  std::string_view name;
  int region;
};
constexpr std::array<Nation, 25> kNations = {{
    {"ALGERIA", 0},       {"ARGENTINA", 1}, {"BRAZIL", 1}, {"CANADA", 1},
    {"EGYPT", 4},         {"ETHIOPIA", 0},  {"FRANCE", 3}, {"GERMANY", 3},
    {"INDIA", 2},         {"INDONESIA", 2}, {"IRAN", 4},   {"IRAQ", 4},
    {"JAPAN", 2},         {"JORDAN", 4},    {"KENYA", 0},  {"MOROCCO", 0},
    {"MOZAMBIQUE", 0},    {"PERU", 1},      {"CHINA", 2},  {"ROMANIA", 3},
    {"SAUDI ARABIA", 4},  {"VIETNAM", 2},   {"RUSSIA", 3}, {"UNITED KINGDOM", 3},
    {"UNITED STATES", 1},
}};

// ---- dates ----

constexpr bool is_leap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

// Day numbers count from 1992-01-01 (the specification's STARTDATE); every generated date lies in
// [1992-01-01, 1998-12-31], so a table of their text is cheaper than formatting each one.
class Calendar {
 public:
  Calendar() {
    int year = 1992, month = 1, day = 1;
    constexpr std::array<int, 12> kMonthDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    while (year <= 1998) {
      std::array<char, 10> text{};
      write_digits(text.data(), year, 4);
      text[4] = '-';
      write_digits(text.data() + 5, month, 2);
      text[7] = '-';
      write_digits(text.data() + 8, day, 2);
      days_.push_back(text);
      const int in_month = kMonthDays[month - 1] + (month == 2 && is_leap(year) ? 1 : 0);
      if (++day > in_month) {
        day = 1;
        if (++month > 12) {
          month = 1;
          ++year;
        }
      }
    }
  }

  std::string_view text(int day) const { return {days_[static_cast<size_t>(day)].data(), 10}; }

  static void write_digits(char* out, int value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      out[i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  }

 private:
  std::vector<std::array<char, 10>> days_;
};

// 1992-01-01 + 1263 days. Receipts on or before it are returned or accepted, shipments after it
// are still open (clause 4.2.3, CURRENTDATE).
constexpr int kCurrentDate = 1263;  // 1995-06-17
// Orders are placed up to ENDDATE - 151 days, so that their lines ship and arrive by ENDDATE.
constexpr int kLastOrderDay = 2556 - 151;  // 1998-12-31 - 151

// ---- text (clause 4.2.2.14) ----

struct Word {
  std::string_view text;
  uint32_t weight;
};

// The specification's word lists. The weights are ours: a few words common enough that the
// queries' LIKE patterns ('%special%requests%') match a small share of comments, the rest rare.
constexpr Word kNouns[] = {
    {"packages", 8},     {"requests", 8},     {"accounts", 8},       {"deposits", 8},
    {"foxes", 4},        {"ideas", 4},        {"theodolites", 4},    {"pinto beans", 4},
    {"instructions", 4}, {"dependencies", 2}, {"excuses", 2},        {"platelets", 2},
    {"asymptotes", 2},   {"courts", 1},       {"dolphins", 1},       {"multipliers", 1},
    {"sauternes", 1},    {"warthogs", 1},     {"frets", 1},          {"dinos", 1},
    {"attainments", 1},  {"somas", 1},        {"Tiresias", 1},       {"patterns", 1},
    {"forges", 1},       {"braids", 1},       {"hockey players", 1}, {"frays", 1},
    {"warhorses", 1},    {"dugouts", 1},      {"notornis", 1},       {"epitaphs", 1},
    {"pearls", 1},       {"tithes", 1},       {"waters", 1},         {"orbits", 1},
    {"gifts", 1},        {"sheaves", 1},      {"depths", 1},         {"sentiments", 1},
    {"decoys", 1},       {"realms", 1},       {"pains", 1},          {"grouches", 1},
    {"escapades", 1},
};
constexpr Word kVerbs[] = {
    {"sleep", 4},     {"wake", 4},     {"are", 4},    {"cajole", 4},  {"haggle", 4},
    {"nag", 2},       {"use", 2},      {"boost", 2},  {"affix", 1},   {"detect", 1},
    {"integrate", 1}, {"maintain", 1}, {"nod", 1},    {"was", 1},     {"lose", 1},
    {"sublate", 1},   {"solve", 1},    {"thrash", 1}, {"promise", 1}, {"engage", 1},
    {"hinder", 1},    {"print", 1},    {"x-ray", 1},  {"breach", 1},  {"eat", 1},
    {"grow", 1},      {"impress", 1},  {"mold", 1},   {"poach", 1},   {"serve", 1},
    {"run", 1},       {"dazzle", 1},   {"snooze", 1}, {"doze", 1},    {"unwind", 1},
    {"kindle", 1},    {"play", 1},     {"hang", 1},   {"believe", 1}, {"doubt", 1},
};
constexpr Word kAdjectives[] = {
    {"regular", 6},   {"final", 5},    {"ironic", 5},  {"even", 4},     {"special", 3},
    {"pending", 3},   {"unusual", 3},  {"express", 3}, {"bold", 3},     {"silent", 2},
    {"furious", 1},   {"sly", 1},      {"careful", 1}, {"blithe", 1},   {"quick", 1},
    {"fluffy", 1},    {"slow", 1},     {"quiet", 1},   {"ruthless", 1}, {"thin", 1},
    {"close", 1},     {"dogged", 1},   {"daring", 1},  {"brave", 1},    {"stealthy", 1},
    {"permanent", 1}, {"enticing", 1}, {"idle", 1},    {"busy", 1},
};
constexpr Word kAdverbs[] = {
    {"furiously", 5}, {"slyly", 5},      {"carefully", 5},  {"blithely", 4},    {"quickly", 3},
    {"fluffily", 2},  {"sometimes", 1},  {"always", 1},     {"never", 1},       {"slowly", 1},
    {"quietly", 1},   {"ruthlessly", 1}, {"thinly", 1},     {"closely", 1},     {"doggedly", 1},
    {"daringly", 1},  {"bravely", 1},    {"stealthily", 1}, {"permanently", 1}, {"enticingly", 1},
    {"idly", 1},      {"busily", 1},     {"regularly", 1},  {"finally", 1},     {"ironically", 1},
    {"evenly", 1},    {"boldly", 1},     {"silently", 1},
};
constexpr Word kPrepositions[] = {
    {"about", 5},       {"above", 5},   {"according to", 5}, {"across", 5}, {"after", 5},
    {"against", 4},     {"along", 4},   {"alongside of", 3}, {"among", 3},  {"around", 2},
    {"at", 1},          {"atop", 1},    {"before", 1},       {"behind", 1}, {"beneath", 1},
    {"beside", 1},      {"besides", 1}, {"between", 1},      {"beyond", 1}, {"by", 1},
    {"despite", 1},     {"during", 1},  {"except", 1},       {"for", 1},    {"from", 1},
    {"in place of", 1}, {"inside", 1},  {"instead of", 1},   {"into", 1},   {"near", 1},
    {"of", 1},          {"on", 1},      {"outside", 1},      {"over", 1},   {"past", 1},
    {"since", 1},       {"through", 1}, {"throughout", 1},   {"to", 1},     {"toward", 1},
    {"under", 1},       {"until", 1},   {"up", 1},           {"upon", 1},   {"without", 1},
    {"with", 1},        {"within", 1},
};
constexpr Word kAuxiliaries[] = {
    {"do", 1},
    {"may", 1},
    {"might", 1},
    {"shall", 1},
    {"will", 1},
    {"would", 1},
    {"can", 1},
    {"could", 1},
    {"should", 1},
    {"ought to", 1},
    {"must", 1},
    {"will have to", 1},
    {"shall have to", 1},
    {"could have to", 1},
    {"should have to", 1},
    {"must have to", 1},
    {"need to", 1},
    {"try to", 1},
};
constexpr Word kTerminators[] = {
    {".", 10}, {";", 1}, {":", 1}, {"?", 1}, {"!", 1}, {"--", 1},
};

class WordList {
 public:
  explicit WordList(std::span<const Word> words) : words_(words) {
    uint32_t total = 0;
    for (const Word& w : words) cumulative_.push_back(total += w.weight);
  }

  std::string_view pick(Rng& rng) const {
    const auto at = static_cast<uint32_t>(rng.uniform(0, cumulative_.back() - 1));
    const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), at);
    return words_[static_cast<size_t>(it - cumulative_.begin())].text;
  }

 private:
  std::span<const Word> words_;
  std::vector<uint32_t> cumulative_;
};

// Comments are random substrings of one pool of sentences from the specification's grammar, as
// the specification prescribes; the pool is smaller than its 300 MB (it only needs to be much
// longer than a comment) so that it costs a few tens of milliseconds.
constexpr size_t kTextPoolBytes = 8u << 20;

class TextPool {
 public:
  TextPool()
      : nouns_(kNouns),
        verbs_(kVerbs),
        adjectives_(kAdjectives),
        adverbs_(kAdverbs),
        prepositions_(kPrepositions),
        auxiliaries_(kAuxiliaries),
        terminators_(kTerminators) {
    Rng rng(Stream::kTextPool, 0);
    text_.reserve(kTextPoolBytes + 256);
    while (text_.size() < kTextPoolBytes) sentence(rng);
    text_.resize(kTextPoolBytes);
  }

  std::string_view random_text(Rng& rng, int min_length, int max_length) const {
    const auto length = static_cast<size_t>(rng.uniform(min_length, max_length));
    const auto offset =
        static_cast<size_t>(rng.uniform(0, static_cast<int64_t>(text_.size() - length)));
    return std::string_view(text_).substr(offset, length);
  }

 private:
  void word(std::string_view w) {
    if (!text_.empty() && text_.back() != ' ') text_ += ' ';
    text_ += w;
  }

  void noun_phrase(Rng& rng) {
    switch (rng.uniform(0, 3)) {
      case 0:
        break;
      case 1:
        word(adjectives_.pick(rng));
        break;
      case 2:
        word(adjectives_.pick(rng));
        text_ += ',';
        word(adjectives_.pick(rng));
        break;
      default:
        word(adverbs_.pick(rng));
        word(adjectives_.pick(rng));
        break;
    }
    word(nouns_.pick(rng));
  }

  void verb_phrase(Rng& rng) {
    const int64_t form = rng.uniform(0, 3);
    if (form == 1 || form == 3) word(auxiliaries_.pick(rng));
    word(verbs_.pick(rng));
    if (form >= 2) word(adverbs_.pick(rng));
  }

  void prepositional_phrase(Rng& rng) {
    word(prepositions_.pick(rng));
    word("the");
    noun_phrase(rng);
  }

  void sentence(Rng& rng) {
    noun_phrase(rng);
    switch (rng.uniform(0, 4)) {
      case 0:
        verb_phrase(rng);
        break;
      case 1:
        verb_phrase(rng);
        prepositional_phrase(rng);
        break;
      case 2:
        verb_phrase(rng);
        noun_phrase(rng);
        break;
      case 3:
        prepositional_phrase(rng);
        verb_phrase(rng);
        noun_phrase(rng);
        break;
      default:
        prepositional_phrase(rng);
        verb_phrase(rng);
        prepositional_phrase(rng);
        break;
    }
    text_ += terminators_.pick(rng);
    text_ += ' ';
  }

  WordList nouns_, verbs_, adjectives_, adverbs_, prepositions_, auxiliaries_, terminators_;
  std::string text_;
};

// ---- output ----

// One chunk of one file's text. Rows are far shorter than kMaxRow, so a row checks the capacity
// once and its fields then write without checks.
class Buffer {
 public:
  static constexpr size_t kMaxRow = 1024;

  void begin_row() {
    if (data_.size() - size_ < kMaxRow)
      data_.resize(std::max(data_.size() * 2, size_ + 64 * kMaxRow));
  }
  void end_row() { data_[size_++] = '\n'; }

  void text(std::string_view s) {
    raw(s);
    data_[size_++] = '|';
  }
  void raw(std::string_view s) {
    std::memcpy(data_.data() + size_, s.data(), s.size());
    size_ += s.size();
  }
  void character(char c) {
    data_[size_++] = c;
    data_[size_++] = '|';
  }
  void integer(int64_t value) {
    char* at = data_.data() + size_;
    size_ = static_cast<size_t>(std::to_chars(at, at + 24, value).ptr - data_.data());
    data_[size_++] = '|';
  }
  // "Supplier#000000042": the specification pads these keys to nine digits.
  void padded_key(std::string_view prefix, int64_t key) {
    raw(prefix);
    digits(key, 9);
    data_[size_++] = '|';
  }
  // Money as cents, printed with two decimals.
  void cents(int64_t value) {
    if (value < 0) {
      data_[size_++] = '-';
      value = -value;
    }
    char* at = data_.data() + size_;
    size_ = static_cast<size_t>(std::to_chars(at, at + 24, value / 100).ptr - data_.data());
    data_[size_++] = '.';
    digits(value % 100, 2);
    data_[size_++] = '|';
  }
  void digits(int64_t value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      data_[size_ + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
    size_ += static_cast<size_t>(width);
  }
  // Clause 4.2.2.9: country code (nation key + 10), then three local parts.
  void phone(Rng& rng, int nation) {
    digits(nation + 10, 2);
    data_[size_++] = '-';
    digits(rng.uniform(100, 999), 3);
    data_[size_++] = '-';
    digits(rng.uniform(100, 999), 3);
    data_[size_++] = '-';
    digits(rng.uniform(1000, 9999), 4);
    data_[size_++] = '|';
  }
  // Clause 4.2.2.7's v-string: random length, each character one of 64 symbols. One 64-bit draw
  // yields ten 6-bit symbols.
  void random_vstring(Rng& rng, int min_length, int max_length) {
    static constexpr std::string_view kSymbols =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,.";
    static_assert(kSymbols.size() == 64);
    const auto length = rng.uniform(min_length, max_length);
    uint64_t bits = 0;
    for (int64_t i = 0; i < length; ++i) {
      if (i % 10 == 0) bits = rng.next();
      data_[size_++] = kSymbols[bits & 63];
      bits >>= 6;
    }
    data_[size_++] = '|';
  }

  std::string_view view() const { return {data_.data(), size_}; }
  void clear() { size_ = 0; }

 private:
  std::string data_;
  size_t size_ = 0;
};

class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path path)
      : path_(std::move(path)), file_(std::fopen(path_.c_str(), "wb")) {
    if (file_ == nullptr) throw std::runtime_error("cannot create " + path_.string());
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  ~OutputFile() {
    if (file_ != nullptr) std::fclose(file_);
  }

  void write(std::string_view data) {
    if (std::fwrite(data.data(), 1, data.size(), file_) != data.size())
      throw std::runtime_error("cannot write " + path_.string());
  }
  // Separate from the destructor so that a failed flush (a full disk) is reported.
  void close() {
    std::FILE* file = std::exchange(file_, nullptr);
    if (std::fclose(file) != 0) throw std::runtime_error("cannot write " + path_.string());
  }

 private:
  std::filesystem::path path_;
  std::FILE* file_;
};

// Generates rows [0, rows) in chunks of rows_per_chunk, `fill(first, last, buffers)` writing one
// buffer per output file, and appends the chunks to the files in row order. Workers take chunks
// from a counter; chunk c goes to slot c % window, free again once chunk c - window is written.
// The window bounds the memory held while the writer catches up (lineitem is 750 MB per unit of
// scale factor), and reusing the slots' buffers spares each chunk the allocation and page faults
// of fresh memory.
using ChunkFill = std::function<void(int64_t first, int64_t last, std::span<Buffer> out)>;

void generate_chunks(int64_t rows, int64_t rows_per_chunk, int threads,
                     std::span<OutputFile* const> files, const ChunkFill& fill) {
  const int64_t chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  const int64_t window = threads <= 1 ? 1 : 2 * static_cast<int64_t>(threads);
  std::vector<std::vector<Buffer>> slots(static_cast<size_t>(window),
                                         std::vector<Buffer>(files.size()));
  auto slot_of = [&](int64_t chunk) -> std::vector<Buffer>& {
    return slots[static_cast<size_t>(chunk % window)];
  };
  auto generate = [&](int64_t chunk) {
    std::vector<Buffer>& out = slot_of(chunk);
    for (Buffer& buffer : out) buffer.clear();
    fill(chunk * rows_per_chunk, std::min(rows, (chunk + 1) * rows_per_chunk), out);
  };
  auto write = [&](int64_t chunk) {
    const std::vector<Buffer>& out = slot_of(chunk);
    for (size_t i = 0; i < files.size(); ++i) files[i]->write(out[i].view());
  };
  if (threads <= 1 || chunks <= 1) {
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      generate(chunk);
      write(chunk);
    }
    return;
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<uint8_t> ready(static_cast<size_t>(window), 0);
  int64_t next = 0;
  int64_t written = 0;
  bool stop = false;
  std::exception_ptr error;
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard lock(mutex);
    if (!error) error = std::move(e);
    stop = true;
    changed.notify_all();
  };

  std::vector<std::jthread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (;;) {
        int64_t chunk = 0;
        {
          std::unique_lock lock(mutex);
          changed.wait(lock, [&] { return stop || next >= chunks || next < written + window; });
          if (stop || next >= chunks) return;
          chunk = next++;
        }
        try {
          generate(chunk);
        } catch (...) {
          fail(std::current_exception());
          return;
        }
        std::lock_guard lock(mutex);
        ready[static_cast<size_t>(chunk % window)] = 1;
        changed.notify_all();
      }
    });
  }
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return stop || ready[static_cast<size_t>(chunk % window)] != 0; });
      if (stop) break;
    }
    try {
      write(chunk);
    } catch (...) {
      fail(std::current_exception());
      break;
    }
    std::lock_guard lock(mutex);
    ready[static_cast<size_t>(chunk % window)] = 0;
    ++written;
    changed.notify_all();
  }
  workers.clear();
  if (error) std::rethrow_exception(error);
}

// ---- the tables ----

class Generator {
 public:
  Generator(double scale_factor, int threads, const std::filesystem::path& dir)
      : scale_(scale_factor), counts_(cardinalities(scale_factor)), threads_(threads), dir_(dir) {}

  GeneratedRows run() {
    GeneratedRows rows;
    rows.region = region();
    rows.nation = nation();
    rows.part = counts_.parts;
    rows.partsupp = part_and_partsupp();
    rows.supplier = supplier();
    rows.customer = customer();
    rows.orders = counts_.orders;
    rows.lineitem = orders_and_lineitem();
    return rows;
  }

 private:
  OutputFile open(std::string_view table) const {
    return OutputFile(dir_ / (std::string(table) + ".tbl"));
  }

  int64_t region() {
    OutputFile file = open("region");
    Buffer out;
    for (int key = 0; key < static_cast<int>(kRegions.size()); ++key) {
      Rng rng(Stream::kRegion, static_cast<uint64_t>(key));
      out.begin_row();
      out.integer(key);
      out.text(kRegions[static_cast<size_t>(key)]);
      out.text(text_.random_text(rng, 31, 115));
      out.end_row();
    }
    file.write(out.view());
    file.close();
    return static_cast<int64_t>(kRegions.size());
  }

  int64_t nation() {
    OutputFile file = open("nation");
    Buffer out;
    for (int key = 0; key < static_cast<int>(kNations.size()); ++key) {
      Rng rng(Stream::kNation, static_cast<uint64_t>(key));
      out.begin_row();
      out.integer(key);
      out.text(kNations[static_cast<size_t>(key)].name);
      out.integer(kNations[static_cast<size_t>(key)].region);
      out.text(text_.random_text(rng, 31, 114));
      out.end_row();
    }
    file.write(out.view());
    file.close();
    return static_cast<int64_t>(kNations.size());
  }

  // Clause 4.2.3: P_RETAILPRICE = (90000 + ((P_PARTKEY/10) mod 20001) + 100 * (P_PARTKEY mod
  // 1000)) / 100, here in cents. lineitem derives L_EXTENDEDPRICE from it without reading part.
  static int64_t retail_price_cents(int64_t partkey) {
    return 90000 + (partkey / 10) % 20001 + 100 * (partkey % 1000);
  }

  // The i-th (0..3) supplier of a part (clause 4.2.3, PS_SUPPKEY): spreads each part's four
  // suppliers over the whole supplier range, and lineitem picks among the same four so that every
  // (L_PARTKEY, L_SUPPKEY) is a partsupp row.
  int64_t supplier_of(int64_t partkey, int64_t i) const {
    const int64_t s = counts_.suppliers;
    return (partkey + i * (s / 4 + (partkey - 1) / s)) % s + 1;
  }

  int64_t part_and_partsupp() {
    OutputFile part_file = open("part");
    OutputFile partsupp_file = open("partsupp");
    OutputFile* files[] = {&part_file, &partsupp_file};
    generate_chunks(counts_.parts, 10'000, threads_, files,
                    [&](int64_t first, int64_t last, std::span<Buffer> out) {
                      for (int64_t row = first; row < last; ++row) {
                        part_row(row + 1, out[0]);
                        partsupp_rows(row + 1, out[1]);
                      }
                    });
    part_file.close();
    partsupp_file.close();
    return 4 * counts_.parts;
  }

  void part_row(int64_t key, Buffer& out) const {
    Rng rng(Stream::kPart, static_cast<uint64_t>(key));
    out.begin_row();
    out.integer(key);
    // P_NAME: five distinct color words.
    std::array<int64_t, 5> colors{};
    for (size_t i = 0; i < colors.size(); ++i) {
      int64_t color = 0;
      do {
        color = rng.uniform(0, static_cast<int64_t>(kColors.size()) - 1);
      } while (std::find(colors.begin(), colors.begin() + static_cast<ptrdiff_t>(i), color) !=
               colors.begin() + static_cast<ptrdiff_t>(i));
      colors[i] = color;
      if (i > 0) out.raw(" ");
      out.raw(kColors[static_cast<size_t>(color)]);
    }
    out.raw("|");
    // The brand's first digit is the manufacturer's.
    const int64_t manufacturer = rng.uniform(1, 5);
    out.raw("Manufacturer#");
    out.integer(manufacturer);
    out.raw("Brand#");
    out.digits(manufacturer, 1);
    out.integer(rng.uniform(1, 5));
    out.raw(pick(rng, kTypeSize));
    out.raw(" ");
    out.raw(pick(rng, kTypeFinish));
    out.raw(" ");
    out.text(pick(rng, kTypeMaterial));
    out.integer(rng.uniform(1, 50));
    out.raw(pick(rng, kContainerSize));
    out.raw(" ");
    out.text(pick(rng, kContainerKind));
    out.cents(retail_price_cents(key));
    out.text(text_.random_text(rng, 5, 22));
    out.end_row();
  }

  void partsupp_rows(int64_t partkey, Buffer& out) const {
    Rng rng(Stream::kPartsupp, static_cast<uint64_t>(partkey));
    for (int64_t i = 0; i < 4; ++i) {
      out.begin_row();
      out.integer(partkey);
      out.integer(supplier_of(partkey, i));
      out.integer(rng.uniform(1, 9'999));
      out.cents(rng.uniform(100, 100'000));
      out.text(text_.random_text(rng, 49, 198));
      out.end_row();
    }
  }

  int64_t supplier() {
    OutputFile file = open("supplier");
    OutputFile* files[] = {&file};
    generate_chunks(counts_.suppliers, 50'000, threads_, files,
                    [&](int64_t first, int64_t last, std::span<Buffer> out) {
                      for (int64_t row = first; row < last; ++row) supplier_row(row + 1, out[0]);
                    });
    file.close();
    return counts_.suppliers;
  }

  // Clause 4.2.3: SF * 5 suppliers have 'Customer%Complaints' in their comment (Q16 excludes
  // them) and as many 'Customer%Recommends'. The suppliers are cut into that many equal strata
  // and each stratum's one of each is drawn from a stream of its own, which gives the exact count
  // while any supplier can still tell alone whether it is one. At least one of each, so that Q16's
  // subquery selects something at small scale factors too.
  enum class Remark { kNone, kComplaints, kRecommends };

  Remark remark_of(int64_t key) const {
    const int64_t suppliers = counts_.suppliers;
    const int64_t remarks = std::min(suppliers / 2, std::max<int64_t>(1, std::llround(scale_ * 5)));
    if (remarks == 0) return Remark::kNone;
    const int64_t stratum_size = suppliers / remarks;
    const int64_t stratum = (key - 1) / stratum_size;
    if (stratum >= remarks) return Remark::kNone;
    Rng rng(Stream::kSupplierRemark, static_cast<uint64_t>(stratum));
    const int64_t complaints = rng.uniform(0, stratum_size - 1);
    // Any other member of the stratum (stratum_size >= 2).
    const int64_t recommends = (complaints + rng.uniform(1, stratum_size - 1)) % stratum_size;
    const int64_t at = (key - 1) % stratum_size;
    if (at == complaints) return Remark::kComplaints;
    if (at == recommends) return Remark::kRecommends;
    return Remark::kNone;
  }

  void supplier_row(int64_t key, Buffer& out) const {
    Rng rng(Stream::kSupplier, static_cast<uint64_t>(key));
    out.begin_row();
    out.integer(key);
    out.padded_key("Supplier#", key);
    out.random_vstring(rng, 10, 40);
    const auto nation = static_cast<int>(rng.uniform(0, 24));
    out.integer(nation);
    out.phone(rng, nation);
    out.cents(rng.uniform(-99'999, 999'999));
    std::string comment(text_.random_text(rng, 25, 100));
    const Remark remark = remark_of(key);
    if (remark != Remark::kNone) {
      const std::string_view second = remark == Remark::kComplaints ? "Complaints" : "Recommends";
      const auto length = static_cast<int64_t>(comment.size());
      const int64_t gap = rng.uniform(0, length - 18);
      const int64_t at = rng.uniform(0, length - 18 - gap);
      comment.replace(static_cast<size_t>(at), 8, "Customer");
      comment.replace(static_cast<size_t>(at + 8 + gap), 10, second);
    }
    out.text(comment);
    out.end_row();
  }

  int64_t customer() {
    OutputFile file = open("customer");
    OutputFile* files[] = {&file};
    generate_chunks(counts_.customers, 40'000, threads_, files,
                    [&](int64_t first, int64_t last, std::span<Buffer> out) {
                      for (int64_t row = first; row < last; ++row) customer_row(row + 1, out[0]);
                    });
    file.close();
    return counts_.customers;
  }

  void customer_row(int64_t key, Buffer& out) const {
    Rng rng(Stream::kCustomer, static_cast<uint64_t>(key));
    out.begin_row();
    out.integer(key);
    out.padded_key("Customer#", key);
    out.random_vstring(rng, 10, 40);
    const auto nation = static_cast<int>(rng.uniform(0, 24));
    out.integer(nation);
    out.phone(rng, nation);
    out.cents(rng.uniform(-99'999, 999'999));
    out.text(pick(rng, kSegments));
    out.text(text_.random_text(rng, 29, 116));
    out.end_row();
  }

  struct Line {
    int64_t partkey;
    int64_t suppkey;
    int64_t quantity;
    int64_t extended_cents;
    int64_t discount_percent;
    int64_t tax_percent;
    int ship;
    int commit;
    int receipt;
  };

  // Orders and their lines in one pass: O_TOTALPRICE and O_ORDERSTATUS are functions of the
  // lines, and both tables then come from one stream per order.
  int64_t orders_and_lineitem() {
    OutputFile orders_file = open("orders");
    OutputFile lineitem_file = open("lineitem");
    OutputFile* files[] = {&orders_file, &lineitem_file};
    std::atomic<int64_t> lines{0};
    generate_chunks(counts_.orders, 16'000, threads_, files,
                    [&](int64_t first, int64_t last, std::span<Buffer> out) {
                      int64_t chunk_lines = 0;
                      for (int64_t row = first; row < last; ++row)
                        chunk_lines += order_rows(row, out[0], out[1]);
                      lines += chunk_lines;
                    });
    orders_file.close();
    lineitem_file.close();
    return lines.load();
  }

  // Clause 4.2.3: only the first 8 of every 32 order keys are used, so that refresh functions can
  // insert orders between existing ones.
  static int64_t sparse_order_key(int64_t index) { return index / 8 * 32 + index % 8 + 1; }

  // A random customer whose key is not a multiple of 3: a third of the customers place no orders
  // (clause 4.2.3, O_CUSTKEY), which Q13 and Q22 look for.
  int64_t ordering_customer(Rng& rng) const {
    const int64_t eligible = counts_.customers - counts_.customers / 3;
    const int64_t j = rng.uniform(0, eligible - 1);
    return j / 2 * 3 + j % 2 + 1;
  }

  int64_t order_rows(int64_t index, Buffer& orders, Buffer& lineitem) const {
    Rng rng(Stream::kOrder, static_cast<uint64_t>(index));
    const int64_t orderkey = sparse_order_key(index);
    const int64_t custkey = ordering_customer(rng);
    const auto orderdate = static_cast<int>(rng.uniform(0, kLastOrderDay));
    const auto priority = pick(rng, kPriorities);
    const int64_t clerk = rng.uniform(1, counts_.clerks);
    const std::string_view order_comment = text_.random_text(rng, 19, 78);

    std::array<Line, 7> lines{};
    const auto count = static_cast<size_t>(rng.uniform(1, 7));
    int64_t total_cents = 0;
    size_t open_lines = 0;
    for (size_t i = 0; i < count; ++i) {
      Line& line = lines[i];
      line.partkey = rng.uniform(1, counts_.parts);
      line.suppkey = supplier_of(line.partkey, rng.uniform(0, 3));
      line.quantity = rng.uniform(1, 50);
      line.extended_cents = line.quantity * retail_price_cents(line.partkey);
      line.discount_percent = rng.uniform(0, 10);
      line.tax_percent = rng.uniform(0, 8);
      line.ship = orderdate + static_cast<int>(rng.uniform(1, 121));
      line.commit = orderdate + static_cast<int>(rng.uniform(30, 90));
      line.receipt = line.ship + static_cast<int>(rng.uniform(1, 30));
      // extendedprice * (1 + tax) * (1 - discount), rounded to the cent per line.
      total_cents +=
          (line.extended_cents * (100 + line.tax_percent) * (100 - line.discount_percent) + 5'000) /
          10'000;
      if (line.ship > kCurrentDate) ++open_lines;
    }

    orders.begin_row();
    orders.integer(orderkey);
    orders.integer(custkey);
    orders.character(open_lines == count ? 'O' : open_lines == 0 ? 'F' : 'P');
    orders.cents(total_cents);
    orders.text(calendar_.text(orderdate));
    orders.text(priority);
    orders.padded_key("Clerk#", clerk);
    orders.integer(0);
    orders.text(order_comment);
    orders.end_row();

    for (size_t i = 0; i < count; ++i) {
      const Line& line = lines[i];
      lineitem.begin_row();
      lineitem.integer(orderkey);
      lineitem.integer(line.partkey);
      lineitem.integer(line.suppkey);
      lineitem.integer(static_cast<int64_t>(i) + 1);
      lineitem.integer(line.quantity);
      lineitem.cents(line.extended_cents);
      lineitem.cents(line.discount_percent);
      lineitem.cents(line.tax_percent);
      // Returned or accepted once received by CURRENTDATE, not yet decided after.
      lineitem.character(line.receipt <= kCurrentDate ? (rng.uniform(0, 1) == 0 ? 'R' : 'A') : 'N');
      lineitem.character(line.ship > kCurrentDate ? 'O' : 'F');
      lineitem.text(calendar_.text(line.ship));
      lineitem.text(calendar_.text(line.commit));
      lineitem.text(calendar_.text(line.receipt));
      lineitem.text(pick(rng, kInstructions));
      lineitem.text(pick(rng, kShipModes));
      lineitem.text(text_.random_text(rng, 10, 43));
      lineitem.end_row();
    }
    return static_cast<int64_t>(count);
  }

  double scale_;
  Cardinalities counts_;
  int threads_;
  std::filesystem::path dir_;
  TextPool text_;
  Calendar calendar_;
};

}  // namespace

Cardinalities cardinalities(double scale_factor) {
  auto scaled = [&](double base) {
    return std::max<int64_t>(1, std::llround(scale_factor * base));
  };
  return Cardinalities{
      .parts = scaled(200'000),
      .suppliers = scaled(10'000),
      .customers = scaled(150'000),
      .orders = scaled(1'500'000),
      .clerks = scaled(1'000),
  };
}

std::string tbl_table_sql(const std::string& schema, const std::string& table,
                          const std::string& name, const std::filesystem::path& dir) {
  std::string marker = "CREATE TABLE " + table + " (";
  size_t begin = schema.find(marker);
  size_t end = schema.find(");", begin);
  if (begin == std::string::npos || end == std::string::npos) {
    throw std::runtime_error("schema.sql has no table " + table);
  }
  std::string columns = schema.substr(begin + marker.size(), end - begin - marker.size());
  return "CREATE TABLE " + name + " (" + columns +
         ") WITH ('connector' = 'filesystem', 'path' = '" + (dir / (table + ".tbl")).string() +
         "', 'format' = 'csv', 'csv.field-delimiter' = '|', 'csv.trailing-delimiter' = 'true')";
}

GeneratedRows generate_tpch(double scale_factor, const std::filesystem::path& dir, int threads) {
  if (!std::isfinite(scale_factor) || scale_factor <= 0)
    throw std::invalid_argument("the scale factor must be a positive number");
  std::filesystem::create_directories(dir);
  Generator generator(scale_factor, std::max(1, threads), dir);
  return generator.run();
}

}  // namespace sluice::tpch
