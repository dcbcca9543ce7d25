#include "runtime/stream_task.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/job_execution.h"
#include "runtime/outputs.h"
#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/core/time.h"

namespace sluice::runtime {

namespace {

// The reader's splits, in the source node's operator list state: split among the subtasks of a
// job restored at another parallelism.
const ListStateDescriptor<std::string> kSourceSplits{"source-splits"};

// A run returns after this long so that other tasks on the same worker get their turn.
constexpr auto kTimeSlice = std::chrono::milliseconds(2);
constexpr int kMaxStepsPerSlice = 256;

}  // namespace

class StreamTask::ReaderContext final : public SourceReaderContext {
 public:
  ReaderContext(StreamTask& task, OperatorMetrics& metrics) : task_(task), metrics_(metrics) {}
  int subtask_index() const override { return task_.subtask_; }
  int parallelism() const override { return task_.parallelism_; }
  const Configuration& config() const override { return task_.job_.options().config; }
  OperatorMetrics& metrics() override { return metrics_; }
  void request_split() override { task_.coordinator->request_split(task_.subtask_); }
  void wake() override { task_.job_.scheduler().notify(&task_); }
  void wake_at(std::chrono::steady_clock::time_point deadline) override {
    task_.job_.scheduler().wake_at(&task_, deadline);
  }
  Output* side_output(int tag_id) override {
    return task_.members.front().context->side_output(tag_id);
  }

 private:
  StreamTask& task_;
  OperatorMetrics& metrics_;
};

StreamTask::StreamTask(JobExecution& job, std::string name, int vertex, int subtask,
                       int parallelism)
    : job_(job),
      name_(std::move(name)),
      vertex_(vertex),
      subtask_(subtask),
      parallelism_(parallelism) {}

StreamTask::~StreamTask() = default;

Schedulable::RunResult StreamTask::run() {
  const int64_t start = monotonic_nanos();
  account_wait(start);
  RunResult result;
  if (job_.cancelling()) {
    close_chain();
    result = RunResult::kDone;
  } else {
    try {
      result = run_slice();
    } catch (const OperatorFailure& failure) {
      job_.fail_task(*this, failure.node_id, failure.cause);
      close_chain();
      result = RunResult::kDone;
    } catch (...) {
      job_.fail_task(*this, members.empty() ? -1 : members.front().node_id,
                     std::current_exception());
      close_chain();
      result = RunResult::kDone;
    }
  }
  const int64_t end = monotonic_nanos();
  metrics_.busy_ns.add(static_cast<uint64_t>(end - start));
  if (result == RunResult::kWait) waiting_since_ns_ = end;
  return result;
}

void StreamTask::account_wait(int64_t now_ns) {
  if (waiting_for_ == WaitReason::kNone) return;
  auto waited = static_cast<uint64_t>(now_ns - waiting_since_ns_);
  (waiting_for_ == WaitReason::kInput ? metrics_.idle_ns : metrics_.backpressured_ns).add(waited);
  waiting_for_ = WaitReason::kNone;
}

Schedulable::RunResult StreamTask::wait(WaitReason reason) {
  waiting_for_ = reason;
  // An aligned checkpoint that turns unaligned at a deadline needs the task to run then, even if
  // nothing else wakes it.
  std::optional<Timestamp> deadline = gate.alignment_deadline();
  if (queued_barrier_ && (!deadline || queued_barrier_->deadline < *deadline)) {
    deadline = queued_barrier_->deadline;
  }
  if (deadline) {
    const Timestamp delay = std::max<Timestamp>(0, *deadline - wall_clock_millis());
    job_.scheduler().wake_at(this,
                             std::chrono::steady_clock::now() + std::chrono::milliseconds(delay));
  }
  return RunResult::kWait;
}

// As Flink's timeoutable barriers: an aligned barrier still queued in an output channel when the
// alignment timeout passes jumps ahead of the data there.
void StreamTask::promote_queued_barrier_if_due() {
  if (!queued_barrier_ || wall_clock_millis() < queued_barrier_->deadline) return;
  for (auto* output : network_outputs) output->promote_barrier(queued_barrier_->id);
  queued_barrier_.reset();
}

void MemberTimerService::register_timer(Timestamp time, TimerTarget* target) {
  task_.register_timer(time, target, node_id_);
}

void StreamTask::register_timer(Timestamp time, TimerTarget* target, int node_id) {
  timers_.push({time, target, node_id});
  request_timer_wakeup(wall_clock_millis());
}

// One scheduler wake-up at a time, for the earliest timer: a task that runs often must not post a
// wake-up per run.
void StreamTask::request_timer_wakeup(Timestamp now) {
  if (timers_.empty()) return;
  const Timestamp earliest = timers_.top().time;
  if (wakeup_requested_for_ > now && wakeup_requested_for_ <= earliest) return;
  wakeup_requested_for_ = earliest;
  // A timer at the end of time (a global window's) must not overflow the clock: a day is as good.
  constexpr Timestamp kMaxDelayMs = 24 * 3600 * 1000;
  const auto delay =
      std::chrono::milliseconds(std::clamp<Timestamp>(earliest - now, 0, kMaxDelayMs));
  job_.scheduler().wake_at(this, std::chrono::steady_clock::now() + delay);
}

void StreamTask::fire_due_timers() {
  if (timers_.empty()) return;
  const Timestamp now = wall_clock_millis();
  while (!timers_.empty() && timers_.top().time <= now && !closed_) {
    Timer timer = timers_.top();
    timers_.pop();
    attributed_to(timer.node_id, [&] { timer.target->on_processing_time(timer.time); });
  }
  request_timer_wakeup(now);
}

void StreamTask::trigger_checkpoint(int64_t id, Timestamp time, bool savepoint) {
  {
    std::lock_guard lock(requests_mutex_);
    checkpoint_requests_.push_back({id, time, savepoint});
  }
  job_.scheduler().notify(this);
}

// In id order: with concurrent checkpoints a source may be asked for several before it runs.
void StreamTask::perform_requested_checkpoint() {
  std::vector<CheckpointRequest> requests;
  {
    std::lock_guard lock(requests_mutex_);
    requests.swap(checkpoint_requests_);
  }
  std::sort(requests.begin(), requests.end(),
            [](const CheckpointRequest& a, const CheckpointRequest& b) { return a.id < b.id; });
  for (const CheckpointRequest& r : requests) {
    if (r.id > taken_checkpoint_) perform_checkpoint(r.id, r.time, r.savepoint, false);
  }
}

void StreamTask::notify_checkpoint_complete(int64_t id) {
  completed_checkpoint_.store(id, std::memory_order_release);
  job_.scheduler().notify(this);
}

void StreamTask::perform_checkpoint(int64_t id, Timestamp time, bool savepoint, bool unaligned) {
  if (snapshot_writer == nullptr || id <= taken_checkpoint_) return;
  taken_checkpoint_ = id;
  const int64_t sync_start = monotonic_nanos();
  capture_.reset();  // an unaligned checkpoint still collecting its input was abandoned
  if (input_ended_ && final_checkpoint_ == 0) final_checkpoint_ = id;
  std::vector<SnapshotWriter::Part> state;
  if (source) {
    // Splits assigned before the enumerator's snapshot but not yet handed to the reader are the
    // reader's too: that snapshot no longer has them. Later ones wait until after the barrier.
    take_split_assignments(id);
    attributed_to(members.front().node_id, [&] {
      members.front()
          .operator_state->get_list_state(kSourceSplits)
          .update(source->snapshot_state(id));
    });
  }
  for (auto& member : members) {
    if (member.op) {
      attributed_to(member.node_id, [&] {
        StateSnapshot snapshot = member.op->snapshot_state(SnapshotRequest{id, savepoint});
        if (!snapshot.empty())
          state.push_back({CheckpointStateName::operator_state(member.node_id, subtask_).str(),
                           std::move(snapshot)});
      });
    }
    OperatorStateSnapshot lists = member.operator_state->snapshot();
    if (!lists.lists.empty()) {
      state.push_back(
          {CheckpointStateName::operator_lists(member.node_id, subtask_).str(), to_bytes(lists)});
    }
  }
  if (!input_ended_) {
    const JobOptions& options = job_.options();
    const bool overtake =
        options.unaligned_checkpoints && !savepoint &&
        (unaligned || wall_clock_millis() - time >= options.aligned_checkpoint_timeout.count());
    const StreamElement barrier = StreamElement::barrier(id, time, savepoint);
    for (auto* output : network_outputs) {
      if (overtake) {
        output->broadcast_overtaking(barrier);
      } else {
        output->broadcast_control(barrier);
      }
    }
    queued_barrier_.reset();
    if (!overtake && options.unaligned_checkpoints && !savepoint && !network_outputs.empty()) {
      queued_barrier_ = QueuedBarrier{id, time + options.aligned_checkpoint_timeout.count()};
    }
  }
  if (unaligned) {
    capture_.emplace();
    capture_->id = id;
    capture_->state = std::move(state);
    capture_->buffers.resize(input_channels.size());
    capture_->sync_ms = static_cast<double>(monotonic_nanos() - sync_start) / 1e6;
    return;
  }
  snapshot_writer->submit(task_id(), id, std::move(state), input_ended_,
                          static_cast<double>(monotonic_nanos() - sync_start) / 1e6);
}

void StreamTask::complete_channel_state(int64_t id) {
  if (!capture_ || capture_->id != id) return;
  std::vector<ChannelStateEntry> entries;
  for (size_t i = 0; i < input_channels.size(); ++i) {
    if (capture_->buffers[i].empty()) continue;
    const InputChannel& channel = input_channels[i];
    entries.push_back(ChannelStateEntry{channel.producer_node, channel.producer_subtask,
                                        channel.input, std::move(capture_->buffers[i])});
  }
  if (!entries.empty()) {
    capture_->state.push_back(
        {CheckpointStateName::channel_state(members.front().node_id, subtask_).str(),
         write_channel_state(entries)});
  }
  snapshot_writer->submit(task_id(), id, std::move(capture_->state), input_ended_,
                          capture_->sync_ms);
  capture_.reset();
}

void StreamTask::replay_restored_in_flight() {
  for (auto& in_flight : restored_in_flight) {
    auto member = std::find_if(members.begin(), members.end(), [&](const ChainMember& m) {
      return m.node_id == in_flight.node_id;
    });
    if (member == members.end() || !member->op) continue;
    for (const std::string& bytes : in_flight.buffers) {
      BufferReader in(bytes);
      std::unique_ptr<Buffer> buffer = in_flight.codec->read(in);
      if (in_flight.keep) {
        in_flight.codec->retain_key_groups(*buffer, *in_flight.keep,
                                           member->context->max_parallelism);
      }
      if (buffer->size() == 0) continue;
      member->metrics->records_in.add(buffer->size());
      attributed_to(member->node_id, [&] { member->op->process_batch(*buffer, in_flight.input); });
    }
  }
  restored_in_flight.clear();
}

void StreamTask::deliver_checkpoint_notifications() {
  const int64_t completed = completed_checkpoint_.load(std::memory_order_acquire);
  if (completed <= notified_checkpoint_) return;
  notified_checkpoint_ = completed;
  if (source) {
    attributed_to(members.front().node_id, [&] { source->notify_checkpoint_complete(completed); });
  }
  for (auto& member : members) {
    if (member.op) {
      attributed_to(member.node_id, [&] { member.op->notify_checkpoint_complete(completed); });
    }
  }
}

Schedulable::RunResult StreamTask::run_slice() {
  if (!opened_) {
    open_chain();
    job_.task_opened();
  }
  if (input_ended_) return run_after_end_of_input();
  deliver_checkpoint_notifications();
  if (source) perform_requested_checkpoint();
  promote_queued_barrier_if_due();
  fire_due_timers();
  const auto slice_end = std::chrono::steady_clock::now() + kTimeSlice;
  return source ? run_source_slice(slice_end) : run_input_slice(slice_end);
}

Schedulable::RunResult StreamTask::run_source_slice(
    std::chrono::steady_clock::time_point slice_end) {
  for (int step = 0; step < kMaxStepsPerSlice; ++step) {
    if (!outputs_available()) return wait(WaitReason::kBackpressure);
    take_split_assignments(taken_checkpoint_ + 1);
    InputStatus status;
    attributed_to(members.front().node_id, [&] { status = source->poll(); });
    if (status == InputStatus::kEndOfInput) return end_input();
    maybe_emit_latency_marker();
    if (status == InputStatus::kNothingAvailable) {
      flush_outputs();
      return wait(WaitReason::kInput);
    }
    if (job_.cancelling() || std::chrono::steady_clock::now() >= slice_end) break;
  }
  return RunResult::kYield;
}

void StreamTask::handle_gate_event(InputGate::Event& event) {
  ChainMember& head = members.front();
  switch (event.kind) {
    case InputGate::Event::Kind::kNothing:
    case InputGate::Event::Kind::kEndOfInput:
      break;
    case InputGate::Event::Kind::kWatermark:
      attributed_to(head.node_id, [&] { head.op->process_watermark(event.watermark); });
      break;
    case InputGate::Event::Kind::kWatermarkStatus:
      attributed_to(head.node_id, [&] { head.op->process_watermark_status(event.idle); });
      break;
    case InputGate::Event::Kind::kLatencyMarker:
      attributed_to(head.node_id, [&] { head.op->process_latency_marker(event.marker); });
      break;
    case InputGate::Event::Kind::kBarrier:
      perform_checkpoint(event.checkpoint_id, event.checkpoint_time, event.savepoint,
                         event.unaligned);
      break;
    case InputGate::Event::Kind::kChannelStateComplete:
      complete_channel_state(event.checkpoint_id);
      break;
    case InputGate::Event::Kind::kBuffer:
      if (event.record && capture_) {
        std::string bytes;
        BufferWriter out(bytes);
        input_channels[event.channel_index].codec->write(*event.buffer, out);
        out.finish();
        capture_->buffers[event.channel_index].push_back(std::move(bytes));
      }
      head.metrics->records_in.add(event.buffer->size());
      head.metrics->bytes_in.add(event.buffer->byte_size());
      attributed_to(head.node_id, [&] { head.op->process_batch(*event.buffer, event.input); });
      event.channel->recycle(std::move(event.buffer));
      break;
  }
}

Schedulable::RunResult StreamTask::run_input_slice(
    std::chrono::steady_clock::time_point slice_end) {
  for (int step = 0; step < kMaxStepsPerSlice; ++step) {
    if (!outputs_available()) {
      // Barriers still pass: a checkpoint must not wait for the backpressure to clear.
      for (InputGate::Event event = gate.next(true); event.kind != InputGate::Event::Kind::kNothing;
           event = gate.next(true)) {
        if (event.kind == InputGate::Event::Kind::kEndOfInput) return end_input();
        handle_gate_event(event);
      }
      return wait(WaitReason::kBackpressure);
    }
    InputGate::Event event = gate.next();
    if (event.kind == InputGate::Event::Kind::kNothing) {
      flush_outputs();
      return wait(WaitReason::kInput);
    }
    if (event.kind == InputGate::Event::Kind::kEndOfInput) return end_input();
    handle_gate_event(event);
    if (job_.cancelling() || std::chrono::steady_clock::now() >= slice_end) break;
  }
  return RunResult::kYield;
}

void StreamTask::open_chain() {
  opened_ = true;
  // Tail first, as Flink does: an operator may emit in open(), so its successors must be open.
  for (auto it = members.rbegin(); it != members.rend(); ++it) {
    if (it->op) attributed_to(it->node_id, [&] { it->op->open(); });
  }
  if (source) {
    reader_context_ = std::make_unique<ReaderContext>(*this, *members.front().metrics);
    attributed_to(members.front().node_id, [&] {
      source->open(*reader_context_, *head_output, job_.options().buffer_bytes);
      // A restored job: the splits this subtask resumes (redistributed if the parallelism
      // changed).
      auto& restored = members.front().operator_state->get_list_state(kSourceSplits);
      source->restore_splits(restored.get());
      restored.clear();
    });
    coordinator->register_reader(subtask_, job_.scheduler(), this);
  }
  replay_restored_in_flight();
}

Schedulable::RunResult StreamTask::end_input() {
  // A bounded input ends with the maximum watermark so every event-time window and timer fires.
  if (source) {
    attributed_to(members.front().node_id, [&] { head_output->emit_watermark(kMaxWatermark); });
  }
  for (auto& member : members) {
    if (member.op) attributed_to(member.node_id, [&] { member.op->finish(); });
  }
  for (auto* output : network_outputs) output->broadcast_control(StreamElement::end_of_input());
  if (checkpoint_responder == nullptr) {
    close_chain();
    return RunResult::kDone;
  }
  input_ended_ = true;
  checkpoint_responder->input_ended(task_id());
  return run_after_end_of_input();
}

// The output after the last completed checkpoint is not committed yet: the task stays until a
// checkpoint of its final state completed, so that a failure meanwhile still restores it.
Schedulable::RunResult StreamTask::run_after_end_of_input() {
  perform_requested_checkpoint();
  deliver_checkpoint_notifications();
  if (final_checkpoint_ != 0 && notified_checkpoint_ >= final_checkpoint_) {
    close_chain();
    return RunResult::kDone;
  }
  return wait(WaitReason::kInput);
}

void StreamTask::take_split_assignments(int64_t before_checkpoint) {
  auto assignments = coordinator->take_assignments(subtask_, before_checkpoint);
  if (!assignments.splits.empty()) source->add_splits(std::move(assignments.splits));
  for (const auto& event : assignments.events) source->handle_source_event(event);
  if (assignments.no_more_splits) source->notify_no_more_splits();
}

void StreamTask::close_chain() noexcept {
  if (closed_) return;
  closed_ = true;
  if (source) {
    try {
      source->close();
    } catch (...) {
      job_.fail_task(*this, members.front().node_id, std::current_exception());
    }
  }
  for (auto& member : members) {
    if (!member.op) continue;
    try {
      member.op->close();
    } catch (...) {
      job_.fail_task(*this, member.node_id, std::current_exception());
    }
  }
}

void StreamTask::maybe_emit_latency_marker() {
  const int64_t interval = job_.latency_marker_interval_ns();
  if (interval <= 0) return;
  const int64_t now = monotonic_nanos();
  if (now < next_latency_marker_ns_) return;
  next_latency_marker_ns_ = now + interval;
  attributed_to(members.front().node_id, [&] {
    head_output->emit_latency_marker(LatencyMarker{now, subtask_});
  });
}

bool StreamTask::outputs_available() const {
  for (auto* output : network_outputs) {
    if (!output->available()) return false;
  }
  return true;
}

void StreamTask::flush_outputs() {
  for (auto* output : network_outputs) output->flush();
}

}  // namespace sluice::runtime
