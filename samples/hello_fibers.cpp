// The talk's hello with fibers: the code reads like the synchronous version, yet two hellos run
// concurrently and finish in about 3 s, not 6 s. Each sleep suspends only its own fiber.
//   hello_fibers [--scale S]
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>

#include "sample_args.hpp"

namespace {
const char* usage =
    "usage: hello_fibers [--scale S]\n"
    "  two hellos in two fibers, each sleeping 3 s: they overlap\n"
    "  --scale S  multiply the 3 s wait by S (default 1; the tour uses 0.3)\n";
}  // namespace

int main(int argc, char** argv) {
  double scale = 1.0;
  if (int rc = sample::parse_options(argc, argv, usage, {{"--scale", &scale, 0, 1000}}); rc >= 0) {
    return rc;
  }
  auto wait = std::chrono::duration<double>(3.0 * scale);
  auto start = std::chrono::steady_clock::now();
  grove::run([&] {
    auto hello = [wait](int n) {
      std::printf("[fiber %d] Hello, wait %g seconds,\n", n, wait.count());
      grove::this_fiber::sleep_for(wait);
      std::printf("[fiber %d] World!\n", n);
    };
    auto a = grove::spawn(hello, 1);
    auto b = grove::spawn(hello, 2);
    a.join();
    b.join();
  });
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("two fiber hellos took %.2f s (about %.2f s, not %.2f s: they overlap)\n", elapsed,
              wait.count(), 2 * wait.count());
}
