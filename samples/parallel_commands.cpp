// Child processes run concurrently, each waited on by its own fiber (gevent's subprocess):
//   1. --children children run `sleep --sleep` at once: they all finish in about one sleep,
//      not children x sleep, and a ticker fiber keeps ticking meanwhile;
//   2. a command that overruns its grove::timeout is killed and reaped, and reported;
//   3. a chatty command writes --chatty-mb MiB on stdout and stderr at once while reading its
//      stdin: communicate() serves all three pipes together, so nothing deadlocks.
//   parallel_commands [--children N] [--sleep S] [--timeout-ms T] [--chatty-mb M] [--tour]
//   (defaults 20 children, 1 s, 300 ms, 16 MiB; --tour: the same)
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <grove/process.hpp>
#include <string>
#include <vector>

#include "sample_args.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const char* usage =
    "usage: parallel_commands [--children N] [--sleep S] [--timeout-ms T] [--chatty-mb M] "
    "[--tour]\n"
    "  runs N children `sleep S` at once (about S seconds in all), kills one that overruns a\n"
    "  T ms timeout, and captures M MiB of a chatty child's stdout and stderr without deadlock.\n"
    "  defaults: 20 children, 1 s, 300 ms, 16 MiB\n";

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

void sleepers(int children, double sleep_s) {
  int ticks = 0;
  auto ticker = grove::spawn([&] {
    for (;;) {
      grove::this_fiber::sleep_for(100ms);
      ++ticks;
    }
  });
  auto start = steady::now();
  std::vector<grove::fiber<grove::exit_status>> fibers;
  for (int i = 0; i < children; ++i) {
    fibers.push_back(grove::spawn([sleep_s] {
      return grove::run_process({"sleep", std::to_string(sleep_s)});
    }));
  }
  int ok = 0;
  for (auto& f : fibers) ok += f.get().success() ? 1 : 0;
  double took = seconds_since(start);
  ticker.kill();
  std::printf(
      "1. %d children `sleep %g`: %d succeeded in %.2f s (one after another: %.0f s); "
      "a ticker fiber ticked %d times meanwhile\n",
      children, sleep_s, ok, took, children * sleep_s, ticks);
}

void overrun(int timeout_ms) {
  int pid = 0;
  auto start = steady::now();
  try {
    grove::with_timeout(std::chrono::milliseconds(timeout_ms), [&] {
      auto p = grove::process::spawn({"sleep", "30"});
      pid = p.pid();
      p.wait();  // the timeout fires here; unwinding destroys p, which kills and reaps the child
    });
    std::printf("2. unexpected: `sleep 30` finished within %d ms\n", timeout_ms);
  } catch (const grove::timeout_error&) {
    std::printf("2. `sleep 30` overran its %d ms timeout: pid %d killed and reaped after %.0f ms\n",
                timeout_ms, pid, seconds_since(start) * 1000);
  }
}

void chatty(int mib) {
  // The child echoes its stdin to both stdout and stderr while still reading it: unless the
  // parent writes and reads all three pipes concurrently, everyone blocks on a full pipe.
  std::string input(static_cast<std::size_t>(mib) << 20, '\0');
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<char>('a' + i % 26);
  auto start = steady::now();
  auto p = grove::process::spawn({"tee", "/dev/stderr"}, {.stdin_ = grove::stdio::pipe(),
                                                          .stdout_ = grove::stdio::pipe(),
                                                          .stderr_ = grove::stdio::pipe()});
  auto result = p.communicate(input);
  std::printf(
      "3. a chatty `tee /dev/stderr`: sent %d MiB, got %.1f MiB on stdout and %.1f MiB "
      "on stderr (%s) in %.2f s, %s\n",
      mib, result.out.size() / 1048576.0, result.err.size() / 1048576.0,
      result.out == input && result.err == input ? "byte for byte" : "MISMATCH",
      seconds_since(start), result.status.describe().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  double sleep_s = 1;
  unsigned long children = 20, timeout_ms = 300, chatty_mb = 16;
  bool tour = false;
  if (int rc = sample::parse_options(argc, argv, usage,
                                     {{"--children", &children, 1, 500},
                                      {"--sleep", &sleep_s, 0, 60},
                                      {"--timeout-ms", &timeout_ms, 1, 60000},
                                      {"--chatty-mb", &chatty_mb, 1, 1024}},
                                     {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  try {
    grove::run([&] {
      sleepers(static_cast<int>(children), sleep_s);
      overrun(static_cast<int>(timeout_ms));
      chatty(static_cast<int>(chatty_mb));
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "parallel_commands: %s\n", e.what());
    return 1;
  }
  return 0;
}
