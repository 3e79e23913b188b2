#include <grove/detail/exchange.hpp>

#include <grove/error.hpp>

namespace grove::detail {

bool exchange_base::close() {
  sync_guard guard(owner_);
  if (closed_.load(std::memory_order_relaxed)) return false;
  closed_.store(true, std::memory_order_release);
  // Takers wait only on an empty buffer, so every one of them is told "closed" now; givers
  // can never be served any more.
  while (wait_node* node = takers_.pop_waiting()) hand_off(*node, handoff::closed);
  while (wait_node* node = givers_.pop_waiting()) hand_off(*node, handoff::closed);
  return true;
}

void exchange_base::task_done() {
  sync_guard guard(owner_);
  if (unfinished_ == 0) {
    throw error("grove::queue::task_done: called more times than items were put");
  }
  if (--unfinished_ == 0) joiners_.notify_all();
}

bool exchange_base::join_until(time_point deadline) {
  if (owner_.local()) [[likely]] {
    while (unfinished_ > 0) {
      if (deadline_passed(deadline)) return false;
      if (!joiners_.wait(deadline, {takers_.kind(), reinterpret_cast<std::uintptr_t>(this)})) {
        return unfinished_ == 0;
      }
    }
    return true;
  }
  sync_guard guard(owner_);
  while (unfinished_ > 0) {
    if (deadline_passed(deadline)) return false;
    wait_node node;
    if (wait_in(guard, joiners_, node, deadline, true, this) == 0) return unfinished_ == 0;
  }
  return true;
}

exchange_base::outcome exchange_base::outcome_from(const wait_node& node) noexcept {
  switch (outcome_of(node)) {
    case handoff::done:
      return outcome::done;
    case handoff::closed:
      return outcome::closed;
    default:
      return outcome::blocked;
  }
}

handoff exchange_base::await(wait_node& node, time_point deadline) {
  const wait_kind kind = takers_.kind();
  if (suspend(deadline, {kind, reinterpret_cast<std::uintptr_t>(this)}) != wake_reason::notified) {
    return handoff::retry;
  }
  // Told to retry, then the exchange ended before this fiber ran: `this` is gone.
  if (node.status == abandoned_status) throw_destroyed_while_waiting(primitive_name(kind));
  handoff why = outcome_of(node);
  return why == handoff::pending ? handoff::retry : why;
}

}  // namespace grove::detail
