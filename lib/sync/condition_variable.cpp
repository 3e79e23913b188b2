#include <grove/condition_variable.hpp>

#include <grove/error.hpp>

namespace grove {

std::cv_status condition_variable::wait_until_deadline(std::unique_lock<mutex>& lock,
                                                       detail::time_point deadline) {
  if (!lock.owns_lock()) throw error("grove::condition_variable: wait needs the mutex locked");
  mutex& m = *lock.mutex();
  if (!owner_.local()) [[unlikely]]
    return wait_shared(m, deadline);
  detail::wait_node node;
  waiters_.push_back(node);  // queued before unlocking: no notification can slip in between
  // The unique_lock keeps saying it owns the mutex: it will again before we return or throw.
  m.unlock();
  detail::wake_reason why;
  try {
    why = deadline == detail::no_wait ? detail::wake_reason::deadline : detail::suspend(deadline, {detail::wait_kind::condition,
                                               reinterpret_cast<std::uintptr_t>(this)});
  } catch (...) {
    node.unlink();
    m.lock_uninterruptible();
    throw;
  }
  node.unlink();
  m.lock_uninterruptible();
  return why == detail::wake_reason::notified ? std::cv_status::no_timeout
                                              : std::cv_status::timeout;
}

std::cv_status condition_variable::wait_shared(mutex& m, detail::time_point deadline) {
  detail::sync_guard guard(owner_);
  // Unlocked with our lock held, and queued (by wait_in) before it is released: no notify can
  // slip in between.
  m.unlock();
  std::uint8_t status = 0;
  try {
    if (!detail::deadline_passed(deadline)) {
      detail::wait_node node;
      status = detail::wait_in(guard, waiters_, node, deadline, true, this);
    }
  } catch (...) {
    // wait_in released our lock before throwing (kill, timeout, or this variable's end).
    m.lock_uninterruptible();
    throw;
  }
  guard.unlock();
  m.lock_uninterruptible();
  return status != 0 ? std::cv_status::no_timeout : std::cv_status::timeout;
}

}  // namespace grove
