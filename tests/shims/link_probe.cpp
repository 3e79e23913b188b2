// A program that names no symbol of libgrove_shims, linked with grove_shims_dep under meson's
// default --as-needed (issue 7): the shims must still be loaded, and a blocking call made inside
// another shared library (napper_usleep -> usleep) must cooperate. Exit status 0 if so.
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <vector>

extern "C" int napper_usleep(unsigned microseconds);

int main() {
  if (dlopen("libgrove_shims.so.0", RTLD_NOW | RTLD_NOLOAD) == nullptr) {
    std::fprintf(stderr, "libgrove_shims.so was dropped from the link (--as-needed)\n");
    return 1;
  }
  auto start = std::chrono::steady_clock::now();
  grove::run([] {
    std::vector<grove::fiber<int>> naps;
    for (int i = 0; i < 5; ++i) naps.push_back(grove::spawn(napper_usleep, 200'000u));
    for (auto& n : naps) n.join();
  });
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("5 fibers x napper_usleep(200 ms): %.0f ms\n", ms);
  if (ms >= 400) {
    std::fprintf(stderr, "the library's usleep did not cooperate\n");
    return 1;
  }
  return 0;
}
