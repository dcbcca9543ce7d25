// File sink: each subtask writes one part file into a directory, as JSON lines or CSV.
//
//   stream.sink_to(sluice::FileSink<Alert>::json_lines("out/alerts"));  // part-0.jsonl, ...
//   stream.sink_to(sluice::FileSink<Alert>::csv("out/alerts"));         // part-0.csv, ...
//
// JSON lines use nlohmann::json's to_json for T (NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE gives it in
// one line). CSV writes T's fields in declaration order (Boost.PFR; RFC 4180 quoting) or T itself
// when it is a number or string.
//
// A part file is written as ".part-N.<ext>.inprogress" and renamed to "part-N.<ext>" only when
// the input ended, so a reader never sees a half-written file under the final name. (The
// checkpointing work makes this exactly-once with pending/committed files per checkpoint.)
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

#include "sluice/core/error.h"
#include "sluice/runtime/sink.h"

namespace sluice {

// One part file of one subtask: buffered appends, then an atomic rename on commit.
class PartFileWriter {
 public:
  PartFileWriter(const std::string& directory, int subtask, const std::string& extension);
  ~PartFileWriter();
  PartFileWriter(const PartFileWriter&) = delete;
  PartFileWriter& operator=(const PartFileWriter&) = delete;

  void append(std::string_view data);
  // Flushes, fsyncs and renames the in-progress file to its final name.
  void commit();
  const std::string& final_path() const { return final_path_; }

 private:
  std::FILE* file_ = nullptr;
  std::string in_progress_path_;
  std::string final_path_;
};

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

  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) override {
    return std::make_unique<Writer>(directory_, context.subtask_index(), format_);
  }

 private:
  FileSink(std::string directory, Format format)
      : directory_(std::move(directory)), format_(format) {}

  class Writer final : public SinkWriter<T> {
   public:
    Writer(const std::string& directory, int subtask, Format format)
        : format_(format), file_(directory, subtask, format == Format::kCsv ? "csv" : "jsonl") {}

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
      if (end_of_input) file_.commit();
    }

   private:
    static constexpr size_t kFlushBytes = 256 * 1024;

    void drain() {
      file_.append(pending_);
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
    PartFileWriter file_;
    std::string pending_;
  };

  std::string directory_;
  Format format_;
};

}  // namespace sluice
