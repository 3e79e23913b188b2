#include <grove/future.hpp>

namespace grove::detail {

void future_state_base::check_unset() const {
  if (ready) throw error("grove::promise: the result is already set (set it once)");
}

void future_state_base::publish() noexcept {
  ready.store(true, std::memory_order_release);
  waiters.notify_all();
}

bool future_state_base::wait_until(time_point deadline) {
  if (owner.local()) [[likely]] {
    while (!ready.load(std::memory_order_relaxed)) {
      if (deadline_passed(deadline)) return false;
      if (!waiters.wait(deadline, {wait_kind::future, reinterpret_cast<std::uintptr_t>(this)})) {
        return ready.load(std::memory_order_relaxed);
      }
    }
    return true;
  }
  sync_guard guard(owner);
  while (!ready.load(std::memory_order_relaxed)) {
    if (deadline_passed(deadline)) return false;
    wait_node node;
    if (wait_in(guard, waiters, node, deadline, true, this) == 0)
      return ready.load(std::memory_order_relaxed);
  }
  return true;
}

void future_state_base::get() {
  wait_until(no_deadline);
  if (exception) std::rethrow_exception(exception);
}

void future_state_base::abandon() noexcept {
  std::exception_ptr broken;
  try {
    broken = std::make_exception_ptr(
        broken_promise("grove::promise destroyed before a value or an exception was set"));
  } catch (...) {
    broken = std::current_exception();  // bad_alloc building the message: store that instead
  }
  try {
    sync_guard guard(owner);
    if (ready.load(std::memory_order_relaxed)) return;
    exception = std::move(broken);
    publish();
  } catch (const error&) {
    // Destroyed on a thread the promise does not belong to: its waiters cannot be reached.
  }
}

}  // namespace grove::detail
