// socket and stream_socket: the syscalls, as attempts for detail::fd_registration::perform.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <grove/detail/deadline.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/net/socket.hpp>
#include <string>

#include "core/sys.hpp"
#include "net/attempt.hpp"

namespace grove::net {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

struct io_args {
  detail::iovec_array* iov;
};

// A short read means the socket was emptied; a short write, that its send buffer is full.
detail::io_status try_receive(void* context, int fd, std::error_code& ec,
                              std::size_t& bytes) noexcept {
  auto& iov = *static_cast<io_args*>(context)->iov;
  return detail::attempt_syscall(
      [&] {
        if (iov.count == 1)
          return detail::sys::recv(fd, iov.iov[0].iov_base, iov.iov[0].iov_len, 0);
        ::msghdr msg{};
        msg.msg_iov = iov.iov;
        msg.msg_iovlen = iov.count;
        return detail::sys::recvmsg(fd, &msg, 0);
      },
      ec, bytes, iov.total);
}

detail::io_status try_send(void* context, int fd, std::error_code& ec,
                           std::size_t& bytes) noexcept {
  auto& iov = *static_cast<io_args*>(context)->iov;
  return detail::attempt_syscall(
      [&] {
        if (iov.count == 1) {
          return detail::sys::send(fd, iov.iov[0].iov_base, iov.iov[0].iov_len, MSG_NOSIGNAL);
        }
        ::msghdr msg{};
        msg.msg_iov = iov.iov;
        msg.msg_iovlen = iov.count;
        return detail::sys::sendmsg(fd, &msg, MSG_NOSIGNAL);
      },
      ec, bytes, iov.total);
}

struct accept_args {
  ::sockaddr* peer;
  ::socklen_t* length;
  int fd = -1;
};

detail::io_status try_accept(void* context, int fd, std::error_code& ec,
                             std::size_t& bytes) noexcept {
  auto& args = *static_cast<accept_args*>(context);
  return detail::attempt_syscall(
      [&]() -> ssize_t {
        args.fd = detail::sys::accept4(fd, args.peer, args.length, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return args.fd < 0 ? -1 : 0;
      },
      ec, bytes, 0);
}


std::string describe(std::chrono::nanoseconds d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  if (us % 1000 == 0) return std::to_string(us / 1000) + " ms";
  return std::to_string(us) + " us";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// socket

socket::socket(int fd) {
  if (std::error_code ec = registration_.open(fd)) {
    detail::sys::close(fd);
    throw net_error("grove::net: registering a socket with the hub", ec);
  }
}

socket& socket::operator=(socket&& other) noexcept {
  if (this != &other) {
    close();
    registration_ = std::move(other.registration_);
    timeout_ = other.timeout_;
  }
  return *this;
}

void socket::close() noexcept {
  int fd = registration_.fd();
  if (fd < 0) return;
  // Waiters wake with operation_canceled, before the descriptor can be reused. grove's sockets
  // are close-on-exec and never dup'ed: closing drops them from epoll without epoll_ctl(DEL).
  registration_.release(true);
  detail::sys::close(fd);
}

void socket::set_option(int level, int name, int value) {
  check_open("setsockopt");
  if (detail::sys::setsockopt(native_handle(), level, name, &value, sizeof value) != 0) {
    fail("setsockopt", last_error());
  }
}

int socket::get_option(int level, int name) const {
  check_open("getsockopt");
  int value = 0;
  ::socklen_t length = sizeof value;
  if (detail::sys::getsockopt(native_handle(), level, name, &value, &length) != 0) {
    fail("getsockopt", last_error());
  }
  return value;
}

detail::time_point socket::call_deadline() const noexcept {
  if (timeout_ <= timeout_.zero()) return detail::no_deadline;
  return detail::deadline_after(timeout_);  // saturates: a huge limit never overflows
}

void socket::check_open(const char* what) const {
  if (!is_open()) fail(what, std::make_error_code(std::errc::bad_file_descriptor));
}

void socket::fail(const char* what, std::error_code ec) const {
  std::string text = std::string("grove::net: ") + what;
  if (ec == std::errc::timed_out && timeout_ > timeout_.zero()) {
    text += " (socket timeout of " + describe(timeout_) + ")";
  }
  throw net_error(text, ec);
}

detail::io_result socket::perform(detail::io_direction dir, detail::io_attempt attempt,
                                  void* context) {
  if (!is_open()) return {std::make_error_code(std::errc::bad_file_descriptor), 0};
  detail::io_result r = registration_.perform(dir, attempt, context, call_deadline());
  if (r.ec && r.ec == std::errc::operation_canceled) {  // test first: comparing costs calls
    r.ec = std::make_error_code(std::errc::bad_file_descriptor);  // closed while we waited
  }
  return r;
}

std::error_code socket::connect_to(const ::sockaddr* address, ::socklen_t length,
                                   detail::time_point deadline) {
  int fd = native_handle();
  for (;;) {
    if (detail::sys::connect(fd, address, length) == 0) return {};
    if (errno == EINTR) continue;
    if (errno == EINPROGRESS) break;
    if (errno == EAGAIN && address->sa_family == AF_UNIX) {
      // A Unix listener's backlog is full: there is no readiness to wait for; retry shortly.
      grove::this_fiber::sleep_for(std::chrono::milliseconds(1));
      if (detail::clock::now() >= deadline) return std::make_error_code(std::errc::timed_out);
      continue;
    }
    return last_error();
  }
  std::error_code ec = registration_.wait_ready(detail::io_direction::write, deadline);
  if (ec == std::errc::operation_canceled)
    return std::make_error_code(std::errc::bad_file_descriptor);
  if (ec) return ec;
  int error = 0;
  ::socklen_t size = sizeof error;
  if (detail::sys::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return last_error();
  return {error, std::system_category()};
}

int socket::accept_descriptor(::sockaddr* peer, ::socklen_t* length, std::error_code& ec) {
  accept_args args{peer, length};
  detail::io_result r = perform(detail::io_direction::read, &try_accept, &args);
  ec = r.ec;
  return ec ? -1 : args.fd;
}

// ---------------------------------------------------------------------------------------------
// stream_socket

std::size_t stream_socket::kernel_read(detail::iovec_array& iov, std::error_code& ec) {
  io_args args{&iov};
  detail::io_result r = perform(detail::io_direction::read, &try_receive, &args);
  ec = r.ec;
  return r.bytes;
}

std::size_t stream_socket::kernel_write(detail::iovec_array& iov, std::error_code& ec) {
  io_args args{&iov};
  detail::io_result r = perform(detail::io_direction::write, &try_send, &args);
  ec = r.ec;
  return r.bytes;
}

void stream_socket::read_exact(detail::iovec_array& iov) {
  while (iov.total > 0) {
    std::error_code ec;
    std::size_t n = receive(iov, ec);
    if (ec) fail("read", ec);
    if (n == 0) fail("read_exact", make_error_code(net_errc::end_of_stream));
    detail::consume(iov, n);
  }
}

void stream_socket::shutdown(shutdown_type how) {
  check_open("shutdown");
  if (detail::sys::shutdown(native_handle(), static_cast<int>(how)) != 0 && errno != ENOTCONN) {
    fail("shutdown", last_error());
  }
}

stream_socket::executor_type stream_socket::get_executor() const {
  return hub::current().io_context().get_executor();
}

}  // namespace grove::net
