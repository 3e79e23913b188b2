// getsockname / getpeername into Asio endpoint types.
#pragma once

#include <sys/socket.h>

#include <cerrno>
#include <grove/net/error.hpp>
#include <system_error>

namespace grove::net {

/// The local (peer = false) or remote address of `fd` as an Asio endpoint; throws net_error.
template <class Endpoint>
Endpoint socket_name(int fd, bool peer) {
  Endpoint endpoint;
  auto length = static_cast<::socklen_t>(endpoint.capacity());
  int rc = peer ? ::getpeername(fd, endpoint.data(), &length)
                : ::getsockname(fd, endpoint.data(), &length);
  if (rc != 0) {
    throw net_error(peer ? "grove::net: getpeername" : "grove::net: getsockname",
                    {errno, std::system_category()});
  }
  endpoint.resize(length);
  return endpoint;
}

}  // namespace grove::net
