#include <grove/timeout.hpp>

#include <grove/detail/fiber_base.hpp>

#include "core/hub_impl.hpp"

namespace grove {
namespace {

void scoped_timeout_fired(detail::timer_node* node) noexcept {
  auto* state = static_cast<detail::scoped_timeout*>(node);
  state->expired = true;
  detail::fiber_base* owner = state->owner;
  ++owner->expired_timeouts;
  if (owner->interruptible) detail::interrupt(owner, detail::wake_reason::timeout);
}

}  // namespace

timeout::timeout(std::chrono::nanoseconds d, int) {
  detail::fiber_base* f = detail::current_fiber();
  if (!f) throw error("grove::timeout can only be used inside a fiber");
  detail::fiber_extras& extras = f->extras();  // may throw: before anything is armed
  state_.owner = f;
  state_.serial = f->hub->next_timeout_serial();
  state_.duration = d;
  state_.when = detail::deadline_after(d);
  state_.fire = &scoped_timeout_fired;
  f->hub->arm(state_);  // a "forever" deadline is not armed
  state_.outer = extras.timeouts;
  if (state_.outer) state_.outer->inner = &state_;
  extras.timeouts = &state_;
}

timeout::~timeout() {
  detail::fiber_base* f = state_.owner;
  if (state_.armed()) f->hub->disarm(state_);
  if (state_.expired) --f->expired_timeouts;
  if (state_.inner) {
    state_.inner->outer = state_.outer;
  } else {
    f->extras_if_any()->timeouts = state_.outer;
  }
  if (state_.outer) state_.outer->inner = state_.inner;
}

}  // namespace grove
