// The descriptor family: close, dup, dup2, dup3, fcntl (F_GETFL, F_SETFL, F_DUPFD...), ioctl
// (FIONBIO), pipe, pipe2, setsockopt (SO_RCVTIMEO, SO_SNDTIMEO). None of them waits; they keep
// the descriptor table true to the kernel (fd_table.hpp):
// - close wakes every fiber waiting on the descriptor (they fail with EBADF) and drops its
//   registration before the number can be reused;
// - O_NONBLOCK belongs to the open file description: dup'ed descriptors share grove's record;
//   F_GETFL / FIONBIO report the user's own setting even where grove made the kernel's flag
//   non-blocking for a fiber, and clearing it keeps the kernel's flag grove relies on;
// - SO_RCVTIMEO / SO_SNDTIMEO become the deadlines of cooperative waits (EAGAIN on expiry).
// These calls update the table outside fibers too: a descriptor may move between threads.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstring>

#include "fd_call.hpp"

namespace grove::shims {
namespace {

int raw_close(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }
int raw_dup(int fd) { return static_cast<int>(syscall(SYS_dup, fd)); }
int raw_dup2(int fd, int to) {
  if (fd == to) return static_cast<int>(syscall(SYS_fcntl, fd, F_GETFD)) < 0 ? -1 : to;
  return static_cast<int>(syscall(SYS_dup3, fd, to, 0));
}
int raw_dup3(int fd, int to, int flags) {
  return static_cast<int>(syscall(SYS_dup3, fd, to, flags));
}
int raw_fcntl(int fd, int command, ...) {
  va_list ap;
  va_start(ap, command);
  void* argument = va_arg(ap, void*);
  va_end(ap);
  return static_cast<int>(syscall(SYS_fcntl, fd, command, argument));
}
int raw_ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* argument = va_arg(ap, void*);
  va_end(ap);
  return static_cast<int>(syscall(SYS_ioctl, fd, request, argument));
}
int raw_pipe(int* fds) { return static_cast<int>(syscall(SYS_pipe2, fds, 0)); }
int raw_pipe2(int* fds, int flags) { return static_cast<int>(syscall(SYS_pipe2, fds, flags)); }
int raw_setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  return static_cast<int>(syscall(SYS_setsockopt, fd, level, name, value, length));
}

constinit real_function<int(int)> real_close{"close", &raw_close};
constinit real_function<int(int)> real_dup{"dup", &raw_dup};
constinit real_function<int(int, int)> real_dup2{"dup2", &raw_dup2};
constinit real_function<int(int, int, int)> real_dup3{"dup3", &raw_dup3};
constinit real_function<int(int, int, ...)> real_fcntl{"fcntl", &raw_fcntl};
constinit real_function<int(int, int, ...)> real_fcntl64{"fcntl64", &raw_fcntl};
constinit real_function<int(int, unsigned long, ...)> real_ioctl{"ioctl", &raw_ioctl};
constinit real_function<int(int*)> real_pipe{"pipe", &raw_pipe};
constinit real_function<int(int*, int)> real_pipe2{"pipe2", &raw_pipe2};
constinit real_function<int(int, int, int, const void*, socklen_t)> real_setsockopt{
    "setsockopt", &raw_setsockopt};

/// dup2 and dup3: the target's old descriptor is closed by the call, its waiters woken first.
template <class Call>
int duplicate_onto(int fd, int to, Call&& call) noexcept {
  if (fd != to && raw_fcntl(fd, F_GETFD) >= 0) detail::fd_closing(to);
  int r = call();
  if (r >= 0 && fd != to) detail::fd_duplicate(fd, r);
  return r;
}

int do_fcntl(real_function<int(int, int, ...)>& real, int fd, int command,
             void* argument) noexcept {
  switch (command) {
    case F_GETFL: {
      int flags = real(fd, command);
      if (flags >= 0 && detail::fd_lookup(fd).internal_nonblock) flags &= ~O_NONBLOCK;
      return flags;
    }
    case F_SETFL: {
      int flags = static_cast<int>(reinterpret_cast<std::intptr_t>(argument));
      // A descriptor grove waits on stays non-blocking in the kernel; the user's choice is kept
      // in the table and honoured by every shim.
      int passed = detail::fd_lookup(fd).grove_nonblock ? flags | O_NONBLOCK : flags;
      int r = real(fd, command, passed);
      if (r == 0) detail::fd_set_user_nonblock(fd, flags & O_NONBLOCK);
      return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      int r = real(fd, command, argument);
      if (r >= 0) detail::fd_duplicate(fd, r);
      return r;
    }
    default:
      return real(fd, command, argument);
  }
}

}  // namespace
}  // namespace grove::shims

using namespace grove::shims;

GROVE_SHIM_EXPORT int close(int fd) {
  grove::detail::fd_closing(fd);
  return real_close(fd);
}

GROVE_SHIM_EXPORT int dup(int fd) {
  int r = real_dup(fd);
  if (r >= 0) grove::detail::fd_duplicate(fd, r);
  return r;
}

GROVE_SHIM_EXPORT int dup2(int fd, int to) {
  return duplicate_onto(fd, to, [&] { return real_dup2(fd, to); });
}

GROVE_SHIM_EXPORT int dup3(int fd, int to, int flags) {
  return duplicate_onto(fd, to, [&] { return real_dup3(fd, to, flags); });
}

// <fcntl.h> renames fcntl to fcntl64 under _FILE_OFFSET_BITS=64: both are defined here under
// their exact symbol names.
GROVE_SHIM_EXPORT int grove_shim_fcntl(int fd, int command, ...) __asm__("fcntl");
GROVE_SHIM_EXPORT int grove_shim_fcntl64(int fd, int command, ...) __asm__("fcntl64");

GROVE_SHIM_EXPORT int grove_shim_fcntl(int fd, int command, ...) {
  va_list ap;
  va_start(ap, command);
  void* argument = va_arg(ap, void*);
  va_end(ap);
  return do_fcntl(real_fcntl, fd, command, argument);
}

GROVE_SHIM_EXPORT int grove_shim_fcntl64(int fd, int command, ...) {
  va_list ap;
  va_start(ap, command);
  void* argument = va_arg(ap, void*);
  va_end(ap);
  return do_fcntl(real_fcntl64, fd, command, argument);
}

GROVE_SHIM_EXPORT int ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* argument = va_arg(ap, void*);
  va_end(ap);
  if (request != FIONBIO || !argument) return real_ioctl(fd, request, argument);
  bool on = *static_cast<const int*>(argument) != 0;
  int r;
  if (!on && grove::detail::fd_lookup(fd).grove_nonblock) {
    int keep = 1;  // grove waits on it: the kernel's flag stays; the user's view changes
    r = real_ioctl(fd, request, &keep);
  } else {
    r = real_ioctl(fd, request, argument);
  }
  if (r == 0) grove::detail::fd_set_user_nonblock(fd, on);
  return r;
}

GROVE_SHIM_EXPORT int pipe(int fds[2]) {
  int r = real_pipe(fds);
  if (r == 0) {
    grove::detail::fd_opened(fds[0]);
    grove::detail::fd_opened(fds[1]);
  }
  return r;
}

GROVE_SHIM_EXPORT int pipe2(int fds[2], int flags) {
  int r = real_pipe2(fds, flags);
  if (r == 0) {
    grove::detail::fd_opened(fds[0]);
    grove::detail::fd_opened(fds[1]);
  }
  return r;
}

GROVE_SHIM_EXPORT int setsockopt(int fd, int level, int name, const void* value, socklen_t length) {
  int r = real_setsockopt(fd, level, name, value, length);
  if (r != 0 || level != SOL_SOCKET || !value) return r;
  bool receive = name == SO_RCVTIMEO_OLD || name == SO_RCVTIMEO_NEW;
  bool send = name == SO_SNDTIMEO_OLD || name == SO_SNDTIMEO_NEW;
  if (!receive && !send) return r;
  // On 64-bit Linux both forms are {64-bit seconds, 64-bit microseconds}.
  struct {
    std::int64_t seconds, microseconds;
  } t{};
  if (length < sizeof t) return r;
  std::memcpy(&t, value, sizeof t);
  auto timeout = std::chrono::seconds(t.seconds) + std::chrono::microseconds(t.microseconds);
  grove::detail::fd_set_timeout(
      fd, receive ? grove::detail::io_direction::read : grove::detail::io_direction::write,
      timeout);
  return r;
}
