// The talk's first program, synchronous: say hello, wait three seconds, say world. Two of them
// in a row take twice as long: nothing else can happen while a thread sleeps.
//   hello_sync [--scale S]   (S multiplies the 3 s wait; the tour uses 0.3)
#include <chrono>
#include <cstdio>
#include <thread>

#include "sample_args.hpp"

namespace {
const char* usage =
    "usage: hello_sync [--scale S]\n"
    "  two hellos, each waiting 3 s, one after the other (a plain thread sleep)\n"
    "  --scale S  multiply the 3 s wait by S (default 1; the tour uses 0.3)\n";
}  // namespace

int main(int argc, char** argv) {
  double scale = 1.0;
  if (int rc = sample::parse_options(argc, argv, usage, {{"--scale", &scale, 0, 1000}}); rc >= 0) {
    return rc;
  }
  auto wait = std::chrono::duration<double>(3.0 * scale);
  auto start = std::chrono::steady_clock::now();
  auto hello = [&](int n) {
    std::printf("[sync %d] Hello, wait %g seconds,\n", n, wait.count());
    std::this_thread::sleep_for(wait);
    std::printf("[sync %d] World!\n", n);
  };
  hello(1);
  hello(2);
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("two synchronous hellos took %.2f s (2 x %.2f s: one after the other)\n", elapsed,
              wait.count());
}
