// The lock check of the shims (shims/lock.cpp): with GROVE_CHECK_LOCKS=1 a fiber that suspends
// while it holds a pthread lock (std::mutex, std::shared_mutex) is reported once per wait site
// on stderr; without it, nothing is. Locks held outside fibers, or by another fiber, and grove's
// own locks are never reported. meson runs this file twice: with the variable and without; each
// test expects a report only in the first run.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <grove/net/server.hpp>
#include <grove/net/tcp.hpp>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

using namespace std::chrono_literals;

namespace {

bool checking() {
  const char* v = std::getenv("GROVE_CHECK_LOCKS");
  return v && std::strcmp(v, "1") == 0;
}

/// Runs `fn` with stderr sent to a memory file; returns what was written there.
template <class Fn>
std::string capture_stderr(Fn fn) {
  int file = ::memfd_create("stderr", 0);
  REQUIRE(file >= 0);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(file, STDERR_FILENO);
  fn();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  char buf[4096];
  ::lseek(file, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(file, buf, sizeof buf)) > 0;) text.append(buf, std::size_t(n));
  ::close(file);
  return text;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a fiber that sleeps holding a std::mutex is reported once per wait site") {
  std::uint64_t id = 0;
  std::string err = capture_stderr([&] {
    grove::run([&] {
      std::mutex m;
      auto f = grove::spawn({.name = "holder"}, [&] {
        for (int i = 0; i < 3; ++i) {  // the same site three times: one report
          std::lock_guard lock(m);
          grove::this_fiber::sleep_for(1ms);
        }
      });
      id = f.id();
      f.get();
    });
  });
  if (checking()) {
    CHECK(count_of(err, "grove: fiber ") == 1);
    CHECK(err.find("grove: fiber " + std::to_string(id) + " \"holder\"") != std::string::npos);
    CHECK(err.find("holding 1 pthread lock") != std::string::npos);
    CHECK(err.find("  #0 ") != std::string::npos);  // the wait's backtrace
    CHECK(err.find("libgrove") != std::string::npos);
  } else {
    CHECK(err.empty());
  }
}

TEST_CASE("each wait site is reported: a yield and a shared_mutex count, two locks say two") {
  std::string err = capture_stderr([&] {
    grove::run([&] {
      std::mutex a, b;
      std::shared_mutex shared;
      grove::spawn([&] {
        std::scoped_lock both(a, b);
        grove::this_fiber::yield();  // the inline yield
      }).get();
      grove::spawn([&] {
        std::shared_lock reader(shared);
        grove::this_fiber::sleep_for(1ms);
      }).get();
      grove::spawn([&] {
        std::unique_lock writer(shared);
        grove::event never;
        never.wait_for(1ms);
      }).get();
    });
  });
  if (checking()) {
    CHECK(count_of(err, "grove: fiber ") == 3);
    CHECK(err.find("holding 2 pthread lock") != std::string::npos);
    CHECK(count_of(err, "holding 1 pthread lock") == 2);
  } else {
    CHECK(err.empty());
  }
}

TEST_CASE("only the fiber that holds the lock is reported, not the others that wait meanwhile") {
  std::uint64_t holder_id = 0;
  std::string err = capture_stderr([&] {
    grove::run([&] {
      std::mutex m;
      grove::event go;
      auto holder = grove::spawn([&] {
        std::lock_guard lock(m);
        go.wait();
      });
      holder_id = holder.id();
      std::vector<grove::fiber<void>> others;
      for (int i = 0; i < 5; ++i) {
        others.push_back(grove::spawn([] { grove::this_fiber::sleep_for(2ms); }));
      }
      for (auto& o : others) o.get();
      go.set();
      holder.get();
    });
  });
  if (checking()) {
    CHECK(count_of(err, "grove: fiber ") == 1);
    CHECK(err.find("grove: fiber " + std::to_string(holder_id) + " ") != std::string::npos);
  } else {
    CHECK(err.empty());
  }
}

TEST_CASE("a lock released before the wait, or held outside any fiber, is never reported") {
  std::string err = capture_stderr([&] {
    std::mutex outside;
    std::lock_guard held_by_thread(outside);  // held by the thread across the whole run
    grove::run([&] {
      std::mutex m;
      grove::hub::current().call_soon([&] {
        m.lock();
        m.unlock();
      });  // a callback's lock
      for (int i = 0; i < 3; ++i) {
        { std::lock_guard lock(m); }
        grove::this_fiber::sleep_for(1ms);
      }
    });
  });
  CHECK(err.empty());
}

TEST_CASE(
    "a server-ish run (sockets, offload, grove::mutex, brief std::mutex use) reports nothing") {
  std::string err = capture_stderr([&] {
    grove::run([&] {
      std::mutex stats_mutex;
      int served = 0;
      grove::mutex grove_lock;
      grove::net::server server(grove::net::tcp_listener::bind("127.0.0.1", 0),
                                [&](grove::net::tcp_stream conn) {
                                  std::string line = conn.read_until("\n");
                                  int square = grove::offload([] { return 7 * 7; });
                                  {
                                    std::lock_guard g(grove_lock);  // grove's lock may be held
                                    grove::this_fiber::yield();
                                  }
                                  {
                                    std::lock_guard s(stats_mutex);  // released before any wait
                                    ++served;
                                  }
                                  conn.write_all(std::to_string(square) + " " + line);
                                });
      server.start();
      auto port = server.listener().local_endpoint().port();
      std::vector<grove::fiber<std::string>> clients;
      for (int i = 0; i < 8; ++i) {
        clients.push_back(grove::spawn([port, i] {
          auto conn = grove::net::tcp_stream::connect("127.0.0.1", port);
          conn.write_all("hello " + std::to_string(i) + "\n");
          return conn.read_until("\n");
        }));
      }
      grove::timeout t(10s);
      for (int i = 0; i < 8; ++i) {
        std::string answer = clients[i].get();
        CHECK(answer == "49 hello " + std::to_string(i) + "\n");
      }
      server.stop();
      CHECK(served == 8);
    });
  });
  CHECK(err.empty());
}

TEST_CASE("a fiber on a small stack (16 KiB) is reported without overflowing it") {
  std::string err = capture_stderr([&] {
    grove::run([&] {
      std::timed_mutex m;
      grove::spawn({.name = "small", .stack_size = 16 * 1024}, [&] {
        REQUIRE(m.try_lock_for(1s));  // pthread_mutex_clocklock
        grove::this_fiber::sleep_for(1ms);
        m.unlock();
      }).get();
    });
  });
  if (checking()) {
    CHECK(err.find("\"small\" waits while holding 1 pthread lock") != std::string::npos);
  } else {
    CHECK(err.empty());
  }
}

TEST_CASE(
    "a shimmed libc wait holding a lock is reported too: a zero sleep yields through the hub") {
  std::string err = capture_stderr([&] {
    grove::run([&] {
      std::mutex m;
      grove::spawn({.name = "napper"}, [&] {
        std::lock_guard lock(m);
        ::usleep(0);  // the shim's yield
      }).get();
      grove::spawn({.name = "sleeper"}, [&] {
        std::lock_guard lock(m);
        ::usleep(1000);  // the shim's timer wait
      }).get();
    });
  });
  if (checking()) {
    CHECK(err.find("\"napper\" waits while holding 1") != std::string::npos);
    CHECK(err.find("\"sleeper\" waits while holding 1") != std::string::npos);
  } else {
    CHECK(err.empty());
  }
}
