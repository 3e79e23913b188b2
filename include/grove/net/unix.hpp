// Unix-domain stream sockets for fibers: unix_listener (bind to a path, accept) and unix_stream
// (connect to a path, then the reads and writes of stream_socket, see socket.hpp).
//
// Example:
//   auto listener = grove::net::unix_listener::bind("/tmp/grove.sock");
//   grove::spawn([&] {
//     auto conn = listener.accept();
//     conn.write_all(conn.read_until("\n"));
//   });
//   auto conn = grove::net::unix_stream::connect("/tmp/grove.sock");
//   conn.write_all("hi\n");
//   auto reply = conn.read_until("\n");                        // "hi\n"
//   auto [a, b] = grove::net::unix_stream::pair();             // socketpair(2), already connected
//
// A path starting with '\0' names a socket in Linux's abstract namespace (no file is created).
// With listen_options::reuse_address (the default) bind() first removes a socket file left at
// `path` by an earlier run (as Python's asyncio does); any other file there fails with
// address_in_use. The listener does not remove its file when it closes.
#pragma once

#include <chrono>
#include <grove/net/socket.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace grove::net {

/// A connected Unix-domain byte stream.
class unix_stream : public stream_socket {
 public:
  /// An empty (closed) stream.
  unix_stream() noexcept = default;
  /// Connects to the listener at `path` within `limit` (zero: no limit).
  static unix_stream connect(std::string_view path, std::chrono::nanoseconds limit = {});
  /// Two streams connected to each other (socketpair).
  static std::pair<unix_stream, unix_stream> pair();

 private:
  friend class unix_listener;
  explicit unix_stream(int fd) : stream_socket(fd) {}
};

/// A listening Unix-domain stream socket.
class unix_listener : public socket {
 public:
  /// An empty (closed) listener.
  unix_listener() noexcept = default;
  /// Binds to `path` and listens (see the note above about existing files).
  static unix_listener bind(std::string_view path, const listen_options& options = {});
  /// Waits for the next connection (net_error as tcp_listener::accept).
  unix_stream accept();
  /// The path the listener is bound to.
  const std::string& path() const noexcept { return path_; }

 private:
  explicit unix_listener(int fd, std::string path) : socket(fd), path_(std::move(path)) {}
  std::string path_;
};

}  // namespace grove::net
