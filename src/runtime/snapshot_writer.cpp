#include "runtime/snapshot_writer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "sluice/core/time.h"

namespace sluice::runtime {

namespace {

constexpr int kSnapshotNice = 10;

// The checkpoint's shared files as a snapshot's SnapshotFiles, noting which ones the state uses.
class RecordingFiles final : public SnapshotFiles {
 public:
  RecordingFiles(SharedFileStore& store, const CheckpointLocation& location, StateHandle& handle,
                 uint64_t& new_bytes)
      : store_(store), location_(location), handle_(handle), new_bytes_(new_bytes) {}
  void add_shared_file(const std::string& key, const std::filesystem::path& path) override {
    const SharedFileStore::Stored stored = store_.add(location_, key, path);
    if (stored.added) new_bytes_ += stored.file.size;
    handle_.shared.emplace_back(key, stored.file);
  }

 private:
  SharedFileStore& store_;
  const CheckpointLocation& location_;
  StateHandle& handle_;
  uint64_t& new_bytes_;
};

// A state file as a snapshot's output; the time spent writing is kept apart, so that the
// asynchronous part's figure stays the snapshot's own work.
struct TimedFile final : SnapshotOutput {
  explicit TimedFile(StateFileWriter& f) : file(f) {}
  void write(std::string_view bytes) override {
    const int64_t start = monotonic_nanos();
    file.write(bytes);
    write_nanos += monotonic_nanos() - start;
  }
  StateFileWriter& file;
  int64_t write_nanos = 0;
};

}  // namespace

SnapshotWriter::SnapshotWriter() {
  thread_ = std::thread([this] { run(); });
}

SnapshotWriter::~SnapshotWriter() { stop(); }

void SnapshotWriter::stop() {
  std::deque<Job> dropped;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    dropped.swap(jobs_);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SnapshotWriter::checkpoint_started(const CheckpointLocation& location) {
  std::lock_guard lock(mutex_);
  locations_[location.checkpoint_id] = location;
}

void SnapshotWriter::checkpoint_ended(int64_t id) {
  std::deque<Job> dropped;  // released (frozen state let go) outside the lock
  {
    std::unique_lock lock(mutex_);
    locations_.erase(id);
    for (auto it = jobs_.begin(); it != jobs_.end();) {
      if (it->id == id) {
        dropped.push_back(std::move(*it));
        it = jobs_.erase(it);
      } else {
        ++it;
      }
    }
    // A write under way finishes (its acknowledgement is ignored) before the caller removes the
    // folder it writes into.
    cv_.wait(lock, [&] { return writing_ != id; });
  }
}

void SnapshotWriter::submit(TaskId task, int64_t id, std::vector<Part> parts, bool final,
                            double sync_ms) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !locations_.contains(id)) return;
    jobs_.push_back(Job{task, id, std::move(parts), final, sync_ms});
  }
  cv_.notify_all();
}

void SnapshotWriter::run() {
  // Serializing state and writing files at a lower priority than the task threads: on a busy
  // machine they wait for idle time instead of taking a core from a task for a scheduler slice
  // (milliseconds of latency for every record queued behind it). Best effort: without the
  // permission, at the same priority as the task threads.
  setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kSnapshotNice);
  std::unique_lock lock(mutex_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    auto location = locations_.find(job.id);
    if (location == locations_.end()) continue;  // abandoned meanwhile
    const CheckpointLocation where = location->second;
    writing_ = job.id;
    lock.unlock();
    write(job, where);
    job = Job{};  // the snapshots' frozen state is let go before the lock is taken again
    lock.lock();
    writing_ = 0;
    cv_.notify_all();
  }
}

void SnapshotWriter::write(Job& job, const CheckpointLocation& location) {
  TaskCheckpointAck ack;
  ack.task = job.task;
  ack.checkpoint_id = job.id;
  ack.final = job.final;
  ack.sync_ms = job.sync_ms;
  try {
    for (Part& part : job.parts) {
      StateHandle handle;
      handle.name = part.name;
      std::unique_ptr<StateFileWriter> file = location.begin_state(part.name);
      TimedFile out(*file);
      RecordingFiles files(shared_files_, location, handle, ack.new_shared_bytes);
      const int64_t start = monotonic_nanos();
      part.snapshot.write_to(files, out);
      ack.async_ms += static_cast<double>(monotonic_nanos() - start - out.write_nanos) / 1e6;
      handle.file = file->close();
      ack.states.push_back(std::move(handle));
    }
  } catch (const std::exception& e) {
    responder_->decline(job.task, job.id, e.what());
    return;
  }
  responder_->acknowledge(std::move(ack));
}

}  // namespace sluice::runtime
