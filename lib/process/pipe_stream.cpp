// pipe_stream: read/readv and write/writev as attempts for detail::fd_registration::perform,
// the same descriptor wait grove::net's sockets use.
#include <fcntl.h>
#include <signal.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <grove/pipe_stream.hpp>
#include <utility>

#include "net/attempt.hpp"
#include "process/process_sys.hpp"

namespace grove {

pipe_error::pipe_error(const std::string& what, std::error_code ec)
    : error(what + ": " + ec.message()), code_(ec) {}

namespace {

struct io_args {
  detail::iovec_array* iov;
};

detail::io_status try_read(void* context, int fd, std::error_code& ec,
                           std::size_t& bytes) noexcept {
  auto& iov = *static_cast<io_args*>(context)->iov;
  return detail::attempt_syscall(
      [&] {
        if (iov.count == 1) return detail::sys::read(fd, iov.iov[0].iov_base, iov.iov[0].iov_len);
        return detail::sys::readv(fd, iov.iov, static_cast<int>(iov.count));
      },
      ec, bytes, iov.total);
}

// A write to a pipe whose reader has gone raises SIGPIPE, whose default action ends the
// process; sockets avoid it with MSG_NOSIGNAL, pipes have no such flag. So the write runs with
// SIGPIPE blocked on this thread (a write's SIGPIPE is sent to the writing thread), and a
// SIGPIPE it raised is consumed before unblocking; one that was already pending is left alone.
detail::io_status try_write(void* context, int fd, std::error_code& ec,
                            std::size_t& bytes) noexcept {
  auto& iov = *static_cast<io_args*>(context)->iov;
  sigset_t pipe_only, previous, pending;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  detail::io_status status = detail::attempt_syscall(
      [&] {
        if (iov.count == 1) return detail::sys::write(fd, iov.iov[0].iov_base, iov.iov[0].iov_len);
        return detail::sys::writev(fd, iov.iov, static_cast<int>(iov.count));
      },
      ec, bytes, iov.total);
  if (ec.value() == EPIPE && !was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return status;
}


}  // namespace

pipe_stream::pipe_stream(int fd) {
  int flags = detail::sys::fcntl(fd, F_GETFL);
  if (flags < 0 || detail::sys::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    std::error_code ec(errno, std::system_category());
    detail::sys::close(fd);
    throw pipe_error("grove::pipe_stream: making a pipe non-blocking", ec);
  }
  if (std::error_code ec = registration_.open(fd)) {
    detail::sys::close(fd);
    throw pipe_error("grove::pipe_stream: registering a pipe with the hub", ec);
  }
}

pipe_stream& pipe_stream::operator=(pipe_stream&& other) noexcept {
  if (this != &other) {
    close();
    registration_ = std::move(other.registration_);
    detail::byte_stream<pipe_stream>::operator=(std::move(other));
  }
  return *this;
}

void pipe_stream::close() noexcept {
  int fd = registration_.fd();
  if (fd < 0) return;
  registration_.release(true);
  detail::sys::close(fd);
  drop_read_ahead();
}

void pipe_stream::fail(const char* what, std::error_code ec) const {
  if (ec == std::errc::operation_canceled)
    ec = std::make_error_code(std::errc::bad_file_descriptor);
  throw pipe_error(std::string("grove::pipe_stream: ") + what, ec);
}

std::size_t pipe_stream::kernel_read(detail::iovec_array& iov, std::error_code& ec) {
  if (!is_open()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  io_args args{&iov};
  detail::io_result r =
      registration_.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline);
  ec = r.ec;
  return r.bytes;
}

std::size_t pipe_stream::kernel_write(detail::iovec_array& iov, std::error_code& ec) {
  if (!is_open()) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return 0;
  }
  io_args args{&iov};
  detail::io_result r =
      registration_.perform(detail::io_direction::write, &try_write, &args, detail::no_deadline);
  ec = r.ec;
  return r.bytes;
}

}  // namespace grove
