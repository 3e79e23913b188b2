// A three-stage pipeline on one thread: a producer puts jobs into a bounded grove::queue; a
// dispatcher hands each job to a grove::pool of workers (at most --workers at once: spawn waits
// for a free slot, which slows the producer down through the full queue); workers send results
// over a grove::channel to a collector, which grove::select-s between results, a `done`
// channel and a stall timer. Most jobs take microseconds, one in 50 waits 2 ms on simulated
// I/O, one in 2000 is stuck and is cut off by a per-job grove::with_timeout.
// Run 1 processes every job and prints items/s. Run 2 feeds jobs forever and is cancelled
// midway: closing `done` stops the collector, killing the producer, dispatcher and pool unwinds
// every fiber (their RAII runs), and the hub is left with only the main fiber.
//   pipeline [--items N] [--workers W] [--cancel-after-ms M] [--tour]
//   (defaults 1000000 items, 200 workers, 500 ms: about 1 s; --tour: 200000 items, 200 ms)
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <grove/grove.hpp>
#include <optional>

#include "sample_args.hpp"

using namespace std::chrono_literals;

namespace {

struct job {
  std::int64_t id;
};

struct result {
  std::int64_t id;
  std::uint64_t value;
};

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

/// The work: a little arithmetic, sometimes a wait on "I/O", rarely a wait that never ends.
std::uint64_t work(const job& j) {
  if (j.id % 2000 == 1999) grove::this_fiber::sleep_for(1h);  // stuck: the timeout cuts it
  if (j.id % 50 == 49) grove::this_fiber::sleep_for(2ms);     // waiting on a slow backend
  std::uint64_t x = static_cast<std::uint64_t>(j.id) * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < 64; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

struct stats {
  std::int64_t produced = 0;
  std::int64_t collected = 0;
  std::int64_t timed_out = 0;
};

/// One pipeline. `items` < 0: the producer never stops (run 2).
class pipeline {
 public:
  pipeline(std::int64_t items, std::size_t workers) : items_(items), workers_(workers) {}

  void start() {
    producer_ = grove::spawn({.name = "producer", .stack_size = 64 * 1024}, [this] {
      for (std::int64_t id = 0; items_ < 0 || id < items_; ++id) {
        jobs_.put(job{id});  // waits while the queue is full
        ++stats_.produced;
      }
      jobs_.close();
    });
    dispatcher_ = grove::spawn({.name = "dispatcher", .stack_size = 64 * 1024}, [this] {
      try {
        for (;;) {
          job j = jobs_.get();
          workers_.spawn({.name = "", .stack_size = 32 * 1024}, [this, j] { process(j); });
        }
      } catch (const grove::queue_closed&) {
        // every job handed out
      }
      workers_.join();
      results_.close();
    });
    collector_ =
        grove::spawn({.name = "collector", .stack_size = 64 * 1024}, [this] { collect(); });
  }

  /// Waits until every stage has finished.
  void wait() { grove::wait_all(producer_, dispatcher_, collector_); }

  /// Cancels the run: the collector stops at once, then every other stage is killed.
  void cancel() {
    done_.close();  // Go's idiom: closing a channel is a broadcast
    collector_.join();
    producer_.kill();
    dispatcher_.kill();
    workers_.kill();  // kills the running jobs and waits until they have unwound
    grove::wait_all(producer_, dispatcher_);
  }

  const stats& figures() const { return stats_; }

 private:
  void process(const job& j) {
    auto value = grove::with_timeout(
        20ms, [&] { return std::optional<std::uint64_t>(work(j)); },
        std::optional<std::uint64_t>());
    if (!value) {
      ++stats_.timed_out;
      return;
    }
    results_.send(result{j.id, *value});  // buffered: waits only if the collector lags
  }

  void collect() {
    auto last_report = steady::now();
    std::int64_t at_last_report = 0;
    for (bool open = true; open;) {
      grove::select(grove::on_receive(results_,
                                      [&](std::optional<result> r) {
                                        if (r) {
                                          ++stats_.collected;
                                          checksum_ ^= r->value;
                                        } else {
                                          open = false;  // closed: every job is done
                                        }
                                      }),
                    grove::on_receive(done_, [&] { open = false; }),  // cancelled
                    grove::after(1s, [] { std::puts("  collector: no result for 1 s"); }));
      if (steady::now() - last_report >= 250ms) {
        double dt = seconds_since(last_report);
        std::printf("  %8lld results  (%.0f items/s now)\n",
                    static_cast<long long>(stats_.collected),
                    static_cast<double>(stats_.collected - at_last_report) / dt);
        last_report = steady::now();
        at_last_report = stats_.collected;
      }
    }
  }

  std::int64_t items_;
  grove::queue<job> jobs_{256};
  grove::pool workers_;
  grove::channel<result> results_{256};
  grove::channel<int> done_;
  grove::fiber<void> producer_, dispatcher_, collector_;
  stats stats_;
  std::uint64_t checksum_ = 0;
};

const char* usage =
    "usage: pipeline [--items N] [--workers W] [--cancel-after-ms M] [--tour]\n"
    "  producer -> queue -> pool of workers -> channel -> collector; run 1 counts items/s,\n"
    "  run 2 is cancelled midway and unwinds every fiber\n"
    "  --items N            jobs in run 1 (default 1000000)\n"
    "  --workers W          workers at once, a grove::pool (default 200)\n"
    "  --cancel-after-ms M  run 2 is cancelled after M ms (default 500)\n"
    "  --tour               the defaults become 200000 items and 200 ms\n";

}  // namespace

int main(int argc, char** argv) {
  unsigned long item_count = 0, workers = 200, cancel_ms = 0;  // 0: not given
  bool tour = false;
  if (int rc = sample::parse_options(argc, argv, usage,
                                     {{"--items", &item_count, 1, 1e12},
                                      {"--workers", &workers, 1, 100000},
                                      {"--cancel-after-ms", &cancel_ms, 1, 600000}},
                                     {{"--tour", &tour}});
      rc >= 0) {
    return rc;
  }
  auto items = static_cast<std::int64_t>(item_count ? item_count : tour ? 200000 : 1000000);
  auto cancel_after = std::chrono::milliseconds(cancel_ms ? cancel_ms : tour ? 200 : 500);

  grove::run([&] {
    std::printf("run 1: %lld jobs through a pool of %zu workers\n", static_cast<long long>(items),
                workers);
    auto start = steady::now();
    {
      pipeline p(items, workers);
      p.start();
      p.wait();
      double s = seconds_since(start);
      const stats& f = p.figures();
      std::printf(
          "run 1: %lld results, %lld jobs cut off by their 20 ms timeout, in %.2f s: %.0f "
          "items/s\n",
          static_cast<long long>(f.collected), static_cast<long long>(f.timed_out), s,
          static_cast<double>(f.collected) / s);
    }

    std::printf("\nrun 2: endless jobs, cancelled after %lld ms\n",
                static_cast<long long>(cancel_after.count()));
    start = steady::now();
    pipeline p(-1, workers);
    p.start();
    grove::this_fiber::sleep_for(cancel_after);
    p.cancel();
    double s = seconds_since(start);
    const stats& f = p.figures();
    std::printf("run 2: cancelled after %lld jobs produced, %lld results collected: %.0f items/s\n",
                static_cast<long long>(f.produced), static_cast<long long>(f.collected),
                static_cast<double>(f.collected) / s);
    std::printf("run 2: fibers left after the cancel: %zu (just main)\n",
                grove::hub::current().fiber_count());
  });
}
