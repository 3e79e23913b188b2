// Promises of shims/shim.hpp, the helpers every shim is built from: the real functions are
// libc's, and a call cooperates exactly when it comes from a fiber of a running hub with the
// shims enabled (GROVE_SHIMS=0 disables them: this file also runs with it set).
#include "shim.hpp"  // first: the header is self-contained

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <thread>

namespace {
int raw_close(int fd) { return static_cast<int>(syscall(SYS_close, fd)); }
int raw_fcntl(int, int, ...) {
  errno = ENOSYS;
  return -1;
}
int missing_fallback(int) { return -42; }

constinit grove::shims::real_function<int(int)> real_close{"close", &raw_close};
constinit grove::shims::real_function<int(int, int, ...)> real_fcntl{"fcntl", &raw_fcntl};
constinit grove::shims::real_function<int(int)> real_missing{"grove_no_such_function",
                                                             &missing_fallback};

bool disabled_by_environment() {
  const char* value = std::getenv("GROVE_SHIMS");
  return value && std::strcmp(value, "0") == 0;
}
}  // namespace

TEST_CASE("a real function is libc's own, found once") {
  CHECK(reinterpret_cast<void*>(real_close.get()) == dlsym(RTLD_DEFAULT, "close"));
  CHECK(reinterpret_cast<void*>(real_close.get()) == reinterpret_cast<void*>(real_close.get()));
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  CHECK(real_fcntl(fds[0], F_GETFD) == 0);
  CHECK(real_fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0);
  CHECK(real_fcntl(fds[0], F_GETFD) == FD_CLOEXEC);
  CHECK(real_close(fds[0]) == 0);
  CHECK(real_close(fds[1]) == 0);
  errno = 0;
  CHECK(real_close(fds[1]) == -1);
  CHECK(errno == EBADF);
}

TEST_CASE("a function no later library defines falls back") { CHECK(real_missing(0) == -42); }

TEST_CASE("GROVE_SHIMS=0 disables the shims, anything else leaves them on") {
  CHECK(grove::shims::enabled() == !disabled_by_environment());
}

TEST_CASE("only a fiber of a running hub cooperates") {
  bool expected = !disabled_by_environment();
  CHECK_FALSE(grove::shims::should_cooperate());  // no hub
  grove::run([&] {
    CHECK(grove::shims::should_cooperate() == expected);
    CHECK(grove::shims::cooperating_fiber() ==
          (expected ? grove::detail::current_fiber() : nullptr));
    bool in_fiber = false, in_callback = true, on_thread = true;
    auto f = grove::spawn([&] { in_fiber = grove::shims::should_cooperate(); });
    grove::call_soon([&] { in_callback = grove::shims::should_cooperate(); });
    std::thread([&] { on_thread = grove::shims::should_cooperate(); }).join();
    f.join();
    grove::this_fiber::sleep_for(std::chrono::milliseconds(1));  // the callback has run
    CHECK(in_fiber == expected);
    CHECK_FALSE(in_callback);
    CHECK_FALSE(on_thread);
  });
  CHECK_FALSE(grove::shims::should_cooperate());
}

TEST_CASE("a kill and a timeout become ECANCELED and ETIMEDOUT, not EINTR") {
  using grove::detail::wake_reason;
  CHECK(grove::shims::interruption_errno(wake_reason::killed) == ECANCELED);
  CHECK(grove::shims::interruption_errno(wake_reason::timeout) == ETIMEDOUT);
  CHECK(grove::shims::interruption_errno(wake_reason::deadline) == 0);
  CHECK(grove::shims::interruption_errno(wake_reason::notified) == 0);
}

TEST_CASE("yield_noexcept lets other fibers run and reports a pending kill without throwing") {
  grove::run([] {
    int steps = 0;
    auto other = grove::spawn([&] { ++steps; });
    grove::detail::wake_reason reason = grove::shims::yield_noexcept();
    CHECK(reason == grove::detail::wake_reason::deadline);
    CHECK(steps == 1);
    grove::detail::wake_reason seen = grove::detail::wake_reason::none;
    auto victim = grove::spawn([&] {
      {
        grove::this_fiber::shield s;  // the kill stays pending instead of waking the sleep
        grove::this_fiber::sleep_for(std::chrono::milliseconds(1));
      }
      seen = grove::shims::yield_noexcept();
    });
    grove::this_fiber::yield();
    victim.kill();
    victim.join();
    CHECK(seen == grove::detail::wake_reason::killed);
  });
}

TEST_CASE("errno_guard keeps errno across a region, or sets the one asked for") {
  errno = EBADF;
  {
    grove::shims::errno_guard guard;
    errno = EAGAIN;
  }
  CHECK(errno == EBADF);
  {
    grove::shims::errno_guard guard;
    guard.set(ENOENT);
    errno = EAGAIN;
  }
  CHECK(errno == ENOENT);
}
