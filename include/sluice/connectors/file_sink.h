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
#include <cstdio>
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

namespace detail {

template <class V>
void append_csv_value(std::string& out, const V& value) {
  if constexpr (std::is_same_v<V, std::string> || std::is_same_v<V, std::string_view>) {
    append_csv_field(out, value);
  } else if constexpr (std::is_same_v<V, bool>) {
    out += value ? "true" : "false";
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

  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) override {
    return std::make_unique<Writer>(directory_, context.subtask_index(), format_, max_part_bytes_);
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
    Writer(const std::string& directory, int subtask, Format format, uint64_t max_part_bytes)
        : format_(format),
          files_(directory, subtask, format == Format::kCsv ? "csv" : "jsonl", max_part_bytes) {
      files_.discard_uncommitted();
    }

    void write(const RecordBuffer<T>& batch) override {
      for (const auto& value : batch.values) {
        if (format_ == Format::kJsonLines) {
          append_json(value);
        } else {
          append_csv(value);
        }
        pending_ += '\n';
      }
      if (pending_.size() >= kFlushBytes) drain();
    }
    void flush(bool end_of_input) override {
      drain();
      if (end_of_input) {
        files_.append("");  // an input without records still leaves its (empty) part file
        TransactionalPartFiles::commit(files_.prepare_commit());
      }
    }
    std::vector<std::string> prepare_commit(int64_t) override {
      drain();
      std::vector<std::string> committables;
      for (const auto& file : files_.prepare_commit()) committables.push_back(to_bytes(file));
      return committables;
    }

   private:
    static constexpr size_t kFlushBytes = 256 * 1024;

    void drain() {
      if (pending_.empty()) return;
      files_.append(pending_);
      pending_.clear();
    }
    void append_json(const T& value) {
      if constexpr (requires(nlohmann::json & j, const T& v) { to_json(j, v); } ||
                    std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
        pending_ += nlohmann::json(value).dump();
      } else {
        throw Error(
            ErrorCategory::kInvalidJob,
            "FileSink::json_lines needs a to_json(nlohmann::json&, const T&) for the record "
            "type (e.g. NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE)");
      }
    }
    void append_csv(const T& value) {
      if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
        detail::append_csv_value(pending_, value);
      } else {
        bool first = true;
        boost::pfr::for_each_field(value, [&](const auto& field) {
          if (!first) pending_ += ',';
          first = false;
          detail::append_csv_value(pending_, field);
        });
      }
    }

    Format format_;
    TransactionalPartFiles files_;
    std::string pending_;
  };

  std::string directory_;
  Format format_;
  uint64_t max_part_bytes_ = 128ull << 20;
};

}  // namespace sluice
