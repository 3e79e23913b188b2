// Peer benchmark: Boost.Fiber's unbuffered_channel ping-pong between two threads. The main
// fiber of this thread pushes on `ping` and pops from `pong`; the main fiber of a second thread
// echoes every value back (default round_robin scheduler on each). Each round trip is two
// messages. Mirrors `sync_bench channel_cross`.
//
//   boost_fiber_channel_threads [round_trips]    default 200000
//
// Prints one line: `ns_per_message=<float>` (total time / (2 * round trips)).
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

double ping_pong(long round_trips) {
  boost::fibers::unbuffered_channel<long> ping;
  boost::fibers::unbuffered_channel<long> pong;
  std::thread echo([&] {
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

}  // namespace

int main(int argc, char** argv) {
  long round_trips = argc > 1 ? std::atol(argv[1]) : 200'000;
  if (round_trips < 1) round_trips = 1;
  ping_pong(round_trips / 10 + 1);  // warm-up
  std::printf("ns_per_message=%.2f\n", ping_pong(round_trips));
}
