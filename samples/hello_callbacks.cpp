// The talk's hello in callback style on grove's hub: no fiber waits; the hub runs "World!" as a
// callback three seconds later. Two hellos overlap, but the program is now split into pieces
// that the loop calls back, and state has to be carried between them by hand.
//   hello_callbacks [--scale S]
#include <chrono>
#include <cstdio>

#include <grove/grove.hpp>

#include "sample_args.hpp"

int main(int argc, char** argv) {
  double scale = sample::option(argc, argv, "--scale", 1.0);
  auto wait = std::chrono::duration<double>(3.0 * scale);
  auto start = std::chrono::steady_clock::now();
  grove::run([&] {
    auto& hub = grove::hub::current();
    int pending = 2;
    for (int n = 1; n <= 2; ++n) {
      std::printf("[callback %d] Hello, wait three seconds,\n", n);
      hub.call_later(std::chrono::duration_cast<std::chrono::nanoseconds>(wait), [n, &pending] {
        std::printf("[callback %d] World!\n", n);
        --pending;
      });
    }
    // The main fiber only keeps the hub alive until both callbacks ran.
    while (pending > 0) grove::this_fiber::sleep_for(std::chrono::milliseconds(1));
  });
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("two callback hellos took %.2f s (they overlap)\n", elapsed);
}
