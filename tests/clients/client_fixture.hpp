// What the client tests share: timing, the servers' addresses from the environment, running
// the same test binary again with GROVE_SHIMS=0 to measure the serial time beside the
// concurrent one, and the two interruptions (a kill, a scoped timeout) of a blocking C call.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdio>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/timeout.hpp>
#include <string>

namespace grove_test {

using clock_type = std::chrono::steady_clock;

/// Seconds elapsed since `start`.
double seconds_since(clock_type::time_point start);

/// CPU seconds (user + system) this process has used so far.
double process_cpu_seconds();

/// The environment variable `name` (set by scripts/test_services.sh); throws a
/// std::runtime_error saying how to run the test when it is missing.
std::string required_env(const char* name);

/// Runs this test program again with GROVE_SHIMS=0, only the test case `test_case` (mark it
/// `* doctest::skip()` so that ordinary runs leave it out), and returns the seconds it reported
/// with report_serial_seconds(); throws std::runtime_error (with the child's output) if it failed.
/// Call it outside grove::run: the parent waits with plain libc.
double run_without_shims(const char* test_case);

/// Prints `serial_seconds=<seconds>` for run_without_shims in the parent.
void report_serial_seconds(double seconds);

/// True when GROVE_SHIMS=0 is set (the serial child).
bool shims_disabled();

/// Runs `serial_test_case` in a GROVE_SHIMS=0 child (ten calls, one after another) and checks the
/// concurrent run of fifty `calls` (each about 0.2 s) in this process against it; prints both.
/// `bound` is generous: serially the fifty would take 10 s.
inline void compare_with_serial(const char* what, const char* calls, double concurrent,
                                const char* serial_test_case, double bound) {
  double serial = run_without_shims(serial_test_case);
  std::printf(
      "%s: 50 %s in fibers through the shims: %.3f s; 10 with GROVE_SHIMS=0: %.3f s (%.3f s "
      "each, one after another)\n",
      what, calls, concurrent, serial, serial / 10);
  MESSAGE(what << ": 50 concurrent " << concurrent << " s, 10 serial (GROVE_SHIMS=0) " << serial
               << " s");
  CHECK(concurrent < bound);
  CHECK(serial >= 1.9);  // 10 x 0.2 s, one after another
}

/// What every client test measures of a blocking C call interrupted by a kill or a scoped
/// grove::timeout; a test's own record adds what its library's call left behind.
struct interruption {
  double call_seconds = -1;       // how long the C call took (the test's call records it)
  double main_slept = -1;         // the main fiber's sleep meanwhile: the hub kept running
  double end_seconds = -1;        // from the kill (or the start) to the fiber's end
  double cpu_seconds = -1;        // CPU the process used over the same span
  bool reached_end = false;       // the code after the next grove wait ran
  bool grove_wait_threw = false;  // that wait threw timeout_error
};

/// In a new hub: `prepare()` runs in the main fiber (e.g. connects) and returns the call, which
/// runs in a fiber spawned with `options` as `call(start)`. The main fiber sleeps 200 ms
/// meanwhile, then kills that fiber and waits for its end (10 s at most): the kill should
/// interrupt the call and be raised at the fiber's next grove wait.
template <class Prepare>
void kill_during_call(interruption& out, Prepare prepare, const grove::spawn_options& options) {
  using namespace std::chrono_literals;
  grove::run([&] {
    auto call = prepare();
    auto victim = grove::spawn(options, [&] {
      call(clock_type::now());
      grove::this_fiber::sleep_for(1ms);  // the kill lands here, at the next grove wait
      out.reached_end = true;
    });
    auto sleep_start = clock_type::now();
    grove::this_fiber::sleep_for(200ms);  // the call is under way meanwhile
    out.main_slept = seconds_since(sleep_start);
    double cpu_start = process_cpu_seconds();
    auto kill_start = clock_type::now();
    victim.kill();
    victim.join_for(10s);
    out.end_seconds = seconds_since(kill_start);
    out.cpu_seconds = process_cpu_seconds() - cpu_start;
  });
}

/// In a new hub: as kill_during_call, but the call runs under a grove::timeout of 200 ms, the
/// main fiber sleeps 100 ms meanwhile, and the times count from before the spawn. The expired
/// scope should end the call and be raised at the fiber's next grove wait.
template <class Prepare>
void time_out_during_call(interruption& out, Prepare prepare, const grove::spawn_options& options) {
  using namespace std::chrono_literals;
  grove::run([&] {
    auto call = prepare();
    double cpu_start = process_cpu_seconds();
    auto start = clock_type::now();
    auto victim = grove::spawn(options, [&] {
      grove::timeout limit(200ms);
      call(start);
      try {
        grove::this_fiber::sleep_for(1ms);  // the expired scope is raised here
      } catch (const grove::timeout_error&) {
        out.grove_wait_threw = true;
      }
      out.reached_end = true;
    });
    auto sleep_start = clock_type::now();
    grove::this_fiber::sleep_for(100ms);
    out.main_slept = seconds_since(sleep_start);
    victim.join_for(10s);
    out.end_seconds = seconds_since(start);
    out.cpu_seconds = process_cpu_seconds() - cpu_start;
  });
}

}  // namespace grove_test
