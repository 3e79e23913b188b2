// Descriptor I/O for fibers: the wait every grove socket (and later every shimmed libc call)
// makes. A descriptor is registered with the hub once for its lifetime (epoll_ctl ADD); each call
// is a non-blocking attempt, and a fiber waits only when the attempt would block.
//
// Example (one read; grove::net's sockets wrap exactly this):
//   detail::fd_registration reg;
//   reg.open(fd);                                       // epoll_ctl(ADD), once
//   auto r = reg.perform(detail::io_direction::read, &try_recv, &args, detail::no_deadline);
//   // r.ec / r.bytes: whatever try_recv reported once the descriptor was ready
//
// How it waits (lib/core/fd_wait.cpp has the details): each hub keeps its own edge-triggered
// epoll set, nested in Asio's, and a readiness flag per descriptor and direction. A call is
// attempted at once when the flag says it may succeed; EAGAIN, or a short read with no end of
// stream pending, clears the flag, and the next call waits for an event before it tries. So a
// ping-pong round trip costs one recv and one send plus a share of epoll_wait, as in a
// hand-written epoll loop: no recv that is known to fail. bench/RESULTS.md has the measurements
// (this against Asio's async_wait and async_read_some).
//
// A killed or timed-out fiber leaves the descriptor's wait list before it unwinds. release()
// (before close) wakes every waiter with errc::operation_canceled. The registration is the
// hub's entry in the descriptor table (<grove/detail/fd_table.hpp>): a shimmed libc call on the
// same descriptor finds and shares it instead of registering the descriptor a second time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <grove/detail/suspension.hpp>
#include <system_error>

namespace grove::detail {

struct fd_state;

/// Which readiness an operation needs.
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

/// A descriptor registered with the current hub's descriptor set. Owns the registration, not
/// the descriptor. Movable while no fiber waits on it; one hub (thread) only.
class fd_registration {
 public:
  fd_registration() noexcept = default;
  fd_registration(fd_registration&& other) noexcept;

  fd_registration& operator=(fd_registration&& other) noexcept;
  fd_registration(const fd_registration&) = delete;
  fd_registration& operator=(const fd_registration&) = delete;
  ~fd_registration() { release(); }

  /// Registers `fd` (non-blocking already, created by grove) with the current hub's descriptor
  /// set and records it in the descriptor table as grove's: non-blocking in the kernel, blocking
  /// as a shimmed libc call sees it. Returns the error of epoll_ctl (EPERM for a regular file);
  /// throws grove::error outside grove::run.
  std::error_code open(int fd);
  /// Wakes every waiter with errc::operation_canceled and forgets the descriptor (call it
  /// before closing the descriptor). `closing`: the caller closes the descriptor right after,
  /// so the epoll_ctl(DEL) is saved, as Asio does for its own sockets (the kernel drops a closed
  /// descriptor from epoll; should a dup or a forked child keep the file open, its late events
  /// land on a recycled registration and cost one spurious attempt). No-op when not registered.
  void release(bool closing = false) noexcept;
  /// True between open() and release() (a close through the shims also ends it).
  bool registered() const noexcept;
  /// The descriptor, or -1.
  int fd() const noexcept { return fd_; }

  /// Runs `attempt` until it stops reporting would_block: at once if the descriptor may be
  /// ready, else (and after would_block) once an event says it is. Throws fiber_killed /
  /// timeout_error after leaving the wait list.
  io_result perform(io_direction dir, io_attempt attempt, void* context, time_point deadline);
  /// Waits for the next event reporting the descriptor ready for `dir`, ignoring what is known
  /// so far: for a call that has just reported EINPROGRESS (a connect) or EAGAIN by itself.
  std::error_code wait_ready(io_direction dir, time_point deadline);

 private:
  fd_state* live_state() const noexcept;

  fd_state* state_ = nullptr;  ///< readiness, waiters and hub (lib/core/fd_wait.cpp)
  std::uint32_t serial_ = 0;   ///< state_'s serial when opened: a recycled state is not ours
  int fd_ = -1;
};

}  // namespace grove::detail
