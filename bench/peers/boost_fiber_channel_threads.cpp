// Peer benchmark: Boost.Fiber's unbuffered_channel ping-pong between two threads. The main
// fiber of this thread pushes on `ping` and pops from `pong`; the main fiber of a second thread
// echoes every value back (default round_robin scheduler on each). Each round trip is two
// messages. Mirrors `sync_bench channel_cross`.
//
//   boost_fiber_channel_threads [round_trips]    default 200000
//
// Prints one line: `ns_per_message=<float>` (total time / (2 * round trips)).
#include <thread>

#include "boost_fiber_ping_pong.hpp"

int main(int argc, char** argv) {
  return peer::ping_pong_main<std::thread>(argc, argv, 200'000);
}
