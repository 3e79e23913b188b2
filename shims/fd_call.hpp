// What the descriptor shims (socket.cpp, poll.cpp, fd.cpp) share: the decision to cooperate on
// a descriptor, one I/O call made cooperative, and the blocking that a call outside fibers still
// owes the user on a descriptor grove made non-blocking.
//
// A call cooperates (waits on the hub) only when all hold: a fiber of a running hub makes it, the
// shims are on, the descriptor is a socket or a pipe, and its user has not set O_NONBLOCK
// (detail::fd_cooperative decides the last two, from the descriptor table). Otherwise it is
// libc's call, unchanged; except that on a descriptor grove itself made non-blocking for some
// fiber (the user still sees it blocking), an EAGAIN that the user could not have seen turns into
// a wait in poll(2), honouring SO_RCVTIMEO / SO_SNDTIMEO, as the blocking call would have waited.
#pragma once

#include <poll.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <grove/detail/deadline.hpp>
#include <grove/detail/fd_table.hpp>
#include <system_error>

#include "shim.hpp"

namespace grove::shims {

/// The descriptor's registration if a call on it should wait cooperatively, else nullptr.
inline detail::fd_state* cooperative_descriptor(int fd) noexcept {
  if (!detail::t_hub) [[likely]]
    return nullptr;  // no hub on this thread: libc's call, decided with one load
  if (!cooperating_fiber()) return nullptr;
  return detail::fd_cooperative(fd);
}

/// The errno of a cooperative wait that did not end ready: EAGAIN when the socket's own timeout
/// (SO_RCVTIMEO / SO_SNDTIMEO) passed, as the kernel reports it; EBADF when another fiber closed
/// the descriptor; ECANCELED / ETIMEDOUT for a kill / an expired grove::timeout (see shim.hpp).
int wait_errno(detail::fd_wait_status status) noexcept;

/// Outside a cooperative fiber, after a call failed with EAGAIN: if grove made `fd` non-blocking
/// behind its user's back, waits in poll(2) for `events` (until the socket timeout of `dir`,
/// computed once into `deadline`) and returns true to retry. False leaves errno as the call
/// should report it (the EAGAIN itself, or EINTR from a signal handler).
bool block_after_eagain(int fd, short events, detail::io_direction dir,
                        detail::time_point& deadline) noexcept;

namespace impl {
/// plain_call after an EAGAIN that grove may owe the user: wait and retry (kept out of line, so
/// the passthrough path stays a few instructions).
template <class Call>
[[gnu::noinline]] auto retry_after_eagain(int fd, detail::io_direction dir, Call& call,
                                          decltype(call()) n) noexcept {
  detail::time_point deadline = detail::time_point::min();
  short events = dir == detail::io_direction::read ? POLLIN : POLLOUT;
  while (block_after_eagain(fd, events, dir, deadline)) {
    n = call();
    if (n >= 0 || errno != EAGAIN) break;
  }
  return n;
}
}  // namespace impl

/// A plain (libc) call that may need block_after_eagain: `call()` returns -1 with errno.
template <class Call>
[[gnu::always_inline]] inline auto plain_call(int fd, detail::io_direction dir,
                                              Call&& call) noexcept {
  auto n = call();
  if (n >= 0 || !detail::any_internal_nonblock() || errno != EAGAIN) [[likely]]
    return n;
  return impl::retry_after_eagain(fd, dir, call, n);
}

/// True when no hub runs on this thread: every shimmed call is libc's (the cheapest test).
[[gnu::always_inline]] inline bool outside_any_hub() noexcept { return !detail::t_hub; }

/// True when a call can go to libc as it is, without even looking at its result: no hub on this
/// thread, and no descriptor made non-blocking by grove (so no EAGAIN can be grove's doing).
/// The shim then tail-calls libc: the passthrough costs two loads and a jump.
[[gnu::always_inline]] inline bool plain_libc() noexcept {
  return !detail::t_hub && !detail::any_internal_nonblock();
}

/// What a cooperative I/O call made of its attempts.
struct io_outcome {
  ssize_t result = -1;  ///< the call's return value (-1: `error`)
  int error = 0;
};

namespace impl {
template <class Call>
struct attempt_context {
  Call& call;
  std::size_t asked;  ///< bytes asked for; a short transfer below it drains (0: never)
};

template <class Call>
detail::io_status attempt(void* context, int, std::error_code& ec, std::size_t& bytes) noexcept {
  auto& c = *static_cast<attempt_context<Call>*>(context);
  for (;;) {
    ssize_t n = c.call();
    if (n >= 0) {
      bytes = static_cast<std::size_t>(n);
      return bytes < c.asked ? detail::io_status::drained : detail::io_status::done;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return detail::io_status::would_block;
    ec = {errno, std::system_category()};
    return detail::io_status::done;
  }
}
}  // namespace impl

/// One cooperative call on `state`: `call()` (non-blocking, -1 with errno) is attempted when the
/// descriptor may be ready and again after each readiness event. `drain_below`: a result below
/// it means the descriptor is empty (stream reads) or full (writes), so the next call waits for
/// an event before trying; 0 where a short result says nothing (datagrams, MSG_PEEK).
template <class Call>
io_outcome cooperative_call(detail::fd_state* state, int fd, detail::io_direction dir,
                            std::size_t drain_below, Call&& call) noexcept {
  impl::attempt_context<Call> context{call, drain_below};
  detail::io_result r;
  detail::fd_wait_status status = detail::fd_perform(state, dir, &impl::attempt<Call>, &context,
                                                     detail::fd_deadline(fd, dir), r);
  if (status != detail::fd_wait_status::ready) return {-1, wait_errno(status)};
  if (r.ec) return {-1, r.ec.value()};
  return {static_cast<ssize_t>(r.bytes), 0};
}

/// Reports `o` as a C call does: its result, or -1 with errno.
inline ssize_t report(const io_outcome& o) noexcept {
  if (o.result < 0) errno = o.error;
  return o.result;
}

}  // namespace grove::shims
