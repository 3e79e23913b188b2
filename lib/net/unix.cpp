#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <grove/detail/deadline.hpp>
#include <grove/net/unix.hpp>

#include "core/sys.hpp"

namespace grove::net {
namespace {

/// `path` as a sockaddr_un; the length covers exactly the name (abstract names have no NUL).
::socklen_t make_address(std::string_view path, ::sockaddr_un& address) {
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    throw net_error("grove::net: unix socket path '" + std::string(path) + "'",
                    std::make_error_code(std::errc::filename_too_long));
  }
  std::memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  auto length = offsetof(::sockaddr_un, sun_path) + path.size() + (path[0] == '\0' ? 0 : 1);
  return static_cast<::socklen_t>(length);
}

int open_unix_socket(const std::string& what) {
  int fd = detail::sys::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw net_error("grove::net: " + what, {errno, std::system_category()});
  return fd;
}

std::string printable(std::string_view path) {
  std::string text(path);
  if (!text.empty() && text[0] == '\0') text[0] = '@';
  return text;
}

}  // namespace

unix_stream unix_stream::connect(std::string_view path, std::chrono::nanoseconds limit) {
  std::string what = "connect to " + printable(path);
  ::sockaddr_un address;
  ::socklen_t length = make_address(path, address);
  unix_stream stream(open_unix_socket(what));
  auto deadline = limit > limit.zero() ? detail::deadline_after(limit) : detail::no_deadline;
  if (std::error_code ec =
          stream.connect_to(reinterpret_cast<const ::sockaddr*>(&address), length, deadline)) {
    throw net_error("grove::net: " + what, ec);
  }
  return stream;
}

std::pair<unix_stream, unix_stream> unix_stream::pair() {
  int fds[2];
  if (detail::sys::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
    throw net_error("grove::net: socketpair", {errno, std::system_category()});
  }
  unix_stream first;
  try {
    first = unix_stream(fds[0]);
  } catch (...) {
    detail::sys::close(fds[1]);
    throw;
  }
  return {std::move(first), unix_stream(fds[1])};
}

unix_listener unix_listener::bind(std::string_view path, const listen_options& options) {
  std::string what = "bind to " + printable(path);
  ::sockaddr_un address;
  ::socklen_t length = make_address(path, address);
  unix_listener listener(open_unix_socket(what), std::string(path));
  if (options.reuse_address && path[0] != '\0') {
    struct ::stat st;
    if (::stat(listener.path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) {
      ::unlink(listener.path_.c_str());
    }
  }
  if (detail::sys::bind(listener.native_handle(), reinterpret_cast<const ::sockaddr*>(&address),
                        length) != 0) {
    throw net_error("grove::net: " + what, {errno, std::system_category()});
  }
  if (detail::sys::listen(listener.native_handle(), options.backlog) != 0) {
    throw net_error("grove::net: listen on " + printable(path), {errno, std::system_category()});
  }
  return listener;
}

unix_stream unix_listener::accept() {
  std::error_code ec;
  int fd = accept_descriptor(nullptr, nullptr, ec);
  if (fd < 0) fail("accept", ec);
  return unix_stream(fd);
}

}  // namespace grove::net
