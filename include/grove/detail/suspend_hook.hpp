// A diagnostic hook the core calls as a fiber is about to suspend: suspend(), suspend_noexcept(),
// suspend_uninterruptible(), yield() and the inline yield all pass through it. It lets checks
// built outside the core watch every wait without the core knowing them (the shims'
// GROVE_CHECK_LOCKS report: a fiber waiting while it holds a pthread lock). Nothing is installed
// by default; a suspension then pays one relaxed load and a branch not taken.
//
// Example (a check that counts waits):
//   void count_wait(grove::detail::fiber_base*) noexcept { ++waits; }
//   grove::detail::set_suspend_hook(&count_wait);   // process-wide, every hub
#pragma once

#include <atomic>
#include <cstdint>

namespace grove::detail {

struct fiber_base;

/// Runs on the suspending fiber's own stack before it leaves (so a backtrace shows the wait);
/// it must not suspend, and must not throw.
using suspend_hook = void (*)(fiber_base* self) noexcept;

/// The installed hook, or nullptr.
extern std::atomic<suspend_hook> g_suspend_hook;

/// Installs `hook` for every hub of the process (nullptr removes it).
void set_suspend_hook(suspend_hook hook) noexcept;

/// Calls the installed hook, if any, for `self` (the running fiber, about to suspend).
inline void notify_suspending(fiber_base* self) noexcept {
  if (suspend_hook hook = g_suspend_hook.load(std::memory_order_relaxed)) [[unlikely]]
    hook(self);
}

}  // namespace grove::detail
