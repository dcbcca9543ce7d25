// File sink: each subtask writes part files into a directory, as JSON lines or CSV.
//
//   stream.sink_to(sluice::FileSink<Alert>::json_lines("out/alerts"));  // part-0-0.jsonl, ...
//   stream.sink_to(sluice::FileSink<Alert>::csv("out/alerts"));         // part-0-0.csv, ...
//
// JSON lines use nlohmann::json's to_json for T (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE gives it in
// one line). CSV writes T's fields in declaration order (Boost.PFR; RFC 4180 quoting) or T itself
// when it is a number or string.
//
// Part files are "part-<subtask>-<n>.<ext>", written hidden and renamed only when committed (see
// sluice/connectors/transactional_part_files.h), so a reader never sees a half-written file. With
// checkpoints on, the sink is exactly-once: a part file rolls at every checkpoint barrier and
// becomes visible when that checkpoint completes; without, everything is committed when the input
// ends. A part file also rolls when it reaches `max_part_bytes` (128 MiB by default).
//
// Threading: one writer per subtask, called by that subtask's thread.
#pragma once

#include <boost/pfr.hpp>
#include <charconv>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "sluice/connectors/transactional_part_files.h"
#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/runtime/sink.h"

namespace sluice {

void append_csv_field(std::string& out, std::string_view text);
// `directory`/`bucket`; throws kInvalidArgument for a bucket that is absolute or leaves the
// directory ("..").
std::string bucket_directory(const std::string& directory, const std::string& bucket);
// TransactionalPartFiles::discard_uncommitted in every directory below `directory`.
void discard_uncommitted_in_subdirectories(const std::string& directory, int subtask,
                                           const std::string& extension);

namespace detail {

template <class V>
void append_csv_value(std::string& out, const V& value) {
  if constexpr (std::is_same_v<V, std::string> || std::is_same_v<V, std::string_view>) {
    append_csv_field(out, value);
  } else if constexpr (std::is_same_v<V, bool>) {
    out += value ? "true" : "false";
  } else if constexpr (std::is_integral_v<V>) {
    char digits[24];
    out.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
  } else if constexpr (std::is_arithmetic_v<V>) {
    out += nlohmann::json(value).dump();  // shortest round-trip form for doubles
  } else {
    static_assert(std::is_arithmetic_v<V>, "CSV fields must be numbers, bools or strings");
  }
}

}  // namespace detail

template <class T>
class FileSink final : public Sink<T> {
 public:
  enum class Format { kJsonLines, kCsv };

  static FileSink json_lines(std::string directory) {
    return FileSink(std::move(directory), Format::kJsonLines);
  }
  static FileSink csv(std::string directory) {
    return FileSink(std::move(directory), Format::kCsv);
  }

  FileSink& max_part_bytes(uint64_t bytes) {
    max_part_bytes_ = bytes;
    return *this;
  }

  // fn(const T&) -> std::string: a relative directory ("a/b"); "" is the sink's directory.
  template <class F>
  FileSink& bucket_by(F fn) {
    bucket_ = std::function<std::string(const T&)>(std::move(fn));
    return *this;
  }

  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) override {
    return std::make_unique<Writer>(directory_, context.subtask_index(), format_, max_part_bytes_,
                                    bucket_);
  }
  void commit(const std::vector<std::string>& committables) override {
    std::vector<PendingPartFile> files;
    for (const auto& bytes : committables) files.push_back(from_bytes<PendingPartFile>(bytes));
    TransactionalPartFiles::commit(files);
  }

 private:
  FileSink(std::string directory, Format format)
      : directory_(std::move(directory)), format_(format) {}

  class Writer final : public SinkWriter<T> {
   public:
    Writer(const std::string& directory, int subtask, Format format, uint64_t max_part_bytes,
           std::function<std::string(const T&)> bucket)
        : directory_(directory),
          subtask_(subtask),
          format_(format),
          max_part_bytes_(max_part_bytes),
          bucket_(std::move(bucket)) {
      current_ = &open_bucket("");
      // A bucket this attempt may never write to again still loses the hidden files of the last.
      if (bucket_) discard_uncommitted_in_subdirectories(directory_, subtask_, extension());
    }

    void write(const RecordBuffer<T>& batch) override {
      for (const auto& value : batch.values) {
        if (bucket_) select_bucket(bucket_(value));
        std::string& pending = current_->pending;
        if (format_ == Format::kJsonLines) {
          append_json(pending, value);
        } else {
          append_csv(pending, value);
        }
        pending += '\n';
        if (pending.size() >= kFlushBytes) drain(*current_);
      }
    }
    void flush(bool end_of_input) override {
      for (auto& [name, bucket] : buckets_) drain(*bucket);
      if (end_of_input) {
        // An input without records still leaves its (empty) part file.
        if (buckets_.size() == 1) buckets_.begin()->second->files.append("");
        std::vector<PendingPartFile> files;
        for (auto& [name, bucket] : buckets_) {
          auto ready = bucket->files.prepare_commit();
          files.insert(files.end(), ready.begin(), ready.end());
        }
        TransactionalPartFiles::commit(files);
      }
    }
    std::vector<std::string> prepare_commit(int64_t) override {
      std::vector<std::string> committables;
      for (auto& [name, bucket] : buckets_) {
        drain(*bucket);
        for (const auto& file : bucket->files.prepare_commit()) {
          committables.push_back(to_bytes(file));
        }
      }
      return committables;
    }

   private:
    static constexpr size_t kFlushBytes = 256 * 1024;
    struct Bucket {
      Bucket(const std::string& directory, int subtask, const char* extension, uint64_t max_bytes)
          : files(directory, subtask, extension, max_bytes) {}
      TransactionalPartFiles files;
      std::string pending;
    };

    const char* extension() const { return format_ == Format::kCsv ? "csv" : "jsonl"; }
    Bucket& open_bucket(const std::string& name) {
      auto bucket = std::make_unique<Bucket>(bucket_directory(directory_, name), subtask_,
                                             extension(), max_part_bytes_);
      bucket->files.discard_uncommitted();
      return *(buckets_[name] = std::move(bucket));
    }
    // Records of one bucket usually come in runs: the lookup is skipped while the name repeats.
    void select_bucket(const std::string& name) {
      if (name == current_name_) return;
      auto it = buckets_.find(name);
      current_ = it != buckets_.end() ? it->second.get() : &open_bucket(name);
      current_name_ = name;
    }
    void drain(Bucket& bucket) {
      if (bucket.pending.empty()) return;
      bucket.files.append(bucket.pending);
      bucket.pending.clear();
    }
    static void append_json(std::string& pending, const T& value) {
      if constexpr (requires(nlohmann::json & j, const T& v) { to_json(j, v); } ||
                    std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
        pending += nlohmann::json(value).dump();
      } else {
        throw Error(
            ErrorCategory::kInvalidJob,
            "FileSink::json_lines needs a to_json(nlohmann::json&, const T&) for the record "
            "type (e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE)");
      }
    }
    static void append_csv(std::string& pending, const T& value) {
      if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
        detail::append_csv_value(pending, value);
      } else {
        bool first = true;
        boost::pfr::for_each_field(value, [&](const auto& field) {
          if (!first) pending += ',';
          first = false;
          detail::append_csv_value(pending, field);
        });
      }
    }

    std::string directory_;
    int subtask_;
    Format format_;
    uint64_t max_part_bytes_;
    std::function<std::string(const T&)> bucket_;
    std::map<std::string, std::unique_ptr<Bucket>> buckets_;
    Bucket* current_ = nullptr;
    std::string current_name_;
  };

  std::string directory_;
  Format format_;
  uint64_t max_part_bytes_ = 128ull << 20;
  std::function<std::string(const T&)> bucket_;
};

}  // namespace sluice
