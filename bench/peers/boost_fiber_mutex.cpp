// Peer benchmark: Boost.Fiber's mutex handed over among contending fibers. Each of F fibers
// does R rounds of `lock; yield; unlock; yield`: the holder yields inside the critical section,
// so every other fiber queues on the mutex and every lock is a hand-off from the previous
// holder (the yield after unlock keeps a second fiber runnable, so no round idles).
//
//   boost_fiber_mutex [fibers] [rounds]    default 1000 fibers, 1000 rounds
//
// Prints one line: `ns_per_lock=<float>` (total time / (F * R) acquisitions).
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <vector>

namespace {

double contend(long fibers, long rounds) {
  boost::fibers::mutex m;
  long acquisitions = 0;
  std::vector<boost::fibers::fiber> workers;
  workers.reserve(static_cast<std::size_t>(fibers));
  auto start = std::chrono::steady_clock::now();
  for (long f = 0; f < fibers; ++f) {
    workers.emplace_back([&] {
      for (long r = 0; r < rounds; ++r) {
        {
          std::unique_lock lock(m);
          ++acquisitions;
          boost::this_fiber::yield();
        }
        boost::this_fiber::yield();
      }
    });
  }
  for (auto& w : workers) w.join();
  std::chrono::duration<double, std::nano> ns = std::chrono::steady_clock::now() - start;
  return ns.count() / static_cast<double>(acquisitions);
}

}  // namespace

int main(int argc, char** argv) {
  long fibers = argc > 1 ? std::atol(argv[1]) : 1000;
  long rounds = argc > 2 ? std::atol(argv[2]) : 1000;
  if (fibers < 1) fibers = 1;
  if (rounds < 1) rounds = 1;
  contend(fibers, rounds / 10 + 1);  // warm-up
  std::printf("ns_per_lock=%.2f\n", contend(fibers, rounds));
}
