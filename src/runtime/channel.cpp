#include "runtime/channel.h"

#include <algorithm>

namespace sluice::runtime {

void Channel::push(StreamElement element) {
  {
    std::lock_guard lock(mutex_);
    if (element.is_data()) buffered_.fetch_add(1, std::memory_order_acq_rel);
    queue_.push_back(std::move(element));
  }
  scheduler_.notify(consumer_);
}

// An unaligned barrier overtakes data, never an older barrier: it goes right after the last
// barrier queued before `end` (or to the head).
size_t Channel::overtaking_position(size_t end) const {
  size_t position = end;
  while (position > 0 && queue_[position - 1].kind != StreamElement::Kind::kBarrier) --position;
  return position;
}

size_t Channel::data_elements_between(size_t from, size_t to) const {
  size_t data = 0;
  for (size_t i = from; i < to; ++i) data += queue_[i].is_data() ? 1 : 0;
  return data;
}

void Channel::push_overtaking(StreamElement barrier) {
  {
    std::lock_guard lock(mutex_);
    const size_t position = overtaking_position(queue_.size());
    barrier.overtaken = static_cast<uint32_t>(data_elements_between(position, queue_.size()));
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(position), std::move(barrier));
  }
  scheduler_.notify(consumer_);
}

bool Channel::promote_barrier(int64_t id) {
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(queue_.begin(), queue_.end(), [id](const StreamElement& e) {
      return e.kind == StreamElement::Kind::kBarrier && e.a == id;
    });
    if (it == queue_.end()) return false;
    const auto at = static_cast<size_t>(it - queue_.begin());
    const size_t position = overtaking_position(at);
    if (position == at) return true;  // nothing to overtake
    StreamElement barrier = std::move(*it);
    barrier.overtaken += static_cast<uint32_t>(data_elements_between(position, at));
    queue_.erase(it);
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(position), std::move(barrier));
  }
  scheduler_.notify(consumer_);
  return true;
}

std::optional<StreamElement> Channel::pop_barrier() {
  std::lock_guard lock(mutex_);
  if (queue_.empty() || queue_.front().kind != StreamElement::Kind::kBarrier) return std::nullopt;
  StreamElement element = std::move(queue_.front());
  queue_.pop_front();
  return element;
}

std::optional<StreamElement> Channel::pop() {
  bool regained_capacity = false;
  std::optional<StreamElement> element;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return std::nullopt;
    element.emplace(std::move(queue_.front()));
    queue_.pop_front();
    if (element->is_data()) {
      size_t before = buffered_.fetch_sub(1, std::memory_order_acq_rel);
      regained_capacity = before >= capacity_ && before - 1 < capacity_;
    }
  }
  if (regained_capacity) scheduler_.notify(producer_);
  return element;
}

void Channel::recycle(std::unique_ptr<Buffer> buffer) {
  std::lock_guard lock(mutex_);
  // More than capacity + 2 spare buffers are never needed: the rest is freed.
  if (recycled_.size() < capacity_ + 2) recycled_.push_back(std::move(buffer));
}

std::unique_ptr<Buffer> Channel::take_recycled() {
  std::lock_guard lock(mutex_);
  if (recycled_.empty()) return nullptr;
  auto buffer = std::move(recycled_.back());
  recycled_.pop_back();
  return buffer;
}

}  // namespace sluice::runtime
