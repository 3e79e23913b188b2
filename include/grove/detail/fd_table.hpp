// The descriptor table: what grove knows about every descriptor it has seen, shared by
// grove::net and libgrove_shims, and the no-throw waits a C frame (a shim) makes on descriptors.
//
// Example (the core of a shimmed recv, inside a fiber; shims/socket.cpp has the real thing):
//   if (detail::fd_state* s = detail::fd_cooperative(fd)) {         // else: libc's recv
//     detail::io_result r;
//     auto status = detail::fd_perform(s, detail::io_direction::read, &try_recv, &args,
//                                      detail::fd_deadline(fd, detail::io_direction::read), r);
//     // ready: r.ec / r.bytes; deadline: EAGAIN (SO_RCVTIMEO); closed: EBADF; killed, timed_out
//   }
//
// Two halves, because the kernel has two:
// - Facts about an open file description (process-wide, any thread, like the kernel's):
//   O_NONBLOCK as the user sees it, whether grove made the kernel's flag non-blocking behind the
//   user's back, whether epoll accepts the descriptor, SO_RCVTIMEO / SO_SNDTIMEO. dup'ed
//   descriptors share one description, as in the kernel, so F_SETFL on one is seen on all.
//   This is the one piece of global mutable state outside a hub: descriptors are per process,
//   and a call outside any fiber (another thread, a forked child) must still behave as libc
//   would on a descriptor grove made non-blocking (it waits in poll(2) on EAGAIN).
// - Registrations (per hub): a descriptor is added to the hub's epoll set once, by whoever
//   touches it first (a grove socket or a shimmed call), and found by number afterwards. Every
//   descriptor number carries a generation, bumped whenever grove sees it closed or created, so
//   a registration left behind by an earlier descriptor of the same number is never reused.
//
// Descriptors closed behind grove's back (fclose of an fdopen'ed socket, glibc-internal closes)
// keep their facts until the number is reused by a call grove sees (socket, accept, pipe, dup...).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <grove/detail/fd_wait.hpp>
#include <grove/detail/suspension.hpp>

namespace grove::detail {

class hub_impl;
/// This thread's running hub (lib/core/hub.cpp), read without a call: a shimmed call outside any
/// hub (the common passthrough) decides with one thread-local load.
extern constinit thread_local hub_impl* t_hub __attribute__((tls_model("initial-exec")));

/// Set once grove first makes some descriptor non-blocking behind its user's back (fd_table.cpp).
extern std::atomic<bool> internal_nonblock_seen;
/// False until then: no EAGAIN a libc call returns can be grove's doing, the shims need not look.
inline bool any_internal_nonblock() noexcept {
  return internal_nonblock_seen.load(std::memory_order_relaxed);
}

/// What grove knows about a descriptor's open file description.
struct fd_facts {
  bool known = false;              ///< grove has seen the descriptor since it was opened
  bool user_nonblock = false;      ///< O_NONBLOCK as the user set it (F_SETFL, FIONBIO...)
  bool grove_nonblock = false;     ///< grove set the kernel's O_NONBLOCK and relies on it
  bool internal_nonblock = false;  ///< grove_nonblock and not user_nonblock: the user sees blocking
  bool not_pollable = false;       ///< not a socket or pipe: calls on it are plain libc
  bool byte_stream = false;        ///< a stream socket or a pipe: a short read empties it
  std::chrono::nanoseconds receive_timeout{0};  ///< SO_RCVTIMEO (zero: none)
  std::chrono::nanoseconds send_timeout{0};     ///< SO_SNDTIMEO (zero: none)
};

// Facts: any thread, no hub needed. -----------------------------------------------------------

/// What the table holds for `fd` (known == false when nothing).
fd_facts fd_lookup(int fd) noexcept;
/// `fd` was just created (socket, accept, pipe...): forget whatever an earlier descriptor of the
/// same number left, and record its O_NONBLOCK as the user asked for it and as grove set it.
void fd_adopt(int fd, bool user_nonblock, bool internal_nonblock) noexcept;
/// `to` now shares `from`'s open file description (dup, dup2, dup3, F_DUPFD).
void fd_duplicate(int from, int to) noexcept;
/// The user set or cleared O_NONBLOCK on `fd`'s description (F_SETFL, FIONBIO). Returns true if
/// grove keeps the kernel's flag set (the descriptor was non-blocking for grove already), so the
/// caller must not clear it in the kernel.
bool fd_set_user_nonblock(int fd, bool on) noexcept;
/// Records SO_RCVTIMEO (read) or SO_SNDTIMEO (write) of `fd`'s socket.
void fd_set_timeout(int fd, io_direction dir, std::chrono::nanoseconds timeout) noexcept;
/// The deadline a call on `fd` starting now waits until (its SO_RCVTIMEO / SO_SNDTIMEO).
time_point fd_deadline(int fd, io_direction dir) noexcept;
/// `fd` is being closed: wakes this hub's waiters on it with `closed`, drops its registration
/// and forgets its facts. Call it before the close itself (the number may be reused at once).
void fd_closing(int fd) noexcept;
/// `fd` was just created by a call grove saw (socket, accept, pipe...): whatever grove knew of an
/// earlier descriptor of the same number (closed behind its back) is forgotten.
inline void fd_opened(int fd) noexcept { fd_closing(fd); }
/// The generation of descriptor number `fd` (changes whenever it is closed or created).
std::uint32_t fd_generation(int fd) noexcept;

// Cooperative waits: the running fiber of this thread's hub, never throwing. -----------------

/// Prepares `fd` for a call that waits cooperatively: learns its facts the first time (fstat,
/// fcntl), makes the kernel's flag non-blocking (the user still sees blocking) and registers it
/// with this hub. Only sockets and pipes cooperate: a terminal made non-blocking would stay so
/// for the shell after the program ends. nullptr when the call must go to libc unchanged: no
/// running fiber, the user set O_NONBLOCK, not a socket or pipe, or not open. Descriptors are
/// made non-blocking lazily, at their first cooperative call, not when created: a pipe or
/// socket handed to a child process stays blocking unless this process waited on it.
fd_state* fd_cooperative(int fd) noexcept;
/// Registers `fd` with this hub without touching its flags (for poll, select, epoll_wait).
/// nullptr when there is no running fiber or epoll refuses it.
fd_state* fd_watch(int fd) noexcept;

/// How a cooperative wait ended.
enum class fd_wait_status : std::uint8_t {
  ready,      ///< the descriptor is ready (fd_perform: the attempt's outcome is in the result)
  deadline,   ///< the wait's own deadline passed (SO_RCVTIMEO: EAGAIN; poll: 0)
  closed,     ///< the descriptor was closed while the fiber waited (EBADF)
  killed,     ///< the fiber was killed; the kill stays pending for the next grove wait
  timed_out,  ///< a grove::timeout scope expired; raised at the next grove wait
  failed,     ///< no memory for the waiters (poll on very many descriptors)
};

/// Runs `attempt` until it stops reporting would_block, waiting for readiness in between (see
/// fd_registration::perform). The attempt's outcome is in `result` when the status is ready.
fd_wait_status fd_perform(fd_state* state, io_direction dir, io_attempt attempt, void* context,
                          time_point deadline, io_result& result) noexcept;
/// Waits for the next readiness event of `state` for `dir`, ignoring what is known so far (a
/// connect that reported EINPROGRESS).
fd_wait_status fd_wait_event(fd_state* state, io_direction dir, time_point deadline) noexcept;

/// One descriptor of a wait on many, and the directions it waits for.
struct fd_interest {
  fd_state* state = nullptr;  ///< from fd_watch(); nullptr entries are skipped
  bool read = false;
  bool write = false;
};
/// One suspension until any of `interests` reports an event for one of its directions, the
/// deadline passes, or a kill / scoped timeout arrives. Call it after checking, without waiting,
/// that none is ready (poll with a zero timeout): only events from now on end the wait.
fd_wait_status fd_wait_any(const fd_interest* interests, std::size_t count,
                           time_point deadline) noexcept;

/// Suspends the running fiber until `deadline` (or a kill / scoped timeout), with errno kept.
fd_wait_status sleep_noexcept(time_point deadline) noexcept;

}  // namespace grove::detail
