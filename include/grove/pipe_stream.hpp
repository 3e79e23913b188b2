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
#include <grove/detail/byte_stream.hpp>
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
class pipe_stream : public detail::byte_stream<pipe_stream> {
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

  // read_some, read_until, read_all, write_some, write_all: detail::byte_stream (pipe_error;
  // write_all throws broken_pipe once the reader has gone).

 private:
  friend class detail::byte_stream<pipe_stream>;
  std::size_t kernel_read(detail::iovec_array& iov, std::error_code& ec);
  std::size_t kernel_write(detail::iovec_array& iov, std::error_code& ec);
  [[noreturn]] void fail(const char* what, std::error_code ec) const;

  detail::fd_registration registration_;
};

}  // namespace grove
