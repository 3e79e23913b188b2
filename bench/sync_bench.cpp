// grove's synchronization benchmarks (issue 3). Same contract as the peers in bench/peers/:
// a warm-up, then one line of `key=value` tokens, so bench/run_bench.sh can take medians.
//
//   sync_bench channel [round_trips]     unbuffered channel ping-pong between two fibers
//                                        (default 5000000): ns_per_message=
//   sync_bench channel_shared [round_trips]
//                                        the same with grove::cross_thread channels, both fibers
//                                        on one hub: the shared path's software cost alone
//                                        (default 5000000): ns_per_message=
//   sync_bench channel_cross [round_trips]
//                                        the same ping-pong between fibers of two hubs on two
//                                        threads, over grove::cross_thread channels (default
//                                        200000): ns_per_message= best_window_ns= (the fastest
//                                        100 round trips: what preemption did not hit)
//   sync_bench channel_cross_slow [round_trips] [slow_every] [slow_run] [slow_us]
//                                        channel_cross where, every slow_every round trips
//                                        (default 1000), the echo works slow_us (100) us on
//                                        the CPU before each of slow_run (8) answers in a row,
//                                        as a handler might: ns_per_message= without that work
//                                        (what the path costs around slow answers: a hub that
//                                        stopped spinning pays a thread wake-up a message)
//   sync_bench select [round_trips]      the channel ping-pong with every send and receive a
//                                        grove::select over its channel and an idle one
//                                        (default 2000000): ns_per_message=
//   sync_bench select_cross [round_trips]
//                                        channel_cross with every send and receive a
//                                        grove::select over its channel and a second shared
//                                        channel that is never ready (default 200000):
//                                        ns_per_message=
//   sync_bench stream_cross [items] [capacity]
//                                        a fiber sends items into a buffered shared channel
//                                        (default 1000000, capacity 128), a fiber of a second
//                                        hub on its own thread receives them: ns_per_item=
//   sync_bench mutex [fibers] [rounds]   mutex hand-off among contending fibers, each doing
//                                        `lock; yield; unlock; yield` (default 1000, 1000):
//                                        ns_per_lock=
//
// The workloads mirror bench/peers/{go_channel/main.go, boost_fiber_channel.cpp,
// boost_fiber_channel_threads.cpp, boost_fiber_mutex.cpp} line for line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bench_util.hpp"

namespace {

using steady = std::chrono::steady_clock;

// Both workloads run inside the caller's grove::run, so the timed run reuses the warm-up's
// pooled stacks (a first page touch costs 11-16 us on these VMs).
/// The fastest window of `window_round_trips` round trips of the last timed run, in ns per
/// message: on a loaded machine (other threads preempting one of the two hubs) the windows no
/// preemption hit still show what the path costs (printed as best_window_ns=).
double best_window_ns = 0;
constexpr long window_round_trips = 100;

/// Times `round_trip(i)` for i in [0, round_trips): ns per message, two a round trip. With
/// `Windows`, also records the fastest window in best_window_ns (the cross-hub rows); without,
/// the loop is bare, as the one-hub rows were always measured.
template <bool Windows, class RoundTrip>
double timed(long round_trips, RoundTrip round_trip) {
  auto start = steady::now();
  [[maybe_unused]] auto window_start = start;
  [[maybe_unused]] double best = 0;
  for (long i = 0; i < round_trips; ++i) {
    round_trip(i);
    if constexpr (Windows) {
      if ((i + 1) % window_round_trips == 0) {
        auto now = steady::now();
        double ns = std::chrono::duration<double, std::nano>(now - window_start).count() /
                    (2.0 * window_round_trips);
        if (best == 0 || ns < best) best = ns;
        window_start = now;
      }
    }
  }
  std::chrono::duration<double, std::nano> ns = steady::now() - start;
  if constexpr (Windows) best_window_ns = best;
  return ns.count() / (2.0 * static_cast<double>(round_trips));
}

/// Sends `round_trips` values on `ping`, each answered on `pong` by an echo elsewhere, then
/// closes `ping` (the echo ends): ns per message, two a round trip. `Windows`: also record
/// best_window_ns (see timed).
template <bool Windows = false>
double timed_round_trips(grove::channel<long>& ping, grove::channel<long>& pong, long round_trips) {
  double result = timed<Windows>(round_trips, [&](long i) {
    ping.send(i);
    pong.receive();
  });
  ping.close();
  return result;
}

/// `Shared`: the channels are made with grove::cross_thread, though both fibers run on this hub
/// (the shared path's software cost without a cache line crossing CPUs).
template <bool Shared = false>
double channel_ping_pong(long round_trips) {
  auto make = [] {
    if constexpr (Shared) {
      return grove::channel<long>(0, grove::cross_thread);
    } else {
      return grove::channel<long>();
    }
  };
  grove::channel<long> ping = make();
  grove::channel<long> pong = make();
  auto echo = grove::spawn([&] {
    while (auto v = ping.receive()) pong.send(*v);
  });
  double result = timed_round_trips(ping, pong, round_trips);
  echo.join();
  return result;
}

double mutex_handoff(long fibers, long rounds) {
  grove::mutex m;
  long acquisitions = 0;
  std::vector<grove::fiber<void>> workers;
  workers.reserve(static_cast<std::size_t>(fibers));
  auto start = steady::now();
  for (long f = 0; f < fibers; ++f) {
    workers.push_back(grove::spawn({.name = "", .stack_size = 16 * 1024}, [&] {
      for (long r = 0; r < rounds; ++r) {
        {
          std::unique_lock lock(m);
          ++acquisitions;
          grove::this_fiber::yield();
        }
        grove::this_fiber::yield();
      }
    }));
  }
  for (auto& w : workers) w.join();
  std::chrono::duration<double, std::nano> ns = steady::now() - start;
  return ns.count() / static_cast<double>(acquisitions);
}

/// channel_cross_slow: every `slow_every` round trips, the echo works `slow_work` (on the CPU,
/// its hub busy) before each of `slow_run` answers in a row.
struct slow_answers {
  long every = 0;  ///< 0: never
  long run = 8;
  std::chrono::microseconds work{100};
  bool slow(long v) const noexcept { return every != 0 && v % every < run; }
  long count(long round_trips) const noexcept {
    if (every == 0) return 0;
    return round_trips / every * run + std::min(round_trips % every, run);
  }
};

/// Works on the CPU for `d`, as a request's handler would.
void busy_for(std::chrono::microseconds d) {
  auto until = steady::now() + d;
  while (steady::now() < until) {
  }
}

// The echo runs on a second hub on its own thread; both channels are shared across threads.
double channel_cross_ping_pong(long round_trips, slow_answers slow = {}) {
  grove::channel<long> ping(0, grove::cross_thread);
  grove::channel<long> pong(0, grove::cross_thread);
  std::thread echo_thread([&] {
    grove::run([&] {
      while (auto v = ping.receive()) {
        if (slow.slow(*v)) busy_for(slow.work);
        pong.send(*v);
      }
    });
  });
  double result = grove::run([&] { return timed_round_trips<true>(ping, pong, round_trips); });
  echo_thread.join();
  return result;
}

// channel_cross through grove::select: each side's select also watches an idle shared channel,
// so every message pays the multi-wait (two spinlocks, the claim). Peer: go_channel ... select.
double select_cross_ping_pong(long round_trips) {
  grove::channel<long> ping(0, grove::cross_thread);
  grove::channel<long> pong(0, grove::cross_thread);
  grove::channel<long> idle_echo(0, grove::cross_thread);
  grove::channel<long> idle_main(0, grove::cross_thread);
  std::thread echo_thread([&] {
    grove::run([&] {
      for (;;) {
        std::optional<long> v;
        grove::select(grove::on_receive(ping, [&](std::optional<long> x) { v = x; }),
                      grove::on_receive(idle_echo));
        if (!v) return;
        grove::select(grove::on_send(pong, *v), grove::on_receive(idle_echo));
      }
    });
  });
  double result = grove::run([&] {
    double ns = timed<true>(round_trips, [&](long i) {
      grove::select(grove::on_send(ping, i), grove::on_receive(idle_main));
      grove::select(grove::on_receive(pong), grove::on_receive(idle_main));
    });
    ping.close();
    return ns;
  });
  echo_thread.join();
  return result;
}

// Streaming across hubs: a producer fiber on this hub sends `items` into a buffered shared
// channel of `capacity`, a consumer fiber on a second hub (its own thread) receives them all.
// ns per item, from the first send to the consumer's last receive. Peer: go_channel ... stream.
double stream_cross(long items, long capacity) {
  grove::channel<long> ch(static_cast<std::size_t>(capacity), grove::cross_thread);
  long sum = 0;
  auto start = steady::now();
  std::thread consumer([&] {
    grove::run([&] {
      while (auto v = ch.receive()) sum += *v;
    });
  });
  grove::run([&] {
    for (long i = 0; i < items; ++i) ch.send(i);
    ch.close();
  });
  consumer.join();
  double ns = std::chrono::duration<double, std::nano>(steady::now() - start).count();
  if (sum != items * (items - 1) / 2) {
    std::fprintf(stderr, "sync_bench stream_cross: items lost or repeated\n");
    std::exit(1);
  }
  return ns / static_cast<double>(items);
}

// The one-hub channel ping-pong through grove::select, each select also watching an idle
// channel: two channel cases, so each pays for picking where to start polling (fairness).
double select_ping_pong(long round_trips) {
  grove::channel<long> ping;
  grove::channel<long> pong;
  grove::channel<long> idle;
  auto echo = grove::spawn([&] {
    for (;;) {
      std::optional<long> v;
      grove::select(grove::on_receive(ping, [&](std::optional<long> x) { v = x; }),
                    grove::on_receive(idle));
      if (!v) return;
      grove::select(grove::on_send(pong, *v), grove::on_receive(idle));
    }
  });
  double ns = timed<false>(round_trips, [&](long i) {
    grove::select(grove::on_send(ping, i), grove::on_receive(idle));
    grove::select(grove::on_receive(pong), grove::on_receive(idle));
  });
  ping.close();
  echo.join();
  return ns;
}

const char* usage =
    "usage: sync_bench channel [ROUND_TRIPS] | channel_shared [ROUND_TRIPS] | "
    "channel_cross [ROUND_TRIPS] |\n"
    "                  channel_cross_slow [ROUND_TRIPS] [EVERY] [RUN] [US] | "
    "select [ROUND_TRIPS] |\n"
    "                  select_cross [ROUND_TRIPS] | stream_cross [ITEMS] [CAPACITY] | "
    "mutex [FIBERS] [ROUNDS]";

constexpr long most = 1'000'000'000;

}  // namespace

int main(int argc, char** argv) {
  std::string what;
  // The mode first (argv[1] alone), then that mode's numbers (argv[2..]).
  if (int rc = bench::parse_positional(
          std::min(argc, 2), argv, usage,
          {{"MODE", what,
            "channel|channel_shared|channel_cross|channel_cross_slow|select|select_cross|"
            "stream_cross|mutex"}},
          1);
      rc >= 0) {
    return rc;
  }
  auto numbers = [&](std::initializer_list<bench::positional> args) {
    return bench::parse_positional(argc, argv, usage, args, 0, 2);
  };
  if (what == "channel") {
    long round_trips = 5'000'000;
    if (int rc = numbers({{"ROUND_TRIPS", round_trips, 1, most}}); rc >= 0) return rc;
    grove::run([&] {
      channel_ping_pong(round_trips / 10 + 1);  // warm-up
      std::printf("ns_per_message=%.2f\n", channel_ping_pong(round_trips));
    });
  } else if (what == "channel_shared") {
    long round_trips = 5'000'000;
    if (int rc = numbers({{"ROUND_TRIPS", round_trips, 1, most}}); rc >= 0) return rc;
    grove::run([&] {
      channel_ping_pong<true>(round_trips / 10 + 1);  // warm-up
      std::printf("ns_per_message=%.2f\n", channel_ping_pong<true>(round_trips));
    });
  } else if (what == "channel_cross") {
    long round_trips = 200'000;
    if (int rc = numbers({{"ROUND_TRIPS", round_trips, 1, most}}); rc >= 0) return rc;
    channel_cross_ping_pong(round_trips / 10 + 1);  // warm-up
    double ns = channel_cross_ping_pong(round_trips);
    std::printf("ns_per_message=%.2f best_window_ns=%.2f\n", ns, best_window_ns);
  } else if (what == "channel_cross_slow") {
    long round_trips = 200'000, every = 1000, run = 8, us = 100;
    if (int rc = numbers({{"ROUND_TRIPS", round_trips, 1, most},
                          {"EVERY", every, 1, most},
                          {"RUN", run, 1, most},
                          {"US", us, 1, 10'000'000}});
        rc >= 0) {
      return rc;
    }
    slow_answers slow{.every = every, .run = run, .work = std::chrono::microseconds(us)};
    channel_cross_ping_pong(round_trips / 10 + 1, slow);  // warm-up
    double ns = channel_cross_ping_pong(round_trips, slow);
    // Less the echo's work, spread over every message.
    double work_ns = static_cast<double>(slow.count(round_trips)) *
                     std::chrono::duration<double, std::nano>(slow.work).count() /
                     (2.0 * static_cast<double>(round_trips));
    std::printf("ns_per_message=%.2f work_ns_per_message=%.2f\n", ns - work_ns, work_ns);
  } else if (what == "select") {
    long round_trips = 2'000'000;
    if (int rc = numbers({{"ROUND_TRIPS", round_trips, 1, most}}); rc >= 0) return rc;
    grove::run([&] {
      select_ping_pong(round_trips / 10 + 1);  // warm-up
      std::printf("ns_per_message=%.2f\n", select_ping_pong(round_trips));
    });
  } else if (what == "select_cross") {
    long round_trips = 200'000;
    if (int rc = numbers({{"ROUND_TRIPS", round_trips, 1, most}}); rc >= 0) return rc;
    select_cross_ping_pong(round_trips / 10 + 1);  // warm-up
    double ns = select_cross_ping_pong(round_trips);
    std::printf("ns_per_message=%.2f best_window_ns=%.2f\n", ns, best_window_ns);
  } else if (what == "stream_cross") {
    long items = 1'000'000, capacity = 128;
    if (int rc = numbers({{"ITEMS", items, 1, most}, {"CAPACITY", capacity, 1, 1'000'000}});
        rc >= 0) {
      return rc;
    }
    stream_cross(items / 10 + 1, capacity);  // warm-up
    std::printf("ns_per_item=%.2f\n", stream_cross(items, capacity));
  } else {  // mutex
    long fibers = 1000, rounds = 1000;
    if (int rc = numbers({{"FIBERS", fibers, 1, 10'000'000}, {"ROUNDS", rounds, 1, most}});
        rc >= 0) {
      return rc;
    }
    grove::run([&] {
      mutex_handoff(fibers, rounds / 10 + 1);  // warm-up
      std::printf("ns_per_lock=%.2f\n", mutex_handoff(fibers, rounds));
    });
  }
}
