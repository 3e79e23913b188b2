// The socket family: socket, socketpair, connect, accept, accept4; read, write, readv, writev;
// recv, recvfrom, recvmsg, recvmmsg; send, sendto, sendmsg, sendmmsg; and the fortified
// __read_chk, __recv_chk, __recvfrom_chk. fd_call.hpp says when a call cooperates.
//
// Blocking semantics kept inside a fiber: a read returns as soon as some data is there; a write
// on a stream socket or a pipe returns once everything is written (or with the count written so
// far when an error, the socket's SO_SNDTIMEO, a kill or a timeout ends it); recv(MSG_WAITALL)
// waits for the whole length; MSG_DONTWAIT is the caller asking for one non-blocking call, which
// it gets from libc. recvmmsg returns once at least one message is there (as with
// MSG_WAITFORONE): its own timeout argument is passed to the kernel unchanged.
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>

#include "fd_call.hpp"

namespace grove::shims {
namespace {

using detail::io_direction;

// Fallbacks while dlsym cannot be asked (see shim.hpp): the kernel, directly.
ssize_t raw_read(int fd, void* b, size_t n) { return syscall(SYS_read, fd, b, n); }
ssize_t raw_write(int fd, const void* b, size_t n) { return syscall(SYS_write, fd, b, n); }
ssize_t raw_readv(int fd, const iovec* v, int n) { return syscall(SYS_readv, fd, v, n); }
ssize_t raw_writev(int fd, const iovec* v, int n) { return syscall(SYS_writev, fd, v, n); }
ssize_t raw_recv(int fd, void* b, size_t n, int f) {
  return syscall(SYS_recvfrom, fd, b, n, f, nullptr, nullptr);
}
ssize_t raw_recvfrom(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) {
  return syscall(SYS_recvfrom, fd, b, n, f, a, l);
}
ssize_t raw_recvmsg(int fd, msghdr* m, int f) { return syscall(SYS_recvmsg, fd, m, f); }
int raw_recvmmsg(int fd, mmsghdr* v, unsigned n, int f, timespec* t) {
  return static_cast<int>(syscall(SYS_recvmmsg, fd, v, n, f, t));
}
ssize_t raw_send(int fd, const void* b, size_t n, int f) {
  return syscall(SYS_sendto, fd, b, n, f, nullptr, 0);
}
ssize_t raw_sendto(int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l) {
  return syscall(SYS_sendto, fd, b, n, f, a, l);
}
ssize_t raw_sendmsg(int fd, const msghdr* m, int f) { return syscall(SYS_sendmsg, fd, m, f); }
int raw_sendmmsg(int fd, mmsghdr* v, unsigned n, int f) {
  return static_cast<int>(syscall(SYS_sendmmsg, fd, v, n, f));
}
int raw_socket(int d, int t, int p) { return static_cast<int>(syscall(SYS_socket, d, t, p)); }
int raw_socketpair(int d, int t, int p, int* fds) {
  return static_cast<int>(syscall(SYS_socketpair, d, t, p, fds));
}
int raw_connect(int fd, const sockaddr* a, socklen_t l) {
  return static_cast<int>(syscall(SYS_connect, fd, a, l));
}
int raw_accept(int fd, sockaddr* a, socklen_t* l) {
  return static_cast<int>(syscall(SYS_accept4, fd, a, l, 0));
}
int raw_accept4(int fd, sockaddr* a, socklen_t* l, int f) {
  return static_cast<int>(syscall(SYS_accept4, fd, a, l, f));
}

constinit real_function<ssize_t(int, void*, size_t)> real_read{"read", &raw_read};
constinit real_function<ssize_t(int, const void*, size_t)> real_write{"write", &raw_write};
constinit real_function<ssize_t(int, const iovec*, int)> real_readv{"readv", &raw_readv};
constinit real_function<ssize_t(int, const iovec*, int)> real_writev{"writev", &raw_writev};
constinit real_function<ssize_t(int, void*, size_t, int)> real_recv{"recv", &raw_recv};
constinit real_function<ssize_t(int, void*, size_t, int, sockaddr*, socklen_t*)> real_recvfrom{
    "recvfrom", &raw_recvfrom};
constinit real_function<ssize_t(int, msghdr*, int)> real_recvmsg{"recvmsg", &raw_recvmsg};
constinit real_function<int(int, mmsghdr*, unsigned, int, timespec*)> real_recvmmsg{"recvmmsg",
                                                                                    &raw_recvmmsg};
constinit real_function<ssize_t(int, const void*, size_t, int)> real_send{"send", &raw_send};
constinit real_function<ssize_t(int, const void*, size_t, int, const sockaddr*, socklen_t)>
    real_sendto{"sendto", &raw_sendto};
constinit real_function<ssize_t(int, const msghdr*, int)> real_sendmsg{"sendmsg", &raw_sendmsg};
constinit real_function<int(int, mmsghdr*, unsigned, int)> real_sendmmsg{"sendmmsg", &raw_sendmmsg};
constinit real_function<int(int, int, int)> real_socket{"socket", &raw_socket};
constinit real_function<int(int, int, int, int*)> real_socketpair{"socketpair", &raw_socketpair};
constinit real_function<int(int, const sockaddr*, socklen_t)> real_connect{"connect", &raw_connect};
constinit real_function<int(int, sockaddr*, socklen_t*)> real_accept{"accept", &raw_accept};
constinit real_function<int(int, sockaddr*, socklen_t*, int)> real_accept4{"accept4", &raw_accept4};

std::size_t total_length(const iovec* iov, int count) noexcept {
  std::size_t total = 0;
  for (int i = 0; i < count; ++i) total += iov[i].iov_len;
  return total;
}

/// A short read below `asked` empties a byte stream; on datagrams and peeks it says nothing.
std::size_t drain_hint(int fd, std::size_t asked, int flags = 0) noexcept {
  if (flags & MSG_PEEK) return 0;
  return detail::fd_lookup(fd).byte_stream ? asked : 0;
}

/// A copy of an iovec array that a write-everything loop may consume.
class iovec_cursor {
 public:
  iovec_cursor(const iovec* iov, int count) noexcept {
    if (count < 0) count = 0;
    if (count > small) {
      heap_.reset(new (std::nothrow) iovec[count]);
      if (!heap_) count = small;  // no memory: write what fits, as one call may anyway
    }
    iov_ = heap_ ? heap_.get() : local_;
    std::copy(iov, iov + count, iov_);
    count_ = count;
    remaining_ = total_length(iov_, count_);
  }
  const iovec* data() const noexcept { return iov_; }
  int count() const noexcept { return count_; }
  std::size_t remaining() const noexcept { return remaining_; }
  void consume(std::size_t n) noexcept {
    remaining_ -= n;
    while (count_ > 0 && n >= iov_->iov_len) {
      n -= iov_->iov_len;
      ++iov_;
      --count_;
    }
    if (count_ > 0 && n > 0) {
      iov_->iov_base = static_cast<char*>(iov_->iov_base) + n;
      iov_->iov_len -= n;
    }
  }

 private:
  static constexpr int small = 16;
  iovec local_[small];
  std::unique_ptr<iovec[]> heap_;
  iovec* iov_ = nullptr;
  int count_ = 0;
  std::size_t remaining_ = 0;
};

/// A cooperative write: on a byte stream, repeated until everything is written, as a blocking
/// write does; `call(cursor)` writes from the cursor once (non-blocking).
template <class Call>
ssize_t cooperative_write(detail::fd_state* s, int fd, iovec_cursor& cursor, Call&& call) noexcept {
  bool stream = detail::fd_lookup(fd).byte_stream;
  ssize_t written = 0;
  do {
    io_outcome o = cooperative_call(s, fd, io_direction::write, cursor.remaining(),
                                    [&] { return call(cursor); });
    if (o.result < 0) {
      if (written > 0) return written;  // what a blocking write reports when interrupted
      errno = o.error;
      return -1;
    }
    written += o.result;
    cursor.consume(static_cast<std::size_t>(o.result));
  } while (stream && cursor.remaining() > 0);
  return written;
}

[[gnu::noinline]] ssize_t do_read(int fd, void* buf, size_t n) noexcept {
  if (detail::fd_state* s = cooperative_descriptor(fd)) {
    return report(cooperative_call(s, fd, io_direction::read, drain_hint(fd, n),
                                   [&] { return real_read(fd, buf, n); }));
  }
  return plain_call(fd, io_direction::read, [&] { return real_read(fd, buf, n); });
}

[[gnu::noinline]] ssize_t do_recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from,
                                      socklen_t* from_length) noexcept {
  auto call = [&] {
    return from || from_length ? real_recvfrom(fd, buf, n, flags, from, from_length)
                               : real_recv(fd, buf, n, flags);
  };
  if (flags & MSG_DONTWAIT) return call();  // one non-blocking call, asked for
  detail::fd_state* s = cooperative_descriptor(fd);
  if (!s) return plain_call(fd, io_direction::read, call);
  if (!(flags & MSG_WAITALL) || !detail::fd_lookup(fd).byte_stream || n == 0) {
    return report(cooperative_call(s, fd, io_direction::read, drain_hint(fd, n, flags), call));
  }
  // MSG_WAITALL: the whole length, unless the stream ends or fails first.
  size_t got = 0;
  while (got < n) {
    io_outcome o = cooperative_call(s, fd, io_direction::read, n - got, [&] {
      return real_recvfrom(fd, static_cast<char*>(buf) + got, n - got, flags, from, from_length);
    });
    if (o.result < 0) {
      if (got > 0) break;
      errno = o.error;
      return -1;
    }
    if (o.result == 0) break;
    got += static_cast<size_t>(o.result);
  }
  return static_cast<ssize_t>(got);
}

[[gnu::noinline]] ssize_t do_send(int fd, const void* buf, size_t n, int flags, const sockaddr* to,
                                  socklen_t to_length) noexcept {
  auto once = [&](const void* b, size_t k) {
    return to ? real_sendto(fd, b, k, flags, to, to_length) : real_send(fd, b, k, flags);
  };
  if (flags & MSG_DONTWAIT) return once(buf, n);
  detail::fd_state* s = cooperative_descriptor(fd);
  if (!s) return plain_call(fd, io_direction::write, [&] { return once(buf, n); });
  iovec one{const_cast<void*>(buf), n};
  iovec_cursor cursor(&one, 1);
  return cooperative_write(s, fd, cursor, [&](const iovec_cursor& c) {
    return c.count() ? once(c.data()->iov_base, c.data()->iov_len) : once(buf, 0);
  });
}

}  // namespace

int wait_errno(detail::fd_wait_status status) noexcept {
  switch (status) {
    case detail::fd_wait_status::deadline:
      return EAGAIN;
    case detail::fd_wait_status::closed:
      return EBADF;
    case detail::fd_wait_status::killed:
      return interruption_errno(detail::wake_reason::killed);
    case detail::fd_wait_status::timed_out:
      return interruption_errno(detail::wake_reason::timeout);
    case detail::fd_wait_status::failed:
      return ENOMEM;
    default:
      return 0;
  }
}

bool block_after_eagain(int fd, short events, io_direction dir,
                        detail::time_point& deadline) noexcept {
  if (!detail::fd_lookup(fd).internal_nonblock) return false;  // the user's own EAGAIN
  if (deadline == detail::time_point::min()) deadline = detail::fd_deadline(fd, dir);
  timespec limit{};
  timespec* limit_ptr = nullptr;
  if (deadline != detail::no_deadline) {
    auto left = deadline - detail::clock::now();
    if (left <= left.zero()) {
      errno = EAGAIN;  // SO_RCVTIMEO / SO_SNDTIMEO expired, as the kernel reports it
      return false;
    }
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    limit = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    limit_ptr = &limit;
  }
  pollfd p{fd, events, 0};
  long r = syscall(SYS_ppoll, &p, 1, limit_ptr, nullptr, 8);
  if (r < 0) return false;  // EINTR: a signal handler ran, as it would interrupt the call
  if (r == 0) {
    errno = EAGAIN;
    return false;
  }
  return true;
}

}  // namespace grove::shims

using namespace grove::shims;
using grove::detail::io_direction;

extern "C" [[noreturn]] void __chk_fail(void);

// The hottest calls test for a hub first and go straight to libc without one (the passthrough
// of bench/shims_passthrough_bench.cpp); the rest of their work lives out of line.
namespace {
[[gnu::noinline]] ssize_t read_slow(int fd, void* buf, size_t n) noexcept {
  if (outside_any_hub())
    return plain_call(fd, io_direction::read, [&] { return real_read(fd, buf, n); });
  return do_read(fd, buf, n);
}
}  // namespace

GROVE_SHIM_EXPORT ssize_t read(int fd, void* buf, size_t n) {
  if (plain_libc()) [[likely]]
    return real_read.get()(fd, buf, n);  // a tail call: two loads and a jump more than libc
  return read_slow(fd, buf, n);
}

GROVE_SHIM_EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) __chk_fail();  // glibc reports the overflow and aborts
  return do_read(fd, buf, n);
}

namespace {
[[gnu::noinline]] ssize_t do_write(int fd, const void* buf, size_t n) noexcept {
  auto once = [&](const void* b, size_t k) { return real_write(fd, b, k); };
  if (grove::detail::fd_state* s = cooperative_descriptor(fd)) {
    iovec one{const_cast<void*>(buf), n};
    iovec_cursor cursor(&one, 1);
    return cooperative_write(s, fd, cursor, [&](const iovec_cursor& c) {
      return c.count() ? once(c.data()->iov_base, c.data()->iov_len) : once(buf, 0);
    });
  }
  return plain_call(fd, io_direction::write, [&] { return once(buf, n); });
}
}  // namespace

namespace {
[[gnu::noinline]] ssize_t write_slow(int fd, const void* buf, size_t n) noexcept {
  if (outside_any_hub())
    return plain_call(fd, io_direction::write, [&] { return real_write(fd, buf, n); });
  return do_write(fd, buf, n);
}
}  // namespace

GROVE_SHIM_EXPORT ssize_t write(int fd, const void* buf, size_t n) {
  if (plain_libc()) [[likely]]
    return real_write.get()(fd, buf, n);  // a tail call: two loads and a jump more than libc
  return write_slow(fd, buf, n);
}

GROVE_SHIM_EXPORT ssize_t readv(int fd, const iovec* iov, int count) {
  auto call = [&] { return real_readv(fd, iov, count); };
  if (grove::detail::fd_state* s = cooperative_descriptor(fd)) {
    std::size_t asked = count > 0 && iov ? total_length(iov, count) : 0;
    return report(cooperative_call(s, fd, io_direction::read, drain_hint(fd, asked), call));
  }
  return plain_call(fd, io_direction::read, call);
}

GROVE_SHIM_EXPORT ssize_t writev(int fd, const iovec* iov, int count) {
  grove::detail::fd_state* s =
      count > 0 && count <= IOV_MAX && iov ? cooperative_descriptor(fd) : nullptr;
  if (!s) return plain_call(fd, io_direction::write, [&] { return real_writev(fd, iov, count); });
  iovec_cursor cursor(iov, count);
  return cooperative_write(
      s, fd, cursor, [&](const iovec_cursor& c) { return real_writev(fd, c.data(), c.count()); });
}

namespace {
[[gnu::noinline]] ssize_t recv_slow(int fd, void* buf, size_t n, int flags) noexcept {
  if (outside_any_hub())
    return plain_call(fd, io_direction::read, [&] { return real_recv(fd, buf, n, flags); });
  return do_recvfrom(fd, buf, n, flags, nullptr, nullptr);
}
}  // namespace

GROVE_SHIM_EXPORT ssize_t recv(int fd, void* buf, size_t n, int flags) {
  if (plain_libc()) [[likely]]
    return real_recv.get()(fd, buf, n, flags);  // a tail call: two loads and a jump more than libc
  return recv_slow(fd, buf, n, flags);
}

GROVE_SHIM_EXPORT ssize_t __recv_chk(int fd, void* buf, size_t n, size_t buflen, int flags) {
  if (n > buflen) __chk_fail();
  return do_recvfrom(fd, buf, n, flags, nullptr, nullptr);
}

GROVE_SHIM_EXPORT ssize_t recvfrom(int fd, void* buf, size_t n, int flags, sockaddr* from,
                                   socklen_t* from_length) {
  if (outside_any_hub()) [[likely]] {
    return plain_call(fd, io_direction::read,
                      [&] { return real_recvfrom(fd, buf, n, flags, from, from_length); });
  }
  return do_recvfrom(fd, buf, n, flags, from, from_length);
}

GROVE_SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void* buf, size_t n, size_t buflen, int flags,
                                         sockaddr* from, socklen_t* from_length) {
  if (n > buflen) __chk_fail();
  return do_recvfrom(fd, buf, n, flags, from, from_length);
}

GROVE_SHIM_EXPORT ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  auto call = [&] { return real_recvmsg(fd, msg, flags); };
  if (flags & MSG_DONTWAIT) return call();
  grove::detail::fd_state* s = msg ? cooperative_descriptor(fd) : nullptr;
  if (!s) return plain_call(fd, io_direction::read, call);
  std::size_t asked =
      msg->msg_iov ? total_length(msg->msg_iov, static_cast<int>(msg->msg_iovlen)) : 0;
  return report(cooperative_call(s, fd, io_direction::read, drain_hint(fd, asked, flags), call));
}

GROVE_SHIM_EXPORT int recvmmsg(int fd, mmsghdr* vec, unsigned count, int flags, timespec* limit) {
  auto call = [&] { return real_recvmmsg(fd, vec, count, flags, limit); };
  if (flags & MSG_DONTWAIT) return call();
  grove::detail::fd_state* s = cooperative_descriptor(fd);
  if (!s) return plain_call(fd, io_direction::read, call);
  return static_cast<int>(report(cooperative_call(s, fd, io_direction::read, 0, call)));
}

namespace {
[[gnu::noinline]] ssize_t send_slow(int fd, const void* buf, size_t n, int flags) noexcept {
  if (outside_any_hub())
    return plain_call(fd, io_direction::write, [&] { return real_send(fd, buf, n, flags); });
  return do_send(fd, buf, n, flags, nullptr, 0);
}
}  // namespace

GROVE_SHIM_EXPORT ssize_t send(int fd, const void* buf, size_t n, int flags) {
  if (plain_libc()) [[likely]]
    return real_send.get()(fd, buf, n, flags);  // a tail call: two loads and a jump more than libc
  return send_slow(fd, buf, n, flags);
}

GROVE_SHIM_EXPORT ssize_t sendto(int fd, const void* buf, size_t n, int flags, const sockaddr* to,
                                 socklen_t to_length) {
  if (outside_any_hub()) [[likely]] {
    return plain_call(fd, io_direction::write,
                      [&] { return real_sendto(fd, buf, n, flags, to, to_length); });
  }
  return do_send(fd, buf, n, flags, to, to_length);
}

GROVE_SHIM_EXPORT ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
  if (flags & MSG_DONTWAIT) return real_sendmsg(fd, msg, flags);
  grove::detail::fd_state* s = msg && msg->msg_iov ? cooperative_descriptor(fd) : nullptr;
  if (!s) return plain_call(fd, io_direction::write, [&] { return real_sendmsg(fd, msg, flags); });
  iovec_cursor cursor(msg->msg_iov, static_cast<int>(msg->msg_iovlen));
  msghdr copy = *msg;
  return cooperative_write(s, fd, cursor, [&](const iovec_cursor& c) {
    copy.msg_iov = const_cast<iovec*>(c.data());
    copy.msg_iovlen = static_cast<size_t>(c.count());
    ssize_t r = real_sendmsg(fd, &copy, flags);
    if (r > 0) {  // ancillary data (SCM_RIGHTS...) goes with the first bytes only
      copy.msg_control = nullptr;
      copy.msg_controllen = 0;
    }
    return r;
  });
}

GROVE_SHIM_EXPORT int sendmmsg(int fd, mmsghdr* vec, unsigned count, int flags) {
  if (flags & MSG_DONTWAIT) return real_sendmmsg(fd, vec, count, flags);
  grove::detail::fd_state* s = cooperative_descriptor(fd);
  if (!s) {
    return plain_call(fd, io_direction::write,
                      [&] { return real_sendmmsg(fd, vec, count, flags); });
  }
  // A blocking sendmmsg sends every message; a non-blocking one stops where the buffer fills.
  unsigned sent = 0;
  do {
    io_outcome o = cooperative_call(s, fd, io_direction::write, 0, [&] {
      return real_sendmmsg(fd, vec + sent, count - sent, flags);
    });
    if (o.result < 0) {
      if (sent > 0) break;
      errno = o.error;
      return -1;
    }
    sent += static_cast<unsigned>(o.result);
  } while (sent < count);
  return static_cast<int>(sent);
}

GROVE_SHIM_EXPORT int socket(int domain, int type, int protocol) {
  int fd = real_socket(domain, type, protocol);
  if (fd >= 0) grove::detail::fd_opened(fd);
  return fd;
}

GROVE_SHIM_EXPORT int socketpair(int domain, int type, int protocol, int fds[2]) {
  int r = real_socketpair(domain, type, protocol, fds);
  if (r == 0) {
    grove::detail::fd_opened(fds[0]);
    grove::detail::fd_opened(fds[1]);
  }
  return r;
}

namespace {

int finish_accept(int fd) noexcept {
  if (fd >= 0) grove::detail::fd_opened(fd);
  return fd;
}

/// Waits for a non-blocking connect that reported EINPROGRESS and reads its outcome (SO_ERROR).
int finish_connect(grove::detail::fd_state* s, int fd) noexcept {
  auto deadline = grove::detail::fd_deadline(fd, io_direction::write);
  for (;;) {
    grove::detail::fd_wait_status status =
        grove::detail::fd_wait_event(s, io_direction::write, deadline);
    if (status == grove::detail::fd_wait_status::deadline) {
      errno = EINPROGRESS;  // what a blocking connect reports when SO_SNDTIMEO expires
      return -1;
    }
    if (status != grove::detail::fd_wait_status::ready) {
      errno = wait_errno(status);
      return -1;
    }
    // An event for the socket, but is the connect over? Writable or failed says so.
    pollfd p{fd, POLLOUT, 0};
    timespec zero{};
    if (syscall(SYS_ppoll, &p, 1, &zero, nullptr, 8) == 0) continue;
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return -1;
    if (error != 0) {
      errno = error;
      return -1;
    }
    return 0;
  }
}

}  // namespace

GROVE_SHIM_EXPORT int connect(int fd, const sockaddr* address, socklen_t length) {
  grove::detail::fd_state* s = cooperative_descriptor(fd);
  if (!s) {
    int r = real_connect(fd, address, length);
    if (r == 0 || errno != EINPROGRESS || !grove::detail::fd_lookup(fd).internal_nonblock) return r;
    // grove made the socket non-blocking for a fiber; this caller expects a blocking connect.
    grove::detail::time_point deadline = grove::detail::time_point::min();
    errno = EAGAIN;
    for (;;) {
      if (!block_after_eagain(fd, POLLOUT, io_direction::write, deadline)) {
        if (errno == EAGAIN) errno = EINPROGRESS;
        return -1;
      }
      int error = 0;
      socklen_t size = sizeof error;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return -1;
      if (error == 0) return 0;
      errno = error;
      return -1;
    }
  }
  auto deadline = grove::detail::fd_deadline(fd, io_direction::write);
  for (;;) {
    if (real_connect(fd, address, length) == 0) return 0;
    if (errno == EINPROGRESS) return finish_connect(s, fd);
    if (errno == EAGAIN && address && address->sa_family == AF_UNIX) {
      // A Unix listener's backlog is full: no readiness says when it drains; retry shortly.
      if (grove::detail::deadline_passed(deadline)) return -1;
      auto status = grove::detail::sleep_noexcept(
          grove::detail::deadline_after(std::chrono::milliseconds(1)));
      if (status != grove::detail::fd_wait_status::deadline) {
        errno = wait_errno(status);
        return -1;
      }
      continue;
    }
    return -1;
  }
}

GROVE_SHIM_EXPORT int accept4(int fd, sockaddr* peer, socklen_t* length, int flags) {
  auto call = [&] { return real_accept4(fd, peer, length, flags); };
  if (grove::detail::fd_state* s = cooperative_descriptor(fd)) {
    return finish_accept(
        static_cast<int>(report(cooperative_call(s, fd, io_direction::read, 0, call))));
  }
  return finish_accept(plain_call(fd, io_direction::read, call));
}

GROVE_SHIM_EXPORT int accept(int fd, sockaddr* peer, socklen_t* length) {
  if (grove::detail::fd_state* s = cooperative_descriptor(fd)) {
    auto call = [&] { return real_accept4(fd, peer, length, 0); };
    return finish_accept(
        static_cast<int>(report(cooperative_call(s, fd, io_direction::read, 0, call))));
  }
  return finish_accept(
      plain_call(fd, io_direction::read, [&] { return real_accept(fd, peer, length); }));
}
