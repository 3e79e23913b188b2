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
  // unwinding or shielded, yields anyway).
  if (!self || self->kill_pending || self->expired_timeouts) [[unlikely]] {
    yield();
    return;
  }
  notify_suspending(self);
  self->state = fiber_state::ready;
  h->push_yielded(self);
  execution_context* to = h->next_context(self);
  if (!to) return;  // next in line itself: nothing ran meanwhile
  h->current_ = to->fiber;
  h->count_switch();
  // What this context keeps across the switch, on its own stack: the exception state (see
  // hub_core::exception_state) and errno (the other fibers and the hub overwrite it meanwhile;
  // the out-of-line suspensions keep it too).
  eh_globals& eh = h->exception_state();
  eh_globals saved_eh = eh;
  int* thread_errno = h->errno_;
  int saved_errno = *thread_errno;
  jump_result arrival = jump_to(to->fctx, &self->ctx);
  *thread_errno = saved_errno;
  eh = saved_eh;
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
