#include <grove/event.hpp>

namespace grove {

void event::set() noexcept {
  set_ = true;
  waiters_.notify_all();
}

bool event::wait_until_deadline(detail::time_point deadline) {
  if (set_) return true;
  if (detail::deadline_passed(deadline)) return false;
  // set() serves every queued node; a waiter that was not served may still find the flag set.
  return waiters_.wait(deadline,
                       {detail::wait_kind::event, reinterpret_cast<std::uintptr_t>(this)}) ||
         set_;
}

}  // namespace grove
