// The RocksDB store behind the typed RocksDB keyed state backend (see rocksdb_store.h): the only
// code that includes RocksDB. Over 800 lines on purpose: its parts — the process's shared memory
// budget, the write-back cache in front of RocksDB, the list merge operator, TTL compaction
// filters, full and native (incremental) snapshots and restores by key-group range — all work on
// the one store's private state (its column families, its cache, its snapshot bookkeeping); split
// into files, that state would have to move into a private header shared by all of them, and the
// RocksDB includes with it.
#include "sluice/state/rocksdb_store.h"

#include <absl/container/flat_hash_map.h>
#include <absl/functional/function_ref.h>
#include <fmt/format.h>
#include <rocksdb/cache.h>
#include <rocksdb/compaction_filter.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_buffer_manager.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <shared_mutex>

#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/core/time.h"
#include "sluice/state/keyed_snapshot.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// A native RocksDB checkpoint of one store, as an incremental checkpoint records it: the SST files
// (shared files of the checkpoint) and the small files that describe the database (inline).
struct NativeColumn {
  std::string name;
  uint8_t kind = 0;
};
struct NativeSst {
  std::string file;
  std::string key;  // the shared file key
};
struct NativeFile {
  std::string file;
  std::string bytes;
};
struct NativeSnapshot {
  int32_t range_start = 0;
  int32_t range_end = -1;
  std::vector<NativeColumn> columns;
  std::vector<NativeSst> ssts;
  std::vector<NativeFile> files;
};

[[noreturn]] void fail(const rocksdb::Status& status, const std::string& what,
                       const fs::path& dir) {
  throw Error(ErrorCategory::kIo, fmt::format("RocksDB: {}: {}", what, status.ToString()),
              ErrorContext{.file = dir.string()});
}

void check(const rocksdb::Status& status, const std::string& what, const fs::path& dir) {
  if (!status.ok()) fail(status, what, dir);
}

Timestamp time_of(const rocksdb::Slice& value) {
  Timestamp t = 0;
  if (value.size() >= RocksDbStore::kTimeBytes) std::memcpy(&t, value.data(), sizeof(t));
  return t;
}

// List values and operands are (time, u32 count, elements): merging two concatenates the
// elements, adds the counts and keeps the later time. Associative, so RocksDB may combine operands
// before it sees the base value. False: one of them is not a list value.
bool append_list(std::string& existing, std::string_view operand) {
  constexpr size_t kHeader = RocksDbStore::kTimeBytes + sizeof(uint32_t);
  if (existing.size() < kHeader || operand.size() < kHeader) return false;
  uint32_t a = 0, b = 0;
  Timestamp time_a = 0, time_b = 0;
  std::memcpy(&time_a, existing.data(), sizeof(time_a));
  std::memcpy(&time_b, operand.data(), sizeof(time_b));
  std::memcpy(&a, existing.data() + RocksDbStore::kTimeBytes, sizeof(a));
  std::memcpy(&b, operand.data() + RocksDbStore::kTimeBytes, sizeof(b));
  const Timestamp time = std::max(time_a, time_b);
  const uint32_t count = a + b;
  std::memcpy(existing.data(), &time, sizeof(time));
  std::memcpy(existing.data() + RocksDbStore::kTimeBytes, &count, sizeof(count));
  existing.append(operand.data() + kHeader, operand.size() - kHeader);
  return true;
}

class ListAppendOperator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* merged, rocksdb::Logger*) const override {
    if (existing == nullptr) {
      if (value.size() < RocksDbStore::kTimeBytes + sizeof(uint32_t)) return false;
      merged->assign(value.data(), value.size());
      return true;
    }
    merged->reserve(existing->size() + value.size());
    merged->assign(existing->data(), existing->size());
    return append_list(*merged, std::string_view(value.data(), value.size()));
  }
  const char* Name() const override { return "SluiceListAppend"; }
};

// TTL per column family id, read by compactions on RocksDB's threads.
class TtlTable {
 public:
  void set(uint32_t column_family, int64_t ttl_ms) {
    std::unique_lock lock(mutex_);
    ttl_[column_family] = ttl_ms;
  }
  int64_t get(uint32_t column_family) const {
    std::shared_lock lock(mutex_);
    auto it = ttl_.find(column_family);
    return it == ttl_.end() ? 0 : it->second;
  }

 private:
  mutable std::shared_mutex mutex_;
  std::map<uint32_t, int64_t> ttl_;
};

// Drops entries not touched for their state's TTL (Flink's compaction filter cleanup). Wall-clock
// time: compactions run on RocksDB's threads, not on the job's TTL clock.
class TtlFilter final : public rocksdb::CompactionFilter {
 public:
  explicit TtlFilter(int64_t ttl_ms) : ttl_ms_(ttl_ms), now_(wall_clock_millis()) {}
  bool Filter(int, const rocksdb::Slice&, const rocksdb::Slice& value, std::string*,
              bool*) const override {
    return value.size() >= RocksDbStore::kTimeBytes && now_ - time_of(value) >= ttl_ms_;
  }
  const char* Name() const override { return "SluiceTtlFilter"; }

 private:
  int64_t ttl_ms_;
  Timestamp now_;
};

class TtlFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  explicit TtlFilterFactory(std::shared_ptr<TtlTable> table) : table_(std::move(table)) {}
  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& context) override {
    const int64_t ttl = table_->get(context.column_family_id);
    if (ttl <= 0) return nullptr;
    return std::make_unique<TtlFilter>(ttl);
  }
  const char* Name() const override { return "SluiceTtlFilterFactory"; }

 private:
  std::shared_ptr<TtlTable> table_;
};

// Of the process's RocksDB memory budget, what the stores' write-back caches may hold together
// (at most half the budget).
size_t state_cache_budget(const StateBackendOptions& options) {
  return std::min(options.rocksdb_state_cache_bytes, options.rocksdb_memory_bytes / 2);
}

// The process's RocksDB memory: one block cache that the write buffers are charged to as well,
// sized to what the write-back caches leave of the budget.
struct SharedMemory {
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
};

SharedMemory& shared_memory(const StateBackendOptions& options) {
  static std::once_flag once;
  static SharedMemory memory;
  std::call_once(once, [&] {
    const size_t budget = options.rocksdb_memory_bytes - state_cache_budget(options);
    memory.cache = rocksdb::NewLRUCache(std::max<size_t>(budget, 8 << 20));
    // Half for write buffers, as Flink's default write-buffer ratio; charged to the cache.
    memory.write_buffers =
        std::make_shared<rocksdb::WriteBufferManager>(budget / 2, memory.cache, false);
  });
  return memory;
}

// Stores open in the process: they share the write-back cache budget equally.
std::atomic<size_t> open_stores{0};
// What their write-back caches hold, each store's share updated in steps of kPublishBytes.
std::atomic<int64_t> cached_bytes{0};
constexpr int64_t kPublishBytes = 64 << 10;

// Recently used entries of a store's value columns (every state kind but maps) in front of
// RocksDB. A read that hits skips RocksDB's memtable and table lookups, which dominate a keyed
// operator's time on this backend (a skip-list search of comparisons per get); writes reach
// RocksDB in batches, when their entry is evicted or before anything reads the database directly
// (snapshots, scans, compaction). Two generations approximate LRU without a list: entries are
// inserted into, and promoted to, the young one; when it outgrows half the limit, the old one's
// changes are written back and it is dropped, and the young one becomes the old one.
class WriteBackCache {
 public:
  struct Entry {
    std::string value;
    bool present = false;      // false: the key has no value (a delete, if dirty)
    bool dirty = false;        // differs from the database
    bool maybe_stored = true;  // the database may hold the key, so a delete must reach it
    // `value` is list elements appended to whatever the database holds, not read yet (a list
    // append does not read). Always dirty; written back as a merge, and then forgotten.
    bool appended = false;
  };
  enum class Write { kPut, kDelete, kMerge };
  // Receives each dirty entry as it is written back.
  using Writer =
      absl::FunctionRef<void(size_t column, std::string_view key, Write, const std::string&)>;

  void set_columns(size_t n) { columns_.resize(n); }
  size_t bytes() const { return young_bytes_ + old_bytes_; }

  // The entry of `key`, promoted to the young generation, or null.
  Entry* find(size_t column, std::string_view key) {
    Generations& c = columns_[column];
    const absl::string_view k(key.data(), key.size());
    if (auto it = c.young.find(k); it != c.young.end()) return &it->second;
    auto it = c.old.find(k);
    if (it == c.old.end()) return nullptr;
    const size_t size = entry_bytes(it->first, it->second);
    old_bytes_ -= size;
    young_bytes_ += size;
    auto promoted = c.young.insert(c.old.extract(it));
    return &promoted.position->second;
  }
  // A new entry for a key that find() did not return.
  Entry& insert(size_t column, std::string_view key, Entry entry) {
    young_bytes_ += entry_bytes(key, entry);
    return columns_[column].young.try_emplace(std::string(key), std::move(entry)).first->second;
  }
  // Entry `e` of `key` takes `value` (null: deleted) and differs from the database now.
  void assign(std::string_view key, Entry& e, const std::string_view* value) {
    young_bytes_ -= entry_bytes(key, e);
    if (value != nullptr) {
      e.value.assign(value->data(), value->size());
    } else {
      e.value.clear();
    }
    e.present = value != nullptr;
    e.dirty = true;
    e.appended = false;
    young_bytes_ += entry_bytes(key, e);
  }
  // After a young entry's value was changed in place from `before` to `after` bytes.
  void resized(size_t before, size_t after) { young_bytes_ = young_bytes_ + after - before; }

  // Call before find() or insert(): makes room when the young generation is full. Pointers to
  // entries are invalid afterwards.
  void make_room(size_t limit, Writer write) {
    if (young_bytes_ < limit / 2) return;
    for (size_t c = 0; c < columns_.size(); ++c) {
      write_back(c, columns_[c].old, write);  // the whole generation is dropped below
      columns_[c].old = std::move(columns_[c].young);
      columns_[c].young = Map();
    }
    old_bytes_ = young_bytes_;
    young_bytes_ = 0;
  }
  // Writes every change back; the entries stay, clean.
  void write_back(Writer write) {
    for (size_t c = 0; c < columns_.size(); ++c) write_back_column(c, write);
  }
  void write_back_column(size_t column, Writer write) {
    young_bytes_ -= write_back(column, columns_[column].young, write);
    old_bytes_ -= write_back(column, columns_[column].old, write);
  }
  // Forgets a column's entries (they must have been written back, or be obsolete).
  void drop_column(size_t column) {
    young_bytes_ -= drop(columns_[column].young);
    old_bytes_ -= drop(columns_[column].old);
  }
  void clear() {
    columns_.clear();
    young_bytes_ = old_bytes_ = 0;
  }

 private:
  using Map = absl::flat_hash_map<std::string, Entry>;
  struct Generations {
    Map young;
    Map old;
  };
  // The key, the value and about what a hash map slot and a heap block cost besides.
  static size_t entry_bytes(std::string_view key, const Entry& e) {
    return key.size() + e.value.size() + sizeof(Entry) + 32;
  }
  static size_t drop(Map& map) {
    size_t bytes = 0;
    for (const auto& [key, entry] : map) bytes += entry_bytes(key, entry);
    map.clear();
    return bytes;
  }
  // Returns the bytes of the entries it forgot (appended ones).
  size_t write_back(size_t column, Map& map, Writer write) {
    dirty_.clear();
    for (auto& [key, e] : map) {
      if (e.dirty) dirty_.emplace_back(key, &e);
    }
    // In key order: RocksDB's memtable inserts each key of an ascending run from where the
    // previous one went, instead of searching its skip list from the top.
    std::sort(dirty_.begin(), dirty_.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    size_t forgotten = 0;
    for (auto& [key, e] : dirty_) {
      if (e->appended) {
        write(column, key, Write::kMerge, e->value);
        forgotten += entry_bytes(key, *e);
        continue;
      }
      if (e->present || e->maybe_stored) {
        write(column, key, e->present ? Write::kPut : Write::kDelete, e->value);
      }
      e->dirty = false;
      e->maybe_stored = e->present;
    }
    for (const auto& [key, e] : dirty_) {
      if (e->appended) map.erase(map.find(absl::string_view(key.data(), key.size())));
    }
    dirty_.clear();
    return forgotten;
  }

  std::vector<Generations> columns_;
  std::vector<std::pair<std::string_view, Entry*>> dirty_;  // write_back's, reused
  size_t young_bytes_ = 0;
  size_t old_bytes_ = 0;
};

std::string unique_suffix() {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}-{:x}-{}", ::getpid(),
                     std::chrono::steady_clock::now().time_since_epoch().count() & 0xffffffffff,
                     counter.fetch_add(1));
}

std::string prefix_successor(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last != 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return end;  // all 0xff: no upper bound
}

std::string group_prefix(int key_group) {
  std::string prefix(2, '\0');
  prefix[0] = static_cast<char>((key_group >> 8) & 0xff);
  prefix[1] = static_cast<char>(key_group & 0xff);
  return prefix;
}

int key_group_of(std::string_view key) {
  return (static_cast<uint8_t>(key[0]) << 8) | static_cast<uint8_t>(key[1]);
}

uint32_t key_length(std::string_view key) {
  return static_cast<uint32_t>(static_cast<uint8_t>(key[2])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(key[3])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(key[4])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(key[5]));
}

void link_or_copy(const fs::path& from, const fs::path& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return;
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    throw Error(ErrorCategory::kIo, "cannot restore RocksDB file: " + ec.message(),
                ErrorContext{.file = from.string()});
  }
}

std::string read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCategory::kIo, "cannot read RocksDB checkpoint file",
                ErrorContext{.file = path.string()});
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_whole(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    throw Error(ErrorCategory::kIo, "cannot write RocksDB file",
                ErrorContext{.file = path.string()});
  }
}

// Canonical entries of one key group and state, being assembled.
struct CanonicalState {
  StateKind kind;
  uint32_t entries = 0;
  std::string bytes;
};

}  // namespace

class RocksDbStore::Impl {
 public:
  struct Column {
    std::string name;
    StateKind kind;
    rocksdb::ColumnFamilyHandle* handle;
  };

  Impl(const StateBackendOptions& options, fs::path directory, KeyGroupRange range)
      : options_(options), directory_(std::move(directory)), range_(range) {
    ++open_stores;
  }

  ~Impl() {
    close();
    publish_cache_bytes();
    --open_stores;
  }

  // ---- reads and writes, through the write-back cache for value columns ----

  bool cached(int column) const {
    return cache_limit_ > 0 && columns_[static_cast<size_t>(column)].kind != StateKind::kMap;
  }
  size_t cache_limit() const { return cache_limit_ / std::max<size_t>(open_stores.load(), 1); }

  // Adds a write-back to `batch`.
  auto batch_writer(rocksdb::WriteBatch& batch) {
    return [this, &batch](size_t column, std::string_view key, WriteBackCache::Write write,
                          const std::string& value) {
      const rocksdb::Slice k(key.data(), key.size());
      rocksdb::ColumnFamilyHandle* handle = columns_[column].handle;
      using Write = WriteBackCache::Write;
      check(write == Write::kPut     ? batch.Put(handle, k, value)
            : write == Write::kMerge ? batch.Merge(handle, k, value)
                                     : batch.Delete(handle, k),
            "cannot batch a write", directory_);
    };
  }

  bool db_get(int column, std::string_view key, std::string& value) {
    const rocksdb::Status status =
        db_->Get(read_options_, cf(column), rocksdb::Slice(key.data(), key.size()), &value);
    if (status.IsNotFound()) return false;
    check(status, "cannot read", directory_);
    return true;
  }

  bool get(int column, std::string_view key, std::string& value) {
    if (!cached(column)) return db_get(column, key, value);
    const auto c = static_cast<size_t>(column);
    make_room();
    if (WriteBackCache::Entry* e = cache_.find(c, key)) {
      if (e->appended) {
        // The appended elements go after what the database holds.
        std::string appended = std::move(e->value);
        e->maybe_stored = db_get(column, key, e->value);
        if (!e->maybe_stored) {
          e->value = std::move(appended);
        } else if (!append_list(e->value, appended)) {
          throw_malformed_list();
        }
        e->appended = false;
        cache_.resized(appended.size(), e->value.size());
      }
      if (!e->present) return false;
      value.assign(e->value);
      return true;
    }
    const bool found = db_get(column, key, value);
    cache_.insert(c, key,
                  WriteBackCache::Entry{found ? value : std::string(), found, false, found});
    return found;
  }

  // `value` null: delete.
  void set(int column, std::string_view key, const std::string_view* value) {
    if (!cached(column)) {
      const rocksdb::Slice k(key.data(), key.size());
      check(value != nullptr ? db_->Put(write_options_, cf(column), k,
                                        rocksdb::Slice(value->data(), value->size()))
                             : db_->Delete(write_options_, cf(column), k),
            value != nullptr ? "cannot write" : "cannot delete", directory_);
      return;
    }
    const auto c = static_cast<size_t>(column);
    make_room();
    WriteBackCache::Entry* e = cache_.find(c, key);
    if (e == nullptr) e = &cache_.insert(c, key, WriteBackCache::Entry{});
    cache_.assign(key, *e, value);
  }

  void merge(int column, std::string_view key, std::string_view operand) {
    if (!cached(column)) {
      check(db_->Merge(write_options_, cf(column), rocksdb::Slice(key.data(), key.size()),
                       rocksdb::Slice(operand.data(), operand.size())),
            "cannot append", directory_);
      return;
    }
    const auto c = static_cast<size_t>(column);
    make_room();
    WriteBackCache::Entry* e = cache_.find(c, key);
    if (e == nullptr) {
      // Appended without reading what the database holds, as RocksDB's merge does.
      cache_.insert(c, key, WriteBackCache::Entry{std::string(operand), true, true, true, true});
      return;
    }
    const size_t before = e->value.size();
    if (e->present) {
      if (!append_list(e->value, operand)) throw_malformed_list();
    } else {
      e->value.assign(operand.data(), operand.size());
    }
    e->present = true;
    e->dirty = true;
    cache_.resized(before, e->value.size());
  }
  [[noreturn]] void throw_malformed_list() const {
    throw Error(ErrorCategory::kSerialization,
                "RocksDB: a list value or appended element is malformed",
                ErrorContext{.file = directory_.string()});
  }

  void make_room() {
    const auto bytes = static_cast<int64_t>(cache_.bytes());
    if (bytes - published_bytes_ > kPublishBytes || published_bytes_ - bytes > kPublishBytes) {
      publish_cache_bytes();
    }
    if (cache_.bytes() < cache_limit() / 2) return;
    rocksdb::WriteBatch batch;
    cache_.make_room(cache_limit(), batch_writer(batch));
    write(batch);
  }
  void publish_cache_bytes() {
    const auto bytes = static_cast<int64_t>(cache_.bytes());
    cached_bytes += bytes - published_bytes_;
    published_bytes_ = bytes;
  }
  // Before RocksDB is read directly: every change in the cache (of one column, or all) written.
  void write_back(std::optional<int> column = std::nullopt) {
    rocksdb::WriteBatch batch;
    if (column) {
      if (static_cast<size_t>(*column) < columns_.size()) {
        cache_.write_back_column(static_cast<size_t>(*column), batch_writer(batch));
      }
    } else {
      cache_.write_back(batch_writer(batch));
    }
    write(batch);
  }

  rocksdb::Options db_options() const {
    SharedMemory& memory = shared_memory(options_);
    rocksdb::Options o;
    o.create_if_missing = true;
    o.create_missing_column_families = true;
    o.write_buffer_manager = memory.write_buffers;
    o.max_background_jobs = 2;
    o.max_open_files = 256;
    o.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    o.keep_log_file_num = 2;
    apply_column_options(o);
    return o;
  }
  void apply_column_options(rocksdb::ColumnFamilyOptions& o) const {
    SharedMemory& memory = shared_memory(options_);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = memory.cache;
    // Index and filter blocks live in the cache too, so the budget bounds them.
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    // Keyed operators look up many keys that are not there (the first access of every new key):
    // bloom filters answer those without reading data blocks, in tables and in memtables.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    o.memtable_whole_key_filtering = true;
    o.memtable_prefix_bloom_size_ratio = 0.05;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    o.merge_operator = std::make_shared<ListAppendOperator>();
    o.compaction_filter_factory = std::make_shared<TtlFilterFactory>(ttl_);
    o.write_buffer_size = 16 << 20;
  }

  // Opens the database in directory_, with the column families it has.
  void open_database() {
    rocksdb::Options o = db_options();
    std::vector<std::string> names;
    if (!rocksdb::DB::ListColumnFamilies(o, directory_.string(), &names).ok()) {
      names = {rocksdb::kDefaultColumnFamilyName};
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
      rocksdb::ColumnFamilyOptions cf;
      apply_column_options(cf);
      descriptors.emplace_back(name, cf);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    check(rocksdb::DB::Open(o, directory_.string(), descriptors, &handles, &db), "cannot open",
          directory_);
    db_.reset(db);
    for (auto* handle : handles) {
      if (handle->GetName() == rocksdb::kDefaultColumnFamilyName) {
        default_ = handle;
        continue;
      }
      const auto kind_it = restored_kinds_.find(handle->GetName());
      columns_.push_back({handle->GetName(),
                          kind_it == restored_kinds_.end() ? StateKind::kValue : kind_it->second,
                          handle});
    }
    cache_.set_columns(columns_.size());
  }

  void close() {
    cache_.clear();
    if (!db_) return;
    for (auto& column : columns_) db_->DestroyColumnFamilyHandle(column.handle);
    columns_.clear();
    if (default_ != nullptr) db_->DestroyColumnFamilyHandle(default_);
    default_ = nullptr;
    db_->Close();
    db_.reset();
  }

  int column(const std::string& name, StateKind kind, int64_t ttl_ms) {
    for (size_t i = 0; i < columns_.size(); ++i) {
      if (columns_[i].name == name) {
        if (columns_[i].kind != kind && cached(static_cast<int>(i))) {
          write_back(static_cast<int>(i));
          cache_.drop_column(i);
        }
        columns_[i].kind = kind;
        ttl_->set(columns_[i].handle->GetID(), ttl_ms);
        return static_cast<int>(i);
      }
    }
    rocksdb::ColumnFamilyOptions cf;
    apply_column_options(cf);
    rocksdb::ColumnFamilyHandle* handle = nullptr;
    check(db_->CreateColumnFamily(cf, name, &handle),
          "cannot create the column family of '" + name + "'", directory_);
    ttl_->set(handle->GetID(), ttl_ms);
    columns_.push_back({name, kind, handle});
    cache_.set_columns(columns_.size());
    return static_cast<int>(columns_.size() - 1);
  }

  rocksdb::ColumnFamilyHandle* cf(int column) const {
    return columns_[static_cast<size_t>(column)].handle;
  }

  // The synchronous part of a full snapshot: a RocksDB snapshot; the asynchronous part iterates it.
  std::function<KeyedBackendSnapshot(SnapshotFiles&)> full_snapshot(
      std::shared_ptr<RocksDbStore> self) {
    struct Frozen {
      std::shared_ptr<RocksDbStore> store;
      const rocksdb::Snapshot* snapshot;
      std::vector<Column> columns;
      ~Frozen() { store->impl_->db_->ReleaseSnapshot(snapshot); }
    };
    // Built in place: a temporary's destructor would release the snapshot.
    auto frozen = std::make_shared<Frozen>(self, db_->GetSnapshot(), columns_);
    return [frozen](SnapshotFiles&) {
      return frozen->store->impl_->canonical(frozen->snapshot, frozen->columns);
    };
  }

  KeyedBackendSnapshot canonical(const rocksdb::Snapshot* snapshot,
                                 const std::vector<Column>& columns) {
    std::map<int, std::vector<CanonicalState>> groups;  // key group -> states (in column order)
    rocksdb::ReadOptions read;
    read.snapshot = snapshot;
    read.fill_cache = false;  // a snapshot's scan must not evict the working set
    for (size_t c = 0; c < columns.size(); ++c) {
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, columns[c].handle));
      const bool map = columns[c].kind == StateKind::kMap;
      std::string current_key;  // kMap: the key whose entries are being collected
      size_t count_at = 0;
      CanonicalState* state = nullptr;
      int state_group = -1;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        const std::string_view key(it->key().data(), it->key().size());
        const std::string_view value(it->value().data(), it->value().size());
        if (key.size() < kKeyHeader || value.size() < kTimeBytes) continue;
        const int group = key_group_of(key);
        if (!range_.contains(group)) continue;
        if (group != state_group) {
          auto& states = groups[group];
          states.resize(columns.size(), CanonicalState{StateKind::kValue});
          state = &states[c];
          state->kind = columns[c].kind;
          state_group = group;
          current_key.clear();
        }
        const std::string_view key_bytes = key.substr(kKeyHeader, key_length(key));
        BufferWriter out(state->bytes);
        if (!map) {
          ++state->entries;
          out.write_length(key_bytes.size());
          out.write_bytes(key_bytes.data(), key_bytes.size());
          out.write_length(value.size() - kTimeBytes);
          out.write_bytes(value.data() + kTimeBytes, value.size() - kTimeBytes);
          out.write_bytes(value.data(), kTimeBytes);
          continue;
        }
        if (current_key.empty() || key_bytes != current_key) {
          ++state->entries;
          current_key.assign(key_bytes);
          out.write_length(key_bytes.size());
          out.write_bytes(key_bytes.data(), key_bytes.size());
          count_at = out.size();
          out.write_length(0);
        }
        const std::string_view user_key = key.substr(kKeyHeader + key_bytes.size());
        out.write_length(user_key.size());
        out.write_bytes(user_key.data(), user_key.size());
        out.write_length(value.size() - kTimeBytes);
        out.write_bytes(value.data() + kTimeBytes, value.size() - kTimeBytes);
        out.write_bytes(value.data(), kTimeBytes);
        uint32_t n = 0;
        std::memcpy(&n, state->bytes.data() + count_at, sizeof(n));
        ++n;
        std::memcpy(state->bytes.data() + count_at, &n, sizeof(n));
      }
      check(it->status(), "cannot read a snapshot", directory_);
    }
    KeyedBackendSnapshot result;
    for (auto& [group, states] : groups) {
      KeyGroupSnapshot snapshot{group, {}};
      BufferWriter out(snapshot.bytes);
      size_t present = 0;
      for (const auto& state : states) present += state.entries > 0 ? 1 : 0;
      out.write_length(present);
      for (size_t c = 0; c < states.size(); ++c) {
        if (states[c].entries == 0) continue;
        Serializer<std::string>::serialize(columns[c].name, out);
        out.write_fixed(static_cast<uint8_t>(states[c].kind));
        out.write_length(states[c].bytes.size() + sizeof(uint32_t));
        out.write_fixed(states[c].entries);
        out.write_bytes(states[c].bytes.data(), states[c].bytes.size());
      }
      out.finish();
      result.groups.push_back(std::move(snapshot));
    }
    return result;
  }

  // The synchronous part of an incremental snapshot: a native checkpoint (memtables flushed, SST
  // files hard-linked). The asynchronous part adds the SST files as shared checkpoint files.
  std::function<KeyedBackendSnapshot(SnapshotFiles&)> incremental_snapshot(
      std::shared_ptr<RocksDbStore> self) {
    const fs::path folder = directory_.parent_path() / (directory_.filename().string() + "-chk-" +
                                                        std::to_string(++snapshots_));
    std::error_code ec;
    fs::remove_all(folder, ec);
    rocksdb::Checkpoint* raw = nullptr;
    check(rocksdb::Checkpoint::Create(db_.get(), &raw), "cannot start a checkpoint", directory_);
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    check(checkpoint->CreateCheckpoint(folder.string(), 0), "cannot take a native checkpoint",
          directory_);
    struct Native {
      std::shared_ptr<RocksDbStore> store;
      fs::path folder;
      std::vector<Column> columns;
      ~Native() {
        std::error_code ignored;
        fs::remove_all(folder, ignored);
      }
    };
    auto native = std::make_shared<Native>(self, folder, columns_);
    return [native](SnapshotFiles& files) {
      Impl& impl = *native->store->impl_;
      NativeSnapshot description;
      description.range_start = impl.range_.start;
      description.range_end = impl.range_.end;
      for (const auto& column : native->columns) {
        description.columns.push_back({column.name, static_cast<uint8_t>(column.kind)});
      }
      for (const auto& entry : fs::directory_iterator(native->folder)) {
        const std::string file = entry.path().filename().string();
        if (entry.path().extension() == ".sst") {
          auto known = impl.restored_sst_keys_.find(file);
          const std::string key =
              known != impl.restored_sst_keys_.end() ? known->second : impl.uid_ + "-" + file;
          files.add_shared_file(key, entry.path());
          description.ssts.push_back({file, key});
        } else {
          description.files.push_back({file, read_whole(entry.path())});
        }
      }
      return KeyedBackendSnapshot{{}, to_bytes(description)};
    };
  }

  // Writes the files of a native snapshot into `folder` (SSTs linked from the shared directory).
  void materialize(const NativeSnapshot& native, const fs::path& folder,
                   const fs::path& shared_directory) {
    fs::create_directories(folder);
    for (const auto& sst : native.ssts) {
      link_or_copy(shared_directory / sst.key, folder / sst.file);
    }
    for (const auto& file : native.files) write_whole(folder / file.file, file.bytes);
  }

  void restore(std::vector<KeyedBackendSnapshot> snapshots, const fs::path& shared_directory) {
    write_back();  // restored entries are written over the current ones, never under
    for (size_t c = 0; c < columns_.size(); ++c) cache_.drop_column(c);
    std::vector<NativeSnapshot> natives;
    bool canonical = false;
    for (const auto& snapshot : snapshots) {
      if (!snapshot.native.empty()) {
        NativeSnapshot native = from_bytes<NativeSnapshot>(snapshot.native);
        if (native.range_end < range_.start || native.range_start > range_.end) continue;
        natives.push_back(std::move(native));
      }
      for (const auto& group : snapshot.groups) canonical |= range_.contains(group.key_group);
    }
    // The same key groups as one native snapshot: its files become this database.
    if (!canonical && natives.size() == 1 && natives[0].range_start == range_.start &&
        natives[0].range_end == range_.end) {
      close();
      std::error_code ec;
      fs::remove_all(directory_, ec);
      materialize(natives[0], directory_, shared_directory);
      for (const auto& sst : natives[0].ssts) restored_sst_keys_[sst.file] = sst.key;
      for (const auto& column : natives[0].columns)
        restored_kinds_[column.name] = static_cast<StateKind>(column.kind);
      open_database();
      return;
    }
    // Otherwise the key groups of this range are copied over, from each old database in turn.
    size_t n = 0;
    for (const auto& native : natives) {
      const fs::path folder = directory_.parent_path() /
                              (directory_.filename().string() + "-restore-" + std::to_string(n++));
      std::error_code ec;
      fs::remove_all(folder, ec);
      materialize(native, folder, shared_directory);
      copy_range_from(folder, native);
      fs::remove_all(folder, ec);
    }
    for (const auto& snapshot : snapshots) {
      for (const auto& group : snapshot.groups) {
        if (range_.contains(group.key_group)) load_canonical_group(group);
      }
    }
  }

  void copy_range_from(const fs::path& folder, const NativeSnapshot& native) {
    rocksdb::Options o = db_options();
    std::vector<std::string> names;
    check(rocksdb::DB::ListColumnFamilies(o, folder.string(), &names),
          "cannot read a restored RocksDB checkpoint", folder);
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
      rocksdb::ColumnFamilyOptions cf;
      apply_column_options(cf);
      descriptors.emplace_back(name, cf);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    check(rocksdb::DB::OpenForReadOnly(o, folder.string(), descriptors, &handles, &raw),
          "cannot open a restored RocksDB checkpoint", folder);
    std::unique_ptr<rocksdb::DB> old(raw);
    const std::string begin = group_prefix(range_.start);
    const std::string end = group_prefix(range_.end + 1);
    for (auto* handle : handles) {
      const std::string name = handle->GetName();
      if (name == rocksdb::kDefaultColumnFamilyName) continue;
      StateKind kind = StateKind::kValue;
      for (const auto& c : native.columns) {
        if (c.name == name) kind = static_cast<StateKind>(c.kind);
      }
      rocksdb::ColumnFamilyHandle* target = cf(column(name, kind, 0));
      rocksdb::ReadOptions read;
      read.fill_cache = false;
      std::unique_ptr<rocksdb::Iterator> it(old->NewIterator(read, handle));
      rocksdb::WriteBatch batch;
      for (it->Seek(begin); it->Valid() && it->key().compare(end) < 0; it->Next()) {
        batch.Put(target, it->key(), it->value());
        if (batch.GetDataSize() > (4 << 20)) {
          write(batch);
          batch.Clear();
        }
      }
      check(it->status(), "cannot read a restored RocksDB checkpoint", folder);
      write(batch);
    }
    for (auto* handle : handles) old->DestroyColumnFamilyHandle(handle);
    old->Close();
  }

  // Canonical entries (see keyed_snapshot.h) into this database's layout.
  void load_canonical_group(const KeyGroupSnapshot& group) {
    BufferReader in(group.bytes);
    rocksdb::WriteBatch batch;
    std::string key, value;
    for (size_t states = in.read_length(); states > 0; --states) {
      const std::string name(in.read_length_prefixed());
      const auto kind = static_cast<StateKind>(in.read_fixed<uint8_t>());
      BufferReader entries(in.read_length_prefixed());
      rocksdb::ColumnFamilyHandle* target = cf(column(name, kind, 0));
      for (size_t n = entries.read_length(); n > 0; --n) {
        const std::string_view key_bytes = entries.read_length_prefixed();
        if (kind == StateKind::kMap) {
          for (size_t m = entries.read_length(); m > 0; --m) {
            key.clear();
            RocksDbStore::append_key_prefix(key, group.key_group, key_bytes);
            const std::string_view user_key = entries.read_length_prefixed();
            key.append(user_key.data(), user_key.size());
            const std::string_view user_value = entries.read_length_prefixed();
            const auto touched = entries.read_fixed<Timestamp>();
            value.assign(reinterpret_cast<const char*>(&touched), sizeof(touched));
            value.append(user_value.data(), user_value.size());
            batch.Put(target, key, value);
          }
        } else {
          key.clear();
          RocksDbStore::append_key_prefix(key, group.key_group, key_bytes);
          const std::string_view payload = entries.read_length_prefixed();
          const auto touched = entries.read_fixed<Timestamp>();
          value.assign(reinterpret_cast<const char*>(&touched), sizeof(touched));
          value.append(payload.data(), payload.size());
          batch.Put(target, key, value);
        }
      }
    }
    write(batch);
  }

  void write(rocksdb::WriteBatch& batch) {
    if (batch.Count() == 0) return;
    check(db_->Write(write_options_, &batch), "cannot write", directory_);
  }

  StateBackendOptions options_;
  fs::path directory_;
  KeyGroupRange range_;
  std::string uid_ = unique_suffix();
  std::unique_ptr<rocksdb::DB> db_;
  rocksdb::ColumnFamilyHandle* default_ = nullptr;
  std::vector<Column> columns_;
  std::shared_ptr<TtlTable> ttl_ = std::make_shared<TtlTable>();
  // Checkpoints are the durability: no write-ahead log (as Flink).
  rocksdb::WriteOptions write_options_ = [] {
    rocksdb::WriteOptions w;
    w.disableWAL = true;
    return w;
  }();
  rocksdb::ReadOptions read_options_;
  WriteBackCache cache_;
  size_t cache_limit_ = state_cache_budget(options_);     // of all stores together
  int64_t published_bytes_ = 0;                           // this store's part of cached_bytes
  std::map<std::string, std::string> restored_sst_keys_;  // SST file -> its shared file key
  std::map<std::string, StateKind> restored_kinds_;
  int64_t snapshots_ = 0;
};

// ---- RocksDbStore ----

std::shared_ptr<RocksDbStore> RocksDbStore::open(const StateBackendOptions& options,
                                                 const std::string& name, KeyGroupRange range) {
  const fs::path base =
      options.local_directory.empty()
          ? fs::temp_directory_path() / fmt::format("sluice-rocksdb-{}", ::getpid())
          : fs::path(options.local_directory);
  std::string folder_name = name;
  std::replace(folder_name.begin(), folder_name.end(), '/', '_');
  const fs::path directory = base / (folder_name + "-" + unique_suffix());
  std::error_code ec;
  fs::create_directories(directory, ec);
  if (ec) {
    throw Error(ErrorCategory::kIo, "cannot create the RocksDB state folder: " + ec.message(),
                ErrorContext{.file = directory.string()});
  }
  auto impl = std::make_unique<Impl>(options, directory, range);
  impl->open_database();
  return std::shared_ptr<RocksDbStore>(new RocksDbStore(std::move(impl)));
}

RocksDbStore::RocksDbStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RocksDbStore::~RocksDbStore() {
  const fs::path directory = impl_->directory_;
  impl_.reset();
  std::error_code ec;
  fs::remove_all(directory, ec);
}

int RocksDbStore::column(const std::string& name, StateKind kind, int64_t ttl_ms) {
  return impl_->column(name, kind, ttl_ms);
}

bool RocksDbStore::has_column(const std::string& name) const {
  return std::any_of(impl_->columns_.begin(), impl_->columns_.end(),
                     [&](const Impl::Column& c) { return c.name == name; });
}

bool RocksDbStore::get(int column, std::string_view key, std::string& value) {
  return impl_->get(column, key, value);
}

void RocksDbStore::put(int column, std::string_view key, std::string_view value) {
  impl_->set(column, key, &value);
}

void RocksDbStore::remove(int column, std::string_view key) { impl_->set(column, key, nullptr); }

void RocksDbStore::merge(int column, std::string_view key, std::string_view operand) {
  impl_->merge(column, key, operand);
}

void RocksDbStore::remove_prefix(int column, std::string_view prefix) {
  if (impl_->cached(column)) {
    impl_->write_back(column);
    impl_->cache_.drop_column(static_cast<size_t>(column));
  }
  const std::string end = prefix_successor(prefix);
  check(impl_->db_->DeleteRange(impl_->write_options_, impl_->cf(column),
                                rocksdb::Slice(prefix.data(), prefix.size()), end),
        "cannot delete", impl_->directory_);
}

void RocksDbStore::scan(int column, std::string_view prefix,
                        const std::function<bool(std::string_view, std::string_view)>& fn) {
  impl_->write_back(column);
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db_->NewIterator(impl_->read_options_, impl_->cf(column)));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    const std::string_view key(it->key().data(), it->key().size());
    if (!key.starts_with(prefix)) break;
    if (!fn(key, std::string_view(it->value().data(), it->value().size()))) break;
  }
  check(it->status(), "cannot iterate", impl_->directory_);
}

std::function<KeyedBackendSnapshot(SnapshotFiles&)> RocksDbStore::snapshot(bool incremental) {
  // The snapshot keeps the store (and its database) alive until it is written.
  std::shared_ptr<RocksDbStore> self = shared_from_this();
  impl_->write_back();
  return incremental ? impl_->incremental_snapshot(std::move(self))
                     : impl_->full_snapshot(std::move(self));
}

void RocksDbStore::restore(std::vector<KeyedBackendSnapshot> snapshots,
                           const fs::path& shared_directory) {
  impl_->restore(std::move(snapshots), shared_directory);
}

uint64_t RocksDbStore::memory_usage() const {
  // Table readers outside the cache (none: index and filter blocks are cached) would come on top.
  uint64_t readers = 0;
  impl_->db_->GetAggregatedIntProperty("rocksdb.estimate-table-readers-mem", &readers);
  impl_->publish_cache_bytes();
  return readers + shared_memory(impl_->options_).cache->GetUsage() + cached_bytes.load();
}

void RocksDbStore::compact() {
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  impl_->write_back();
  for (const auto& column : impl_->columns_) {
    check(impl_->db_->CompactRange(options, column.handle, nullptr, nullptr), "cannot compact",
          impl_->directory_);
  }
}

const fs::path& RocksDbStore::directory() const { return impl_->directory_; }

void RocksDbStore::append_key_prefix(std::string& out, int key_group, std::string_view key_bytes) {
  const auto n = static_cast<uint32_t>(key_bytes.size());
  const char header[kKeyHeader] = {
      static_cast<char>((key_group >> 8) & 0xff), static_cast<char>(key_group & 0xff),
      static_cast<char>((n >> 24) & 0xff),        static_cast<char>((n >> 16) & 0xff),
      static_cast<char>((n >> 8) & 0xff),         static_cast<char>(n & 0xff)};
  out.append(header, kKeyHeader);
  out.append(key_bytes.data(), key_bytes.size());
}

}  // namespace sluice
