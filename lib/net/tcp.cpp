#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <grove/net/resolve.hpp>
#include <grove/net/tcp.hpp>
#include <grove/timeout.hpp>
#include <string>
#include <vector>

#include "core/sys.hpp"
#include "net/socket_name.hpp"

namespace grove::net {
namespace {

std::string describe(std::string_view host, std::uint16_t port) {
  std::string text(host);
  if (text.find(':') != std::string::npos) text = "[" + text + "]";
  return text + ":" + std::to_string(port);
}

std::string describe(const tcp_endpoint& endpoint) {
  return describe(endpoint.address().to_string(), endpoint.port());
}

int open_tcp_socket(const tcp_endpoint& endpoint, std::error_code& ec) {
  int fd = detail::sys::socket(endpoint.protocol().family(),
                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ec = {errno, std::system_category()};
  return fd;
}

/// The endpoints for `host`: itself if it is an address, else what it resolves to.
std::vector<tcp_endpoint> endpoints_for(std::string_view host, std::uint16_t port, bool passive) {
  boost::system::error_code parse_error;
  auto address = boost::asio::ip::make_address(std::string(host), parse_error);
  if (!parse_error) return {tcp_endpoint(address, port)};
  resolve_options options;
  options.passive = passive;
  return resolve(host, std::to_string(port), options);
}

/// Runs `fn` under a scoped timeout of `limit` (none if zero), reporting its expiry as
/// net_error(timed_out) so that callers see one error type for the socket's own limits.
template <class Fn>
auto within(std::chrono::nanoseconds limit, const std::string& what, Fn&& fn) {
  if (limit <= limit.zero()) return fn();
  grove::timeout scope(limit);
  try {
    return fn();
  } catch (const timeout_error& e) {
    if (!e.from(scope)) throw;
    throw net_error("grove::net: " + what, std::make_error_code(std::errc::timed_out));
  }
}

}  // namespace

tcp_stream tcp_stream::connect(std::string_view host, std::uint16_t port,
                               std::chrono::nanoseconds limit) {
  std::string what = "connect to " + describe(host, port);
  return within(limit, what, [&] {
    std::error_code last = std::make_error_code(std::errc::host_unreachable);
    for (const tcp_endpoint& endpoint : endpoints_for(host, port, false)) {
      int fd = open_tcp_socket(endpoint, last);
      if (fd < 0) continue;
      tcp_stream stream(fd);
      last = stream.connect_to(endpoint.data(), static_cast<::socklen_t>(endpoint.size()),
                               detail::no_deadline);
      if (!last) return stream;
    }
    throw net_error("grove::net: " + what, last);
  });
}

tcp_stream tcp_stream::connect(const tcp_endpoint& endpoint, std::chrono::nanoseconds limit) {
  return connect(endpoint.address().to_string(), endpoint.port(), limit);
}

tcp_endpoint tcp_stream::local_endpoint() const {
  check_open("local_endpoint");
  return socket_name<tcp_endpoint>(native_handle(), false);
}

tcp_endpoint tcp_stream::remote_endpoint() const {
  check_open("remote_endpoint");
  return socket_name<tcp_endpoint>(native_handle(), true);
}

void tcp_stream::set_no_delay(bool on) { set_option(IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0); }

void tcp_stream::set_keep_alive(bool on) { set_option(SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0); }

// ---------------------------------------------------------------------------------------------

tcp_listener tcp_listener::bind(const tcp_endpoint& endpoint, const listen_options& options) {
  std::string what = "bind to " + describe(endpoint);
  std::error_code ec;
  int fd = open_tcp_socket(endpoint, ec);
  if (fd < 0) throw net_error("grove::net: " + what, ec);
  tcp_listener listener(fd);
  if (options.reuse_address) listener.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
  if (options.reuse_port) listener.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
  if (detail::sys::bind(fd, endpoint.data(), static_cast<::socklen_t>(endpoint.size())) != 0) {
    throw net_error("grove::net: " + what, {errno, std::system_category()});
  }
  if (detail::sys::listen(fd, options.backlog) != 0) {
    throw net_error("grove::net: listen on " + describe(endpoint), {errno, std::system_category()});
  }
  return listener;
}

tcp_listener tcp_listener::bind(std::string_view host, std::uint16_t port,
                                const listen_options& options) {
  return bind(endpoints_for(host, port, true).front(), options);
}

tcp_stream tcp_listener::accept() {
  tcp_endpoint peer;
  ::socklen_t length = static_cast<::socklen_t>(peer.capacity());
  std::error_code ec;
  int fd = accept_descriptor(peer.data(), &length, ec);
  if (fd < 0) fail("accept", ec);
  return tcp_stream(fd);
}

tcp_endpoint tcp_listener::local_endpoint() const {
  check_open("local_endpoint");
  return socket_name<tcp_endpoint>(native_handle(), false);
}

}  // namespace grove::net
