// this_fiber::yield() switching from the caller's own frame (see context_jump.hpp for why): the
// hub's bookkeeping runs out of line before and after, the stack switch itself runs inline.
#pragma once

#include <cerrno>

#include <grove/detail/context_jump.hpp>
#include <grove/detail/fiber_base.hpp>
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

/// Where a yield goes: jump to `to` handing over `from`; `to` is null when the caller runs on.
struct yield_plan {
  void* to;
  execution_context* from;
};

/// First half of a yield: raises a pending kill / timeout, queues the running fiber and picks
/// the next context. Throws grove::error outside a fiber.
yield_plan yield_prepare();
/// Second half, back on the yielding fiber: `arrival` is what the jump returned ({} when no
/// switch happened). Raises a kill / timeout that came meanwhile.
void yield_finish(jump_result arrival);

/// this_fiber::yield().
inline void yield_inline() {
#ifdef GROVE_INLINE_YIELD
  yield_plan plan = yield_prepare();
  if (!plan.to) {
    yield_finish({nullptr, nullptr});
    return;
  }
  // errno survives a suspension (the other fibers and the hub overwrite it meanwhile), as the
  // out-of-line suspensions keep it.
  int saved_errno = errno;
  jump_result arrival = jump_to(plan.to, plan.from);
  errno = saved_errno;
  // The common arrival inline (hub_impl::after_switch is the general one): note where the
  // previous context stopped.
  auto* previous = static_cast<execution_context*>(arrival.data);
  const fiber_base* self = plan.from->fiber;
  if (previous->finished || self->kill_pending || self->expired_timeouts) [[unlikely]] {
    yield_finish(arrival);
    return;
  }
  previous->fctx = arrival.fctx;
#else
  yield();
#endif
}

}  // namespace grove::detail
