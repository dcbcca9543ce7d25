#include "runtime/job_execution.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "runtime/outputs.h"
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
  const size_t node_count = graph.nodes.size();
  if (node_count == 0) throw Error(ErrorCategory::kInvalidJob, "the job has no operators");
  if (options_.checkpoint_interval.count() > 0 && options_.checkpoint_dir.empty()) {
    throw Error(ErrorCategory::kInvalidArgument,
                "--checkpoint-interval needs --checkpoint-dir (where checkpoints are kept)");
  }
  if (options_.unaligned_checkpoints && options_.at_least_once) {
    throw Error(ErrorCategory::kInvalidArgument,
                "unaligned checkpoints are exactly-once checkpoints: they cannot be combined with "
                "--checkpointing-mode at-least-once");
  }
  if (options_.max_parallelism < 1 || options_.max_parallelism > 32768) {
    throw Error(
        ErrorCategory::kInvalidJob,
        fmt::format("max parallelism must be in [1, 32768], got {}", options_.max_parallelism));
  }

  node_parallelism_.resize(node_count);
  std::vector<int> in_degree(node_count, 0);
  for (const auto& node : graph.nodes) {
    int p = node.parallelism > 0 ? node.parallelism : options_.default_parallelism;
    if (p < 1 || p > options_.max_parallelism) {
      throw Error(
          ErrorCategory::kInvalidJob,
          fmt::format("operator '{}' has parallelism {}; it must be in [1, max parallelism {}]",
                      node.name, p, options_.max_parallelism));
    }
    node_parallelism_[static_cast<size_t>(node.id)] = p;
    checkpoint_properties_[fmt::format("node-{}.name", node.id)] = node.name;
    checkpoint_properties_[fmt::format("node-{}.parallelism", node.id)] = std::to_string(p);
  }
  checkpoint_properties_["nodes"] = std::to_string(node_count);
  checkpoint_properties_["max-parallelism"] = std::to_string(options_.max_parallelism);
  load_restore_point(graph);
  for (const auto& edge : graph.edges) ++in_degree[static_cast<size_t>(edge.target)];
  for (const auto& node : graph.nodes) {
    const bool has_inputs = in_degree[static_cast<size_t>(node.id)] > 0;
    if (node.source && has_inputs) {
      throw Error(ErrorCategory::kInvalidJob, fmt::format("source '{}' has an input", node.name));
    }
    if (!node.source && !has_inputs) {
      throw Error(ErrorCategory::kInvalidJob, fmt::format("operator '{}' has no input", node.name));
    }
  }

  // Partitioning and chaining.
  const size_t edge_count = graph.edges.size();
  std::vector<Partitioning> partitioning(edge_count);
  std::vector<bool> chained(edge_count, false);
  std::vector<int> head(node_count);
  for (size_t i = 0; i < node_count; ++i) head[i] = static_cast<int>(i);
  for (size_t e = 0; e < edge_count; ++e) {
    const StreamEdge& edge = graph.edges[e];
    const StreamNode& from = graph.node(edge.source);
    const StreamNode& to = graph.node(edge.target);
    if (edge.source >= edge.target) {
      throw Error(ErrorCategory::kInternal, "job graph edges must follow node order");
    }
    const int ps = node_parallelism_[static_cast<size_t>(edge.source)];
    const int pt = node_parallelism_[static_cast<size_t>(edge.target)];
    Partitioning p = edge.partitioning;
    if (p == Partitioning::kDefault)
      p = ps == pt ? Partitioning::kForward : Partitioning::kRebalance;
    if (p == Partitioning::kForward && ps != pt) {
      throw Error(ErrorCategory::kInvalidJob,
                  fmt::format("forward partitioning needs equal parallelism, but '{}' has {} and "
                              "'{}' has {}",
                              from.name, ps, to.name, pt));
    }
    partitioning[e] = p;
    const bool pointwise = p == Partitioning::kForward || (ps == 1 && pt == 1);
    chained[e] = pointwise && ps == pt && in_degree[static_cast<size_t>(edge.target)] == 1 &&
                 from.chaining && to.chaining;
    if (chained[e]) head[static_cast<size_t>(edge.target)] = head[static_cast<size_t>(edge.source)];
  }

  std::map<int, std::vector<int>> chains;  // head -> members in topological (id) order
  for (size_t i = 0; i < node_count; ++i) chains[head[i]].push_back(static_cast<int>(i));

  node_metrics_.resize(node_count);
  for (const auto& node : graph.nodes) {
    auto& m = node_metrics_[static_cast<size_t>(node.id)];
    m.name = node.name;
    for (int s = 0; s < node_parallelism_[static_cast<size_t>(node.id)]; ++s) {
      m.per_subtask.push_back(std::make_unique<OperatorMetrics>());
    }
  }

  // Restored operator list state, redistributed over each node's new parallelism.
  std::map<int, std::vector<OperatorStateSnapshot>> restored_lists;
  if (restored_) {
    for (const auto& node : graph.nodes) {
      std::vector<OperatorStateSnapshot> old;
      for (int s = 0; s < restored_parallelism(node.id); ++s) {
        auto bytes = restored_state(fmt::format("node-{}/subtask-{}/operator-lists", node.id, s));
        if (bytes) old.push_back(from_bytes<OperatorStateSnapshot>(*bytes));
      }
      restored_lists[node.id] =
          redistribute_operator_state(old, node_parallelism_[static_cast<size_t>(node.id)]);
    }
  }

  // Tasks and chain members.
  std::vector<std::vector<StreamTask*>> task_of(node_count);
  std::vector<std::vector<std::pair<StreamTask*, size_t>>> member_of(node_count);
  for (const auto& [head_id, member_ids] : chains) {
    const StreamNode& head_node = graph.node(head_id);
    const int p = node_parallelism_[static_cast<size_t>(head_id)];
    std::string chain_name;
    for (int id : member_ids)
      chain_name += (chain_name.empty() ? "" : " -> ") + graph.node(id).name;
    if (head_node.source) {
      std::optional<std::string> enumerator_state;
      if (restored_) {
        enumerator_state = restored_state(fmt::format("node-{}/enumerator", head_id));
        if (!enumerator_state) {
          throw Error(ErrorCategory::kInvalidJob,
                      fmt::format("the checkpoint has no state for the splits of source '{}'",
                                  head_node.name),
                      ErrorContext{.file = restored_->folder.string()});
        }
      }
      coordinators_.push_back(
          std::make_unique<SourceCoordinator>(*head_node.source, p, enumerator_state));
      enumerators_.emplace_back(head_id, coordinators_.back().get());
    }
    for (int s = 0; s < p; ++s) {
      auto task = std::make_unique<StreamTask>(*this, chain_name, s, p);
      if (head_node.source) {
        task->source = head_node.source->create_driver();
        task->coordinator = coordinators_.back().get();
      }
      for (int id : member_ids) {
        const StreamNode& node = graph.node(id);
        ChainMember member;
        member.node_id = id;
        member.metrics =
            node_metrics_[static_cast<size_t>(id)].per_subtask[static_cast<size_t>(s)].get();
        if (!node.source) member.op = node.make_operator();
        member.context = std::make_unique<OperatorContext>();
        OperatorContext& ctx = *member.context;
        ctx.operator_name = node.name;
        ctx.node_id = id;
        ctx.subtask_index = s;
        ctx.parallelism = p;
        ctx.max_parallelism = options_.max_parallelism;
        ctx.key_group_range = key_group_range_for_subtask(s, p, options_.max_parallelism);
        ctx.metrics = member.metrics;
        ctx.config = &options_.config;
        ctx.buffer_bytes = options_.buffer_bytes;
        member.timers = std::make_unique<MemberTimerService>(*task, id);
        ctx.processing_time = member.timers.get();
        member.operator_state = std::make_unique<OperatorStateStore>();
        ctx.operator_state = member.operator_state.get();
        ctx.checkpointing = options_.checkpoint_interval.count() > 0;
        ctx.state_backend = &options_.state_backend;
        if (restored_) ctx.restored_shared_directory = restored_->shared_directory();
        if (restored_) {
          member.operator_state->restore(restored_lists[id][static_cast<size_t>(s)]);
          // Keyed state: every old subtask whose key groups overlap this one's.
          const int old_parallelism = restored_parallelism(id);
          for (int old = 0; old < old_parallelism; ++old) {
            const KeyGroupRange range =
                key_group_range_for_subtask(old, old_parallelism, options_.max_parallelism);
            if (range.end < ctx.key_group_range.start || range.start > ctx.key_group_range.end) {
              continue;
            }
            auto bytes = restored_state(fmt::format("node-{}/subtask-{}/operator", id, old));
            if (bytes) ctx.restored_state.push_back(std::move(*bytes));
          }
        }
        StreamTask* raw = task.get();
        NullOutput* null_output = null_output_.get();
        ctx.side_output = [raw, id, null_output](int tag) -> Output* {
          auto it = raw->side_outputs.find(side_output_key(id, tag));
          return it == raw->side_outputs.end() ? null_output : it->second;
        };
        task_of[static_cast<size_t>(id)].push_back(task.get());
        member_of[static_cast<size_t>(id)].emplace_back(task.get(), task->members.size());
        task->members.push_back(std::move(member));
      }
      tasks_.push_back(std::move(task));
    }
  }

  // Channels of the non-chained edges: edge_channels[e][producer subtask] = targets.
  std::vector<std::vector<std::vector<ChannelWriter*>>> edge_channels(edge_count);
  for (size_t e = 0; e < edge_count; ++e) {
    if (chained[e]) continue;
    const StreamEdge& edge = graph.edges[e];
    if (options_.unaligned_checkpoints && options_.checkpoint_interval.count() > 0 && !edge.codec) {
      throw Error(ErrorCategory::kInvalidJob,
                  fmt::format("unaligned checkpoints store the records in flight between '{}' and "
                              "'{}', but their type has no sluice::Serializer",
                              graph.node(edge.source).name, graph.node(edge.target).name));
    }
    const int ps = node_parallelism_[static_cast<size_t>(edge.source)];
    const int pt = node_parallelism_[static_cast<size_t>(edge.target)];
    edge_channels[e].resize(static_cast<size_t>(ps));
    for (int i = 0; i < ps; ++i) {
      int first = partitioning[e] == Partitioning::kForward ? i : 0;
      int last = partitioning[e] == Partitioning::kForward ? i : pt - 1;
      for (int j = first; j <= last; ++j) {
        auto channel = std::make_unique<Channel>(*scheduler_, options_.channel_capacity);
        StreamTask* producer = task_of[static_cast<size_t>(edge.source)][static_cast<size_t>(i)];
        StreamTask* consumer = task_of[static_cast<size_t>(edge.target)][static_cast<size_t>(j)];
        channel->connect(producer, consumer);
        consumer->gate.add_channel(channel.get(), edge.target_input);
        consumer->input_channels.push_back({edge.source, i, edge.target_input, edge.codec.get()});
        edge_channels[e][static_cast<size_t>(i)].push_back(channel.get());
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
  if (restored_) restore_in_flight_records(graph, partitioning, task_of);

  // Outputs of every member: chained calls, network writers, or both.
  for (const auto& node : graph.nodes) {
    const auto id = static_cast<size_t>(node.id);
    std::set<int> tags{0};
    for (const auto& edge : graph.edges) {
      if (edge.source == node.id) tags.insert(edge.source_tag);
    }
    for (auto [task, index] : member_of[id]) {
      ChainMember& member = task->members[index];
      const int s = task->subtask();
      for (int tag : tags) {
        std::vector<Output*> targets;
        for (size_t e = 0; e < edge_count; ++e) {
          const StreamEdge& edge = graph.edges[e];
          if (edge.source != node.id || edge.source_tag != tag) continue;
          if (chained[e]) {
            auto target_it =
                std::find_if(task->members.begin(), task->members.end(),
                             [&](const ChainMember& m) { return m.node_id == edge.target; });
            auto out = std::make_unique<ChainedOutput>(target_it->op.get(), edge.target,
                                                       edge.target_input, target_it->metrics);
            targets.push_back(out.get());
            task->owned_outputs.push_back(std::move(out));
          } else {
            WriterSpec spec{partitioning[e], edge_channels[e][static_cast<size_t>(s)], s,
                            options_.max_parallelism, options_.buffer_bytes};
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
          task->side_outputs[side_output_key(node.id, tag)] = output;
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
    std::vector<StreamTask*> all, sources;
    for (auto& task : tasks_) {
      all.push_back(task.get());
      if (task->source) sources.push_back(task.get());
    }
    CheckpointCoordinator::Settings settings;
    settings.interval = options_.checkpoint_interval;
    settings.timeout = options_.checkpoint_timeout;
    settings.min_pause = options_.min_pause_between_checkpoints;
    settings.max_concurrent = options_.max_concurrent_checkpoints;
    settings.tolerable_failures = options_.tolerable_failed_checkpoints;
    settings.properties = checkpoint_properties_;
    checkpoints_ = std::make_unique<CheckpointCoordinator>(
        CheckpointStorage(options_.checkpoint_dir, options_.checkpoints_retained),
        std::move(settings),
        CheckpointCoordinator::Participants{std::move(all), std::move(sources), enumerators_},
        [this](Error error) { fail_job(std::move(error)); });
    checkpoints_->start();
  }
  for (auto& task : tasks_) scheduler_->notify(task.get());
}

void JobExecution::on_task_done(Schedulable* task) {
  if (checkpoints_) {
    checkpoints_->task_finished(static_cast<StreamTask*>(task), !cancelling_.load());
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
  where.parallelism = node_id >= 0 ? node_parallelism_[static_cast<size_t>(node_id)] : -1;
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

void JobExecution::load_restore_point(const StreamGraph& graph) {
  const std::string& from = options_.restore_from;
  if (from.empty()) return;
  if (from == "latest") {
    if (options_.checkpoint_dir.empty()) {
      throw Error(ErrorCategory::kInvalidArgument,
                  "--restore-from latest needs --checkpoint-dir (where to look for checkpoints)");
    }
    CheckpointStorage storage(options_.checkpoint_dir, options_.checkpoints_retained);
    std::vector<std::string> problems;
    restored_ = storage.latest(&problems);
    for (const auto& problem : problems) fmt::print(stderr, "skipping checkpoint: {}\n", problem);
    if (!restored_) {
      if (!problems.empty()) {
        throw Error(ErrorCategory::kIo,
                    fmt::format("--restore-from latest: none of the {} checkpoints in {} is usable "
                                "(reasons above)",
                                problems.size(), options_.checkpoint_dir),
                    ErrorContext{.file = options_.checkpoint_dir});
      }
      fmt::print(stderr, "no completed checkpoint in {}: starting from the beginning\n",
                 options_.checkpoint_dir);
      return;
    }
  } else {
    restored_ = CheckpointStorage::load(from);
  }
  const CompletedCheckpoint& checkpoint = *restored_;
  auto mismatch = [&](const std::string& what) {
    throw Error(ErrorCategory::kInvalidJob,
                "the checkpoint does not fit this job: " + what +
                    " (a checkpoint restores the job that took it, at any parallelism)",
                ErrorContext{.file = checkpoint.folder.string()});
  };
  auto property = [&](const std::string& key) {
    auto it = checkpoint.properties.find(key);
    if (it == checkpoint.properties.end()) mismatch("it does not record '" + key + "'");
    return it->second;
  };
  if (property("max-parallelism") != checkpoint_properties_.at("max-parallelism")) {
    mismatch(fmt::format("it was taken with max parallelism {}, the job has {}",
                         property("max-parallelism"), options_.max_parallelism));
  }
  if (property("nodes") != checkpoint_properties_.at("nodes")) {
    mismatch(fmt::format("it has {} operators, the job {}", property("nodes"), graph.nodes.size()));
  }
  for (const auto& node : graph.nodes) {
    const std::string name = property(fmt::format("node-{}.name", node.id));
    if (name != node.name) {
      mismatch(fmt::format("operator {} is '{}' there and '{}' here", node.id, name, node.name));
    }
  }
  fmt::print(stderr, "restoring {} {} from {}\n", checkpoint.savepoint ? "savepoint" : "checkpoint",
             checkpoint.id, checkpoint.folder.string());
}

// An unaligned checkpoint's in-flight records go back to the node they were travelling to: to the
// same subtask at the same parallelism; rescaled, keyed records to the subtask that owns their key
// group now and others spread over the new subtasks.
void JobExecution::restore_in_flight_records(const StreamGraph& graph,
                                             const std::vector<Partitioning>& partitioning,
                                             const std::vector<std::vector<StreamTask*>>& task_of) {
  for (const auto& node : graph.nodes) {
    const int old_parallelism = restored_parallelism(node.id);
    const int parallelism = node_parallelism_[static_cast<size_t>(node.id)];
    for (int old = 0; old < old_parallelism; ++old) {
      auto bytes = restored_state(fmt::format("node-{}/subtask-{}/channel-state", node.id, old));
      if (!bytes) continue;
      for (auto& entry : from_bytes<std::vector<ChannelStateEntry>>(*bytes)) {
        size_t e = 0;
        while (e < graph.edges.size() &&
               (graph.edges[e].source != entry.producer_node || graph.edges[e].target != node.id ||
                graph.edges[e].target_input != entry.input)) {
          ++e;
        }
        if (e == graph.edges.size() || !graph.edges[e].codec) {
          throw Error(ErrorCategory::kInvalidJob,
                      fmt::format("the checkpoint holds records in flight to '{}' from an input "
                                  "this job does not have",
                                  node.name),
                      ErrorContext{.file = restored_->folder.string()});
        }
        const bool keyed = partitioning[e] == Partitioning::kHash && graph.edges[e].codec->keyed();
        for (int s = 0; s < parallelism; ++s) {
          const bool same = parallelism == old_parallelism;
          if (same ? s != old : (!keyed && old % parallelism != s)) continue;
          StreamTask::RestoredInFlight in_flight;
          in_flight.node_id = node.id;
          in_flight.input = entry.input;
          in_flight.codec = graph.edges[e].codec;
          in_flight.buffers = entry.buffers;
          if (!same && keyed) {
            in_flight.keep = key_group_range_for_subtask(s, parallelism, options_.max_parallelism);
          }
          task_of[static_cast<size_t>(node.id)][static_cast<size_t>(s)]
              ->restored_in_flight.push_back(std::move(in_flight));
        }
      }
    }
  }
}

std::optional<std::string> JobExecution::restored_state(const std::string& name) const {
  if (!restored_ || !restored_->states.contains(name)) return std::nullopt;
  return CheckpointStorage::read_state(*restored_, name);
}

int JobExecution::restored_parallelism(int node_id) const {
  return std::stoi(restored_->properties.at(fmt::format("node-{}.parallelism", node_id)));
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
