// The socket types every grove::net socket is built from: `socket` (a descriptor owned by one
// hub, with a per-operation timeout) and `stream_socket` (reads and writes on a connected byte
// stream: TCP and Unix-domain streams).
//
// Example (any stream_socket; see tcp.hpp and unix.hpp for how to get one):
//   conn.set_timeout(30s);                        // each blocking call: net_error(timed_out)
//   std::string line = conn.read_until("\r\n");   // includes the delimiter; "" at end of stream
//   conn.write_all("hello\r\n");
//   char buf[4096];
//   std::size_t n = conn.read_some(boost::asio::buffer(buf));   // 0 at end of stream
//
// Blocking calls suspend only the calling fiber. One fiber may read while another writes the
// same socket. close() from another fiber wakes every fiber waiting on the socket with
// net_error(bad_file_descriptor). A kill or an expired grove::timeout cancels the wait and throws
// as everywhere in grove. Sockets are movable, but not while a fiber waits on them, and belong
// to the hub (thread) that created them.
//
// stream_socket models Asio's SyncReadStream and SyncWriteStream, so Asio's and Beast's
// synchronous algorithms (boost::asio::read, beast::http::read, websocket::stream<tcp_stream>)
// run unchanged in a fiber. As Asio requires, the error_code overload of read_some reports end
// of stream as boost::asio::error::eof; grove's throwing overload returns 0 instead.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <grove/detail/byte_stream.hpp>
#include <grove/detail/fd_wait.hpp>
#include <grove/detail/stream_buffers.hpp>
#include <grove/net/error.hpp>
#include <string>
#include <string_view>
#include <system_error>

namespace grove::detail {


}  // namespace grove::detail

namespace grove::net {

/// Options for the listeners' bind().
struct listen_options {
  int backlog = SOMAXCONN;    ///< pending connections the kernel queues (capped by somaxconn)
  bool reuse_address = true;  ///< SO_REUSEADDR: rebind while old connections are in TIME_WAIT
  bool reuse_port = false;    ///< SO_REUSEPORT: several listeners share the port (load spread)
};

/// Which directions shutdown() ends.
enum class shutdown_type { receive = SHUT_RD, send = SHUT_WR, both = SHUT_RDWR };

/// A socket descriptor owned by the current hub. Closed on destruction.
class socket {
 public:
  socket() noexcept = default;
  socket(socket&& other) noexcept = default;
  /// Closes this socket, then takes over `other`'s.
  socket& operator=(socket&& other) noexcept;
  ~socket() { close(); }

  /// True until close().
  bool is_open() const noexcept { return registration_.registered(); }
  /// The descriptor (-1 once closed). Keep it non-blocking.
  int native_handle() const noexcept { return registration_.fd(); }
  /// Closes the socket; fibers waiting on it wake with net_error(bad_file_descriptor).
  void close() noexcept;
  /// Limits how long each later blocking call may wait (zero: no limit, the default); past it
  /// the call throws net_error(timed_out) (the error_code overloads report it instead).
  void set_timeout(std::chrono::nanoseconds limit) noexcept { timeout_ = limit; }
  /// The limit set with set_timeout().
  std::chrono::nanoseconds timeout() const noexcept { return timeout_; }
  /// setsockopt(level, name) with an int value; throws net_error.
  void set_option(int level, int name, int value);
  /// getsockopt(level, name) of an int value; throws net_error.
  int get_option(int level, int name) const;

 protected:
  /// Adopts `fd` (non-blocking, close-on-exec) and registers it; closes it and throws on failure.
  explicit socket(int fd);
  /// Runs `attempt` when the socket is ready (see fd_registration::perform) within the timeout;
  /// a close meanwhile becomes bad_file_descriptor.
  detail::io_result perform(detail::io_direction dir, detail::io_attempt attempt, void* context);
  /// Connects a fresh socket to `address`, waiting until `deadline` at most.
  std::error_code connect_to(const ::sockaddr* address, ::socklen_t length,
                             detail::time_point deadline);
  /// Accepts one connection: the new descriptor (non-blocking) or -1 with `ec` set.
  int accept_descriptor(::sockaddr* peer, ::socklen_t* length, std::error_code& ec);
  /// The deadline of a blocking call starting now.
  detail::time_point call_deadline() const noexcept;
  /// Throws net_error("grove::net: <what>", ec), naming the timeout for timed_out.
  [[noreturn]] void fail(const char* what, std::error_code ec) const;
  /// Throws net_error unless the socket is open.
  void check_open(const char* what) const;

  detail::fd_registration registration_;
  std::chrono::nanoseconds timeout_{0};
};

/// A connected byte stream (TCP or Unix domain): reads, writes, shutdown.
class stream_socket : public socket, public detail::byte_stream<stream_socket> {
 public:
  using executor_type = boost::asio::io_context::executor_type;

  stream_socket() noexcept = default;

  // read_some, read_until, read_all, write_some, write_all: detail::byte_stream (net_error;
  // a peer reset is connection_reset, writing to a peer gone broken_pipe or connection_reset).

  /// Fills `buffers` completely; throws net_error(net_errc::end_of_stream) if the stream ends
  /// first.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value void read_exact(
      const MutableBufferSequence& buffers) {
    auto iov = detail::to_iovecs(buffers);
    read_exact(iov);
  }

  /// Ends one or both directions (the peer reads end of stream after shutdown(send)).
  void shutdown(shutdown_type how = shutdown_type::both);
  /// The hub's executor, for Asio and Beast (they only use it to build timers).
  executor_type get_executor() const;

 protected:
  explicit stream_socket(int fd) : socket(fd) {}

 private:
  friend class detail::byte_stream<stream_socket>;
  std::size_t kernel_read(detail::iovec_array& iov, std::error_code& ec);
  std::size_t kernel_write(detail::iovec_array& iov, std::error_code& ec);
  void read_exact(detail::iovec_array& iov);
};

}  // namespace grove::net
