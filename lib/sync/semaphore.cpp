#include <grove/semaphore.hpp>

#include <grove/detail/handoff.hpp>
#include <grove/error.hpp>

namespace grove {

bool semaphore::acquire_until(detail::time_point deadline) {
  if (try_acquire()) return true;
  if (detail::deadline_passed(deadline)) return false;
  // release() hands the permit over and marks the node served: wait() reads that, not the wake.
  return waiters_.wait(deadline,
                       {detail::wait_kind::semaphore, reinterpret_cast<std::uintptr_t>(this)});
}

void semaphore::release(std::size_t n) {
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
