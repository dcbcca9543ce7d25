#include "sluice/sql/catalog.h"

#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>

#include <algorithm>
#include <cstring>

namespace sluice::sql {

namespace {

class MemoryTableScan : public TableScan {
 public:
  MemoryTableScan(const std::vector<std::unique_ptr<DataChunk>>& chunks,
                  std::vector<size_t> projection, size_t part, size_t parts)
      : chunks_(chunks), projection_(std::move(projection)), index_(part), step_(parts) {}

  bool next(DataChunk& out) override {
    out.reset();
    if (index_ >= chunks_.size()) return false;
    // Chunks are dealt round-robin to the parts: equal shares of similar work.
    const DataChunk& chunk = *chunks_[index_];
    index_ += step_;
    // Zero copy: the table's chunks stay unchanged while a query reads them.
    for (size_t i = 0; i < projection_.size(); ++i)
      out.column(i).borrow(chunk.column(projection_[i]));
    out.set_size(chunk.size());
    return true;
  }

 private:
  const std::vector<std::unique_ptr<DataChunk>>& chunks_;
  std::vector<size_t> projection_;
  size_t index_;
  size_t step_;
};

}  // namespace

MemoryTable::MemoryTable(std::vector<ColumnSchema> columns) : columns_(std::move(columns)) {}

std::unique_ptr<TableScan> MemoryTable::scan(const std::vector<size_t>& projection, size_t part,
                                             size_t parts) const {
  return std::make_unique<MemoryTableScan>(chunks_, projection, part, parts);
}

std::optional<uint64_t> MemoryTable::distinct_count(size_t column) const {
  std::lock_guard<std::mutex> lock(statistics_mutex_);
  auto it = distinct_counts_.find(column);
  if (it != distinct_counts_.end()) return it->second;
  // Exact, by hashing every value once: tables here are in memory already.
  absl::flat_hash_set<uint64_t> seen;
  for (const auto& chunk : chunks_) {
    const Vector& v = chunk->column(column);
    for (size_t r = 0; r < chunk->size(); ++r) {
      if (!v.is_valid(r)) continue;
      uint64_t h;
      if (v.physical() == PhysicalType::kString) {
        h = absl::HashOf(v.data<StringRef>()[r].view());
      } else {
        size_t width = physical_width(v.physical());
        uint64_t bits[2] = {0, 0};
        std::memcpy(bits, v.raw() + r * width, width);
        h = absl::HashOf(bits[0], bits[1]);
      }
      seen.insert(h);
    }
  }
  distinct_counts_[column] = seen.size();
  return seen.size();
}

void MemoryTable::append(const DataChunk& chunk) {
  if (chunk.size() == 0) return;
  {
    std::lock_guard<std::mutex> lock(statistics_mutex_);
    distinct_counts_.clear();
  }
  std::vector<LogicalType> types;
  for (const auto& c : columns_) types.push_back(c.type);
  size_t offset = 0;
  // Top up the last chunk first so that many small inserts do not make many small chunks.
  while (offset < chunk.size()) {
    if (chunks_.empty() || chunks_.back()->size() == kBatchSize) {
      chunks_.push_back(std::make_unique<DataChunk>(types));
    }
    DataChunk& last = *chunks_.back();
    size_t room = kBatchSize - last.size();
    size_t take = std::min(room, chunk.size() - offset);
    for (size_t r = 0; r < take; ++r) last.append_row(chunk, offset + r);
    offset += take;
  }
  rows_ += chunk.size();
}

void MemoryTable::adopt(std::unique_ptr<DataChunk> chunk) {
  bool whole = chunk->size() == kBatchSize && chunk->column_count() == columns_.size() &&
               (chunks_.empty() || chunks_.back()->size() == kBatchSize);
  for (size_t c = 0; whole && c < columns_.size(); ++c) {
    const Vector& v = chunk->column(c);
    whole = v.type() == columns_[c].type && !v.is_constant() && !v.borrowed();
  }
  if (!whole) {
    append(*chunk);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(statistics_mutex_);
    distinct_counts_.clear();
  }
  rows_ += chunk->size();
  chunks_.push_back(std::move(chunk));
}

void MemoryTable::clear() {
  chunks_.clear();
  rows_ = 0;
  std::lock_guard<std::mutex> lock(statistics_mutex_);
  distinct_counts_.clear();
}

const CatalogEntry* Catalog::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

void Catalog::add(CatalogEntry entry) {
  std::string name = entry.name;
  entries_[name] = std::move(entry);
}

bool Catalog::remove(const std::string& name) { return entries_.erase(name) > 0; }

std::vector<std::string> Catalog::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : entries_) out.push_back(name);
  return out;
}

}  // namespace sluice::sql
