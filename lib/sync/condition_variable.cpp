#include <grove/condition_variable.hpp>

#include <grove/error.hpp>

namespace grove {

std::cv_status condition_variable::wait_until_deadline(std::unique_lock<mutex>& lock,
                                                       detail::time_point deadline) {
  if (!lock.owns_lock()) throw error("grove::condition_variable: wait needs the mutex locked");
  mutex& m = *lock.mutex();
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

}  // namespace grove
