// Peer benchmark: Boost.Fiber's unbuffered_channel ping-pong on one thread. The main fiber
// pushes on `ping` and pops from `pong`; one fiber echoes every value back, under the default
// round_robin scheduler. Each round trip is two messages.
//
//   boost_fiber_channel [round_trips]    default 5000000
//
// Prints one line: `ns_per_message=<float>` (total time / (2 * round trips)).
#include "boost_fiber_ping_pong.hpp"

int main(int argc, char** argv) {
  return peer::ping_pong_main<boost::fibers::fiber>(argc, argv, 5'000'000);
}
