// Descriptor I/O for fibers: the wait every grove socket (and later every shimmed libc call)
// makes. A descriptor is registered with the hub's reactor (Asio's edge-triggered epoll) once for
// its lifetime; each call is a non-blocking attempt, and a fiber waits only when the attempt
// would block.
//
// Example (one read; grove::net's sockets wrap exactly this):
//   detail::fd_registration reg;
//   reg.open(fd);                                       // epoll_ctl(ADD), once
//   auto r = reg.perform(detail::io_direction::read, &try_recv, &args, detail::no_deadline);
//   // r.ec / r.bytes: whatever try_recv reported once the descriptor was ready
//
// How it waits: the fiber attempts the call itself; only on EAGAIN does it queue an Asio reactor
// operation (on its own stack) whose perform() is the same attempt, which the reactor runs when
// epoll reports the descriptor ready. That avoids what Asio's async_wait costs (an
// epoll_ctl(MOD) to re-arm the descriptor on every wait). See bench/RESULTS.md for the syscall
// counts per round trip.
//
// Waiting follows detail::await_completion: a killed or timed-out fiber cancels its operation and
// waits for the cancellation before unwinding. release() (before close) wakes every waiter with
// errc::operation_canceled.
#pragma once

#include <cstddef>
#include <system_error>

#include <grove/detail/suspension.hpp>

namespace grove::detail {

/// Which readiness an operation needs (values match Asio's reactor op types).
enum class io_direction : unsigned char { read = 0, write = 1 };

/// What one non-blocking attempt of an I/O call achieved.
enum class io_status : unsigned char {
  would_block,  ///< EAGAIN: wait for readiness, then try again
  done,         ///< finished (with a result or an error)
  drained,      ///< finished with less than asked (a short read or write)
};

/// One non-blocking attempt on `fd`: performs the call and reports its outcome in `ec` / `bytes`.
/// Called on the fiber's stack or from the hub's reactor; must not suspend or throw.
using io_attempt = io_status (*)(void* context, int fd, std::error_code& ec,
                                 std::size_t& bytes) noexcept;

/// The outcome of perform(): the attempt's error and byte count, errc::timed_out when the
/// deadline passed, errc::operation_canceled when the registration was released meanwhile.
struct io_result {
  std::error_code ec;
  std::size_t bytes = 0;
};

/// A descriptor registered with the current hub's reactor. Owns the registration, not the
/// descriptor. Movable while no fiber waits on it; one hub (thread) only.
class fd_registration {
 public:
  fd_registration() noexcept = default;
  fd_registration(fd_registration&& other) noexcept;
  fd_registration& operator=(fd_registration&& other) noexcept;
  fd_registration(const fd_registration&) = delete;
  fd_registration& operator=(const fd_registration&) = delete;
  ~fd_registration() { release(); }

  /// Registers `fd` (non-blocking already) with the current hub's reactor. Returns the error of
  /// epoll_ctl; throws grove::error outside grove::run.
  std::error_code open(int fd);
  /// Wakes every waiter with errc::operation_canceled and forgets the descriptor (call it
  /// before closing the descriptor). `closing`: the caller closes the descriptor next and no
  /// other descriptor shares its open file (no dup, no fork), so the kernel drops it from epoll
  /// by itself and the epoll_ctl(DEL) is saved, as Asio does for its own sockets. No-op when
  /// not registered.
  void release(bool closing = false) noexcept;
  /// True between open() and release().
  bool registered() const noexcept { return state_ != nullptr; }
  /// The descriptor, or -1.
  int fd() const noexcept { return fd_; }

  /// Runs `attempt` until it stops reporting would_block: at once, then (after would_block) each
  /// time the reactor sees the descriptor ready. Throws fiber_killed / timeout_error after
  /// cancelling the wait.
  io_result perform(io_direction dir, io_attempt attempt, void* context, time_point deadline);
  /// Waits until the descriptor is ready for `dir` (e.g. a non-blocking connect finishing).
  /// Costs an epoll_ctl(MOD): use perform() for calls that can simply be attempted.
  std::error_code wait_ready(io_direction dir, time_point deadline);

 private:
  io_result wait(io_direction dir, io_attempt attempt, void* context, bool skip_first_try,
                 bool speculative, time_point deadline);

  void* reactor_ = nullptr;  ///< boost::asio::detail::epoll_reactor*
  void* state_ = nullptr;    ///< the reactor's per-descriptor data
  int fd_ = -1;
};

}  // namespace grove::detail
