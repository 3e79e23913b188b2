// Peer benchmark: Boost.Fiber's yield. Two fibers call boost::this_fiber::yield() in a loop
// under the default round_robin scheduler, so each yield hands the thread to the other fiber
// (main is blocked in join and not in the ready queue).
//
//   boost_fiber_switch [yields_per_fiber]
//
// Prints one line: `ns_per_yield=<float>` (total time / total yields of both fibers).
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

double yield_ping_pong(long yields_per_fiber) {
  auto body = [yields_per_fiber] {
    for (long i = 0; i < yields_per_fiber; ++i) boost::this_fiber::yield();
  };
  auto start = std::chrono::steady_clock::now();
  boost::fibers::fiber first{body};
  boost::fibers::fiber second{body};
  first.join();
  second.join();
  std::chrono::duration<double, std::nano> ns = std::chrono::steady_clock::now() - start;
  return ns.count() / (2.0 * static_cast<double>(yields_per_fiber));
}

}  // namespace

int main(int argc, char** argv) {
  long yields_per_fiber = argc > 1 ? std::atol(argv[1]) : 10'000'000;
  if (yields_per_fiber < 1) yields_per_fiber = 1;
  yield_ping_pong(yields_per_fiber / 10 + 1);  // warm-up
  std::printf("ns_per_yield=%.2f\n", yield_ping_pong(yields_per_fiber));
}
