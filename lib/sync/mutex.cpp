#include <grove/mutex.hpp>

#include <grove/detail/handoff.hpp>
#include <grove/error.hpp>

namespace grove {
namespace {

detail::fiber_base* calling_fiber() {
  detail::fiber_base* self = detail::current_fiber();
  if (!self) {
    throw error(
        "grove::mutex: lock from a fiber (not from a hub callback, nor outside grove::run)");
  }
  return self;
}

}  // namespace

bool mutex::try_lock() {
  detail::fiber_base* self = calling_fiber();
  if (owner_ == self)
    throw error("grove::mutex: the calling fiber already holds it (not recursive)");
  if (owner_) return false;
  owner_ = self;
  return true;
}

bool mutex::lock_until(detail::time_point deadline) {
  detail::require_fiber();  // the same refusal as every wait
  if (try_lock()) return true;
  if (detail::deadline_passed(deadline)) return false;
  // unlock() makes us the owner and marks our node served before it wakes us.
  return waiters_.wait(deadline);
}

void mutex::lock_uninterruptible() {
  detail::require_fiber();
  if (try_lock()) return;
  detail::wait_node node;
  waiters_.push_back(node);
  // Returns only once unlock() has made us the owner, which it records in the node; nothing
  // else ends this wait (a deadlock here aborts with a message).
  while (detail::outcome_of(node) != detail::handoff::done) {
    // The one end a frame that must hold the mutex cannot wait out: the mutex is gone.
    if (detail::wake_reason why = detail::suspend_uninterruptible();
        why == detail::wake_reason::abandoned) {
      detail::raise_for(why);
    }
    if (node.linked()) node.renew();
  }
}

void mutex::unlock() {
  if (!owner_) throw error("grove::mutex: unlock of a mutex that is not locked");
  if (owner_ != detail::current_fiber()) {
    throw error("grove::mutex: unlock from a fiber that does not hold it");
  }
  if (detail::wait_node* next = waiters_.pop_waiting()) {
    owner_ = next->fiber;
    detail::hand_off(*next, detail::handoff::done);
  } else {
    owner_ = nullptr;
  }
}

}  // namespace grove
