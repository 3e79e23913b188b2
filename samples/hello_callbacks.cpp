// The talk's hello in callback style on grove's hub: no fiber waits; the hub runs "World!" as a
// callback three seconds later. Two hellos overlap, but the program is now split into pieces
// that the loop calls back, and state has to be carried between them by hand.
//   hello_callbacks [--scale S]
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>

#include "sample_args.hpp"

namespace {
const char* usage =
    "usage: hello_callbacks [--scale S]\n"
    "  two hellos whose 3 s waits are hub callbacks (call_later): they overlap\n"
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
    auto& hub = grove::hub::current();
    int pending = 2;
    grove::event done;  // set by the last callback
    for (int n = 1; n <= 2; ++n) {
      std::printf("[callback %d] Hello, wait %g seconds,\n", n, wait.count());
      hub.call_later(std::chrono::duration_cast<std::chrono::nanoseconds>(wait),
                     [n, &pending, &done] {
                       std::printf("[callback %d] World!\n", n);
                       if (--pending == 0) done.set();
                     });
    }
    // The main fiber only keeps the hub alive until both callbacks ran.
    done.wait();
  });
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("two callback hellos took %.2f s (they overlap)\n", elapsed);
}
