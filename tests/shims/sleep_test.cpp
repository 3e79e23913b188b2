// The sleep family through libgrove_shims (linked as a user links it): plain sleep, usleep,
// nanosleep, clock_nanosleep, thrd_sleep and std::this_thread::sleep_for/until overlap in fibers,
// block as libc elsewhere, and end early with ECANCELED / ETIMEDOUT on a kill or a scoped
// timeout. Also run with GROVE_SHIMS=0 (only the test named for it), where they are serial.
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <grove/grove.hpp>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point start) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
}

/// Runs `nap` in `count` fibers at once; returns how long they all took, in ms.
double overlap_ms(int count, const std::function<void()>& nap) {
  return grove::run([&] {
    auto start = clock_type::now();
    std::vector<grove::fiber<void>> fibers;
    for (int i = 0; i < count; ++i) fibers.push_back(grove::spawn(nap));
    for (auto& f : fibers) f.join();
    return ms_since(start);
  });
}

double cpu_ms() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

bool shims_disabled() {
  const char* value = std::getenv("GROVE_SHIMS");
  return value && std::strcmp(value, "0") == 0;
}

timespec timespec_of(std::chrono::nanoseconds d) {
  return {static_cast<time_t>(d.count() / 1'000'000'000),
          static_cast<long>(d.count() % 1'000'000'000)};
}

}  // namespace

TEST_CASE("ten fibers in plain usleep, nanosleep or this_thread::sleep_for overlap") {
  CHECK(overlap_ms(10, [] {
          int result = usleep(300'000);
          CHECK(result == 0);
        }) < 450);
  CHECK(overlap_ms(10, [] {
          timespec t = timespec_of(300ms);
          int result = nanosleep(&t, nullptr);
          CHECK(result == 0);
        }) < 450);
  CHECK(overlap_ms(10, [] { std::this_thread::sleep_for(300ms); }) < 450);
  CHECK(overlap_ms(10, [] {
          std::this_thread::sleep_until(std::chrono::system_clock::now() + 300ms);
        }) < 450);
  CHECK(overlap_ms(10, [] {
          timespec t = timespec_of(300ms);
          int result = thrd_sleep(&t, nullptr);
          CHECK(result == 0);
        }) < 450);
}

TEST_CASE("plain sleep(1) in five fibers takes one second, not five") {
  double ms = overlap_ms(5, [] {
    unsigned left = sleep(1);
    CHECK(left == 0);
  });
  CHECK(ms >= 990);
  CHECK(ms < 1500);
}

TEST_CASE(
    "clock_nanosleep overlaps, relative and TIMER_ABSTIME, on the monotonic and realtime clocks") {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME}) {
    CAPTURE(clock);
    CHECK(overlap_ms(10, [clock] {
            timespec t = timespec_of(300ms);
            int result = clock_nanosleep(clock, 0, &t, nullptr);
            CHECK(result == 0);
          }) < 450);
    double ms = overlap_ms(10, [clock] {
      timespec when{};
      clock_gettime(clock, &when);
      when.tv_nsec += 300'000'000;
      if (when.tv_nsec >= 1'000'000'000) {
        when.tv_nsec -= 1'000'000'000;
        ++when.tv_sec;
      }
      int result = clock_nanosleep(clock, TIMER_ABSTIME, &when, nullptr);
      CHECK(result == 0);
      timespec now{};
      clock_gettime(clock, &now);
      CHECK(
          (now.tv_sec > when.tv_sec || (now.tv_sec == when.tv_sec && now.tv_nsec >= when.tv_nsec)));
    });
    CHECK(ms >= 290);
    CHECK(ms < 450);
  }
}

TEST_CASE("sleeping fibers cost no CPU while they wait") {
  double cpu_before = cpu_ms();
  double ms = overlap_ms(100, [] {
    int result = usleep(300'000);
    CHECK(result == 0);
  });
  CHECK(ms < 450);
  CHECK(cpu_ms() - cpu_before < 150);  // a busy wait would burn ~300 ms
}

TEST_CASE("a zero-length sleep yields to the other ready fibers") {
  grove::run([] {
    for (auto nap : std::vector<std::function<void()>>{[] {
                                                         int result = usleep(0);
                                                         CHECK(result == 0);
                                                       },
                                                       [] {
                                                         unsigned left = sleep(0);
                                                         CHECK(left == 0);
                                                       },
                                                       [] {
                                                         timespec zero{};
                                                         int result = nanosleep(&zero, nullptr);
                                                         CHECK(result == 0);
                                                       },
                                                       [] { std::this_thread::yield(); }}) {
      bool ran = false;
      auto other = grove::spawn([&] { ran = true; });
      nap();
      if (!ran) grove::this_fiber::yield();  // std::this_thread::yield is not a shim
      CHECK(ran);
    }
    bool ran = false;
    auto other = grove::spawn([&] { ran = true; });
    int result = usleep(0);
    CHECK(result == 0);
    CHECK(ran);
  });
}

TEST_CASE("outside fibers the sleeps block as libc's, with libc's results") {
  auto start = clock_type::now();
  CHECK(usleep(50'000) == 0);
  CHECK(ms_since(start) >= 49);
  timespec bad{0, -1};
  errno = 0;
  int result = nanosleep(&bad, nullptr);
  int error = errno;  // read before CHECK: doctest's own output may set errno
  CHECK(result == -1);
  CHECK(error == EINVAL);
  timespec t = timespec_of(1ms);
  CHECK(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &t, nullptr) == EINVAL);
  grove::run([] {
    double callback_ms = -1, thread_ms = -1;
    grove::call_soon([&] {  // a hub callback is not a fiber: it blocks the hub, as libc does
      auto s = clock_type::now();
      usleep(30'000);
      callback_ms = ms_since(s);
    });
    std::thread([&] {
      auto s = clock_type::now();
      usleep(30'000);
      thread_ms = ms_since(s);
    }).join();
    grove::this_fiber::sleep_for(1ms);
    CHECK(callback_ms >= 29);
    CHECK(thread_ms >= 29);
    // bad arguments inside a fiber: libc's errors, at once
    timespec bad_in_fiber{0, 1'000'000'000};
    errno = 0;
    int result = nanosleep(&bad_in_fiber, nullptr);
    int error = errno;
    CHECK(result == -1);
    CHECK(error == EINVAL);
    result = clock_nanosleep(CLOCK_MONOTONIC, 0, &bad_in_fiber, nullptr);
    CHECK(result == EINVAL);
  });
}

TEST_CASE("a kill ends a shimmed sleep at once with ECANCELED and the time left, then unwinds") {
  grove::run([] {
    int result = 0, error = 0;
    timespec left{};
    bool unwound = false;
    auto sleeper = grove::spawn([&] {
      struct on_exit {
        bool& flag;
        ~on_exit() { flag = true; }
      } guard{unwound};
      timespec t = timespec_of(10s);
      result = nanosleep(&t, &left);
      error = errno;
      grove::this_fiber::yield();  // the next grove wait raises the pending kill
      FAIL("the kill was not raised at the next grove wait");
    });
    grove::this_fiber::sleep_for(50ms);
    auto start = clock_type::now();
    sleeper.kill();
    sleeper.join();
    CHECK(ms_since(start) < 5000);  // the kill, not the 10 s sleep (generous: loaded CI)
    CHECK(result == -1);
    CHECK(error == ECANCELED);
    CHECK(left.tv_sec >= 9);
    CHECK(left.tv_sec < 10);
    CHECK(unwound);
  });
}

TEST_CASE(
    "a scoped timeout ends a shimmed sleep with ETIMEDOUT, and sleep_for's EINTR loop stops") {
  grove::run([] {
    auto start = clock_type::now();
    bool timed_out = false;
    try {
      grove::timeout t(50ms);
      errno = 0;
      int result = usleep(10'000'000);
      int error = errno;
      CHECK(result == -1);
      CHECK(error == ETIMEDOUT);
      std::this_thread::sleep_for(10s);  // libstdc++ retries only EINTR
      result = clock_nanosleep(CLOCK_MONOTONIC, 0, nullptr, nullptr);
      CHECK(result == EFAULT);
      unsigned left = sleep(10);
      error = errno;
      CHECK(left >= 9);
      CHECK(error == ETIMEDOUT);
      grove::this_fiber::yield();
    } catch (const grove::timeout_error&) {
      timed_out = true;
    }
    CHECK(timed_out);
    CHECK(ms_since(start) < 5000);  // the timeout, not 10 s sleeps (generous: loaded CI)
  });
}

TEST_CASE("a sleep inside a library loaded with dlopen cooperates") {
  void* plugin = dlopen(GROVE_NAPPER_PLUGIN, RTLD_NOW | RTLD_LOCAL);
  REQUIRE_MESSAGE(plugin, std::string(plugin ? "" : dlerror()));
  auto nap = reinterpret_cast<int (*)(unsigned)>(dlsym(plugin, "napper_usleep"));
  REQUIRE(reinterpret_cast<void*>(nap) != nullptr);
  CHECK(overlap_ms(10, [nap] {
          int result = nap(300'000);
          CHECK(result == 0);
        }) < 450);
  dlclose(plugin);
}

TEST_CASE("GROVE_SHIMS=0 makes sleeping fibers serial") {
  double ms = overlap_ms(3, [] {
    int result = usleep(100'000);
    CHECK(result == 0);
  });
  MESSAGE("3 fibers x usleep(100 ms): " << ms << " ms, GROVE_SHIMS="
                                        << std::string(shims_disabled() ? "0" : "unset"));
  if (shims_disabled()) {
    CHECK(ms >= 295);
  } else {
    CHECK(ms < 250);
  }
}
