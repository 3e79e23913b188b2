// What the network samples share (not part of grove's API): main() after parse_options, a
// failure as one line on stderr, and serving until SIGINT / SIGTERM (grove::wait_signal).
#pragma once

#include <signal.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <grove/hub.hpp>
#include <grove/signal.hpp>
#include <string>
#include <type_traits>

#include "sample_args.hpp"

namespace sample {

/// Prints where server `name` listens (flushed at once: scripts read it to learn a free port),
/// waits for Ctrl-C or SIGTERM, calls `stop()` (which stops accepting and lets the connections
/// finish or closes them), and prints one line saying so. If `stop()` returns a string, it is
/// added to that line. The program then exits 0.
template <class Stop>
void serve_until_signal(const char* name, std::uint16_t port, Stop stop) {
  std::printf("%s: listening on 127.0.0.1:%u (Ctrl-C stops it)\n", name, port);
  std::fflush(stdout);
  int number = grove::wait_signal({SIGINT, SIGTERM});
  std::string summary;
  if constexpr (std::is_void_v<decltype(stop())>) {
    stop();
  } else {
    summary = ", " + std::string(stop());
  }
  std::printf("%s: stopped on %s%s\n", name, number == SIGINT ? "SIGINT" : "SIGTERM",
              summary.c_str());
}

/// The rest of a network sample's main() once parse_options accepted its arguments: in
/// grove::run, `run_tour()` if `tour`, else `serve()`. A failure (a busy port...) is one line on
/// stderr and exit status 1.
template <class Tour, class Serve>
int run_sample(char** argv, bool tour, Tour run_tour, Serve serve) {
  try {
    grove::run([&] {
      if (tour) {
        run_tour();
      } else {
        serve();
      }
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program_name(argv), e.what());
    return 1;
  }
  return 0;
}

}  // namespace sample
