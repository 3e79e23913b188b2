// What the Boost.Fiber channel peers share: an unbuffered_channel ping-pong. The calling fiber
// pushes on `ping` and pops from `pong`; an echo (a fiber on this thread, or a second thread's
// main fiber: `Echo` is boost::fibers::fiber or std::thread) sends every value back, under the
// default round_robin scheduler. Each round trip is two messages.
#pragma once

#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace peer {

/// ns per message of `round_trips` round trips (total time / (2 * round trips)).
template <class Echo>
double ping_pong(long round_trips) {
  boost::fibers::unbuffered_channel<long> ping;
  boost::fibers::unbuffered_channel<long> pong;
  Echo echo([&] {
    long v;
    while (ping.pop(v) == boost::fibers::channel_op_status::success) pong.push(v);
  });
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < round_trips; ++i) {
    ping.push(i);
    long v;
    pong.pop(v);
  }
  std::chrono::duration<double, std::nano> ns = std::chrono::steady_clock::now() - start;
  ping.close();
  echo.join();
  return ns.count() / (2.0 * static_cast<double>(round_trips));
}

/// main() of a ping-pong peer: `[round_trips]` (default `fallback`), a warm-up of a tenth, then
/// one line `ns_per_message=<float>`.
template <class Echo>
int ping_pong_main(int argc, char** argv, long fallback) {
  long round_trips = argc > 1 ? std::atol(argv[1]) : fallback;
  if (round_trips < 1) round_trips = 1;
  ping_pong<Echo>(round_trips / 10 + 1);  // warm-up
  std::printf("ns_per_message=%.2f\n", ping_pong<Echo>(round_trips));
  return 0;
}

}  // namespace peer
