// The sink interface: a Sink<T> creates one SinkWriter per parallel subtask, which receives whole
// batches. Connectors (files, Kafka) implement it like any user would.
//
// Exactly-once output is a two-phase commit driven by checkpoints (Flink's TwoPhaseCommittingSink):
// - on a checkpoint barrier the writer's prepare_commit makes what it wrote since the last one
//   durable but not yet visible (a pending file, an open transaction) and returns committables,
//   which the checkpoint stores;
// - when that checkpoint completes, Sink::commit makes them visible;
// - after a failure the job restores the last completed checkpoint and commits its committables
//   again (a checkpoint may have completed without its commits having run), so commit must be
//   idempotent; what a writer prepared for a checkpoint that never completed is never committed:
//   a new writer discards it, and the records are replayed from the sources.
// Without checkpoints, flush(true) at the end of the input makes everything visible.
//
// Threading: a writer is called only by its task's thread; Sink::commit by the thread of any of
// the sink's subtasks (several at once, with overlapping committables after a restore).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sluice/runtime/buffer.h"
#include "sluice/runtime/operator.h"

namespace sluice {

template <class T>
class SinkWriter {
 public:
  virtual ~SinkWriter() = default;
  virtual void write(const RecordBuffer<T>& batch) = 0;
  // Make written data durable/visible; end_of_input is true once, when the input is exhausted
  // (only when checkpoints are off: with checkpoints, the last checkpoint commits the end).
  virtual void flush(bool /*end_of_input*/) {}
  // On the barrier of `checkpoint_id`: what was written since the last barrier becomes durable but
  // not visible; the result is what Sink::commit needs to make it visible. The default (for sinks
  // without transactions) flushes: at-least-once.
  virtual std::vector<std::string> prepare_commit(int64_t /*checkpoint_id*/) {
    flush(false);
    return {};
  }
  virtual void close() {}
};

template <class T>
class Sink {
 public:
  using value_type = T;
  virtual ~Sink() = default;
  virtual std::unique_ptr<SinkWriter<T>> create_writer(const RuntimeContext& context) = 0;
  // Makes prepared output visible. Idempotent: committing twice, or concurrently from several
  // subtasks, is the same as once.
  virtual void commit(const std::vector<std::string>& /*committables*/) {}
  // Adds what tells this sink apart to its operator's description (a directory, a topic).
  virtual void describe(OperatorDescription& /*description*/) const {}
};

}  // namespace sluice
