// Stacks: per-spawn sizes, overflow reports, mapping failures (in child processes).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <grove/fiber.hpp>
#include <grove/grove.hpp>
#include <string>
#include <vector>

#include "../../lib/core/stack_pool.hpp"  // the pool itself, tested directly

using namespace std::chrono_literals;

namespace {
struct child_result {
  int status = 0;
  std::string err;
};

// Runs `body` in a forked child with stderr captured; returns its exit status and stderr.
template <class Fn>
child_result run_in_child(Fn body) {
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child's stdout (doctest's own crash report) is noise for the parent's log.
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(pipefd[1], 2);
    ::close(pipefd[0]);
    body();
    ::_exit(0);
  }
  ::close(pipefd[1]);
  child_result r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) r.err.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  ::waitpid(pid, &r.status, 0);
  return r;
}

// Deep recursion the optimiser cannot turn into a loop.
int recurse(volatile char* previous, int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  if (previous) frame[1] = previous[0];
  return recurse(frame, depth + 1) + frame[1];
}
}  // namespace

TEST_CASE("a fiber with a small stack runs; deep frames fit in a big one") {
  grove::run([] {
    auto small = grove::spawn({.stack_size = 16 * 1024}, [] { return 1; });
    auto big = grove::spawn({.stack_size = 4 * 1024 * 1024}, [] {
      volatile char buffer[2 * 1024 * 1024];
      buffer[0] = 1;
      buffer[sizeof buffer - 1] = 2;
      return buffer[0] + buffer[sizeof buffer - 1];
    });
    int small_result = small.get();
    CHECK(small_result == 1);
    int big_result = big.get();
    CHECK(big_result == 3);
  });
}

TEST_CASE("a stack overflow names the fiber and its stack size, then aborts") {
  auto r = run_in_child([] {
    grove::run([] {
      auto f = grove::spawn({.name = "deep", .stack_size = 64 * 1024},
                            [] { return recurse(nullptr, 0); });
      f.join();
    });
  });
  CHECK(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK(r.err.find("stack overflow in fiber") != std::string::npos);
  CHECK(r.err.find("'deep' (stack 64 KiB)") != std::string::npos);
}

TEST_CASE("when stacks cannot be mapped the fiber fails with advice, and spawn throws") {
  auto r = run_in_child([] {
    grove::run([] {
      // More than the whole user address space: the mapping must fail.
      auto f = grove::spawn({.stack_size = std::size_t{1} << 47}, [] { return 1; });
      try {
        f.get();
        std::fputs("no error\n", stderr);
      } catch (const grove::stack_error& e) {
        std::fputs(e.what(), stderr);
        std::fputs("\n", stderr);
      }
      try {
        grove::spawn({.stack_size = std::size_t{1} << 47}, [] {});
        std::fputs("spawn did not throw\n", stderr);
      } catch (const grove::stack_error&) {
        std::fputs("spawn threw stack_error\n", stderr);
      }
      // Smaller stacks still map.
      if (grove::spawn([] { return 2; }).get() == 2) std::fputs("small stack ok\n", stderr);
    });
  });
  CHECK(WIFEXITED(r.status));
  CHECK(r.err.find("cannot map a 137438953472 KiB fiber stack") != std::string::npos);
  CHECK(r.err.find("stacks are guarded by") != std::string::npos);
  CHECK(r.err.find("spawn threw stack_error") != std::string::npos);
  CHECK(r.err.find("small stack ok") != std::string::npos);
}

TEST_CASE("address space exhausted (RLIMIT_AS): fibers fail with stack_error, the hub runs on") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("ASan reserves terabytes of shadow address space: RLIMIT_AS cannot be used, skipped");
  return;
#endif
  auto r = run_in_child([] {
    ::alarm(30);  // a hang ends here, as SIGALRM
    grove::run([] {
      // Room for the hub's own growth, not for thousands of 1 MiB stacks.
      std::ifstream statm("/proc/self/statm");
      std::size_t pages = 0;
      statm >> pages;
      auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
      ::rlimit limit{};
      limit.rlim_cur = limit.rlim_max = pages * page + (64u << 20);
      if (::setrlimit(RLIMIT_AS, &limit) != 0) std::fputs("setrlimit failed\n", stderr);
      grove::event go;
      std::vector<grove::fiber<void>> started;
      std::size_t failed = 0, refused = 0;
      for (int i = 0; i < 4000 && failed == 0 && refused == 0; ++i) {
        try {
          started.push_back(grove::spawn({.stack_size = 1u << 20}, [&] { go.wait(); }));
        } catch (const grove::stack_error&) {
          ++refused;
        }
        if (i % 16 == 15) {
          grove::this_fiber::yield();  // the new ones start: map their stacks or fail
          for (auto& f : started) {
            if (f.ready()) {
              try {
                f.get();
              } catch (const grove::stack_error& e) {
                if (failed++ == 0) {
                  std::fputs(e.what(), stderr);
                  std::fputs("\n", stderr);
                }
              }
            }
          }
        }
      }
      std::fprintf(stderr, "failed %zu refused %zu\n", failed, refused);
      if (failed + refused > 0) std::fputs("ran out\n", stderr);
      // The hub runs on: timers, the fibers that did start, and new ones once stacks return.
      grove::this_fiber::sleep_for(std::chrono::milliseconds(5));
      go.set();
      std::size_t finished = 0;
      for (auto& f : started) {
        try {
          f.get();
          ++finished;
        } catch (const grove::stack_error&) {
        }
      }
      if (finished > 0) std::fputs("the started ones finished\n", stderr);
      if (grove::spawn({.stack_size = 1u << 20}, [] { return 5; }).get() == 5) {
        std::fputs("spawn works again\n", stderr);
      }
    });
  });
  INFO(r.err);
  CHECK(WIFEXITED(r.status));
  CHECK(r.err.find("ran out") != std::string::npos);
  CHECK(r.err.find("cannot map a 1024 KiB fiber stack") != std::string::npos);
  CHECK(r.err.find("the started ones finished") != std::string::npos);
  CHECK(r.err.find("spawn works again") != std::string::npos);
}

namespace {
bool kernel_has_guard_regions() {
  return grove::detail::stack_guard_in_use() == grove::detail::stack_guard_kind::region;
}

long count_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(maps, line)) ++n;
  return n;
}

// `fibers` fibers all alive at once, each waiting on one event: how many kernel mappings that
// added, or -1 if a fiber could not start.
long mappings_for_live_fibers(int fibers) {
  long added = -1;
  grove::run([&] {
    grove::event go;
    int started = 0;
    std::vector<grove::fiber<void>> all;
    all.reserve(static_cast<std::size_t>(fibers));
    long before = count_mappings();
    for (int i = 0; i < fibers; ++i) {
      all.push_back(grove::spawn([&] {
        ++started;
        go.wait();
      }));
    }
    grove::this_fiber::yield();  // every fiber starts (gets its stack) and waits
    if (started == fibers) added = count_mappings() - before;
    go.set();
    for (auto& f : all) f.join();
  });
  return added;
}
}  // namespace

TEST_CASE("100k fibers live at once at the default vm.max_map_count") {
  // Default settings are the point: with two mappings per stack this stopped near 32k. Under
  // ASan each fiber costs ~13 KiB (shadow, redzones): half as many still pass the old cap.
#if defined(__SANITIZE_ADDRESS__)
  static constexpr int fibers = 50'000;
#else
  static constexpr int fibers = 100'000;
#endif
  grove::run([] {
    grove::event go;
    int waiting = 0;
    int woken = 0;
    std::vector<grove::fiber<void>> all;
    all.reserve(fibers);
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < fibers; ++i) {
      all.push_back(grove::spawn([&] {  // default stack size too
        ++waiting;
        go.wait();
        ++woken;
      }));
    }
    grove::this_fiber::yield();
    CHECK(waiting == fibers);
    CHECK(grove::hub::current().fiber_count() == fibers + 1);
    go.set();
    for (auto& f : all) f.join();
    CHECK(woken == fibers);
    CHECK(std::chrono::steady_clock::now() - start < 60s);
  });
}

TEST_CASE("stacks carved from slabs with guard regions add a handful of mappings") {
  if (!kernel_has_guard_regions()) {
    MESSAGE("kernel without MADV_GUARD_INSTALL (or GROVE_STACK_GUARD=mprotect): skipped");
    return;
  }
  long added = mappings_for_live_fibers(5000);
  REQUIRE(added >= 0);
  CHECK(added < 50);  // mprotect guards: 10,000
}

TEST_CASE("GROVE_STACK_GUARD=mprotect forces the fallback: two mappings a stack, still caught") {
  // The guard kind is chosen once per process: the forced fallback runs in a child.
  auto r = run_in_child([] {
    ::setenv("GROVE_STACK_GUARD", "mprotect", 1);
    if (grove::detail::stack_guard_in_use() != grove::detail::stack_guard_kind::mprotect) {
      std::fputs("fallback not taken\n", stderr);
      return;
    }
    long added = mappings_for_live_fibers(1000);
    std::fprintf(stderr, "mappings added %ld\n", added);
    try {
      grove::run(
          [] { grove::spawn({.name = "huge", .stack_size = std::size_t{1} << 47}, [] {}).join(); });
    } catch (const grove::stack_error& e) {
      std::fprintf(stderr, "%s\n", e.what());
    }
    grove::run([] {
      auto f = grove::spawn({.name = "deep", .stack_size = 64 * 1024},
                            [] { return recurse(nullptr, 0); });
      f.join();
    });
  });
  CHECK(r.err.find("fallback not taken") == std::string::npos);
  auto at = r.err.find("mappings added ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stol(r.err.substr(at + 15)) >= 2000);
  CHECK(r.err.find("guarded by mprotect guard pages") != std::string::npos);
  CHECK(r.err.find("vm.max_map_count") != std::string::npos);
  CHECK(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK(r.err.find("'deep' (stack 64 KiB)") != std::string::npos);
}

TEST_CASE("an overflow in a slab-carved stack names the fiber even with neighbours in use") {
  if (!kernel_has_guard_regions()) {
    MESSAGE("kernel without MADV_GUARD_INSTALL (or GROVE_STACK_GUARD=mprotect): skipped");
    return;
  }
  auto r = run_in_child([] {
    grove::run([] {
      // Neighbours below and above in the same slab, alive while the middle one overflows.
      grove::event never;
      auto below =
          grove::spawn({.name = "neighbour", .stack_size = 64 * 1024}, [&] { never.wait(); });
      auto deep = grove::spawn({.name = "middle", .stack_size = 64 * 1024}, [] {
        grove::this_fiber::yield();
        return recurse(nullptr, 0);
      });
      auto above =
          grove::spawn({.name = "neighbour", .stack_size = 64 * 1024}, [&] { never.wait(); });
      deep.join();
    });
  });
  CHECK(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK(r.err.find("stack overflow in fiber") != std::string::npos);
  CHECK(r.err.find("'middle' (stack 64 KiB)") != std::string::npos);
}

TEST_CASE("idle stacks beyond the warm reserve give their memory back in trim, and are reused") {
  using grove::detail::stack_pool;
  constexpr std::size_t extra = 300;
  constexpr std::size_t total = stack_pool::max_pooled_per_size + extra;
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  auto resident = [page](const grove::detail::stack_mapping& s) {
    unsigned char in_core = 0;
    char* top_page = static_cast<char*>(s.base) + s.size - page;
    REQUIRE(::mincore(top_page, page, &in_core) == 0);
    return (in_core & 1) != 0;
  };
  stack_pool pool;
  std::vector<grove::detail::stack_mapping> stacks;
  for (std::size_t i = 0; i < total; ++i) {
    stacks.push_back(pool.allocate(64 * 1024));
    static_cast<char*>(stacks.back().base)[stacks.back().size - 1] = 1;  // touch the top page
  }
  std::size_t mapped = pool.mapped();
  for (auto& s : stacks) pool.release(s);  // oldest first: the first `extra` are the surplus
  CHECK(pool.has_surplus());
  std::size_t kept_before = 0;
  for (auto& s : stacks) kept_before += resident(s);
  CHECK(kept_before == total);  // release() never gives memory back: that waits for trim()
  pool.trim();
  CHECK_FALSE(pool.has_surplus());
  std::size_t given_back = 0;
  for (std::size_t i = 0; i < extra; ++i) given_back += !resident(stacks[i]);
  std::size_t still_warm = 0;
  for (std::size_t i = extra; i < total; ++i) still_warm += resident(stacks[i]);
  CHECK(given_back == extra);
  CHECK(still_warm == stack_pool::max_pooled_per_size);
  // Every stack comes back from the pool before a new one is carved or mapped.
  for (std::size_t i = 0; i < total; ++i) stacks[i] = pool.allocate(64 * 1024);
  CHECK(pool.mapped() == mapped);
  for (auto& s : stacks) pool.release(s);
}

TEST_CASE("a busy hub gives idle stacks back one batch per period, never on release") {
  using grove::detail::stack_pool;
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  constexpr std::size_t extra = 2 * stack_pool::trim_batch + 10;
  stack_pool pool;
  std::vector<grove::detail::stack_mapping> stacks;
  for (std::size_t i = 0; i < stack_pool::max_pooled_per_size + extra; ++i) {
    stacks.push_back(pool.allocate(16 * 1024));
    static_cast<char*>(stacks.back().base)[stacks.back().size - 1] = 1;  // touch the top page
  }
  auto given_back = [&] {
    std::size_t n = 0;
    for (auto& s : stacks) {
      unsigned char in_core = 0;
      REQUIRE(::mincore(static_cast<char*>(s.base) + s.size - page, page, &in_core) == 0);
      n += !(in_core & 1);
    }
    return n;
  };
  for (auto& s : stacks) pool.release(s);
  CHECK(given_back() == 0);  // however large the surplus: a dying burst may be reused soon
  auto t0 = grove::detail::clock::now();
  pool.trim_paced(t0);
  CHECK(given_back() == stack_pool::trim_batch);
  pool.trim_paced(t0 + stack_pool::busy_trim_period / 2);  // within the period: nothing
  CHECK(given_back() == stack_pool::trim_batch);
  pool.trim_paced(t0 + stack_pool::busy_trim_period);
  CHECK(given_back() == 2 * stack_pool::trim_batch);
  CHECK(pool.has_surplus());
  pool.trim();  // an idle hub does not wait for the period
  CHECK(given_back() == extra);
  CHECK_FALSE(pool.has_surplus());
}

TEST_CASE("every stack has its guard, past the first batch of guards installed at once too") {
  // Guard regions are installed for guard_chunk slots a system call, and idle stacks are given
  // back in batches: neither may leave a stack unguarded or a guard removed. The kernel refuses
  // to read a guard (EFAULT) where a fiber's access would fault.
  using grove::detail::stack_pool;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  auto readable = [&](const char* p) {
    bool ok = ::write(fds[1], p, 1) == 1;
    char c;
    if (ok) REQUIRE(::read(fds[0], &c, 1) == 1);
    return ok;
  };
  stack_pool pool;
  std::vector<grove::detail::stack_mapping> stacks;
  constexpr std::size_t count = stack_pool::max_pooled_per_size + 3 * 64 + 5;
  for (std::size_t i = 0; i < count; ++i) stacks.push_back(pool.allocate(16 * 1024));
  auto check_all = [&] {
    std::size_t guarded = 0, usable = 0;
    for (auto& s : stacks) {
      const char* low = static_cast<const char*>(s.base);
      guarded += !readable(low) && !readable(low + s.guard - 1);
      usable += readable(low + s.guard) && readable(low + s.size - 1);
    }
    CHECK(guarded == stacks.size());
    CHECK(usable == stacks.size());
  };
  check_all();
  for (auto& s : stacks) static_cast<char*>(s.base)[s.size - 1] = 1;
  for (auto& s : stacks) pool.release(s);
  pool.trim();  // gives back all but the warm reserve, neighbours coalesced
  CHECK_FALSE(pool.has_surplus());
  check_all();
  ::close(fds[0]);
  ::close(fds[1]);
}

namespace {
struct sigaction g_chained_previous;
// A crash reporter installed between two runs that chains to whatever it replaced (grove's).
void chaining_reporter(int sig, siginfo_t* info, void* uc) {
  if (g_chained_previous.sa_flags & SA_SIGINFO) g_chained_previous.sa_sigaction(sig, info, uc);
}
}  // namespace

TEST_CASE("a fault handler that chains back to grove's does not loop forever") {
  auto r = run_in_child([] {
    ::alarm(10);  // a loop would end here, as SIGALRM
    grove::run([] {});
    struct sigaction reporter {};
    reporter.sa_sigaction = &chaining_reporter;
    reporter.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &reporter, &g_chained_previous);
    grove::run([] {});  // grove re-installs its handler on top, chaining to the reporter
    volatile int* nowhere = nullptr;
    *nowhere = 1;
  });
  CHECK_FALSE((WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGALRM));
  CHECK((WIFSIGNALED(r.status) || (WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0)));
}

TEST_CASE("a deadlock while the main fiber waits shielded aborts with a message, not a hang") {
  auto r = run_in_child([] {
    ::alarm(10);
    grove::run([] {
      grove::this_fiber::shield s;
      grove::detail::wait_queue nobody;
      nobody.wait();
    });
  });
  CHECK(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK(r.err.find("deadlock") != std::string::npos);
}

namespace {
// Uses all but `leave` bytes of the calling fiber's stack, then yields: somewhere in the yield
// (grove's frames, or jump_fcontext saving registers once the hub already names the next
// context) the stack runs into its guard, depending on `leave`.
[[gnu::noinline]] void yield_with_bytes_left(std::size_t leave) {
  const grove::detail::fiber_base* self = grove::detail::current_fiber();
  auto* low = static_cast<char*>(self->stack_base) + grove::detail::stack_pool::guard_bytes;
  char* here;
  asm volatile("mov %%rsp, %0" : "=r"(here));
  std::size_t used_below = static_cast<std::size_t>(here - low) - leave;
  volatile char* filler = static_cast<char*>(__builtin_alloca(used_below));
  filler[used_below - 1] = 0;  // the top of the filler only: the rest is never touched
  grove::this_fiber::yield();
  filler[0] = 1;  // keeps the alloca alive across the yield
}
}  // namespace

child_result yield_in_child_with_bytes_left(std::size_t leave) {
  return run_in_child([leave] {
    grove::run([leave] {
      grove::spawn({.name = "edge", .stack_size = 64 * 1024}, [leave] {
        yield_with_bytes_left(leave);
      }).join();
    });
  });
}

bool fitted(const child_result& r) { return WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0; }

TEST_CASE("an overflow at any depth of a switch names the fiber, even inside jump_fcontext") {
  // Find the least stack a yield needs (each try in its own child), then overflow at every
  // depth of the 512 bytes below that: the deepest parts of a switch, where it may be in
  // jump_fcontext (or in the lazy binding of its PLT entry) after the hub already names the
  // context it switches to.
  std::size_t crashes = 0, fits = 16384;
  REQUIRE(fitted(yield_in_child_with_bytes_left(fits)));
  while (fits - crashes > 8) {
    std::size_t mid = (crashes + fits) / 2 / 8 * 8;
    (fitted(yield_in_child_with_bytes_left(mid)) ? fits : crashes) = mid;
  }
  int overflowed = 0, unnamed = 0;
  for (std::size_t leave = fits - 8; leave + 512 >= fits && leave < fits; leave -= 8) {
    child_result r = yield_in_child_with_bytes_left(leave);
    if (fitted(r)) continue;
    ++overflowed;
    if (r.err.find("stack overflow in fiber") == std::string::npos ||
        r.err.find("'edge' (stack 64 KiB)") == std::string::npos) {
      ++unnamed;
      MESSAGE("leaving " << leave << " bytes (a yield needs " << fits
                         << "): died without the message, status " << r.status);
    }
  }
  CHECK(overflowed > 0);
  CHECK(unnamed == 0);
}
