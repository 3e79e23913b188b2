// Reading a large file in 1 MiB blocks while many fibers tick (every 100 ms).(issue 8): io_uring vs
// the offload pool vs a plain blocking read() loop on the hub (the throughput ceiling, and the
// worst case for the ticks). The file's pages are dropped from the page cache before each read
// (posix_fadvise DONTNEED), so every mode reads from the disk; FS_BENCH_WARM=1 keeps them
// cached (then a read is a memory copy). Tickers are staggered over their 100 ms period.
//   fs_bench PATH MIB TICKERS MODE     MODE: io_uring | pool | blocking
// Prints mib_per_s, the worst delay a ticker saw beyond its 100 ms period, and ticks.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <string>
#include <vector>

#include "bench_util.hpp"

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

void make_file(const char* path, std::size_t mib) {
  int fd = ::open(path, O_RDONLY);
  if (fd >= 0) {
    off_t size = ::lseek(fd, 0, SEEK_END);
    ::close(fd);
    if (static_cast<std::size_t>(size) == mib << 20) return;
  }
  fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::string block(1 << 20, 'g');
  for (std::size_t i = 0; i < mib; ++i) {
    block[0] = static_cast<char>(i);
    if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size())) {
      std::perror("write");
      std::exit(1);
    }
  }
  ::fsync(fd);
  ::close(fd);
}

void drop_cache(const char* path) {
  int fd = ::open(path, O_RDONLY);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path_text, mode;
  long mib_count = 0, ticker_count = 0;
  if (int rc = bench::parse_positional(argc, argv,
                                       "usage: fs_bench PATH MIB TICKERS io_uring|pool|blocking",
                                       {{"PATH", path_text},
                                        {"MIB", mib_count, 1, 1 << 20},
                                        {"TICKERS", ticker_count, 0, 1'000'000},
                                        {"MODE", mode, "io_uring|pool|blocking"}},
                                       4);
      rc >= 0) {
    return rc;
  }
  const char* path = path_text.c_str();
  auto mib = static_cast<std::size_t>(mib_count);
  int tickers = static_cast<int>(ticker_count);
  make_file(path, mib);
  bool warm = std::getenv("FS_BENCH_WARM") != nullptr;  // keep the file cached: a memory copy
  if (!warm) drop_cache(path);
  grove::run([&] {
    if (mode == "pool") grove::fs::set_backend(grove::fs::backend::thread_pool);
    if (mode == "io_uring") grove::fs::set_backend(grove::fs::backend::io_uring);
    steady::duration worst{};
    long ticks = 0;
    bool stop = false;
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < tickers; ++i) {
      fibers.push_back(grove::spawn([&, i] {
        // Staggered over the period, so that not all of them wake at the same instant.
        grove::this_fiber::sleep_for(std::chrono::milliseconds(i % 100));
        while (!stop) {
          auto due = steady::now() + 100ms;
          grove::this_fiber::sleep_until(due);
          worst = std::max(worst, steady::now() - due);
          ++ticks;
        }
      }));
    }
    grove::this_fiber::sleep_for(250ms);  // every ticker is running
    worst = {};
    ticks = 0;
    std::string block(1 << 20, '\0');
    std::size_t total = 0;
    auto start = steady::now();
    if (mode == "blocking") {
      int fd = ::open(path, O_RDONLY);
      for (;;) {
        ssize_t n = ::read(fd, block.data(), block.size());
        if (n <= 0) break;
        total += static_cast<std::size_t>(n);
        grove::this_fiber::yield();  // as cooperative as a blocking loop can be
      }
      ::close(fd);
    } else {
      auto f = grove::fs::file::open(path);
      while (std::size_t n = f.read(block.data(), block.size())) total += n;
    }
    double seconds = std::chrono::duration<double>(steady::now() - start).count();
    stop = true;
    for (auto& f : fibers) f.join();
    std::printf("mib=%zu mib_per_s=%.0f worst_tick_delay_ms=%.1f ticks=%ld\n", total >> 20,
                (total >> 20) / seconds, std::chrono::duration<double, std::milli>(worst).count(),
                ticks);
  });
  return 0;
}
