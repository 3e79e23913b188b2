#include <sys/socket.h>

#include <cerrno>
#include <grove/net/resolve.hpp>
#include <grove/net/udp.hpp>
#include <string>

#include "core/sys.hpp"
#include "net/attempt.hpp"
#include "net/socket_name.hpp"

namespace grove::net {
namespace {

int open_udp_socket(int family) {
  int fd = detail::sys::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw net_error("grove::net: udp socket", {errno, std::system_category()});
  return fd;
}

struct datagram_args {
  detail::iovec_array* iov;
  ::msghdr msg{};
};

detail::io_status try_send_to(void* context, int fd, std::error_code& ec,
                              std::size_t& bytes) noexcept {
  auto& args = *static_cast<datagram_args*>(context);
  // A datagram goes whole or not at all: never "drained".
  return detail::attempt_syscall([&] { return detail::sys::sendmsg(fd, &args.msg, MSG_NOSIGNAL); },
                                 ec, bytes, 0);
}

detail::io_status try_receive_from(void* context, int fd, std::error_code& ec,
                                   std::size_t& bytes) noexcept {
  auto& args = *static_cast<datagram_args*>(context);
  return detail::attempt_syscall([&] { return detail::sys::recvmsg(fd, &args.msg, 0); }, ec, bytes,
                                 0);
}

}  // namespace

udp_socket udp_socket::bind(const udp_endpoint& endpoint) {
  udp_socket s(open_udp_socket(endpoint.protocol().family()));
  if (detail::sys::bind(s.native_handle(), endpoint.data(),
                        static_cast<::socklen_t>(endpoint.size())) != 0) {
    throw net_error("grove::net: bind udp to " + endpoint.address().to_string() + ":" +
                        std::to_string(endpoint.port()),
                    {errno, std::system_category()});
  }
  return s;
}

udp_socket udp_socket::bind(std::string_view host, std::uint16_t port) {
  boost::system::error_code parse_error;
  auto address = boost::asio::ip::make_address(std::string(host), parse_error);
  if (parse_error) {
    resolve_options options;
    options.passive = true;
    address = resolve(host, std::to_string(port), options).front().address();
  }
  return bind(udp_endpoint(address, port));
}

udp_socket udp_socket::open(const boost::asio::ip::udp& protocol) {
  return udp_socket(open_udp_socket(protocol.family()));
}

std::size_t udp_socket::send_to(detail::iovec_array& iov, const udp_endpoint& destination) {
  datagram_args args{&iov};
  args.msg.msg_name = const_cast<::sockaddr*>(destination.data());
  args.msg.msg_namelen = static_cast<::socklen_t>(destination.size());
  args.msg.msg_iov = iov.iov;
  args.msg.msg_iovlen = iov.count;
  detail::io_result r = perform(detail::io_direction::write, &try_send_to, &args);
  if (r.ec) fail("send_to", r.ec);
  return r.bytes;
}

udp_socket::received udp_socket::receive_from(detail::iovec_array& iov) {
  received out;
  datagram_args args{&iov};
  args.msg.msg_name = out.sender.data();
  args.msg.msg_namelen = static_cast<::socklen_t>(out.sender.capacity());
  args.msg.msg_iov = iov.iov;
  args.msg.msg_iovlen = iov.count;
  detail::io_result r = perform(detail::io_direction::read, &try_receive_from, &args);
  if (r.ec) fail("receive_from", r.ec);
  out.sender.resize(args.msg.msg_namelen);
  out.size = r.bytes;
  out.truncated = (args.msg.msg_flags & MSG_TRUNC) != 0;
  return out;
}

udp_endpoint udp_socket::local_endpoint() const {
  check_open("local_endpoint");
  return socket_name<udp_endpoint>(native_handle(), false);
}

}  // namespace grove::net
