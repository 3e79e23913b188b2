// What the network samples share (not part of grove's API): main() with --tour, and serving
// until Ctrl-C.
#pragma once

#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <grove/detail/completion.hpp>
#include <grove/hub.hpp>

#include "sample_args.hpp"

namespace sample {

/// Suspends the calling fiber until SIGINT or SIGTERM arrives (Asio's signal_set on the hub's
/// io_context); returns the signal number.
inline int wait_for_stop_signal() {
  boost::asio::signal_set signals(grove::hub::current().io_context(), SIGINT, SIGTERM);
  auto [ec, number] = grove::detail::await_asio<boost::system::error_code, int>(
      [&](auto handler) { signals.async_wait(std::move(handler)); }, [&] { signals.cancel(); });
  return ec ? 0 : number;
}

/// Prints where server `name` listens (flushed at once: scripts read it to learn a free port),
/// waits for Ctrl-C or SIGTERM, then calls `stop()`.
template <class Stop>
void serve_until_signal(const char* name, std::uint16_t port, Stop stop) {
  std::printf("%s: listening on 127.0.0.1:%u (Ctrl-C stops it)\n", name, port);
  std::fflush(stdout);
  wait_for_stop_signal();
  std::printf("%s: stopping\n", name);
  stop();
}

/// The main() of a network sample: in grove::run, `tour()` with --tour, else `serve()`.
template <class Tour, class Serve>
int run_sample(int argc, char** argv, Tour tour, Serve serve) {
  grove::run([&] {
    if (flag(argc, argv, "--tour")) {
      tour();
    } else {
      serve();
    }
  });
  return 0;
}

}  // namespace sample
