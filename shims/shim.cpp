// The shims' shared machinery: resolution of the real functions, the GROVE_SHIMS switch, the
// fork handler, the errno of an interrupted wait. See shim.hpp.
#include "shim.hpp"

#include <dlfcn.h>
#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <grove/error.hpp>
#include <grove/timeout.hpp>
#include <new>

namespace grove::shims {

namespace {
// initial-exec: no __tls_get_addr, which may itself allocate for a late-loaded library's TLS.
thread_local bool t_resolving __attribute__((tls_model("initial-exec"))) = false;
}  // namespace

void* resolve_next(const char* name) noexcept {
  if (t_resolving) return nullptr;  // a shim called from inside dlsym (see shim.hpp)
  t_resolving = true;
  void* found = dlsym(RTLD_NEXT, name);
  t_resolving = false;
  return found;
}

constinit std::atomic<mode> current_mode{mode::unknown};

namespace {

// A child forked while a hub ran on the forking thread inherits that hub's state (its epoll set
// is shared with the parent, its fibers are frozen copies): nothing of it may act there, so the
// child gets plain libc. A child forked outside grove::run (a pre-fork server whose workers then
// start their own hub) keeps the shims.
void disable_in_child() noexcept {
  if (detail::current_hub()) current_mode.store(mode::off, std::memory_order_relaxed);
}

mode mode_from_environment() noexcept {
  const char* value = std::getenv("GROVE_SHIMS");
  return value && std::strcmp(value, "0") == 0 ? mode::off : mode::on;
}

// Reads the switch and installs the fork handler at load time, so that the first shimmed call
// pays nothing for it (read_mode() still covers calls made before this constructor runs).
__attribute__((constructor)) void initialise() noexcept {
  read_mode();
  pthread_atfork(nullptr, nullptr, &disable_in_child);
}

}  // namespace

mode read_mode() noexcept {
  mode m = current_mode.load(std::memory_order_relaxed);
  if (m != mode::unknown) return m;
  mode wanted = mode_from_environment();
  // Two threads may race here; both read the same environment. A fork handler's "off" wins.
  current_mode.compare_exchange_strong(m, wanted, std::memory_order_relaxed);
  return current_mode.load(std::memory_order_relaxed);
}

detail::wake_reason sleep_until(detail::time_point deadline) noexcept {
  if (!detail::current_fiber()) return detail::wake_reason::none;
  if (deadline <= detail::clock::now()) return yield_noexcept();
  for (;;) {
    detail::wake_reason reason = detail::suspend_noexcept(deadline);
    switch (reason) {
      case detail::wake_reason::deadline:
      case detail::wake_reason::killed:
      case detail::wake_reason::timeout:
      case detail::wake_reason::deadlock:
        return reason;
      default:  // a stray wake-up: the deadline still stands
        if (detail::clock::now() >= deadline) return detail::wake_reason::deadline;
    }
  }
}

int errno_for_current_exception() noexcept {
  try {
    throw;
  } catch (const fiber_killed&) {
    return ECANCELED;
  } catch (const timeout_error&) {
    return ETIMEDOUT;
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (...) {
    return EIO;
  }
}

detail::wake_reason yield_noexcept() noexcept {
  // Through the ready queue, like grove::this_fiber::yield (a timer at "now" would cost a trip
  // through the reactor: ~40 us instead of ~50 ns).
  detail::wake_reason reason = detail::yield_noexcept();
  return reason == detail::wake_reason::none ? detail::wake_reason::deadline : reason;
}

}  // namespace grove::shims
