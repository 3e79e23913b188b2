// What grove's byte streams (net::stream_socket, udp_socket, pipe_stream) share: a buffer
// sequence as iovecs for one readv/writev-style call, dropping what a call transferred, and an
// error in Asio's terms for the SyncReadStream / SyncWriteStream overloads.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <system_error>

namespace grove::detail {

/// A buffer sequence as iovecs, for one readv/writev-style call (Asio caps sequences at 64 too).
struct iovec_array {
  static constexpr std::size_t capacity = 64;
  ::iovec iov[capacity];
  std::size_t count = 0;
  std::size_t total = 0;
};

/// The non-empty buffers of `buffers` (at most iovec_array::capacity of them).
template <class Buffers>
iovec_array to_iovecs(const Buffers& buffers) {
  iovec_array a;
  auto end = boost::asio::buffer_sequence_end(buffers);
  for (auto it = boost::asio::buffer_sequence_begin(buffers); it != end; ++it) {
    boost::asio::const_buffer b(*it);
    if (b.size() == 0) continue;
    if (a.count == iovec_array::capacity) break;
    a.iov[a.count++] = {const_cast<void*>(b.data()), b.size()};
    a.total += b.size();
  }
  return a;
}

/// Drops the first `n` bytes of `iov` (what a partial readv/writev transferred).
inline void consume(iovec_array& iov, std::size_t n) noexcept {
  iov.total -= n;
  std::size_t i = 0;
  while (i < iov.count && n >= iov.iov[i].iov_len) n -= iov.iov[i++].iov_len;
  std::copy(iov.iov + i, iov.iov + iov.count, iov.iov);
  iov.count -= i;
  if (iov.count > 0 && n > 0) {
    iov.iov[0].iov_base = static_cast<char*>(iov.iov[0].iov_base) + n;
    iov.iov[0].iov_len -= n;
  }
}

/// The same error as a boost::system::error_code, comparing equal to Asio's constants.
inline boost::system::error_code to_boost_error(const std::error_code& ec) noexcept {
  if (!ec) return {};
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    return {ec.value(), boost::system::system_category()};
  }
  return boost::system::error_code(ec);
}

}  // namespace grove::detail
