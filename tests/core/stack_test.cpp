// Stacks: per-spawn sizes, overflow reports, mapping failures (in child processes).
#include <grove/fiber.hpp>

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <grove/grove.hpp>

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
    CHECK(small.get() == 1);
    CHECK(big.get() == 3);
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
  CHECK(r.err.find("vm.max_map_count") != std::string::npos);
  CHECK(r.err.find("spawn threw stack_error") != std::string::npos);
  CHECK(r.err.find("small stack ok") != std::string::npos);
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
