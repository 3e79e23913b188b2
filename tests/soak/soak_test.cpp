// Soak: thousands of fibers doing seeded random work at once (sleeps, queue and channel
// traffic, socket echo over 127.0.0.1, offload calls) while some kill others; at the end every
// fiber has finished or been killed, and no descriptor or stack is left behind.
//
// Bounded: a fixed amount of work (GROVE_SOAK_FIBERS, GROVE_SOAK_SEED override the defaults),
// a few seconds on a quiet machine, and a hard deadline on the whole run.
#include <dirent.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/hub_impl.hpp"  // the stack pool's counters

using namespace std::chrono_literals;
namespace net = grove::net;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr int default_fibers = 1000;
#else
constexpr int default_fibers = 5000;
#endif
constexpr int rounds = 40;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

int count_open_descriptors() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n - 1;  // the directory stream's own
}

void echo_lines(net::tcp_stream conn) {
  for (;;) {
    auto line = conn.read_until("\n");
    if (line.empty()) return;
    conn.write_all(line);
  }
}

struct totals {
  int finished = 0;  // workers that returned
  int killed = 0;    // workers ended by a kill (counted by their own unwinding)
  int echoes = 0;
  int offloads = 0;
  int items = 0;   // queue items put and got back
  int values = 0;  // channel values received
  int kills_sent = 0;
};

/// One worker: `rounds` random actions, each checked.
void work(int id, std::uint32_t seed, totals& t, grove::queue<int>& shared,
          grove::semaphore& sockets, std::uint16_t port,
          std::vector<grove::fiber<void>>& everyone) {
  struct count_kill {
    totals& t;
    bool done = false;
    ~count_kill() {
      if (!done) ++t.killed;
    }
  } unwinding{t};
  std::mt19937 rng(seed ^ static_cast<std::uint32_t>(id * 2654435761u));
  for (int round = 0; round < rounds; ++round) {
    switch (rng() % 6) {
      case 0:
        grove::this_fiber::sleep_for(std::chrono::microseconds(rng() % 3000));
        break;
      case 1: {  // a put is always followed by one get: gets can never outnumber puts
        shared.put(id);
        grove::timeout limit(10s);  // a lost item would show as a timeout, not a hang
        shared.get();
        ++t.items;
        break;
      }
      case 2: {  // a rendezvous channel with a fiber of its own
        grove::channel<int> ch;
        int n = 1 + static_cast<int>(rng() % 4);
        auto sender = grove::spawn([&ch, n] {
          for (int i = 0; i < n; ++i) ch.send(i);
          ch.close();
        });
        struct end_sender {  // if this worker is killed, its sender must not outlive `ch`
          grove::fiber<void>& f;
          ~end_sender() {
            f.kill();
            f.join();
          }
        } ender{sender};
        int got = 0;
        while (auto v = ch.receive()) {
          CHECK(*v == got);
          ++got;
        }
        sender.get();
        CHECK(got == n);
        t.values += got;
        break;
      }
      case 3: {  // socket echo over loopback
        sockets.acquire();
        struct give_back {
          grove::semaphore& s;
          ~give_back() { s.release(); }
        } slot{sockets};
        auto conn = net::tcp_stream::connect("127.0.0.1", port);
        std::string line = "soak " + std::to_string(id) + " " + std::to_string(round) + "\n";
        conn.write_all(line);
        std::string back = conn.read_until("\n");  // never a wait inside CHECK: it catches kills
        CHECK(back == line);
        ++t.echoes;
        break;
      }
      case 4: {
        int x = static_cast<int>(rng() % 1000);
        int doubled = grove::offload([x] { return x * 2; });
        CHECK(doubled == x * 2);
        ++t.offloads;
        break;
      }
      case 5: {  // kill a random other worker (perhaps finished, perhaps not started yet)
        std::size_t victim = rng() % everyone.size();
        if (victim != static_cast<std::size_t>(id) && rng() % 16 == 0) {
          everyone[victim].kill();
          ++t.kills_sent;
        }
        grove::this_fiber::yield();
        break;
      }
    }
  }
  unwinding.done = true;
  ++t.finished;
}

}  // namespace

TEST_CASE("soak: thousands of fibers at random work and kills; nothing lost, nothing leaked") {
  const int fibers = env_int("GROVE_SOAK_FIBERS", default_fibers);
  const auto seed = static_cast<std::uint32_t>(env_int("GROVE_SOAK_SEED", 20261201));
  INFO("fibers " << fibers << ", seed " << seed << " (GROVE_SOAK_FIBERS, GROVE_SOAK_SEED)");

  // A first hub touches every facility once (offload threads, the loopback server), so what
  // is process-wide and created once is there before the descriptors are counted.
  grove::run([] {
    net::server warm(net::tcp_listener::bind("127.0.0.1", 0), echo_lines);
    warm.start();
    auto conn = net::tcp_stream::connect("127.0.0.1", warm.listener().local_endpoint().port());
    conn.write_all("warm\n");
    conn.read_until("\n");
    conn.close();
    grove::offload([] { return 0; });
    warm.stop();
  });
  const int descriptors_before = count_open_descriptors();

  totals t;
  auto start = std::chrono::steady_clock::now();
  grove::run([&] {
    net::server echo(net::tcp_listener::bind("127.0.0.1", 0), echo_lines);
    echo.start();
    const auto port = echo.listener().local_endpoint().port();
    grove::queue<int> shared(64);
    grove::semaphore sockets(32);  // each echo holds two descriptors: stay far below the limit
    std::vector<grove::fiber<void>> everyone;
    everyone.reserve(static_cast<std::size_t>(fibers));
    for (int i = 0; i < fibers; ++i) {
      everyone.push_back(
          grove::spawn([&, i] { work(i, seed, t, shared, sockets, port, everyone); }));
    }
    std::size_t joined = 0;
    for (auto& f : everyone) {
      if (f.join_for(60s)) ++joined;
    }
    REQUIRE(joined == everyone.size());  // nothing hangs
    int finished = 0, killed = 0;
    for (auto& f : everyone) {
      try {
        f.get();
        ++finished;
      } catch (const grove::killed_error&) {
        ++killed;
      }
    }
    echo.stop();
    CHECK(finished == t.finished);
    CHECK(finished + killed == fibers);
    // Fibers killed before they started never ran, so never counted themselves.
    CHECK(t.killed <= killed);
    CHECK(t.kills_sent >= killed);
    // Every item that was put was got back, except those of workers killed in between.
    CHECK(shared.size() <= static_cast<std::size_t>(killed));
    // The main fiber is the only one left, on the only stack in use.
    CHECK(grove::hub::current().fiber_count() == 1);
    CHECK(grove::detail::hub_impl::current()->stacks().in_use() == 1);
    MESSAGE("finished " << finished << ", killed " << killed << " (" << t.killed
                        << " while running), echoes " << t.echoes << ", offloads " << t.offloads
                        << ", queue items " << t.items << ", channel values " << t.values);
    CHECK(t.echoes > 0);
    CHECK(t.offloads > 0);
    CHECK(t.items > 0);
    CHECK(t.values > 0);
    CHECK(killed > 0);
  });
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("soak took " << took << " s");
  CHECK(count_open_descriptors() == descriptors_before);
}
