// What the client tests share: timing, the servers' addresses from the environment, and running
// the same test binary again with GROVE_SHIMS=0 to measure the serial time beside the
// concurrent one.
#pragma once

#include <chrono>
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

}  // namespace grove_test
