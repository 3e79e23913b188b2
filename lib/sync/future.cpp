#include <grove/future.hpp>

namespace grove::detail {

void future_state_base::check_unset() const {
  if (ready) throw error("grove::promise: the result is already set (set it once)");
}

void future_state_base::publish() noexcept {
  ready = true;
  waiters.notify_all();
}

bool future_state_base::wait_until(time_point deadline) {
  while (!ready) {
    if (deadline_passed(deadline)) return false;
    if (!waiters.wait(deadline, {wait_kind::future, reinterpret_cast<std::uintptr_t>(this)})) {
      return ready;
    }
  }
  return true;
}

void future_state_base::get() {
  wait_until(no_deadline);
  if (exception) std::rethrow_exception(exception);
}

void future_state_base::abandon() noexcept {
  if (ready) return;
  try {
    exception = std::make_exception_ptr(
        broken_promise("grove::promise destroyed before a value or an exception was set"));
  } catch (...) {
    exception = std::current_exception();  // bad_alloc building the message: store that instead
  }
  publish();
}

}  // namespace grove::detail
