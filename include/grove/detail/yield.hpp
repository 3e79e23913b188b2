// this_fiber::yield() switching from the caller's own frame (see context_jump.hpp for why), its
// bookkeeping inline too (hub_core.hpp): only the uncommon cases call into the library.
#pragma once

#include <cerrno>

#include <grove/detail/context_jump.hpp>
#include <grove/detail/fiber_base.hpp>
#include <grove/detail/hub_core.hpp>
#include <grove/detail/suspend_hook.hpp>
#include <grove/detail/suspension.hpp>

// Sanitizer builds take the out-of-line path, where the hub annotates its switches in one frame.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__) && !defined(GROVE_PLAIN_JUMP)
#if defined(__has_feature)
#if !__has_feature(address_sanitizer) && !__has_feature(thread_sanitizer)
#define GROVE_INLINE_YIELD 1
#endif
#else
#define GROVE_INLINE_YIELD 1
#endif
#endif

namespace grove::detail {

/// The arrival half of an inline yield when something beyond the common case happened: the
/// previous context finished (retire it), or a kill / timeout came meanwhile (raise it).
/// `arrival` is what the jump returned.
void yield_finish(jump_result arrival);

/// this_fiber::yield().
inline void yield_inline() {
#ifdef GROVE_INLINE_YIELD
  hub_core* h = hub_core::current();
  fiber_base* self = h ? h->current_ : nullptr;
  // Outside a fiber, or a kill / timeout pending: the general yield() throws or raises it (or,
  // unwinding or shielded, yields anyway). Inside a catch block or while unwinding it also keeps
  // the exception state, which this path does not (hub_core::exception_state).
  if (!self || self->kill_pending || self->expired_timeouts || h->has_exception_state())
      [[unlikely]] {
    yield();
    return;
  }
  notify_suspending(self);
  self->state = fiber_state::ready;
  h->push_yielded(self);
  execution_context* to = h->next_context(self);
  if (!to) return;  // next in line itself: nothing ran meanwhile
  h->current_ = to->fiber;
  // What this context keeps across the switch, on its own stack: errno (the other fibers and the
  // hub overwrite it meanwhile; the out-of-line suspensions keep it too). The exception state is
  // empty, and empty again on arrival (hub_core::exception_state); the switch is counted by the
  // budget (hub_core::count_switch).
  int* thread_errno = h->errno_;
  int saved_errno = *thread_errno;
  jump_result arrival = jump_to(to->fctx, &self->ctx);
  *thread_errno = saved_errno;
  // The common arrival inline (hub_impl::arrive is the general one): note where the previous
  // context stopped.
  if (left_finished(arrival.data) || self->kill_pending || self->expired_timeouts) [[unlikely]] {
    yield_finish(arrival);
    return;
  }
  left_context(arrival.data)->fctx = arrival.fctx;
#else
  yield();
#endif
}

}  // namespace grove::detail
