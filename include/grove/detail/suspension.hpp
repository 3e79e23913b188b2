// The one cancellable suspension every grove wait is built on (see DESIGN.md).
//
// A blocking operation (1) registers wake-up sources: a wait_node in a wait_queue, a deadline,
// an fd readiness callback...; (2) calls suspend(); (3) learns from the returned wake_reason why
// it resumed and removes what is still registered (wait_node does that in its destructor).
// Kill and scoped timeouts are not special cases: whoever wakes the fiber records the reason,
// and suspend() turns "killed" / "timeout" into grove::fiber_killed / grove::timeout_error.
// The first wake of a suspension wins; later ones are refused (wake() returns false), which is
// what keeps a killed waiter from consuming a wake-up meant for another.
#pragma once

#include <chrono>
#include <cstdint>

namespace grove::detail {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
inline constexpr time_point no_deadline = time_point::max();


struct fiber_base;
class hub_impl;

/// Why a suspended fiber resumed.
enum class wake_reason : std::uint8_t {
  none,
  notified,  ///< the awaited source fired (queue item, event, fd ready, child exit...)
  deadline,  ///< the wait's own deadline passed (sleep_for ends this way, wait_for returns false)
  killed,    ///< fiber<T>::kill(): becomes grove::fiber_killed
  timeout,   ///< a grove::timeout scope expired: becomes grove::timeout_error
  deadlock,  ///< every fiber waits and nothing can wake them: becomes grove::error
};

/// The fiber running on this thread, or nullptr (hub loop, callbacks, outside grove::run).
fiber_base* current_fiber() noexcept;

/// The hub running on this thread, or nullptr.
hub_impl* current_hub() noexcept;

/// Suspends the current fiber until woken or `deadline`. Throws grove::fiber_killed,
/// grove::timeout_error or grove::error(deadlock) instead of returning those reasons, unless
/// the fiber is unwinding (then kills and timeouts wait for the next suspension).
/// Throws grove::error when called outside a fiber.
wake_reason suspend(time_point deadline = no_deadline);

/// Like suspend() but never throws: returns killed / timeout / deadlock as reasons; a kill stays
/// pending and is raised at the next throwing suspension. For C frames (the shims).
/// Returns wake_reason::none when not called from a fiber.
wake_reason suspend_noexcept(time_point deadline = no_deadline) noexcept;

/// Suspends until woken with `notified` or until `deadline`, ignoring kills and scoped timeouts:
/// they stay pending and are raised at the next suspend(). For the short waits a frame must
/// finish before it may unwind, e.g. for a cancelled asynchronous operation whose completion
/// still refers to the fiber's stack. Returns wake_reason::none when not called from a fiber.
wake_reason suspend_uninterruptible(time_point deadline = no_deadline) noexcept;

/// Throws what suspend() would for `reason` (nothing for notified / deadline).
void raise_for(wake_reason reason);

/// Schedules `f` with `reason` if it is suspended; false if it is not (already woken, running).
bool wake(fiber_base* f, wake_reason reason) noexcept;

/// True if `f` is suspended and can still be woken.
bool is_suspended(const fiber_base* f) noexcept;

/// Puts the current fiber at the back of the ready queue and runs the others (honours kill).
void yield();

}  // namespace grove::detail
