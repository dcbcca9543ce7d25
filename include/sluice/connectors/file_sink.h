// File sink: each subtask writes part files into a directory, as JSON lines or CSV.
//
//   stream.sink_to(sluice::FileSink<Alert>::json_lines("out/alerts"));  // part-0-0.jsonl, ...
//   stream.sink_to(sluice::FileSink<Alert>::csv("out/alerts"));         // part-0-0.csv, ...
//
// JSON lines use the JSON format of sluice/formats/json.h (include it): nlohmann::json's to_json
// for T, which NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE gives in one line. CSV writes T's fields in
// declaration order (Boost.PFR; RFC 4180 quoting) or T itself when it is a number or string.
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
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "sluice/connectors/transactional_part_files.h"
#include "sluice/core/error.h"
#include "sluice/core/serialization.h"
#include "sluice/runtime/sink.h"

namespace sluice {

// The JSON format, defined in sluice/formats/json.h: include it to write JSON lines.
template <class T>
struct JsonFormat;

void append_csv_field(std::string& out, std::string_view text);
// The shortest form that reads back as the same double (as JSON numbers are written).
void append_csv_double(std::string& out, double value);
// `directory`/`bucket`; throws kInvalidArgument for a bucket that is absolute or leaves the
// directory ("..").
std::string bucket_directory(const std::string& directory, const std::string& bucket);

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
    append_csv_double(out, static_cast<double>(value));
  } else {
    static_assert(std::is_arithmetic_v<V>, "CSV fields must be numbers, bools or strings");
  }
}

template <class T>
void append_csv_record(const T& value, std::string& out) {
  if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
    append_csv_value(out, value);
  } else {
    bool first = true;
    boost::pfr::for_each_field(value, [&](const auto& field) {
      if (!first) out += ',';
      first = false;
      append_csv_value(out, field);
    });
  }
}

// The untyped part of a file sink subtask: its buckets (one directory each, with its part files
// and the bytes not yet written to them), the flushes and the commits.
class PartFileWriterCore {
 public:
  PartFileWriterCore(std::string directory, int subtask, std::string extension,
                     uint64_t max_part_bytes, bool bucketed);
  ~PartFileWriterCore();
  PartFileWriterCore(const PartFileWriterCore&) = delete;
  PartFileWriterCore& operator=(const PartFileWriterCore&) = delete;

  // Records of one bucket usually come in runs: the lookup is skipped while the name repeats.
  void select_bucket(const std::string& name) {
    if (name != current_name_) switch_bucket(name);
  }
  // Where the current bucket's next record goes; end it with end_record().
  std::string& pending() { return *pending_; }
  void end_record() {
    *pending_ += '\n';
    if (pending_->size() >= kFlushBytes) drain_current();
  }
  void flush(bool end_of_input);
  std::vector<std::string> prepare_commit();
  static void commit(const std::vector<std::string>& committables);

 private:
  static constexpr size_t kFlushBytes = 256 * 1024;
  struct Bucket;
  void switch_bucket(const std::string& name);
  Bucket& open_bucket(const std::string& name);
  void drain_current();

  std::string directory_;
  int subtask_;
  std::string extension_;
  uint64_t max_part_bytes_;
  std::map<std::string, std::unique_ptr<Bucket>> buckets_;
  Bucket* current_ = nullptr;
  std::string* pending_ = nullptr;  // the current bucket's
  std::string current_name_;
};

}  // namespace detail

template <class T>
class FileSink final : public Sink<T> {
 public:
  // Appends one record's text (without the line end).
  using Encode = void (*)(const T& value, std::string& out);

  template <class U = T>
  static FileSink json_lines(std::string directory) {
    static_assert(
        requires { &JsonFormat<U>::append; },
        "FileSink::json_lines needs the JSON format: #include \"sluice/formats/json.h\"");
    return FileSink(std::move(directory), "jsonl", &JsonFormat<U>::append);
  }
  static FileSink csv(std::string directory) {
    return FileSink(std::move(directory), "csv", &detail::append_csv_record<T>);
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
    return std::make_unique<Writer>(*this, context.subtask_index());
  }
  void commit(const std::vector<std::string>& committables) override {
    detail::PartFileWriterCore::commit(committables);
  }
  void describe(OperatorDescription& d) const override {
    d.add("directory", directory_);
    d.add("format", extension_);
    if (bucket_) d.add("buckets", "by record");
  }

 private:
  FileSink(std::string directory, std::string extension, Encode encode)
      : directory_(std::move(directory)), extension_(std::move(extension)), encode_(encode) {}

  class Writer final : public SinkWriter<T> {
   public:
    Writer(const FileSink& sink, int subtask)
        : core_(sink.directory_, subtask, sink.extension_, sink.max_part_bytes_,
                static_cast<bool>(sink.bucket_)),
          encode_(sink.encode_),
          bucket_(sink.bucket_) {}

    void write(const RecordBuffer<T>& batch) override {
      for (const auto& value : batch.values) {
        if (bucket_) core_.select_bucket(bucket_(value));
        encode_(value, core_.pending());
        core_.end_record();
      }
    }
    void flush(bool end_of_input) override { core_.flush(end_of_input); }
    std::vector<std::string> prepare_commit(int64_t) override { return core_.prepare_commit(); }

   private:
    detail::PartFileWriterCore core_;
    Encode encode_;
    std::function<std::string(const T&)> bucket_;
  };

  std::string directory_;
  std::string extension_;
  Encode encode_;
  uint64_t max_part_bytes_ = 128ull << 20;
  std::function<std::string(const T&)> bucket_;
};

}  // namespace sluice
