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

/// Who takes a shared mutex: the calling fiber, or a plain thread (the address of a
/// thread-local names it). Hub callbacks are refused, as on one hub.
thread_local char t_thread_identity;
const void* shared_identity() {
  if (detail::fiber_base* self = detail::current_fiber()) return self;
  if (detail::t_hub) calling_fiber();  // throws: a hub callback
  return &t_thread_identity;
}

}  // namespace

bool mutex::locked() const {
  if (!sync_.local()) [[unlikely]] {
    detail::sync_guard guard(sync_);
    return owner_ != nullptr;
  }
  return owner_ != nullptr;
}

bool mutex::try_lock() {
  if (!sync_.local()) [[unlikely]]
    return try_lock_shared();
  detail::fiber_base* self = calling_fiber();
  if (owner_ == self)
    throw error("grove::mutex: the calling fiber already holds it (not recursive)");
  if (owner_) return false;
  owner_ = self;
  return true;
}

bool mutex::lock_until(detail::time_point deadline) {
  if (!sync_.local()) [[unlikely]]
    return lock_shared_until(deadline);
  detail::require_fiber();  // the same refusal as every wait
  if (try_lock()) return true;
  if (detail::deadline_passed(deadline)) return false;
  // unlock() makes us the owner and marks our node served before it wakes us.
  return waiters_.wait(deadline, {detail::wait_kind::mutex, reinterpret_cast<std::uintptr_t>(this)});
}

void mutex::lock_uninterruptible() {
  if (!sync_.local()) [[unlikely]]
    return lock_shared_uninterruptible();
  detail::require_fiber();
  if (try_lock()) return;
  detail::wait_node node;
  waiters_.push_back(node);
  // Returns only once unlock() has made us the owner, which it records in the node; nothing
  // else ends this wait (a deadlock here aborts with a message).
  while (detail::outcome_of(node) != detail::handoff::done) {
    // The one end a frame that must hold the mutex cannot wait out: the mutex is gone.
    if (detail::wake_reason why = detail::suspend_uninterruptible(
            detail::no_deadline, {detail::wait_kind::mutex, reinterpret_cast<std::uintptr_t>(this)});
        why == detail::wake_reason::abandoned) {
      detail::raise_for(why);
    }
    if (node.linked()) node.renew();
  }
}

void mutex::unlock() {
  if (!sync_.local()) [[unlikely]]
    return unlock_shared();
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

// Shared across threads: the same rules under the primitive's lock; a waiter's node carries
// its identity (payload), which unlock() makes the holder before it wakes it.

bool mutex::try_lock_shared() {
  const void* self = shared_identity();
  detail::sync_guard guard(sync_);
  if (owner_ == self)
    throw error("grove::mutex: the calling fiber already holds it (not recursive)");
  if (owner_) return false;
  owner_ = self;
  return true;
}

bool mutex::lock_shared_until(detail::time_point deadline) {
  const void* self = shared_identity();
  detail::sync_guard guard(sync_);
  if (owner_ == self)
    throw error("grove::mutex: the calling fiber already holds it (not recursive)");
  if (!owner_) {
    owner_ = self;
    return true;
  }
  if (detail::deadline_passed(deadline)) return false;
  detail::wait_node node;
  node.payload = const_cast<void*>(self);
  return detail::wait_in(guard, waiters_, node, deadline, true, this) ==
         static_cast<std::uint8_t>(detail::handoff::done);
}

void mutex::lock_shared_uninterruptible() {
  const void* self = shared_identity();
  detail::sync_guard guard(sync_);
  // Only unlock()'s hand-off (or the mutex's end, which throws) ends the wait.
  while (owner_ != self) {
    if (!owner_) {
      owner_ = self;
      return;
    }
    detail::wait_node node;
    node.payload = const_cast<void*>(self);
    (void)detail::wait_in(guard, waiters_, node, detail::no_deadline, false, this);
  }
}

void mutex::unlock_shared() {
  const void* self = shared_identity();
  detail::sync_guard guard(sync_);
  if (!owner_) throw error("grove::mutex: unlock of a mutex that is not locked");
  if (owner_ != self) throw error("grove::mutex: unlock from a fiber that does not hold it");
  if (detail::wait_node* next = waiters_.pop_waiting()) {
    owner_ = next->payload;
    detail::hand_off(*next, detail::handoff::done);
  } else {
    owner_ = nullptr;
  }
}

}  // namespace grove
