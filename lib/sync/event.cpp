#include <grove/event.hpp>

namespace grove {

void event::set() {
  detail::sync_guard guard(owner_);
  set_.store(true, std::memory_order_release);
  waiters_.notify_all();
}

bool event::wait_until_deadline(detail::time_point deadline) {
  if (set_.load(std::memory_order_acquire)) return true;
  if (detail::deadline_passed(deadline)) return false;
  if (!owner_.local()) [[unlikely]]
    return wait_shared(deadline);
  // set() serves every queued node; a waiter that was not served may still find the flag set.
  return waiters_.wait(deadline,
                       {detail::wait_kind::event, reinterpret_cast<std::uintptr_t>(this)}) ||
         set_.load(std::memory_order_relaxed);
}

bool event::wait_shared(detail::time_point deadline) {
  detail::sync_guard guard(owner_);
  while (!set_.load(std::memory_order_relaxed)) {
    if (detail::deadline_passed(deadline)) return false;
    detail::wait_node node;
    if (detail::wait_in(guard, waiters_, node, deadline, true, this) == 0) {
      return set_.load(std::memory_order_relaxed);
    }
    return true;  // served by a set(), even if cleared since
  }
  return true;
}

}  // namespace grove
