// What a timer wait costs through each door of the Asio bridge, all on grove's hub, same run:
//   use_fiber    asio::steady_timer::async_wait(grove::use_fiber) in a fiber
//   sleep_for    grove::this_fiber::sleep_for in a fiber (grove's own timer heap)
//   coroutine    co_await steady_timer::async_wait(asio::use_awaitable) in a C++20 coroutine
// FIBERS waiters each make WAITS waits of 1 us, so the hub always has expired timers to
// process; prints, per mode, the median over ROUNDS rounds (modes alternate within a round) of
// wall ns and CPU ns (getrusage) per wait, and the ratio to sleep_for in the same round.
//   asio_timer_bench [ROUNDS] [FIBERS] [WAITS]
#include <sys/resource.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <grove/use_fiber.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

double cpu_ns() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto ns = [](timeval t) { return t.tv_sec * 1e9 + t.tv_usec * 1e3; };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
}

asio::awaitable<void> coroutine_waits(long waits) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (long i = 0; i < waits; ++i) {
    timer.expires_after(1us);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

/// Runs `fibers` fibers of `waits` waits each with `mode`; returns {wall ns, cpu ns} per wait.
std::pair<double, double> measure(const std::string& mode, long fibers, long waits) {
  auto& io = grove::hub::current().io_context();
  double cpu_start = cpu_ns();
  auto start = bench::clock_type::now();
  std::vector<grove::fiber<void>> all;
  for (long f = 0; f < fibers; ++f) {
    all.push_back(grove::spawn([&] {
      if (mode == "use_fiber") {
        asio::steady_timer timer(io);
        for (long i = 0; i < waits; ++i) {
          timer.expires_after(1us);
          timer.async_wait(grove::use_fiber);
        }
      } else if (mode == "sleep_for") {
        for (long i = 0; i < waits; ++i) grove::this_fiber::sleep_for(1us);
      } else {
        asio::co_spawn(io, coroutine_waits(waits), grove::use_fiber);  // one wait per waiter
      }
    }));
  }
  for (auto& f : all) f.join();
  double total = static_cast<double>(fibers * waits);
  return {bench::ns_since(start) / total, (cpu_ns() - cpu_start) / total};
}

}  // namespace

int main(int argc, char** argv) {
  long rounds = 5, fibers = 100, waits = 2000;
  if (int rc = bench::parse_positional(
          argc, argv, "usage: asio_timer_bench [ROUNDS] [FIBERS] [WAITS]   (defaults 5, 100, 2000)",
          {{"ROUNDS", rounds, 1, 1000},
           {"FIBERS", fibers, 1, 1'000'000},
           {"WAITS", waits, 1, 100'000'000}});
      rc >= 0) {
    return rc;
  }
  const std::vector<std::string> modes = {"sleep_for", "use_fiber", "coroutine"};
  std::vector<std::vector<double>> wall(modes.size()), cpu(modes.size()), ratio(modes.size());
  grove::run([&] {
    measure("sleep_for", fibers, waits / 10 + 1);  // warm-up: stacks, timer storage
    measure("use_fiber", fibers, waits / 10 + 1);
    measure("coroutine", fibers, waits / 10 + 1);
    for (long r = 0; r < rounds; ++r) {
      std::vector<double> cpu_round;
      for (std::size_t m = 0; m < modes.size(); ++m) {
        auto [w, c] = measure(modes[m], fibers, waits);
        wall[m].push_back(w);
        cpu[m].push_back(c);
        cpu_round.push_back(c);
      }
      for (std::size_t m = 0; m < modes.size(); ++m)
        ratio[m].push_back(cpu_round[m] / cpu_round[0]);
    }
  });
  std::printf("# rounds=%ld fibers=%ld waits=%ld (1 us each)\n", rounds, fibers, waits);
  for (std::size_t m = 0; m < modes.size(); ++m) {
    std::printf("%-10s wall_ns_per_wait=%.0f cpu_ns_per_wait=%.0f cpu_vs_sleep_for=%.2f\n",
                modes[m].c_str(), bench::median(wall[m]), bench::median(cpu[m]),
                bench::median(ratio[m]));
  }
}
