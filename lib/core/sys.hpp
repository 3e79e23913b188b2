// The kernel, called directly. grove's own descriptor code (sockets, the descriptor table, the
// poller) must never enter libgrove_shims' interposed libc functions: a shim would wait through
// the very machinery that is calling it, or count a grove socket twice. syscall(2) is not
// interposed, so these wrappers reach the kernel whether or not the shims are loaded. They
// return what libc's functions return (-1 and errno on failure).
#pragma once

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace grove::detail::sys {

inline ssize_t read(int fd, void* buf, size_t n) noexcept {
  return ::syscall(SYS_read, fd, buf, n);
}
inline ssize_t write(int fd, const void* buf, size_t n) noexcept {
  return ::syscall(SYS_write, fd, buf, n);
}
inline ssize_t recv(int fd, void* buf, size_t n, int flags) noexcept {
  return ::syscall(SYS_recvfrom, fd, buf, n, flags, nullptr, nullptr);
}
inline ssize_t send(int fd, const void* buf, size_t n, int flags) noexcept {
  return ::syscall(SYS_sendto, fd, buf, n, flags, nullptr, 0);
}
inline ssize_t recvmsg(int fd, ::msghdr* msg, int flags) noexcept {
  return ::syscall(SYS_recvmsg, fd, msg, flags);
}
inline ssize_t sendmsg(int fd, const ::msghdr* msg, int flags) noexcept {
  return ::syscall(SYS_sendmsg, fd, msg, flags);
}
inline int accept4(int fd, ::sockaddr* peer, ::socklen_t* length, int flags) noexcept {
  return static_cast<int>(::syscall(SYS_accept4, fd, peer, length, flags));
}
inline int connect(int fd, const ::sockaddr* address, ::socklen_t length) noexcept {
  return static_cast<int>(::syscall(SYS_connect, fd, address, length));
}
inline int socket(int domain, int type, int protocol) noexcept {
  return static_cast<int>(::syscall(SYS_socket, domain, type, protocol));
}
inline int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  return static_cast<int>(::syscall(SYS_socketpair, domain, type, protocol, fds));
}
inline int bind(int fd, const ::sockaddr* address, ::socklen_t length) noexcept {
  return static_cast<int>(::syscall(SYS_bind, fd, address, length));
}
inline int listen(int fd, int backlog) noexcept {
  return static_cast<int>(::syscall(SYS_listen, fd, backlog));
}
inline int shutdown(int fd, int how) noexcept {
  return static_cast<int>(::syscall(SYS_shutdown, fd, how));
}
inline int setsockopt(int fd, int level, int name, const void* value, ::socklen_t length) noexcept {
  return static_cast<int>(::syscall(SYS_setsockopt, fd, level, name, value, length));
}
inline int getsockopt(int fd, int level, int name, void* value, ::socklen_t* length) noexcept {
  return static_cast<int>(::syscall(SYS_getsockopt, fd, level, name, value, length));
}
inline int close(int fd) noexcept { return static_cast<int>(::syscall(SYS_close, fd)); }
inline int fcntl(int fd, int command, long argument = 0) noexcept {
  return static_cast<int>(::syscall(SYS_fcntl, fd, command, argument));
}
inline int fstat(int fd, struct ::stat* st) noexcept {
  return static_cast<int>(::syscall(SYS_fstat, fd, st));
}
inline int pipe2(int fds[2], int flags) noexcept {
  return static_cast<int>(::syscall(SYS_pipe2, fds, flags));
}
inline int epoll_create1(int flags) noexcept {
  return static_cast<int>(::syscall(SYS_epoll_create1, flags));
}
inline int epoll_ctl(int epfd, int op, int fd, ::epoll_event* event) noexcept {
  return static_cast<int>(::syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
inline int epoll_wait(int epfd, ::epoll_event* events, int max, int timeout_ms) noexcept {
  // epoll_pwait with no mask: some architectures have no epoll_wait syscall.
  return static_cast<int>(::syscall(SYS_epoll_pwait, epfd, events, max, timeout_ms, nullptr, 8));
}

}  // namespace grove::detail::sys
