// The sleep family: sleep, usleep, nanosleep, clock_nanosleep, thrd_sleep. In a fiber each is a
// timer suspension on the hub (a zero length yields once); elsewhere it is libc's.
// std::this_thread::sleep_for / sleep_until (libstdc++ 12) are inline loops over ::nanosleep that
// retry on EINTR, so they are covered, and a kill (ECANCELED) or a scoped timeout (ETIMEDOUT)
// ends their loop instead of restarting it.
//
// What an interruption reports (the kill or timeout itself stays pending for the next grove
// wait): nanosleep / usleep return -1 with errno, nanosleep and a relative clock_nanosleep write
// the time left to `rem`; clock_nanosleep returns the error number (errno untouched); sleep
// returns the whole seconds left, as glibc does after a signal, with errno set; thrd_sleep
// returns -2 (an error, not -1 "a signal arrived": C11 callers retry -1).
#include <sys/syscall.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <grove/detail/deadline.hpp>

#include "shim.hpp"

namespace grove::shims {
namespace {

// Fallbacks while libc's functions cannot be resolved (see shim.hpp): the kernel's own.
int raw_nanosleep(const timespec* request, timespec* remaining) {
  return static_cast<int>(syscall(SYS_nanosleep, request, remaining));
}
int raw_clock_nanosleep(clockid_t clock, int flags, const timespec* request, timespec* remaining) {
  // The syscall returns -1 and sets errno; clock_nanosleep returns the error number.
  int saved = errno;
  if (syscall(SYS_clock_nanosleep, clock, flags, request, remaining) == 0) return 0;
  int error = errno;
  errno = saved;
  return error;
}
unsigned raw_sleep(unsigned seconds) {
  timespec request{static_cast<time_t>(seconds), 0};
  if (raw_nanosleep(&request, &request) == 0) return 0;
  return static_cast<unsigned>(request.tv_sec);
}
int raw_usleep(useconds_t microseconds) {
  timespec request{static_cast<time_t>(microseconds / 1000000),
                   static_cast<long>(microseconds % 1000000) * 1000};
  return raw_nanosleep(&request, nullptr);
}
int raw_thrd_sleep(const timespec* request, timespec* remaining) {
  if (raw_nanosleep(request, remaining) == 0) return 0;
  return errno == EINTR ? -1 : -2;
}

constinit real_function<int(const timespec*, timespec*)> real_nanosleep{"nanosleep",
                                                                        &raw_nanosleep};
constinit real_function<int(clockid_t, int, const timespec*, timespec*)> real_clock_nanosleep{
    "clock_nanosleep", &raw_clock_nanosleep};
constinit real_function<unsigned(unsigned)> real_sleep{"sleep", &raw_sleep};
constinit real_function<int(useconds_t)> real_usleep{"usleep", &raw_usleep};
constinit real_function<int(const timespec*, timespec*)> real_thrd_sleep{"thrd_sleep",
                                                                         &raw_thrd_sleep};

// Nanosecond counts of any timespec: tv_sec * 1e9 overflows 64 bits for long sleeps.
__extension__ typedef __int128 nanos128;

constexpr long nanos_per_second = 1'000'000'000;

bool valid(const timespec& t) noexcept {
  return t.tv_sec >= 0 && t.tv_nsec >= 0 && t.tv_nsec < nanos_per_second;
}

nanos128 to_nanos(const timespec& t) noexcept {
  return static_cast<nanos128>(t.tv_sec) * nanos_per_second + t.tv_nsec;
}

/// The hub's deadline `length` from now (saturating: a sleep of centuries never wakes).
detail::time_point deadline_after(nanos128 length_nanos) noexcept {
  constexpr nanos128 horizon = static_cast<nanos128>(100) * 365 * 24 * 3600 * nanos_per_second;
  if (length_nanos >= horizon) return detail::no_deadline;
  return detail::deadline_after(std::chrono::nanoseconds(static_cast<std::int64_t>(length_nanos)));
}

/// Sleeps the calling fiber for `request` (valid). Returns 0, or the errno of the kill /
/// timeout that ended it early, with the time left in `*remaining` (if not null).
int sleep_in_fiber(const timespec& request, timespec* remaining) noexcept {
  int saved_errno = errno;  // the hub and other fibers use errno while this one waits
  nanos128 length = to_nanos(request);
  auto start = detail::clock::now();
  detail::wake_reason reason = length == 0 ? yield_noexcept() : sleep_until(deadline_after(length));
  errno = saved_errno;
  int error = interruption_errno(reason);
  if (error != 0 && remaining) {
    nanos128 elapsed =
        std::chrono::duration_cast<std::chrono::nanoseconds>(detail::clock::now() - start).count();
    nanos128 left = length > elapsed ? length - elapsed : 0;
    remaining->tv_sec = static_cast<time_t>(left / nanos_per_second);
    remaining->tv_nsec = static_cast<long>(left % nanos_per_second);
  }
  return error;
}

/// Sleeps the calling fiber until `clock` reads `when` (valid). Returns 0 or the errno of the
/// kill / timeout that ended it early. Re-reads the clock after each wait: a realtime clock
/// set back meanwhile extends the sleep, as the kernel's absolute sleep does.
int sleep_in_fiber_until(clockid_t clock, const timespec& when) noexcept {
  int saved_errno = errno;
  int error = 0;
  for (bool first = true;; first = false) {
    timespec now{};
    if (clock_gettime(clock, &now) != 0) {
      error = errno;
      break;
    }
    nanos128 left = to_nanos(when) - to_nanos(now);
    if (left <= 0) {
      if (first) error = interruption_errno(yield_noexcept());  // a past time yields once
      break;
    }
    error = interruption_errno(sleep_until(deadline_after(left)));
    if (error != 0) break;
  }
  errno = saved_errno;
  return error;
}

/// Clocks a fiber can sleep on by the hub's monotonic timer (the CPU-time clocks cannot).
bool sleepable_clock(clockid_t clock) noexcept {
  return clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC || clock == CLOCK_BOOTTIME ||
         clock == CLOCK_TAI;
}

}  // namespace
}  // namespace grove::shims

using namespace grove::shims;

GROVE_SHIM_EXPORT int nanosleep(const timespec* request, timespec* remaining) {
  if (!cooperating_fiber() || !request || !valid(*request)) {
    return real_nanosleep(request, remaining);  // libc's errors for bad arguments too
  }
  if (int error = sleep_in_fiber(*request, remaining)) {
    errno = error;
    return -1;
  }
  return 0;
}

GROVE_SHIM_EXPORT int clock_nanosleep(clockid_t clock, int flags, const timespec* request,
                                      timespec* remaining) {
  if (!cooperating_fiber() || !request || !valid(*request) || !sleepable_clock(clock)) {
    return real_clock_nanosleep(clock, flags, request, remaining);
  }
  if (flags & TIMER_ABSTIME) return sleep_in_fiber_until(clock, *request);
  return sleep_in_fiber(*request, remaining);
}

GROVE_SHIM_EXPORT unsigned sleep(unsigned seconds) {
  if (!cooperating_fiber()) return real_sleep(seconds);
  timespec request{static_cast<time_t>(seconds), 0};
  timespec left{};
  if (int error = sleep_in_fiber(request, &left)) {
    errno = error;
    return static_cast<unsigned>(left.tv_sec);
  }
  return 0;
}

GROVE_SHIM_EXPORT int usleep(useconds_t microseconds) {
  if (!cooperating_fiber()) return real_usleep(microseconds);
  timespec request{static_cast<time_t>(microseconds / 1000000),
                   static_cast<long>(microseconds % 1000000) * 1000};
  if (int error = sleep_in_fiber(request, nullptr)) {
    errno = error;
    return -1;
  }
  return 0;
}

GROVE_SHIM_EXPORT int thrd_sleep(const timespec* request, timespec* remaining) {
  if (!cooperating_fiber() || !request || !valid(*request)) {
    return real_thrd_sleep(request, remaining);
  }
  if (int error = sleep_in_fiber(*request, remaining)) {
    errno = error;
    return -2;
  }
  return 0;
}
