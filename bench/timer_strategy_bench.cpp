// Timer strategy: N timers with random 0-1 s deadlines, fired as hub callbacks, armed two ways
// on the same io_context: grove's heap with one Asio timer at the earliest deadline
// (grove::call_later), and one Asio steady_timer per wait (what a naive sleep would use).
// Reports arm cost per timer and lateness beyond the last deadline. DESIGN.md asked for the
// choice to be made by these numbers.
//   timer_strategy_bench [N]
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <grove/grove.hpp>
#include <memory>
#include <random>
#include <vector>

#include "bench_util.hpp"

int main(int argc, char** argv) {
  long n = 1'000'000;
  if (int rc = bench::parse_positional(
          argc, argv,
          "usage: timer_strategy_bench [N]   N timers (default 1000000) on grove's heap, then on "
          "one Asio timer each",
          {{"N", n, 1, 100'000'000}});
      rc >= 0) {
    return rc;
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> delay_us(0, 1'000'000);
  std::vector<std::chrono::microseconds> delays(static_cast<std::size_t>(n));
  for (auto& d : delays) d = std::chrono::microseconds(delay_us(rng));

  double heap_arm_ns = 0, heap_extra_ms = 0, asio_arm_ns = 0, asio_extra_ms = 0;
  grove::run([&] {
    long fired = 0;
    auto start = bench::clock_type::now();
    for (auto d : delays) grove::call_later(d, [&fired] { ++fired; });
    heap_arm_ns = bench::ns_since(start) / static_cast<double>(n);
    while (fired < n) grove::this_fiber::sleep_for(std::chrono::milliseconds(1));
    heap_extra_ms = bench::ns_since(start) / 1e6 - 1000.0;

    fired = 0;
    auto& io = grove::hub::current().io_context();
    std::vector<std::unique_ptr<boost::asio::steady_timer>> timers;
    timers.reserve(static_cast<std::size_t>(n));
    start = bench::clock_type::now();
    for (auto d : delays) {
      timers.push_back(std::make_unique<boost::asio::steady_timer>(io, d));
      timers.back()->async_wait([&fired](const boost::system::error_code&) { ++fired; });
    }
    asio_arm_ns = bench::ns_since(start) / static_cast<double>(n);
    while (fired < n) grove::this_fiber::sleep_for(std::chrono::milliseconds(1));
    asio_extra_ms = bench::ns_since(start) / 1e6 - 1000.0;
  });
  std::printf(
      "heap_arm_ns=%.1f heap_extra_ms=%.0f asio_timer_arm_ns=%.1f asio_timer_extra_ms=%.0f\n",
      heap_arm_ns, heap_extra_ms, asio_arm_ns, asio_extra_ms);
}
