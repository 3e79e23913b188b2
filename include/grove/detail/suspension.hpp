// The one cancellable suspension every grove wait is built on (see docs/architecture.md).
//
// A blocking operation (1) registers wake-up sources: a wait_node in a wait_queue, a deadline,
// an fd readiness callback...; (2) calls suspend(); (3) learns from the returned wake_reason why
// it resumed and removes what is still registered (wait_node does that in its destructor).
// Kill and scoped timeouts are not special cases: whoever wakes the fiber records the reason,
// and suspend() turns "killed" / "timeout" into grove::fiber_killed / grove::timeout_error.
// The first wake of a suspension wins; later ones are refused (wake() returns false), which is
// what keeps a killed waiter from consuming a wake-up meant for another.
//
// A wake belongs to one suspension: a waker holds a wake_token (the fiber and the number of
// the suspension it registered for, taken with next_suspension() when the wait registers), and
// wake() refuses a token whose suspension is over. So a late completion or a cross-thread post
// can never end a later wait of the same fiber. Kills and scoped timeouts concern the fiber,
// not one wait: they interrupt whichever suspension is current. A primitive reads what it was
// handed (wait_node::status), never infers "served" from "woken".
//
// One interruptibility rule for the three flavours (throwing, errno-reporting, uninterruptible):
// a kill or an expired grove::timeout may end a wait only while the fiber is not unwinding
// (std::uncaught_exceptions() == 0), is not inside a grove::this_fiber::shield and the wait is
// not an uninterruptible one. Otherwise it stays pending and lands at the first wait after.
//
// Waits from C frames (the shims) use suspend_noexcept(): a kill or timeout is reported, never
// thrown, and errno_for() maps it: kill -> ECANCELED, scoped timeout -> ETIMEDOUT. Not EINTR:
// C libraries (libcurl, hiredis, libpq) retry EINTR and EAGAIN but give up on these. While one
// is pending every such wait reports it again, yet first passes through the hub (a yield), so a
// C loop that retries anyway never starves other fibers, I/O or timers. The kill or timeout
// itself stays pending and is thrown at the next throwing grove wait.
//
// errno survives every suspension: the hub and other fibers overwrite it while a fiber is away.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <source_location>

namespace grove::detail {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
inline constexpr time_point no_deadline = time_point::max();

struct fiber_base;
class hub_impl;

/// Names one suspension of one fiber: what a waker keeps to wake exactly that wait.
struct wake_token {
  fiber_base* fiber = nullptr;
  std::uint64_t suspension = 0;  ///< the fiber's suspension count when the wait registered
};

/// What a suspension waits on, as grove::dump_fibers names it.
enum class wait_kind : std::uint8_t {
  unknown,
  sleep,        ///< a timer (the deadline says when)
  join,         ///< another fiber's end; detail: its fiber_base*
  event,        ///< detail: the event
  future,       ///< detail: the shared state
  queue,        ///< detail: the queue
  channel,      ///< detail: the channel
  mutex,        ///< detail: the mutex
  semaphore,    ///< detail: the semaphore
  condition,    ///< detail: the condition_variable
  group,        ///< a group's or pool's fibers; detail: the group
  wait_any,     ///< several fibers / events / futures (grove::wait_any, wait_all)
  select,       ///< several channels (grove::select)
  fd_readable,  ///< detail: the descriptor
  fd_writable,  ///< detail: the descriptor
  fd_poll,      ///< several descriptors at once (poll, select, epoll_wait)
  child,        ///< a child process; detail: its pid
  offload,      ///< a job on the offload pool
  asio,         ///< an Asio operation (grove::use_fiber, await_asio)
  server,       ///< a server's internal state (a connection slot, its stop)
  tls_stream,   ///< a TLS stream's turn to read or write its socket; detail: the stream
};

/// What one suspension waits on: a kind and one word of detail (descriptor, pid, object).
struct waiting_on {
  wait_kind kind = wait_kind::unknown;
  std::uintptr_t detail = 0;
};

/// A fiber's diagnostic record (fiber_base::wait; 16 bytes): where its current grove call was
/// made and what its last suspension waits on. Stored at every suspension, read only by
/// grove::dump_fibers and the lock check; costs nothing else.
struct wait_record {
  std::source_location where;  ///< the user's call (line() == 0: unknown); spawn site before start
  std::uint64_t what = 0;      ///< wait_kind in the top byte, the detail word below

  static constexpr std::uint64_t detail_mask = (std::uint64_t{1} << 56) - 1;
  static constexpr std::uint64_t pack(waiting_on on) noexcept {
    return std::uint64_t{static_cast<std::uint8_t>(on.kind)} << 56 |
           (static_cast<std::uint64_t>(on.detail) & detail_mask);
  }
  wait_kind kind() const noexcept { return static_cast<wait_kind>(what >> 56); }
  std::uintptr_t detail() const noexcept { return static_cast<std::uintptr_t>(what & detail_mask); }
};

/// Records the user's call site of a public waiting function in the calling fiber's wait
/// record while the call lasts. The outermost call wins: grove's own calls inside it (a process
/// reading its pipes) keep the user's line. A public waiting function takes
/// `std::source_location where = std::source_location::current()` and opens one of these.
class call_site {
 public:
  explicit call_site(const std::source_location& where) noexcept;
  // Inline: out of line, the call (through the PLT) cost as much as the store, on every wait.
  ~call_site() {
    if (record_) record_->where = std::source_location();
  }
  call_site(const call_site&) = delete;
  call_site& operator=(const call_site&) = delete;

 private:
  wait_record* record_ = nullptr;
};

/// Why a suspended fiber resumed.
enum class wake_reason : std::uint8_t {
  none,
  notified,   ///< the awaited source fired (queue item, event, fd ready, child exit...)
  deadline,   ///< the wait's own deadline passed (sleep_for ends this way, wait_for returns false)
  killed,     ///< fiber<T>::kill(): becomes grove::fiber_killed
  timeout,    ///< a grove::timeout scope expired: becomes grove::timeout_error
  deadlock,   ///< every fiber waits and nothing can wake them: becomes grove::error
  abandoned,  ///< what it waited on was destroyed (wait_queue's destructor): grove::error
};

/// The fiber running on this thread, or nullptr (hub loop, callbacks, outside grove::run).
fiber_base* current_fiber() noexcept;

/// The hub running on this thread, or nullptr.
hub_impl* current_hub() noexcept;

/// Throws grove::error (the same message as every wait) unless called from a fiber: for wait
/// entry points that must refuse before they start anything.
void require_fiber();

/// Every flavour records `on` in the fiber's wait record (grove::dump_fibers shows it).
///
/// Suspends the current fiber until woken or `deadline`. Throws grove::fiber_killed,
/// grove::timeout_error or grove::error(deadlock) instead of returning those reasons, unless
/// the fiber is unwinding (then kills and timeouts wait for the next suspension).
/// Throws grove::error when called outside a fiber.
wake_reason suspend(time_point deadline = no_deadline, waiting_on on = {});

/// Like suspend() but never throws, for C frames (the shims): returns killed / timeout /
/// deadlock as reasons (errno_for() maps them). Same interruptibility rule as suspend(). With a
/// kill or an expired scope already pending it does not wait, but still yields once to the
/// other fibers before returning the reason, so a caller retrying in a loop cannot starve the
/// hub. The kill or timeout stays pending and is thrown at the next throwing wait.
/// Returns wake_reason::none when not called from a fiber.
wake_reason suspend_noexcept(time_point deadline = no_deadline, waiting_on on = {}) noexcept;

/// The errno a C call reports when its wait ended for `reason`: ECANCELED for killed,
/// ETIMEDOUT for a scoped timeout, EDEADLK for deadlock, EIDRM ("identifier removed", what a
/// System V semaphore's waiters get when it is removed) for abandoned; 0 for the others (notified,
/// the wait's own deadline, none), whose meaning the caller decides (ready, EAGAIN for
/// SO_RCVTIMEO...). Never EINTR: C libraries retry that, and a killed fiber must get control back.
constexpr int errno_for(wake_reason reason) noexcept {
  switch (reason) {
    case wake_reason::killed:
      return ECANCELED;
    case wake_reason::timeout:
      return ETIMEDOUT;
    case wake_reason::deadlock:
      return EDEADLK;
    case wake_reason::abandoned:
      return EIDRM;
    default:
      return 0;
  }
}

/// Suspends until woken with `notified` or until `deadline`, ignoring kills and scoped timeouts:
/// they stay pending and are raised at the next suspend(). For the short waits a frame must
/// finish before it may unwind, e.g. for a cancelled asynchronous operation whose completion
/// still refers to the fiber's stack. Returns wake_reason::none when not called from a fiber.
wake_reason suspend_uninterruptible(time_point deadline = no_deadline, waiting_on on = {}) noexcept;

/// Throws what suspend() would for `reason` (nothing for notified / deadline).
void raise_for(wake_reason reason);

/// The token of the calling fiber's next suspension (empty outside a fiber). Take it when the
/// wait registers, with no other suspension before the one it is for.
wake_token next_suspension() noexcept;

/// Schedules the suspension `token` names with `reason`; false if it is not waiting (already
/// woken, over, not begun, or an empty token): a stale wake is refused, never delivered.
bool wake(wake_token token, wake_reason reason) noexcept;

/// True if the suspension `token` names is waiting and can still be woken.
bool is_waiting(wake_token token) noexcept;

/// True if `f` is suspended and can still be woken.
bool is_suspended(const fiber_base* f) noexcept;

/// Puts the current fiber at the back of the ready queue and runs the others (honours kill and
/// scoped timeouts under the same rule as suspend()).
void yield();

/// yield() for C frames: always passes through the hub once, then returns the kill or expired
/// timeout pending (left pending, as suspend_noexcept() does), or wake_reason::none.
wake_reason yield_noexcept() noexcept;

}  // namespace grove::detail
