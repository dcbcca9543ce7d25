#include "runtime/job_execution.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "runtime/outputs.h"
#include "sluice/checkpoint/checkpoint_layout.h"
#include "sluice/core/time.h"

namespace sluice::runtime {

namespace {

int64_t side_output_key(int node_id, int tag) {
  return (static_cast<int64_t>(node_id) << 32) | static_cast<uint32_t>(tag);
}

Error error_from(std::exception_ptr cause, ErrorContext where) {
  try {
    std::rethrow_exception(cause);
  } catch (const Error& e) {
    ErrorContext context = e.context();
    if (context.operator_name.empty()) context.operator_name = where.operator_name;
    if (context.subtask < 0) {
      context.subtask = where.subtask;
      context.parallelism = where.parallelism;
    }
    return Error(e.category(), e.message(), std::move(context));
  } catch (const std::exception& e) {
    return Error(ErrorCategory::kUserFunction, e.what(), std::move(where));
  } catch (...) {
    return Error(ErrorCategory::kUserFunction,
                 "unknown exception (not derived from std::exception)", std::move(where));
  }
}

}  // namespace

JobExecution::JobExecution(const StreamGraph& graph, JobOptions options)
    : options_(std::move(options)), build_start_ns_(monotonic_nanos()) {
  if (options_.workers <= 0) {
    options_.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  scheduler_ = std::make_unique<Scheduler>(options_.workers,
                                           [this](Schedulable* task) { on_task_done(task); });
  try {
    build(graph);
  } catch (...) {
    scheduler_->shutdown();
    throw;
  }
}

JobExecution::~JobExecution() {
  cancel();
  wait();
}

void JobExecution::build(const StreamGraph& graph) {
  planned_ = runtime::plan(graph, options_);
  if (const auto& checkpoint = planned_.checkpoint) {
    fmt::print(stderr, "restoring {} {} from {}\n",
               checkpoint->savepoint ? "savepoint" : "checkpoint", checkpoint->id,
               checkpoint->folder.string());
  }
  const ExecutionPlan& plan = planned_.plan;
  node_metrics_.resize(plan.nodes.size());
  for (const auto& node : plan.nodes) {
    auto& m = node_metrics_[static_cast<size_t>(node.id)];
    m.name = node.name;
    m.parallelism = node.parallelism;
    for (int s = 0; s < node.parallelism; ++s) {
      m.per_subtask.push_back(std::make_unique<OperatorMetrics>());
    }
  }
  std::vector<std::vector<StreamTask*>> task_of = create_tasks(graph);
  create_channels(graph, task_of);
  if (planned_.checkpoint) restore_in_flight_records(graph, task_of);
  wire_outputs(graph);
}

// One task per vertex and subtask, with a chain member per node: its operator, context and
// restored state.
std::vector<std::vector<StreamTask*>> JobExecution::create_tasks(const StreamGraph& graph) {
  const ExecutionPlan& plan = planned_.plan;
  std::vector<std::vector<StreamTask*>> task_of(plan.nodes.size());
  for (const ExecutionPlan::Vertex& vertex : plan.vertices) {
    const int head_id = vertex.nodes.front();
    const StreamNode& head_node = graph.node(head_id);
    const int p = vertex.parallelism;
    if (head_node.source) {
      std::optional<std::string> enumerator_state;
      if (const auto* restored = restore_of(head_id)) {
        enumerator_state = restored_state(restored->enumerator);
      }
      coordinators_.push_back(
          std::make_unique<SourceCoordinator>(*head_node.source, p, enumerator_state));
      SourceCoordinator* coordinator = coordinators_.back().get();
      enumerators_.push_back(CheckpointCoordinator::Enumerator{
          head_id, [coordinator](int64_t id) { return coordinator->snapshot_enumerator(id); }});
    }
    for (int s = 0; s < p; ++s) {
      auto task = std::make_unique<StreamTask>(*this, vertex.name, vertex.id, s, p);
      if (head_node.source) {
        task->source = head_node.source->create_driver();
        task->coordinator = coordinators_.back().get();
      }
      for (int id : vertex.nodes) {
        task->members.push_back(create_member(graph.node(id), *task, s, p));
        task_of[static_cast<size_t>(id)].push_back(task.get());
      }
      tasks_.push_back(std::move(task));
    }
  }
  return task_of;
}

ChainMember JobExecution::create_member(const StreamNode& node, StreamTask& task, int subtask,
                                        int parallelism) {
  const int id = node.id;
  ChainMember member;
  member.node_id = id;
  member.metrics =
      node_metrics_[static_cast<size_t>(id)].per_subtask[static_cast<size_t>(subtask)].get();
  if (!node.source) member.op = node.make_operator();
  member.context = std::make_unique<OperatorContext>();
  OperatorContext& ctx = *member.context;
  ctx.operator_name = node.name;
  ctx.node_id = id;
  ctx.subtask_index = subtask;
  ctx.parallelism = parallelism;
  ctx.max_parallelism = options_.max_parallelism;
  ctx.key_group_range = key_group_range_for_subtask(subtask, parallelism, options_.max_parallelism);
  ctx.metrics = member.metrics;
  ctx.config = &options_.config;
  ctx.buffer_bytes = options_.buffer_bytes;
  member.timers = std::make_unique<MemberTimerService>(task, id);
  ctx.processing_time = member.timers.get();
  member.operator_state = std::make_unique<OperatorStateStore>();
  ctx.operator_state = member.operator_state.get();
  ctx.checkpointing = options_.checkpoint_interval.count() > 0;
  ctx.state_backend = &options_.state_backend;
  if (const auto* restored = restore_of(id)) {
    ctx.restored_shared_directory = planned_.checkpoint->shared_directory();
    member.operator_state->restore(restored_lists(*restored, parallelism)[subtask]);
    for (const std::string& name :
         restored->subtasks[static_cast<size_t>(subtask)].operator_states) {
      ctx.restored_state.push_back(restored_state(name));
    }
  }
  StreamTask* raw = &task;
  NullOutput* null_output = null_output_.get();
  ctx.side_output = [raw, id, null_output](int tag) -> Output* {
    auto it = raw->side_outputs.find(side_output_key(id, tag));
    return it == raw->side_outputs.end() ? null_output : it->second;
  };
  return member;
}

// A node's restored operator lists, redistributed over its new parallelism (read once per node).
const std::vector<OperatorStateSnapshot>& JobExecution::restored_lists(
    const ExecutionPlan::NodeRestore& restored, int parallelism) {
  auto [it, inserted] = restored_lists_.try_emplace(restored.node);
  if (inserted) {
    std::vector<OperatorStateSnapshot> old;
    for (const std::string& name : restored.operator_lists)
      old.push_back(from_bytes<OperatorStateSnapshot>(restored_state(name)));
    it->second = redistribute_operator_state(old, parallelism);
  }
  return it->second;
}

// A channel per (producer subtask, consumer subtask) of every edge that is not chained: i -> i
// for forward edges, all to all for the others.
void JobExecution::create_channels(const StreamGraph& graph,
                                   const std::vector<std::vector<StreamTask*>>& task_of) {
  const ExecutionPlan& plan = planned_.plan;
  edge_channels_.resize(plan.edges.size());
  for (size_t e = 0; e < plan.edges.size(); ++e) {
    const ExecutionPlan::Edge& edge = plan.edges[e];
    if (edge.chained) continue;
    const BufferCodec* codec = graph.edges[e].codec.get();
    const int ps = plan.node(edge.source).parallelism;
    const int pt = plan.node(edge.target).parallelism;
    const bool forward = edge.partitioning == Partitioning::kForward;
    edge_channels_[e].resize(static_cast<size_t>(ps));
    for (int i = 0; i < ps; ++i) {
      for (int j = forward ? i : 0; j <= (forward ? i : pt - 1); ++j) {
        auto channel = std::make_unique<Channel>(*scheduler_, options_.channel_capacity);
        StreamTask* producer = task_of[static_cast<size_t>(edge.source)][static_cast<size_t>(i)];
        StreamTask* consumer = task_of[static_cast<size_t>(edge.target)][static_cast<size_t>(j)];
        channel->connect(producer, consumer);
        consumer->gate.add_channel(channel.get(), edge.target_input);
        consumer->input_channels.push_back({edge.source, i, edge.target_input, codec});
        edge_channels_[e][static_cast<size_t>(i)].push_back(channel.get());
        channels_.push_back(std::move(channel));
      }
    }
  }
  for (auto& task : tasks_) {
    task->gate.set_barrier_mode(options_.at_least_once ? InputGate::BarrierMode::kAtLeastOnce
                                                       : InputGate::BarrierMode::kExactlyOnce);
    task->gate.set_unaligned(options_.unaligned_checkpoints,
                             options_.aligned_checkpoint_timeout.count());
  }
}

// Every member's outputs, per side-output tag it has: chained calls, network writers, or both.
void JobExecution::wire_outputs(const StreamGraph& graph) {
  const ExecutionPlan& plan = planned_.plan;
  for (auto& task : tasks_) {
    const int s = task->subtask();
    for (ChainMember& member : task->members) {
      std::set<int> tags{0};
      for (const auto& edge : graph.edges) {
        if (edge.source == member.node_id) tags.insert(edge.source_tag);
      }
      for (int tag : tags) {
        std::vector<Output*> targets;
        for (size_t e = 0; e < plan.edges.size(); ++e) {
          const StreamEdge& edge = graph.edges[e];
          if (edge.source != member.node_id || edge.source_tag != tag) continue;
          if (plan.edges[e].chained) {
            auto target_it =
                std::find_if(task->members.begin(), task->members.end(),
                             [&](const ChainMember& m) { return m.node_id == edge.target; });
            auto out = std::make_unique<ChainedOutput>(target_it->op.get(), edge.target,
                                                       edge.target_input, target_it->metrics);
            targets.push_back(out.get());
            task->owned_outputs.push_back(std::move(out));
          } else {
            WriterSpec spec{plan.edges[e].partitioning, edge_channels_[e][static_cast<size_t>(s)],
                            s, options_.max_parallelism, options_.buffer_bytes};
            std::unique_ptr<NetworkOutput> writer = edge.make_writer(spec);
            writer->set_metrics(member.metrics);
            targets.push_back(writer.get());
            task->network_outputs.push_back(writer.get());
            task->owned_outputs.push_back(std::move(writer));
          }
        }
        Output* combined = null_output_.get();
        if (targets.size() == 1) {
          combined = targets.front();
        } else if (targets.size() > 1) {
          auto fan_out = std::make_unique<FanOutOutput>(std::move(targets));
          combined = fan_out.get();
          task->owned_outputs.push_back(std::move(fan_out));
        }
        auto counting = std::make_unique<CountingOutput>(combined, member.metrics);
        Output* output = counting.get();
        task->owned_outputs.push_back(std::move(counting));
        if (tag != 0) {
          task->side_outputs[side_output_key(member.node_id, tag)] = output;
        } else if (member.op) {
          member.op->setup(member.context.get(), output);
        } else {
          task->head_output = output;
        }
      }
    }
  }
}

void JobExecution::start() {
  start_ns_ = monotonic_nanos();
  tasks_to_open_.store(tasks_.size());
  {
    std::lock_guard lock(mutex_);
    remaining_tasks_ = tasks_.size();
  }
  if (options_.checkpoint_interval.count() > 0) {
    std::vector<TaskGateway*> all, sources;
    for (auto& task : tasks_) {
      all.push_back(task.get());
      if (task->source) sources.push_back(task.get());
    }
    snapshot_writer_ = std::make_unique<SnapshotWriter>();
    CheckpointCoordinator::Settings settings;
    settings.interval = options_.checkpoint_interval;
    settings.timeout = options_.checkpoint_timeout;
    settings.min_pause = options_.min_pause_between_checkpoints;
    settings.max_concurrent = options_.max_concurrent_checkpoints;
    settings.tolerable_failures = options_.tolerable_failed_checkpoints;
    settings.properties = planned_.checkpoint_properties;
    checkpoints_ = std::make_unique<CheckpointCoordinator>(
        CheckpointStorage(options_.checkpoint_dir, options_.checkpoints_retained),
        std::move(settings),
        CheckpointCoordinator::Participants{std::move(all), std::move(sources), enumerators_,
                                            snapshot_writer_.get()},
        [this](Error error) { fail_job(std::move(error)); });
    snapshot_writer_->respond_to(*checkpoints_);
    for (auto& task : tasks_) {
      task->snapshot_writer = snapshot_writer_.get();
      task->checkpoint_responder = checkpoints_.get();
    }
    checkpoints_->start();
  }
  for (auto& task : tasks_) scheduler_->notify(task.get());
}

void JobExecution::on_task_done(Schedulable* task) {
  if (checkpoints_) {
    const auto* stream_task = static_cast<StreamTask*>(task);
    checkpoints_->task_finished(stream_task->task_id(), !cancelling_.load(),
                                stream_task->newest_snapshot());
  }
  std::lock_guard lock(mutex_);
  if (--remaining_tasks_ > 0) return;
  final_metrics_.reset();
  JobMetrics final_metrics = metrics_locked();
  if (options_.print_summary) {
    std::string outcome = failure_ ? "FAILED" : (cancel_requested_ ? "CANCELED" : "FINISHED");
    fmt::print(stderr, "job '{}' {} in {:.0f} ms\n{}", options_.name, outcome,
               final_metrics.elapsed_ms, final_metrics.summary());
  }
  final_metrics_ = std::move(final_metrics);
  done_cv_.notify_all();
}

void JobExecution::fail_task(StreamTask& task, int node_id, std::exception_ptr cause) {
  ErrorContext where;
  where.operator_name = task.name();
  for (const auto& member : task.members) {
    if (member.node_id == node_id) where.operator_name = member.context->operator_name;
  }
  where.subtask = task.subtask();
  where.parallelism = node_id >= 0 ? planned_.plan.node(node_id).parallelism : -1;
  Error error = error_from(cause, std::move(where));
  {
    std::lock_guard lock(mutex_);
    if (failure_) return;  // the first failure is the cause; later ones are consequences
    failure_ = std::move(error);
  }
  cancelling_.store(true);
  for (auto& t : tasks_) scheduler_->notify(t.get());
}

void JobExecution::task_opened() {
  if (tasks_to_open_.fetch_sub(1) == 1) startup_ns_.store(monotonic_nanos() - build_start_ns_);
}

void JobExecution::fail_job(Error error) {
  {
    std::lock_guard lock(mutex_);
    if (failure_) return;
    failure_ = std::move(error);
  }
  cancelling_.store(true);
  for (auto& t : tasks_) scheduler_->notify(t.get());
}

// An unaligned checkpoint's in-flight records go back to the node they were travelling to: to the
// same subtask at the same parallelism; rescaled, keyed records to the subtask that owns their key
// group now and others spread over the new subtasks.
void JobExecution::restore_in_flight_records(const StreamGraph& graph,
                                             const std::vector<std::vector<StreamTask*>>& task_of) {
  const ExecutionPlan& plan = planned_.plan;
  for (const ExecutionPlan::NodeRestore& restored : plan.restore->nodes) {
    const ExecutionPlan::Node& node = plan.node(restored.node);
    const bool rescaled = restored.old_parallelism != node.parallelism;
    for (const ExecutionPlan::SubtaskRestore& subtask : restored.subtasks) {
      for (const std::string& name : subtask.channel_states) {
        const int old = CheckpointStateName::parse(name)->subtask;
        for (auto& entry : read_channel_state(restored_state(name))) {
          size_t e = 0;
          while (e < graph.edges.size() &&
                 (graph.edges[e].source != entry.producer_node ||
                  graph.edges[e].target != node.id || graph.edges[e].target_input != entry.input)) {
            ++e;
          }
          if (e == graph.edges.size() || !graph.edges[e].codec) {
            throw Error(ErrorCategory::kInvalidJob,
                        fmt::format("the checkpoint holds records in flight to '{}' from an input "
                                    "this job does not have",
                                    node.name),
                        ErrorContext{.file = plan.restore->folder});
          }
          const bool keyed =
              plan.edges[e].partitioning == Partitioning::kHash && graph.edges[e].codec->keyed();
          if (rescaled && !keyed && old % node.parallelism != subtask.subtask) continue;
          StreamTask::RestoredInFlight in_flight;
          in_flight.node_id = node.id;
          in_flight.input = entry.input;
          in_flight.codec = graph.edges[e].codec;
          in_flight.buffers = entry.buffers;
          if (rescaled && keyed) in_flight.keep = subtask.key_groups;
          task_of[static_cast<size_t>(node.id)][static_cast<size_t>(subtask.subtask)]
              ->restored_in_flight.push_back(std::move(in_flight));
        }
      }
    }
  }
}

const ExecutionPlan::NodeRestore* JobExecution::restore_of(int node_id) const {
  if (!planned_.plan.restore) return nullptr;
  return &planned_.plan.restore->nodes.at(static_cast<size_t>(node_id));
}

std::string JobExecution::restored_state(const std::string& name) const {
  return CheckpointStorage::read_state(*planned_.checkpoint, name);
}

void JobExecution::cancel() {
  {
    std::lock_guard lock(mutex_);
    if (remaining_tasks_ == 0) return;
    cancel_requested_ = true;
  }
  cancelling_.store(true);
  for (auto& t : tasks_) scheduler_->notify(t.get());
}

void JobExecution::wait() {
  {
    std::unique_lock lock(mutex_);
    done_cv_.wait(lock, [this] { return remaining_tasks_ == 0; });
  }
  // The writer first: the coordinator removes the folders of unfinished checkpoints as it stops.
  if (snapshot_writer_) snapshot_writer_->stop();
  if (checkpoints_) checkpoints_->stop();
  scheduler_->shutdown();
}

bool JobExecution::wait_for(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(mutex_);
    if (!done_cv_.wait_for(lock, timeout, [this] { return remaining_tasks_ == 0; })) return false;
  }
  scheduler_->shutdown();
  return true;
}

JobStatus JobExecution::status() const {
  std::lock_guard lock(mutex_);
  if (remaining_tasks_ > 0) return JobStatus::kRunning;
  if (failure_) return JobStatus::kFailed;
  return cancel_requested_ ? JobStatus::kCancelled : JobStatus::kFinished;
}

std::optional<Error> JobExecution::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

JobMetrics JobExecution::metrics() const {
  std::lock_guard lock(mutex_);
  if (final_metrics_) return *final_metrics_;
  return metrics_locked();
}

JobMetrics JobExecution::metrics_locked() const {
  JobMetrics result;
  result.elapsed_ms = static_cast<double>(monotonic_nanos() - start_ns_) / 1e6;
  result.startup_ms = static_cast<double>(startup_ns_.load()) / 1e6;
  if (checkpoints_) {
    const CheckpointCoordinator::Stats stats = checkpoints_->stats();
    result.checkpoints_completed = stats.completed;
    result.checkpoints_failed = stats.failed;
    result.last_checkpoint_ms = stats.last_duration_ms;
    result.last_checkpoint_bytes = stats.last_bytes;
    result.last_checkpoint_new_bytes = stats.last_new_bytes;
    result.checkpoints_peak_concurrent = stats.peak_concurrent;
    result.last_checkpoint_sync_ms = stats.last_sync_ms;
    result.last_checkpoint_async_ms = stats.last_async_ms;
    result.max_checkpoint_sync_ms = stats.max_sync_ms;
  }
  for (size_t id = 0; id < node_metrics_.size(); ++id) {
    const auto& node = node_metrics_[id];
    for (size_t s = 0; s < node.per_subtask.size(); ++s) {
      const OperatorMetrics& m = *node.per_subtask[s];
      OperatorMetricsSnapshot snap;
      snap.name = node.name;
      snap.node_id = static_cast<int>(id);
      snap.subtask = static_cast<int>(s);
      snap.records_in = m.records_in.value();
      snap.records_out = m.records_out.value();
      snap.bytes_in = m.bytes_in.value();
      snap.bytes_out = m.bytes_out.value();
      snap.latency_markers = m.latency.markers.value();
      if (snap.latency_markers > 0) {
        snap.latency_mean_ms = static_cast<double>(m.latency.total_ns.value()) / 1e6 /
                               static_cast<double>(snap.latency_markers);
        snap.latency_max_ms = static_cast<double>(m.latency.max_ns.value()) / 1e6;
      }
      snap.user_counters = m.user_counter_values();
      result.operators.push_back(std::move(snap));
    }
  }
  for (const auto& task : tasks_) {
    TaskMetrics& m = task->metrics();
    result.tasks.push_back({task->name(), task->subtask(),
                            static_cast<double>(m.busy_ns.value()) / 1e6,
                            static_cast<double>(m.idle_ns.value()) / 1e6,
                            static_cast<double>(m.backpressured_ns.value()) / 1e6});
  }
  return result;
}

}  // namespace sluice::runtime

namespace sluice {

const char* to_string(JobStatus status) {
  switch (status) {
    case JobStatus::kRunning:
      return "RUNNING";
    case JobStatus::kFinished:
      return "FINISHED";
    case JobStatus::kFailed:
      return "FAILED";
    case JobStatus::kCancelled:
      return "CANCELED";
  }
  return "UNKNOWN";
}

const char* to_string(Partitioning partitioning) {
  switch (partitioning) {
    case Partitioning::kDefault:
      return "default";
    case Partitioning::kForward:
      return "forward";
    case Partitioning::kRebalance:
      return "rebalance";
    case Partitioning::kHash:
      return "hash";
    case Partitioning::kBroadcast:
      return "broadcast";
  }
  return "unknown";
}

}  // namespace sluice
