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
    buffered_ = std::move(other.buffered_);
  }
  return *this;
}

void pipe_stream::close() noexcept {
  int fd = registration_.fd();
  if (fd < 0) return;
  registration_.release(true);
  detail::sys::close(fd);
  buffered_.clear();
}

void pipe_stream::fail(const char* what, std::error_code ec) const {
  if (ec == std::errc::operation_canceled)
    ec = std::make_error_code(std::errc::bad_file_descriptor);
  throw pipe_error(std::string("grove::pipe_stream: ") + what, ec);
}

std::size_t pipe_stream::receive(detail::iovec_array& iov, std::error_code& ec) {
  if (iov.total == 0) return 0;
  if (!buffered_.empty()) {  // left over from read_until
    std::size_t n = 0;
    for (std::size_t i = 0; i < iov.count && n < buffered_.size(); ++i) {
      std::size_t k = std::min(iov.iov[i].iov_len, buffered_.size() - n);
      std::memcpy(iov.iov[i].iov_base, buffered_.data() + n, k);
      n += k;
    }
    buffered_.erase(0, n);
    return n;
  }
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

std::size_t pipe_stream::send(detail::iovec_array& iov, std::error_code& ec) {
  if (iov.total == 0) return 0;
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

void pipe_stream::write_all(std::string_view data) {
  auto iov = detail::to_iovecs(boost::asio::buffer(data));
  while (iov.total > 0) {
    std::error_code ec;
    std::size_t n = send(iov, ec);
    if (ec) fail("write", ec);
    detail::consume(iov, n);
  }
}

std::string pipe_stream::read_all() {
  std::string all = std::exchange(buffered_, std::string());
  for (;;) {
    std::size_t old_size = all.size();
    std::size_t chunk = std::max<std::size_t>(64 * 1024, old_size / 2);
    all.resize(old_size + chunk);
    auto iov = detail::to_iovecs(boost::asio::buffer(all.data() + old_size, chunk));
    std::error_code ec;
    std::size_t n = receive(iov, ec);
    all.resize(old_size + n);
    if (ec) fail("read", ec);
    if (n == 0) return all;
  }
}

std::string pipe_stream::read_until(std::string_view delimiter, std::size_t max_size) {
  if (delimiter.empty()) throw error("grove::pipe_stream: read_until needs a non-empty delimiter");
  std::size_t searched = 0;  // bytes of buffered_ known not to start a delimiter
  for (;;) {
    std::size_t at = buffered_.find(delimiter, searched);
    if (at != std::string::npos) {
      std::size_t end = at + delimiter.size();
      std::string line = buffered_.substr(0, end);
      buffered_.erase(0, end);
      return line;
    }
    if (buffered_.size() >= max_size) {
      fail("read_until", std::make_error_code(std::errc::message_size));
    }
    if (!is_open()) fail("read", std::make_error_code(std::errc::bad_file_descriptor));
    searched = buffered_.size() >= delimiter.size() ? buffered_.size() - delimiter.size() + 1 : 0;
    std::size_t old_size = buffered_.size();
    std::size_t chunk = std::max<std::size_t>(4096, old_size / 2);
    buffered_.resize(old_size + chunk);
    auto iov = detail::to_iovecs(boost::asio::buffer(buffered_.data() + old_size, chunk));
    io_args args{&iov};
    detail::io_result r =
        registration_.perform(detail::io_direction::read, &try_read, &args, detail::no_deadline);
    buffered_.resize(old_size + r.bytes);
    if (r.ec) fail("read", r.ec);
    if (r.bytes == 0) return std::exchange(buffered_, std::string());  // end of stream
  }
}

}  // namespace grove
