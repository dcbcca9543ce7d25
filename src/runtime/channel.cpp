#include "runtime/channel.h"

namespace sluice::runtime {

void Channel::push(StreamElement element) {
  {
    std::lock_guard lock(mutex_);
    if (element.is_data()) buffered_.fetch_add(1, std::memory_order_acq_rel);
    queue_.push_back(std::move(element));
  }
  scheduler_.notify(consumer_);
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
