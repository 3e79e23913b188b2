// The talk's hello with fibers: the code reads like the synchronous version, yet two hellos run
// concurrently and finish in about 3 s, not 6 s. Each sleep suspends only its own fiber.
//   hello_fibers [--scale S]
#include <chrono>
#include <cstdio>

#include <grove/grove.hpp>

#include "sample_args.hpp"

int main(int argc, char** argv) {
  double scale = sample::option(argc, argv, "--scale", 1.0);
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
