// A program outside grove's tree using the shims as the README says, without naming any of
// their symbols: it looks usleep up at run time, so a link that dropped libgrove_shims
// (--as-needed) shows. Exit 0: the shims are loaded and 5 fibers' usleep(200 ms) overlap;
// exit 2: they are not loaded (the sleeps were serial); 1: loaded yet serial (a bug).
#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <vector>

int main() {
  auto nap = reinterpret_cast<int (*)(unsigned)>(dlsym(RTLD_DEFAULT, "usleep"));
  bool loaded = dlopen("libgrove_shims.so.0", RTLD_NOW | RTLD_NOLOAD) != nullptr;
  auto start = std::chrono::steady_clock::now();
  grove::run([nap] {
    std::vector<grove::fiber<int>> naps;
    for (int i = 0; i < 5; ++i) naps.push_back(grove::spawn(nap, 200'000u));
    for (auto& n : naps) n.join();
  });
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("shims %s; 5 fibers x usleep(200 ms): %.0f ms\n", loaded ? "loaded" : "not loaded",
              ms);
  if (!loaded) return 2;
  return ms < 500 ? 0 : 1;
}
