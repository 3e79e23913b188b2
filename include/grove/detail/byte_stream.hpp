// The read and write calls of grove's byte streams (net::stream_socket, pipe_stream), written
// once. A stream derives from byte_stream<Stream> (befriending it) and provides:
//   std::size_t kernel_read(iovec_array&, std::error_code&);   // iov not empty; 0 = end
//   std::size_t kernel_write(iovec_array&, std::error_code&);  // iov not empty
//   [[noreturn]] void fail(const char* what, std::error_code) const;  // its own error type
// Both kernel calls wait (suspending the fiber) until they transfer something or fail.
#pragma once

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstring>
#include <grove/detail/stream_buffers.hpp>
#include <grove/error.hpp>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace grove::detail {

template <class Stream>
class byte_stream {
 public:
  /// Reads at least one byte into `buffers` (waiting if none is available); returns the count,
  /// 0 at end of stream. Throws the stream's error type.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value std::size_t
  read_some(const MutableBufferSequence& buffers) {
    auto iov = to_iovecs(buffers);
    std::error_code ec;
    std::size_t n = receive(iov, ec);
    if (ec) self().fail("read", ec);
    return n;
  }
  /// Asio's SyncReadStream read_some: end of stream is boost::asio::error::eof.
  template <class MutableBufferSequence>
  requires boost::asio::is_mutable_buffer_sequence<MutableBufferSequence>::value std::size_t
  read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    auto iov = to_iovecs(buffers);
    std::error_code error;
    std::size_t n = receive(iov, error);
    ec = to_boost_error(error);
    if (!error && n == 0 && iov.total > 0) ec = boost::asio::error::eof;
    return n;
  }
  /// Reads up to and including `delimiter`; returns "" at end of stream, or the rest of the
  /// stream if it ends without one. Throws the stream's error (message_size) past `max_size`
  /// bytes. Bytes read beyond the delimiter are kept for the next read.
  std::string read_until(std::string_view delimiter, std::size_t max_size = 64 * 1024) {
    if (delimiter.empty()) throw error("grove: read_until needs a non-empty delimiter");
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
        self().fail("read_until", std::make_error_code(std::errc::message_size));
      }
      searched = buffered_.size() >= delimiter.size() ? buffered_.size() - delimiter.size() + 1 : 0;
      if (read_more(4096) == 0) return std::exchange(buffered_, std::string());  // end
    }
  }
  /// Reads until end of stream and returns everything read.
  std::string read_all() {
    while (read_more(64 * 1024) != 0) {
    }
    return std::exchange(buffered_, std::string());
  }

  /// Writes some of `buffers` (waiting until at least one byte fits); returns the count.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t write_some(
      const ConstBufferSequence& buffers) {
    auto iov = to_iovecs(buffers);
    std::error_code ec;
    std::size_t n = send(iov, ec);
    if (ec) self().fail("write", ec);
    return n;
  }
  /// Asio's SyncWriteStream write_some.
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value std::size_t write_some(
      const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    auto iov = to_iovecs(buffers);
    std::error_code error;
    std::size_t n = send(iov, error);
    ec = to_boost_error(error);
    return n;
  }
  /// Writes all of `buffers`. Throws the stream's error (peer gone: broken_pipe or
  /// connection_reset).
  template <class ConstBufferSequence>
  requires boost::asio::is_const_buffer_sequence<ConstBufferSequence>::value void write_all(
      const ConstBufferSequence& buffers) {
    auto iov = to_iovecs(buffers);
    while (iov.total > 0) {
      std::error_code ec;
      std::size_t n = send(iov, ec);
      if (ec) self().fail("write", ec);
      consume(iov, n);
    }
  }
  /// Writes all of `data`.
  void write_all(std::string_view data) { write_all(boost::asio::buffer(data)); }

 protected:
  /// Serves what read_until read ahead first, then the kernel.
  std::size_t receive(iovec_array& iov, std::error_code& ec) {
    if (iov.total == 0) return 0;
    if (buffered_.empty()) return self().kernel_read(iov, ec);
    std::size_t n = 0;
    for (std::size_t i = 0; i < iov.count && n < buffered_.size(); ++i) {
      std::size_t k = std::min(iov.iov[i].iov_len, buffered_.size() - n);
      std::memcpy(iov.iov[i].iov_base, buffered_.data() + n, k);
      n += k;
    }
    buffered_.erase(0, n);
    return n;
  }
  std::size_t send(iovec_array& iov, std::error_code& ec) {
    return iov.total == 0 ? 0 : self().kernel_write(iov, ec);
  }
  /// Forgets what was read ahead (the stream was closed or moved from).
  void drop_read_ahead() noexcept { buffered_.clear(); }

 private:
  Stream& self() noexcept { return static_cast<Stream&>(*this); }

  /// Appends one kernel read of up to max(at_least, half the buffer) bytes to buffered_;
  /// returns the count (0 at end of stream). Throws on error.
  std::size_t read_more(std::size_t at_least) {
    std::size_t old_size = buffered_.size();
    std::size_t chunk = std::max(at_least, old_size / 2);
    buffered_.resize(old_size + chunk);
    auto iov = to_iovecs(boost::asio::buffer(buffered_.data() + old_size, chunk));
    std::error_code ec;
    std::size_t n = self().kernel_read(iov, ec);
    buffered_.resize(old_size + n);
    if (ec) self().fail("read", ec);
    return n;
  }

  std::string buffered_;  ///< read ahead by read_until, served first by every read
};

}  // namespace grove::detail
