// The talk's plain `sleep(3)` hello — synchronous code, unmodified, using nothing but libc —
// made concurrent only by linking libgrove_shims (meson: grove_shims_dep). Two hellos run in two
// fibers and finish in about 3 s, not 6 s: inside a fiber the shims turn libc's sleep into a
// wait on the hub. The same binary with GROVE_SHIMS=0 takes 6 s (--tour shows both).
//   hello_shims [--scale S] [--tour] [--help]
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <string>

#include "sample_args.hpp"

extern char** environ;

// ---- The synchronous code, as it was written before grove existed: plain libc, no grove ----
static useconds_t wait_micros = 3'000'000;  // --scale shortens it

static void hello(int n) {
  std::printf("[hello %d] Hello, wait %g seconds,\n", n, wait_micros / 1e6);
  std::fflush(stdout);
  if (wait_micros % 1'000'000 == 0) {
    sleep(wait_micros / 1'000'000);  // the talk's sleep(3)
  } else {
    usleep(wait_micros);
  }
  std::printf("[hello %d] World!\n", n);
  std::fflush(stdout);
}
// ---- end of the synchronous code ----

namespace {

const char* usage =
    "usage: hello_shims [--scale S] [--tour] [--help]\n"
    "  Runs the synchronous sleep(3) hello twice, each in its own grove fiber. Linked\n"
    "  with libgrove_shims, the two sleeps overlap (3 s); GROVE_SHIMS=0 turns the shims\n"
    "  off (6 s).\n"
    "  --scale S  multiply the 3 s wait by S (0.001 to 10)\n"
    "  --tour     --scale 0.3 (unless given), then the same binary again with GROVE_SHIMS=0\n";

double run_two_hellos() {
  auto start = std::chrono::steady_clock::now();
  grove::run([] {
    auto a = grove::spawn(hello, 1);
    auto b = grove::spawn(hello, 2);
    a.join();
    b.join();
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Runs this program again with GROVE_SHIMS=0 and the same scale; returns its exit status.
int run_without_shims(const char* self, const std::string& scale) {
  setenv("GROVE_SHIMS", "0", 1);
  char* argv[] = {const_cast<char*>(self), const_cast<char*>("--scale"),
                  const_cast<char*>(scale.c_str()), nullptr};
  pid_t pid = 0;
  if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, environ) != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  double scale = 0;  // 0: not given
  bool tour = false;
  if (int rc = sample::parse_options(argc, argv, usage, {{"--scale", &scale, 0.001, 10}},
                                     {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  if (scale == 0) scale = tour ? 0.3 : 1.0;
  wait_micros = static_cast<useconds_t>(3'000'000 * scale + 0.5);
  const char* shims = std::getenv("GROVE_SHIMS");
  bool on = !(shims && std::strcmp(shims, "0") == 0);
  double wait = wait_micros / 1e6;
  double elapsed = run_two_hellos();
  if (on) {
    std::printf(
        "two synchronous hellos in two fibers took %.2f s with the shims linked "
        "(about %.2f s: the sleeps overlap)\n",
        elapsed, wait);
  } else {
    std::printf(
        "two synchronous hellos in two fibers took %.2f s with GROVE_SHIMS=0 "
        "(about %.2f s: one after the other)\n",
        elapsed, 2 * wait);
  }
  if (tour && on) {
    std::printf("-- the same binary with GROVE_SHIMS=0:\n");
    std::fflush(stdout);
    if (run_without_shims(argv[0], std::to_string(scale)) != 0) return 1;
  }
  return 0;
}
