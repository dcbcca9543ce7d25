// Built-in sinks: print (stdout), collect (into memory, for tests and small results), discard
// (benchmarks), and a sink from a plain function. Files and Kafka live in connectors/.
//
// Threading: each subtask has its own writer; CollectedRecords is thread-safe.
#pragma once

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/runtime/sink.h"

namespace sluice {

template <class T>
std::string to_display_string(const T& value) {
  if constexpr (fmt::is_formattable<T>::value) {
    return fmt::format("{}", value);
  } else if constexpr (requires(std::ostream & os, const T& v) { os << v; }) {
    std::ostringstream os;
    os << value;
    return os.str();
  } else {
    return "<" + std::to_string(sizeof(T)) + "-byte record>";
  }
}

// Results of a collect() sink; read them after the job ended.
template <class T>
class CollectedRecords {
 public:
  std::vector<T> values() const {
    std::lock_guard lock(mutex_);
    return values_;
  }
  std::vector<Timestamp> timestamps() const {
    std::lock_guard lock(mutex_);
    return timestamps_;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return values_.size();
  }
  void append(const RecordBuffer<T>& batch) {
    std::lock_guard lock(mutex_);
    values_.insert(values_.end(), batch.values.begin(), batch.values.end());
    for (size_t i = 0; i < batch.size(); ++i) timestamps_.push_back(batch.timestamp(i));
  }

 private:
  mutable std::mutex mutex_;
  std::vector<T> values_;
  std::vector<Timestamp> timestamps_;
};

template <class T>
class CollectSink final : public Sink<T> {
 public:
  explicit CollectSink(std::shared_ptr<CollectedRecords<T>> results)
      : results_(std::move(results)) {}
  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext&) override {
    return std::make_unique<Writer>(results_);
  }
  void describe(OperatorDescription& d) const override { d.add("into", "memory (collect)"); }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::shared_ptr<CollectedRecords<T>> results) : results_(std::move(results)) {}
    void write(const RecordBuffer<T>& batch) override { results_->append(batch); }

   private:
    std::shared_ptr<CollectedRecords<T>> results_;
  };
  std::shared_ptr<CollectedRecords<T>> results_;
};

// Prints one line per record: "prefix> value", or "prefix subtask> value" at parallelism > 1,
// as Flink's print sink does.
template <class T>
class PrintSink final : public Sink<T> {
 public:
  explicit PrintSink(std::string prefix = "") : prefix_(std::move(prefix)) {}
  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) override {
    std::string label = prefix_;
    if (context.parallelism() > 1)
      label += (label.empty() ? "" : " ") + std::to_string(context.subtask_index() + 1);
    return std::make_unique<Writer>(label.empty() ? "" : label + "> ");
  }
  void describe(OperatorDescription& d) const override {
    d.add("into", "standard output");
    if (!prefix_.empty()) d.add("prefix", prefix_);
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(std::string label) : label_(std::move(label)) {}
    void write(const RecordBuffer<T>& batch) override {
      std::string text;
      for (const auto& v : batch.values) {
        text += label_;
        text += to_display_string(v);
        text += '\n';
      }
      std::fwrite(text.data(), 1, text.size(), stdout);
    }
    void flush(bool) override { std::fflush(stdout); }

   private:
    std::string label_;
  };
  std::string prefix_;
};

template <class T>
class DiscardingSink final : public Sink<T> {
 public:
  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext&) override {
    return std::make_unique<Writer>();
  }
  void describe(OperatorDescription& d) const override { d.add("into", "nothing (discarding)"); }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    void write(const RecordBuffer<T>&) override {}
  };
};

// Calls fn(value) for every record (fn may also take (value, timestamp)).
template <class T, class F>
class FunctionSink final : public Sink<T> {
 public:
  explicit FunctionSink(F fn) : fn_(std::move(fn)) {}
  std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext&) override {
    return std::make_unique<Writer>(fn_);
  }
  void describe(OperatorDescription& d) const override {
    d.add("function", readable_type_name<F>());
  }

 private:
  class Writer final : public SinkWriter<T> {
   public:
    explicit Writer(F fn) : fn_(std::move(fn)) {}
    void write(const RecordBuffer<T>& batch) override {
      for (size_t i = 0; i < batch.size(); ++i) {
        if constexpr (std::is_invocable_v<F&, const T&, Timestamp>) {
          fn_(batch.values[i], batch.timestamp(i));
        } else {
          fn_(batch.values[i]);
        }
      }
    }

   private:
    F fn_;
  };
  F fn_;
};

}  // namespace sluice
