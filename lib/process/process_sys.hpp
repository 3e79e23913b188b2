// The kernel calls of the process code that lib/core/sys.hpp does not wrap, called directly for
// the same reason: libgrove_shims interposes waitpid/waitid/poll/read... and a shim must never
// run underneath grove's own machinery (an attempt must not suspend).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/sys.hpp"

namespace grove::detail::sys {

inline ssize_t readv(int fd, const ::iovec* iov, int count) noexcept {
  return ::syscall(SYS_readv, fd, iov, count);
}
inline ssize_t writev(int fd, const ::iovec* iov, int count) noexcept {
  return ::syscall(SYS_writev, fd, iov, count);
}
/// poll(2) through ppoll; `timeout_ms` < 0 waits forever.
inline int poll_one(int fd, short events, int timeout_ms) noexcept {
  ::pollfd p{fd, events, 0};
  ::timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  return static_cast<int>(
      ::syscall(SYS_ppoll, &p, 1, timeout_ms < 0 ? nullptr : &ts, nullptr, sizeof(sigset_t)));
}
inline int waitid(idtype_t type, id_t id, ::siginfo_t* info, int options) noexcept {
  return static_cast<int>(::syscall(SYS_waitid, type, id, info, options, nullptr));
}
/// waitpid(pid, nullptr, 0): reaps `pid`, retrying on EINTR.
inline void reap_blocking(int pid) noexcept {
  while (::syscall(SYS_wait4, pid, nullptr, 0, nullptr) < 0 && errno == EINTR) {
  }
}
inline int open(const char* path, int flags, mode_t mode) noexcept {
  return static_cast<int>(::syscall(SYS_openat, AT_FDCWD, path, flags, mode));
}

}  // namespace grove::detail::sys
