// A pipe end as a grove stream: what grove::process hands out for a child's piped stdin, stdout
// and stderr, with the read/write calls of grove::net's streams.
//
// Example (line-by-line talk with a child):
//   auto p = grove::process::spawn({"bc", "-q"}, {.stdin_ = grove::stdio::pipe(),
//                                                  .stdout_ = grove::stdio::pipe()});
//   p.stdin_pipe().write_all("2^10\n");
//   std::string line = p.stdout_pipe().read_until("\n");   // "1024\n"
//   p.stdin_pipe().close();                                 // bc sees end of input
//   p.wait();
//
// Blocking calls suspend only the calling fiber (the descriptor waits on the hub like a socket).
// One fiber may read while another writes. close() from another fiber wakes the fibers waiting
// on the pipe with an error. A kill or an expired grove::timeout cancels the wait and throws as
// everywhere in grove. Writing to a pipe whose reader has gone throws grove::pipe_error
// (EPIPE): the process never receives SIGPIPE from these writes. Movable while no fiber waits on
// it; belongs to the hub (thread) that created it. Models Asio's SyncReadStream /
// SyncWriteStream like grove::net's streams.
#pragma once

#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <grove/detail/fd_wait.hpp>
#include <grove/detail/stream_buffers.hpp>
#include <grove/error.hpp>
#include <string>
#include <string_view>
#include <system_error>

namespace grove {

/// A failed pipe operation; code() is the system error (broken_pipe when the reader has gone).
class pipe_error : public error {
 public:
  /// `what` names the operation.
  pipe_error(const std::string& what, std::error_code ec);
  /// The system error.
  std::error_code code() const noexcept { return code_; }

 private:
  std::error_code code_;
};

/// One end of a pipe, registered with the current hub. Closed on destruction.
class pipe_stream {
 public:
  /// A closed pipe.
  pipe_stream() noexcept = default;
  /// Adopts `fd` (any pipe or FIFO end): makes it non-blocking and registers it with the
  /// current hub; closes it and throws pipe_error on failure.
  explicit pipe_stream(int fd);
  /// Takes over `other`'s descriptor (no fiber may wait on it).
  pipe_stream(pipe_stream&& other) noexcept = default;
  /// Closes this pipe, then takes over `other`'s.
  pipe_stream& operator=(pipe_stream&& other) noexcept;
  ~pipe_stream() { close(); }

  /// True until close().
  bool is_open() const noexcept { return registration_.registered(); }
  /// The descriptor (-1 once closed).
  int native_handle() const noexcept { return registration_.fd(); }
  /// Closes the pipe (a child reading it sees end of input); waiting fibers wake with an error.
  void close() noexcept;

  /// Reads at least one byte into `buffers` (waiting if none is available); 0 at end of stream.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value std::size_t
  read_some(const MutableBufferSequence& buffers) {
    auto iov = detail::to_iovecs(buffers);
    std::error_code ec;
    std::size_t n = receive(iov, ec);
    if (ec) fail("read", ec);
    return n;
  }
  /// Asio's SyncReadStream read_some: end of stream is boost::asio::error::eof.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value std::size_t
  read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    auto iov = detail::to_iovecs(buffers);
    std::error_code error;
    std::size_t n = receive(iov, error);
    ec = detail::to_boost_error(error);
    if (!error && n == 0 && iov.total > 0) ec = boost::asio::error::eof;
    return n;
  }
  /// Reads up to and including `delimiter`; "" at end of stream, or the rest of the stream if it
  /// ends without one. Throws pipe_error(message_size) past `max_size` bytes. Bytes read beyond
  /// the delimiter are kept for the next read.
  std::string read_until(std::string_view delimiter, std::size_t max_size = 64 * 1024);
  /// Reads until end of stream and returns everything read.
  std::string read_all();

  /// Writes some of `buffers` (waiting until at least one byte fits); returns the count.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t write_some(
      const ConstBufferSequence& buffers) {
    auto iov = detail::to_iovecs(buffers);
    std::error_code ec;
    std::size_t n = send(iov, ec);
    if (ec) fail("write", ec);
    return n;
  }
  /// Asio's SyncWriteStream write_some.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t write_some(
      const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    auto iov = detail::to_iovecs(buffers);
    std::error_code error;
    std::size_t n = send(iov, error);
    ec = detail::to_boost_error(error);
    return n;
  }
  /// Writes all of `data`; throws pipe_error (broken_pipe once the reader has gone).
  void write_all(std::string_view data);

 private:
  std::size_t receive(detail::iovec_array& iov, std::error_code& ec);
  std::size_t send(detail::iovec_array& iov, std::error_code& ec);
  [[noreturn]] void fail(const char* what, std::error_code ec) const;

  detail::fd_registration registration_;
  std::string buffered_;  ///< read ahead by read_until, served first by every read
};

}  // namespace grove
