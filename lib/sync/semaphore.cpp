#include <grove/semaphore.hpp>

#include <grove/detail/handoff.hpp>
#include <grove/error.hpp>

namespace grove {

bool semaphore::acquire_until(detail::time_point deadline) {
  if (!owner_.local()) [[unlikely]]
    return acquire_shared(deadline);
  if (try_acquire()) return true;
  if (detail::deadline_passed(deadline)) return false;
  // release() hands the permit over and marks the node served: wait() reads that, not the wake.
  return waiters_.wait(deadline,
                       {detail::wait_kind::semaphore, reinterpret_cast<std::uintptr_t>(this)});
}

void semaphore::release(std::size_t n) {
  detail::sync_guard guard(owner_);  // shared: its lock; on one hub: nothing
  if (n > bound_ - permits_) {
    throw error("grove::bounded_semaphore: released more often than acquired");
  }
  for (; n > 0; --n) {
    detail::wait_node* waiter = waiters_.pop_waiting();
    if (!waiter) break;
    detail::hand_off(*waiter, detail::handoff::done);
  }
  permits_ += n;
}

}  // namespace grove

namespace grove {

bool semaphore::try_acquire_shared() {
  detail::sync_guard guard(owner_);
  if (permits_ == 0) return false;
  --permits_;
  return true;
}

bool semaphore::acquire_shared(detail::time_point deadline) {
  detail::sync_guard guard(owner_);
  if (permits_ > 0) {
    --permits_;
    return true;
  }
  if (detail::deadline_passed(deadline)) return false;
  // release() hands the permit over under the lock (status done); a waiter it reached keeps it
  // even if a kill or timeout came meanwhile, as on one hub.
  detail::wait_node node;
  return detail::wait_in(guard, waiters_, node, deadline, true, this) ==
         static_cast<std::uint8_t>(detail::handoff::done);
}

std::size_t semaphore::available_shared() const {
  detail::sync_guard guard(owner_);
  return permits_;
}

}  // namespace grove
