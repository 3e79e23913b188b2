// What the network samples share (not part of grove's API): waiting for Ctrl-C in a fiber, and
// announcing the port a server listens on.
#pragma once

#include <csignal>
#include <cstdint>
#include <cstdio>

#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>

#include <grove/detail/completion.hpp>
#include <grove/hub.hpp>

namespace sample {

/// Suspends the calling fiber until SIGINT or SIGTERM arrives (Asio's signal_set on the hub's
/// io_context); returns the signal number.
inline int wait_for_stop_signal() {
  boost::asio::signal_set signals(grove::hub::current().io_context(), SIGINT, SIGTERM);
  auto [ec, number] = grove::detail::await_asio<boost::system::error_code, int>(
      [&](auto handler) { signals.async_wait(std::move(handler)); },
      [&] { signals.cancel(); });
  return ec ? 0 : number;
}

/// Prints where a server listens, flushed at once (scripts read it to find a free port).
inline void announce_port(const char* name, std::uint16_t port) {
  std::printf("%s: listening on 127.0.0.1:%u (Ctrl-C stops it)\n", name, port);
  std::fflush(stdout);
}

}  // namespace sample
