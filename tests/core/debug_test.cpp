// grove/debug.hpp: the fiber dump (what each fiber waits on, where, where it was spawned, its
// stack use), the dump signal and the blocking monitor.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <grove/debug.hpp>
#include <grove/grove.hpp>
#include <grove/net/unix.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "stderr_capture.hpp"

using namespace std::chrono_literals;
using grove_test::count_of;
using grove_test::stderr_capture;

namespace {

std::string here(int line) { return "debug_test.cpp:" + std::to_string(line); }

std::string dump() {
  std::ostringstream out;
  grove::dump_fibers(out);
  return out.str();
}

/// This thread's CPU time.
std::chrono::nanoseconds thread_cpu_time() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::chrono::seconds(t.tv_sec) + std::chrono::nanoseconds(t.tv_nsec);
}

/// Computes for `d` of CPU time (the monitor counts a running thread's CPU time, not the time
/// a loaded machine keeps it waiting) without a single grove call: the hub cannot switch.
/// Bounded by 30 s of wall time.
[[gnu::noinline]] void hog_the_hub(std::chrono::milliseconds d) {
  auto end = thread_cpu_time() + d;
  auto give_up = std::chrono::steady_clock::now() + 30s;
  while (thread_cpu_time() < end && std::chrono::steady_clock::now() < give_up) {
  }
}

}  // namespace

TEST_CASE("dump lists a sleeping fiber with its timer, the line of its wait and its spawn") {
  grove::run([] {
    int spawn_line = __LINE__ + 1;
    auto f = grove::spawn({.name = "sleeper"}, [] { grove::this_fiber::sleep_for(1h); });
    grove::this_fiber::yield();  // it starts and sleeps
    std::string text = dump();
    INFO(text);
    CHECK(text.find("fiber " + std::to_string(f.id()) + " 'sleeper' suspended: sleep, timer in") !=
          std::string::npos);
    CHECK(text.find("waits at") != std::string::npos);
    CHECK(count_of(text, here(spawn_line)) == 2);      // the sleep and the spawn share the line
    CHECK(text.find("running") != std::string::npos);  // the caller itself
    f.kill();
  });
}

TEST_CASE("dump names an event, a socket read and a join with the lines that wait") {
  grove::run([] {
    grove::event ready;
    auto [a, b] = grove::net::unix_stream::pair();
    int event_line = __LINE__ + 1;
    auto waiter = grove::spawn({.name = "waiter"}, [&] { ready.wait(); });
    int read_line = __LINE__ + 3;
    auto reader = grove::spawn({.name = "reader"}, [&a] {
      char byte;
      a.read_some(boost::asio::buffer(&byte, 1));
    });
    int join_line = __LINE__ + 1;
    auto joiner = grove::spawn({.name = "joiner"}, [&] { waiter.join(); });
    auto not_yet = grove::spawn_later(1h, {.name = "later"}, [] {});
    grove::this_fiber::yield();
    std::string text = dump();
    INFO(text);
    CHECK(text.find("'waiter' suspended: event 0x") != std::string::npos);
    CHECK(count_of(text, here(event_line) + " in") == 2);  // the wait and the spawn
    CHECK(text.find("'reader' suspended: fd " + std::to_string(a.native_handle()) +
                    " readable (socket:") != std::string::npos);
    CHECK(count_of(text, here(read_line) + " in") == 1);
    CHECK(text.find("'joiner' suspended: joining fiber " + std::to_string(waiter.id()) +
                    " 'waiter'") != std::string::npos);
    CHECK(count_of(text, here(join_line) + " in") == 2);
    CHECK(text.find("'later' not started: starts in") != std::string::npos);
    b.write_all("x");
    ready.set();
    joiner.join();
    reader.join();
    not_yet.kill();
  });
}

TEST_CASE("dump names waits on primitives shared across threads as it names local ones") {
  grove::event shared_event(grove::cross_thread);
  grove::channel<int> shared_channel(0, grove::cross_thread);
  grove::semaphore shared_slots(0, grove::cross_thread);
  grove::mutex shared_mutex(grove::cross_thread);
  grove::run([&] {
    std::lock_guard held(shared_mutex);
    int event_line = __LINE__ + 1;
    auto e = grove::spawn({.name = "on_event"}, [&] { shared_event.wait(); });
    auto c = grove::spawn({.name = "on_channel"}, [&] { (void)shared_channel.receive(); });
    auto s = grove::spawn({.name = "on_semaphore"}, [&] { shared_slots.acquire(); });
    auto m = grove::spawn({.name = "on_mutex"}, [&] { std::lock_guard lock(shared_mutex); });
    auto sel = grove::spawn({.name = "on_select"}, [&] {
      grove::select(grove::on_receive(shared_channel), grove::after(1h));
    });
    grove::this_fiber::yield();
    std::string text = dump();
    INFO(text);
    CHECK(text.find("'on_event' suspended: event 0x") != std::string::npos);
    CHECK(count_of(text, here(event_line) + " in") == 2);  // the wait and the spawn
    CHECK(text.find("'on_channel' suspended: channel 0x") != std::string::npos);
    CHECK(text.find("'on_semaphore' suspended: semaphore 0x") != std::string::npos);
    CHECK(text.find("'on_mutex' suspended: mutex 0x") != std::string::npos);
    CHECK(text.find("'on_select' suspended: select over channels") != std::string::npos);
    CHECK(text.find("a grove wait") == std::string::npos);  // nothing unknown
    for (auto* f : {&e, &c, &s, &m, &sel}) f->kill();
    for (auto* f : {&e, &c, &s, &m, &sel}) f->join();
  });
}

TEST_CASE("dump shows the line of a mutex lock and the spawn site of spawns with arguments") {
  grove::run([] {
    grove::mutex m;
    m.lock();
    int lock_line = __LINE__ + 2;
    auto locker = grove::spawn({.name = "locker"}, [&] {
      m.lock();
      m.unlock();
    });
    auto sleep_hours = [](int hours, int = 0, int = 0) {
      grove::this_fiber::sleep_for(std::chrono::hours(hours));
    };
    int one_line = __LINE__ + 1;
    auto one = grove::spawn(sleep_hours, 1);
    int two_line = __LINE__ + 1;
    auto two = grove::spawn(sleep_hours, 1, 2);
    int three_line = __LINE__ + 1;
    auto three = grove::spawn(sleep_hours, 1, 2, 3);
    int options_line = __LINE__ + 1;
    auto named = grove::spawn({.name = "named"}, sleep_hours, 1, 2);
    int later_line = __LINE__ + 1;
    auto later = grove::spawn_later(1h, {.name = "later"}, sleep_hours, 1);
    grove::this_fiber::yield();
    std::string text = dump();
    INFO(text);
    CHECK(text.find("'locker' suspended: mutex 0x") != std::string::npos);
    CHECK(count_of(text, here(lock_line) + " in") == 1);  // m.lock()'s line, not the header's
    for (int line : {one_line, two_line, three_line, options_line, later_line}) {
      CHECK(count_of(text, here(line) + " in") == 1);  // the spawn site
    }
    m.unlock();
    locker.join();
    for (auto* f : {&one, &two, &three, &named, &later}) f->kill();
  });
}

TEST_CASE("with painted stacks the dump reports how deep a fiber's stack went") {
  ::setenv("GROVE_STACK_PAINT", "1", 1);
  grove::run([] {
    grove::event go;
    auto deep = grove::spawn({.name = "deep", .stack_size = 128 * 1024}, [&] {
      volatile char block[40 * 1024];
      for (std::size_t i = 0; i < sizeof block; i += 512) block[i] = 1;
      go.wait();
      (void)block[0];
    });
    grove::this_fiber::yield();
    std::string text = dump();
    INFO(text);
    auto at = text.find("'deep'");
    REQUIRE(at != std::string::npos);
    auto mark = text.find("high-water ", at);
    REQUIRE(mark != std::string::npos);
    long kib = std::strtol(text.c_str() + mark + 11, nullptr, 10);
    CHECK(kib >= 40);
    CHECK(kib < 128);
    CHECK(text.find("(painted)", mark) != std::string::npos);
    go.set();
    deep.join();
  });
  ::unsetenv("GROVE_STACK_PAINT");
}

TEST_CASE("dump_fibers outside a hub is a clear error") {
  std::ostringstream out;
  CHECK_THROWS_AS(grove::dump_fibers(out), grove::error);
}

TEST_CASE("the dump signal prints the hub's fibers on stderr, from the hub") {
  stderr_capture captured;
  grove::run([&] {
    grove::dump_fibers_on(SIGUSR1);
    auto sleeper = grove::spawn({.name = "signalled"}, [] { grove::this_fiber::sleep_for(1h); });
    grove::this_fiber::yield();
    ::kill(::getpid(), SIGUSR1);
    // The diagnostics thread posts the dump to this hub: wait for it, bounded (5 s).
    for (int i = 0; i < 500 && captured.text().find("'signalled'") == std::string::npos; ++i) {
      grove::this_fiber::sleep_for(10ms);
    }
    sleeper.kill();
  });
  grove::dump_fibers_on(0);
  std::string text = captured.text();
  INFO(text);
  CHECK(text.find("'signalled' suspended: sleep, timer in") != std::string::npos);
}

TEST_CASE("the monitor reports a fiber that holds the hub, once, with its backtrace") {
  stderr_capture captured;
  grove::monitor_blocking(50ms);
  grove::run([&] {
    auto hog = grove::spawn({.name = "hog"}, [] { hog_the_hub(400ms); });
    hog.join();
    // The report is written by the monitor's thread: wait for it, bounded (10 s).
    for (int i = 0; i < 1000 && captured.text().find("end of backtrace") == std::string::npos;
         ++i) {
      grove::this_fiber::sleep_for(10ms);
    }
    grove::this_fiber::sleep_for(200ms);  // a second report of the same incident would show
  });
  grove::monitor_blocking(0ms);
  std::string text = captured.text();
  INFO(text);
  CHECK(count_of(text, "has held the hub") == 1);
  CHECK(text.find("monitor: fiber ") != std::string::npos);
  CHECK(text.find("'hog' has held the hub") != std::string::npos);
  CHECK(text.find("hog_the_hub") != std::string::npos);  // the backtrace names the culprit
}

TEST_CASE("the monitor stays quiet while fibers keep switching") {
  stderr_capture captured;
  grove::monitor_blocking(50ms);
  grove::run([] {
    auto busy = [] {
      auto end = std::chrono::steady_clock::now() + 400ms;
      while (std::chrono::steady_clock::now() < end) grove::this_fiber::yield();
    };
    auto a = grove::spawn(busy);
    auto b = grove::spawn(busy);
    a.join();
    b.join();
    grove::this_fiber::sleep_for(300ms);  // idle: not a stall either
  });
  grove::monitor_blocking(0ms);
  std::string text = captured.text();
  INFO(text);
  CHECK(text.find("has held the hub") == std::string::npos);
}

TEST_CASE("a fork while the monitor holds the hub registry leaves a child that runs and dumps") {
  stderr_capture captured;
  grove::monitor_blocking(20ms);
  const int monitor_signal = SIGRTMIN + 6;  // the monitor's capture signal (debug.hpp)
  std::atomic<int> capture{0};  // 1: the monitor's signal is pending; 2: it never came
  std::atomic<bool> forked{false};
  // A hub thread that does not answer the monitor: its capture then holds the registry for a
  // second, waiting for the answer. The fork comes while that signal is pending, in the capture.
  std::thread deaf([&] {
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, monitor_signal);
    ::pthread_sigmask(SIG_BLOCK, &only, nullptr);
    grove::run([&] {
      auto give_up = std::chrono::steady_clock::now() + 10s;
      sigset_t pending;
      do {
        ::usleep(2000);  // blocking the hub: a stall in a system call, reported in wall time
        sigpending(&pending);
      } while (!sigismember(&pending, monitor_signal) && std::chrono::steady_clock::now() < give_up);
      capture = sigismember(&pending, monitor_signal) ? 1 : 2;
      capture.notify_one();
      while (!forked && std::chrono::steady_clock::now() < give_up) ::usleep(2000);
    });
    ::pthread_sigmask(SIG_UNBLOCK, &only, nullptr);  // the pending signal's handler now runs
  });
  capture.wait(0);
  pid_t child = ::fork();
  if (child == 0) {
    // The child: its first hub enters the registry the parent's monitor held at the fork.
    std::string text = grove::run([] {
      auto f = grove::spawn({.name = "child's"}, [] { grove::this_fiber::sleep_for(1h); });
      grove::this_fiber::yield();
      std::ostringstream out;
      grove::dump_fibers(out);
      f.kill();
      return out.str();
    });
    ::_exit(text.find("'child's' suspended: sleep") != std::string::npos ? 0 : 1);
  }
  forked = true;
  deaf.join();
  grove::monitor_blocking(0ms);
  REQUIRE(child > 0);
  int status = -1;
  for (int i = 0; i < 1000 && ::waitpid(child, &status, WNOHANG) == 0; ++i) ::usleep(10000);
  if (::waitpid(child, &status, WNOHANG) == 0) {  // still running after 10 s: it deadlocked
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL("the child of fork() hung entering the hub registry");
  }
  CHECK(capture.load() == 1);  // the fork did come during the monitor's capture
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
