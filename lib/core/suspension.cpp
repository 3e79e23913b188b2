// The one suspension (docs/architecture.md, "One suspension"): every grove wait, throwing or
// not, and every yield goes through suspend_as() and its one interruptibility rule.
#include <cerrno>
#include <string>

#include <grove/error.hpp>
#include <grove/timeout.hpp>
#include <grove/detail/suspend_hook.hpp>
#include <grove/detail/yield.hpp>

#include "core/hub_impl.hpp"

namespace grove::detail {

namespace {

const char* outside_fiber_message =
    "grove: this call waits, and can only be made from a fiber (not from a hub callback, nor "
    "outside grove::run)";

}  // namespace

fiber_base* current_fiber() noexcept { return t_hub ? t_hub->running() : nullptr; }
hub_impl* current_hub() noexcept { return t_hub; }

bool is_suspended(const fiber_base* f) noexcept { return f && f->state == fiber_state::suspended; }

bool interrupt(fiber_base* f, wake_reason reason) noexcept {
  if (!f || f->state != fiber_state::suspended) return false;
  f->state = fiber_state::ready;
  f->reason = reason;
  f->hub->push_ready(f);
  return true;
}

wake_token next_suspension() noexcept {
  fiber_base* self = current_fiber();
  return self ? wake_token{self, self->suspension} : wake_token{};
}

bool is_waiting(wake_token token) noexcept {
  return is_suspended(token.fiber) && token.fiber->suspension == token.suspension;
}

bool wake(wake_token token, wake_reason reason) noexcept {
  return is_waiting(token) && interrupt(token.fiber, reason);
}

namespace {
timeout_error make_timeout_error(fiber_base* self) {
  scoped_timeout* outermost = nullptr;
  fiber_extras* extras = self->extras_if_any();
  for (scoped_timeout* t = extras ? extras->timeouts : nullptr; t; t = t->outer) {
    if (t->expired) outermost = t;
  }
  if (!outermost) return timeout_error("grove: timeout expired", 0);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(outermost->duration).count();
  std::string text = "grove: timeout of ";
  if (us % 1000 == 0) {
    text += std::to_string(us / 1000) + " ms";
  } else {
    text += std::to_string(us) + " us";
  }
  text += " expired";
  return timeout_error(text, outermost->serial);
}

}  // namespace

void raise_for(wake_reason reason) {
  switch (reason) {
    case wake_reason::killed:
      throw fiber_killed{};
    case wake_reason::timeout:
      throw make_timeout_error(current_fiber());
    case wake_reason::deadlock:
      throw error(
          "grove: deadlock: every fiber is waiting and nothing can wake them (no timer, I/O or "
          "callback is pending)");
    case wake_reason::abandoned: {
      const fiber_base* self = current_fiber();
      const fiber_extras* x = self ? self->extras_if_any() : nullptr;
      throw_destroyed_while_waiting(x && x->abandoned_by ? x->abandoned_by : "a grove primitive");
    }
    default:
      return;
  }
}

namespace {

/// The three flavours of suspension; they differ only in what they do with a kill or timeout.
enum class suspend_flavour : std::uint8_t {
  throwing,         ///< suspend(): throws it
  reporting,        ///< suspend_noexcept(): returns it (C frames)
  uninterruptible,  ///< suspend_uninterruptible(): leaves it pending
};

/// The one interruptibility rule (docs/architecture.md): a kill or an expired scoped timeout may end a wait
/// only if the fiber is not unwinding, not shielded, and the wait is not uninterruptible.
bool interruptible_now(const hub_impl* h, const fiber_base* self, suspend_flavour kind) noexcept {
  return kind != suspend_flavour::uninterruptible && h->uncaught_exceptions() == 0 &&
         self->shield_depth == 0;
}

/// The kill or expired timeout waiting to be raised in `self`, if any (kill first).
wake_reason pending_interruption(const fiber_base* self) noexcept {
  if (self->kill_pending) return wake_reason::killed;
  if (self->expired_timeouts) return wake_reason::timeout;
  return wake_reason::none;
}

/// errno belongs to the thread, so the hub and the other fibers overwrite it while a fiber is
/// away; a C caller around a shimmed call must find it as it left it.
struct errno_keeper {
  int saved = errno;
  ~errno_keeper() { errno = saved; }
};

/// The body of every suspension. Never throws: the throwing flavour raises what it returns.
wake_reason suspend_as(hub_impl* h, fiber_base* self, time_point deadline, suspend_flavour kind,
                       waiting_on on) noexcept {
  errno_keeper keep_errno;
  notify_suspending(self);
  stack_top_of(self).wait.what = wait_record::pack(on);
  bool interruptible = interruptible_now(h, self, kind);
  if (interruptible) {
    if (wake_reason pending = pending_interruption(self); pending != wake_reason::none) {
      // A throwing wait raises it now. A C frame gets it as an errno and may retry whatever
      // it gets: pass through the hub first, so such a loop cannot starve other fibers.
      if (kind == suspend_flavour::reporting) h->yield_current(self);
      // This suspension never happened, but a waker may already hold its token (a wait that
      // registered, then found the kill): retire the number, or that late wake would end the
      // fiber's next suspension instead.
      ++self->suspension;
      return pending;
    }
  }
  self->interruptible = interruptible;
  wake_reason reason = h->suspend_current(deadline);
  self->interruptible = true;
  // A C frame can report a deadlock; a shielded or uninterruptible throwing wait cannot.
  if (reason == wake_reason::deadlock && !interruptible && kind != suspend_flavour::reporting) {
    abort_deadlocked_shielded_wait(self);
  }
  return reason;
}

}  // namespace

call_site::call_site(const std::source_location& where) noexcept {
  fiber_base* self = current_fiber();
  if (!self) return;
  wait_record& record = stack_top_of(self).wait;
  if (record.where.line() == 0) {
    record.where = where;
    record_ = &record;
  }
}

void throw_destroyed_while_waiting(const char* primitive) {
  throw error(std::string(primitive) +
              " destroyed while a fiber waited on it (destroy a primitive only once nothing "
              "waits on it)");
}

void require_fiber() {
  if (!current_fiber()) throw error(outside_fiber_message);
}

wake_reason suspend(time_point deadline, waiting_on on) {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) throw error(outside_fiber_message);
  wake_reason reason = suspend_as(h, self, deadline, suspend_flavour::throwing, on);
  if (reason >= wake_reason::killed) raise_for(reason);
  return reason;
}

wake_reason suspend_noexcept(time_point deadline, waiting_on on) noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) return wake_reason::none;
  return suspend_as(h, self, deadline, suspend_flavour::reporting, on);
}

wake_reason suspend_uninterruptible(time_point deadline, waiting_on on) noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) return wake_reason::none;
  return suspend_as(h, self, deadline, suspend_flavour::uninterruptible, on);
}

void yield() {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) throw error(outside_fiber_message);
  notify_suspending(self);
  bool interruptible = interruptible_now(h, self, suspend_flavour::throwing);
  if (interruptible) raise_for(pending_interruption(self));
  {
    errno_keeper keep_errno;
    h->yield_current(self);
  }
  if (interruptible) raise_for(pending_interruption(self));
}

wake_reason yield_noexcept() noexcept {
  hub_impl* h = t_hub;
  fiber_base* self = h ? h->running() : nullptr;
  if (!self) return wake_reason::none;
  notify_suspending(self);
  {
    errno_keeper keep_errno;
    h->yield_current(self);
  }
  return interruptible_now(h, self, suspend_flavour::reporting) ? pending_interruption(self)
                                                          : wake_reason::none;
}

void yield_finish(jump_result arrival) {
  hub_impl* h = t_hub;
  fiber_base* self = h->running();
  h->arrive(arrival);
  if (interruptible_now(h, self, suspend_flavour::throwing)) raise_for(pending_interruption(self));
}

wake_reason hub_impl::suspend_current(time_point deadline) noexcept {
  fiber_base* self = current_;
  if (deadline != no_deadline) {
    self->deadline().when = deadline;
    arm_deadline(self->deadline());
  }
  self->state = fiber_state::suspended;
  self->reason = wake_reason::none;
  switch_away(self);
  ++self->suspension;  // every token of the suspension that just ended is stale now
  if (self->deadline().armed()) disarm(self->deadline());
  return self->reason;
}

std::atomic<suspend_hook> g_suspend_hook{nullptr};

void set_suspend_hook(suspend_hook hook) noexcept {
  g_suspend_hook.store(hook, std::memory_order_relaxed);
}

}  // namespace grove::detail
