// The lock family: pthread_mutex_{lock,trylock,timedlock,clocklock,unlock} and the pthread_rwlock
// ones (std::mutex, std::timed_mutex, std::shared_mutex call them). A pthread lock blocks the
// whole thread, never just the fiber, so these shims never wait on the hub (grove::mutex is the
// fiber's lock). They exist for one check, GROVE_CHECK_LOCKS=1 (read once, when the library
// loads): count the locks each fiber holds, and report a fiber that suspends (any grove wait) while
// it holds one. That is the classic deadlock of green threads: fiber A keeps a std::mutex across a
// sleep or a read, fiber B of the same thread asks for it and blocks the thread, so A never runs
// again to release it.
//
// What is counted: a lock or unlock made by a fiber (detail::current_fiber()), into that fiber's
// fiber_base::locks_held. Locks taken outside fibers are not counted: the hub loop's (Asio's
// scheduler mutex, held only inside io_context::poll/run, never while a fiber runs), callbacks',
// other threads' (the offload pool), and a thread's before grove::run. So a report is always about
// the fiber that suspends, never about a lock another fiber or the hub holds. Locks released by
// glibc itself (pthread_cond_wait's internal unlock and relock) keep the count, as they keep the
// lock. An unlock with no counted lock (taken outside the fiber) leaves the count at zero.
//
// The report comes from the core's suspension hook (detail/suspend_hook.hpp), on the suspending
// fiber's own stack: the fiber's id and name, how many locks it holds, and a backtrace of the wait
// (binary+offset for addr2line, the symbol where the dynamic symbol table has one, demangled
// when the fiber's stack has room). One report per
// wait site (the same call stack), process-wide. Disabled, each shim is one relaxed load and a
// tail call to libc (bench/shims_passthrough_bench.cpp measures it).
#include <cxxabi.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/detail/suspend_hook.hpp>

#include "shim.hpp"

// libc's own lock functions under their internal names, bound to the version every glibc since
// 2.2.5 exports: the fallbacks while dlsym runs on this thread (a malloc replacement that locks
// from inside dlsym). Named explicitly because our own pthread_mutex_lock would be found first.
#define GROVE_GLIBC_COMPAT(local, name) __asm__(".symver " #local "," #name "@GLIBC_2.2.5")
extern "C" {
int grove_glibc_mutex_lock(pthread_mutex_t*);
int grove_glibc_mutex_trylock(pthread_mutex_t*);
int grove_glibc_mutex_unlock(pthread_mutex_t*);
int grove_glibc_rwlock_rdlock(pthread_rwlock_t*);
int grove_glibc_rwlock_wrlock(pthread_rwlock_t*);
int grove_glibc_rwlock_tryrdlock(pthread_rwlock_t*);
int grove_glibc_rwlock_trywrlock(pthread_rwlock_t*);
int grove_glibc_rwlock_unlock(pthread_rwlock_t*);
}
GROVE_GLIBC_COMPAT(grove_glibc_mutex_lock, __pthread_mutex_lock);
GROVE_GLIBC_COMPAT(grove_glibc_mutex_trylock, __pthread_mutex_trylock);
GROVE_GLIBC_COMPAT(grove_glibc_mutex_unlock, __pthread_mutex_unlock);
GROVE_GLIBC_COMPAT(grove_glibc_rwlock_rdlock, __pthread_rwlock_rdlock);
GROVE_GLIBC_COMPAT(grove_glibc_rwlock_wrlock, __pthread_rwlock_wrlock);
GROVE_GLIBC_COMPAT(grove_glibc_rwlock_tryrdlock, __pthread_rwlock_tryrdlock);
GROVE_GLIBC_COMPAT(grove_glibc_rwlock_trywrlock, __pthread_rwlock_trywrlock);
GROVE_GLIBC_COMPAT(grove_glibc_rwlock_unlock, __pthread_rwlock_unlock);

namespace grove::shims {
namespace {

// The timed variants have no internal name: in the dlsym corner they wait without the timeout.
int fallback_mutex_timedlock(pthread_mutex_t* m, const timespec*) {
  return grove_glibc_mutex_lock(m);
}
int fallback_mutex_clocklock(pthread_mutex_t* m, clockid_t, const timespec*) {
  return grove_glibc_mutex_lock(m);
}
int fallback_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec*) {
  return grove_glibc_rwlock_rdlock(l);
}
int fallback_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec*) {
  return grove_glibc_rwlock_wrlock(l);
}
int fallback_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t, const timespec*) {
  return grove_glibc_rwlock_rdlock(l);
}
int fallback_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t, const timespec*) {
  return grove_glibc_rwlock_wrlock(l);
}

using mutex_fn = int(pthread_mutex_t*);
using rwlock_fn = int(pthread_rwlock_t*);
constinit real_function<mutex_fn> real_mutex_lock{"pthread_mutex_lock", &grove_glibc_mutex_lock};
constinit real_function<mutex_fn> real_mutex_trylock{"pthread_mutex_trylock",
                                                     &grove_glibc_mutex_trylock};
constinit real_function<mutex_fn> real_mutex_unlock{"pthread_mutex_unlock",
                                                    &grove_glibc_mutex_unlock};
constinit real_function<int(pthread_mutex_t*, const timespec*)> real_mutex_timedlock{
    "pthread_mutex_timedlock", &fallback_mutex_timedlock};
constinit real_function<int(pthread_mutex_t*, clockid_t, const timespec*)> real_mutex_clocklock{
    "pthread_mutex_clocklock", &fallback_mutex_clocklock};
constinit real_function<rwlock_fn> real_rwlock_rdlock{"pthread_rwlock_rdlock",
                                                      &grove_glibc_rwlock_rdlock};
constinit real_function<rwlock_fn> real_rwlock_wrlock{"pthread_rwlock_wrlock",
                                                      &grove_glibc_rwlock_wrlock};
constinit real_function<rwlock_fn> real_rwlock_tryrdlock{"pthread_rwlock_tryrdlock",
                                                         &grove_glibc_rwlock_tryrdlock};
constinit real_function<rwlock_fn> real_rwlock_trywrlock{"pthread_rwlock_trywrlock",
                                                         &grove_glibc_rwlock_trywrlock};
constinit real_function<rwlock_fn> real_rwlock_unlock{"pthread_rwlock_unlock",
                                                      &grove_glibc_rwlock_unlock};
constinit real_function<int(pthread_rwlock_t*, const timespec*)> real_rwlock_timedrdlock{
    "pthread_rwlock_timedrdlock", &fallback_rwlock_timedrdlock};
constinit real_function<int(pthread_rwlock_t*, const timespec*)> real_rwlock_timedwrlock{
    "pthread_rwlock_timedwrlock", &fallback_rwlock_timedwrlock};
constinit real_function<int(pthread_rwlock_t*, clockid_t, const timespec*)> real_rwlock_clockrdlock{
    "pthread_rwlock_clockrdlock", &fallback_rwlock_clockrdlock};
constinit real_function<int(pthread_rwlock_t*, clockid_t, const timespec*)> real_rwlock_clockwrlock{
    "pthread_rwlock_clockwrlock", &fallback_rwlock_clockwrlock};

/// GROVE_CHECK_LOCKS=1, read when the library loads (a constant afterwards).
constinit std::atomic<bool> g_check_locks{false};

/// The fiber a lock operation is counted for: the running fiber, or nullptr (outside fibers).
detail::fiber_base* counting_fiber() noexcept {
  return detail::t_hub ? detail::current_fiber() : nullptr;
}

/// The result of a lock call, counted when it acquired (EOWNERDEAD acquires a robust mutex).
[[gnu::noinline]] int acquired(int result) noexcept {
  if (result == 0 || result == EOWNERDEAD) {
    if (detail::fiber_base* f = counting_fiber(); f && f->locks_held < UINT8_MAX) ++f->locks_held;
  }
  return result;
}

/// The result of an unlock call, counted when it released.
[[gnu::noinline]] int released(int result) noexcept {
  if (result == 0) {
    if (detail::fiber_base* f = counting_fiber(); f && f->locks_held > 0) --f->locks_held;
  }
  return result;
}

/// True while the check is on (the likely answer is no: one relaxed load).
[[gnu::always_inline]] inline bool checking() noexcept {
  return g_check_locks.load(std::memory_order_relaxed);
}

// --- The report -----------------------------------------------------------------------------

/// Wait sites already reported (hashes of their call stacks), process-wide, lock-free: the hook
/// must not take a lock of its own. When full, sites are reported again rather than lost.
constexpr std::size_t site_slots = 1024;
std::atomic<std::uint64_t> g_sites[site_slots];

/// True the first time `site` (non-zero) is seen.
bool first_report(std::uint64_t site) noexcept {
  for (std::size_t i = 0; i < site_slots; ++i) {
    auto& slot = g_sites[(site + i) % site_slots];
    std::uint64_t seen = slot.load(std::memory_order_relaxed);
    if (seen == site) return false;
    if (seen == 0 && slot.compare_exchange_strong(seen, site, std::memory_order_relaxed)) {
      return true;
    }
    if (seen == site) return false;  // another thread stored it meanwhile
  }
  return true;
}

/// A fixed buffer the report is written into, then to stderr in one write.
struct report_buffer {
  char text[4096];
  std::size_t used = 0;
  void append(const char* format, ...) noexcept __attribute__((format(printf, 2, 3))) {
    if (used >= sizeof text) return;
    va_list ap;
    va_start(ap, format);
    int n = std::vsnprintf(text + used, sizeof text - used, format, ap);
    va_end(ap);
    if (n > 0) used = std::min(sizeof text, used + static_cast<std::size_t>(n));
  }
  void flush() noexcept {
    std::size_t done = 0;
    while (done < used) {  // the raw system call: write() itself is a shim
      long n = syscall(SYS_write, STDERR_FILENO, text + done, used - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
  }
};

/// This library's load address: its own frames (the hook) are left out of the backtrace.
const void* own_base() noexcept {
  Dl_info info{};
  static const void* base =
      dladdr(reinterpret_cast<void*>(&own_base), &info) ? info.dli_fbase : nullptr;
  return base;
}

/// Stack the unwinder needs (with room for a sanitizer's larger frames), and the demangler.
constexpr std::size_t backtrace_room = 8 * 1024;
constexpr std::size_t demangle_room = 48 * 1024;

/// Bytes left on `self`'s stack below the calling frame.
[[gnu::always_inline]] inline std::size_t stack_left(const detail::fiber_base* self) noexcept {
  auto here = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  auto low = reinterpret_cast<std::uintptr_t>(self->stack_low());
  return here > low ? here - low : 0;
}

/// Called by the core as a fiber is about to suspend (installed only under GROVE_CHECK_LOCKS).
void report_if_holding_locks(detail::fiber_base* self) noexcept {
  if (self->locks_held == 0) [[likely]]
    return;
  // The report runs on the fiber's stack, which may be small (16 KiB, and sanitizers enlarge
  // frames): its buffers are per thread (it is rare and never re-entered: it does not suspend),
  // the unwinder runs only with room to spare and the demangler (deeply recursive) with more.
  std::size_t left = stack_left(self);
  thread_local void* frames[48];
  int count = left >= backtrace_room ? backtrace(frames, 48) : 0;
  int first = 0;
  const void* base = own_base();
  for (; first < count; ++first) {  // skip the hook's own frames
    Dl_info info{};
    if (!dladdr(frames[first], &info) || info.dli_fbase != base) break;
  }
  // FNV-1a over the return addresses; without a backtrace, the fiber stands for its site.
  std::uint64_t site = count > 0 ? 1469598103934665603ull : self->id * 1099511628211ull;
  for (int i = first; i < count; ++i) {
    site = (site ^ reinterpret_cast<std::uintptr_t>(frames[i])) * 1099511628211ull;
  }
  if (!first_report(site | 1)) return;

  thread_local report_buffer out;
  out.used = 0;
  out.append(
      "grove: fiber %llu%s%s%s waits while holding %u pthread lock(s) (std::mutex...): any other "
      "fiber of this thread that takes one blocks the thread, and this fiber never runs again to "
      "release it. Release locks before a grove wait, or use grove::mutex. Wait site (reported "
      "once; GROVE_CHECK_LOCKS=1; `addr2line -Cfe <binary> <offset>` names a frame):\n",
      static_cast<unsigned long long>(self->id), self->name().empty() ? "" : " \"",
      self->name_c_str(), self->name().empty() ? "" : "\"", static_cast<unsigned>(self->locks_held));
  for (int i = first, shown = 0; i < count && shown < 24; ++i, ++shown) {
    Dl_info info{};
    if (!dladdr(frames[i], &info) || !info.dli_fname) {
      out.append("  #%d %p\n", shown, frames[i]);
      continue;
    }
    // A return address points after the call: one byte back names the calling line.
    auto offset = reinterpret_cast<std::uintptr_t>(frames[i]) -
                  reinterpret_cast<std::uintptr_t>(info.dli_fbase) - 1;
    const char* file = std::strrchr(info.dli_fname, '/');
    file = file ? file + 1 : info.dli_fname;
    char* demangled = nullptr;
    if (info.dli_sname && left >= demangle_room) {
      int status = 0;
      demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    }
    const char* symbol = demangled ? demangled : info.dli_sname;
    out.append("  #%d %s+0x%llx%s%.200s\n", shown, file, static_cast<unsigned long long>(offset),
               symbol ? " " : "", symbol ? symbol : "");
    std::free(demangled);
  }
  if (count == 0) out.append("  (no backtrace: %zu bytes left on the fiber's stack)\n", left);
  out.flush();
}

bool environment_says_check() noexcept {
  const char* value = std::getenv("GROVE_CHECK_LOCKS");
  return value && *value && std::strcmp(value, "0") != 0;
}

__attribute__((constructor)) void initialise_lock_check() noexcept {
  if (!environment_says_check()) return;
  // The first backtrace() loads libgcc_s (dlopen, malloc): do it here, not on a fiber's stack.
  void* warm[2];
  backtrace(warm, 2);
  own_base();
  detail::set_suspend_hook(&report_if_holding_locks);
  g_check_locks.store(true, std::memory_order_relaxed);
}

}  // namespace
}  // namespace grove::shims

using grove::shims::acquired;
using grove::shims::checking;
using grove::shims::released;

// Each shim: disabled, a relaxed load and a tail call to libc; enabled, libc's call and a count.

GROVE_SHIM_EXPORT int pthread_mutex_lock(pthread_mutex_t* m) {
  if (!checking()) [[likely]]
    return grove::shims::real_mutex_lock(m);
  return acquired(grove::shims::real_mutex_lock(m));
}

GROVE_SHIM_EXPORT int pthread_mutex_trylock(pthread_mutex_t* m) {
  if (!checking()) [[likely]]
    return grove::shims::real_mutex_trylock(m);
  return acquired(grove::shims::real_mutex_trylock(m));
}

GROVE_SHIM_EXPORT int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* when) {
  if (!checking()) [[likely]]
    return grove::shims::real_mutex_timedlock(m, when);
  return acquired(grove::shims::real_mutex_timedlock(m, when));
}

GROVE_SHIM_EXPORT int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock,
                                              const timespec* when) {
  if (!checking()) [[likely]]
    return grove::shims::real_mutex_clocklock(m, clock, when);
  return acquired(grove::shims::real_mutex_clocklock(m, clock, when));
}

GROVE_SHIM_EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) {
  if (!checking()) [[likely]]
    return grove::shims::real_mutex_unlock(m);
  return released(grove::shims::real_mutex_unlock(m));
}

GROVE_SHIM_EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t* l) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_rdlock(l);
  return acquired(grove::shims::real_rwlock_rdlock(l));
}

GROVE_SHIM_EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t* l) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_wrlock(l);
  return acquired(grove::shims::real_rwlock_wrlock(l));
}

GROVE_SHIM_EXPORT int pthread_rwlock_tryrdlock(pthread_rwlock_t* l) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_tryrdlock(l);
  return acquired(grove::shims::real_rwlock_tryrdlock(l));
}

GROVE_SHIM_EXPORT int pthread_rwlock_trywrlock(pthread_rwlock_t* l) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_trywrlock(l);
  return acquired(grove::shims::real_rwlock_trywrlock(l));
}

GROVE_SHIM_EXPORT int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* when) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_timedrdlock(l, when);
  return acquired(grove::shims::real_rwlock_timedrdlock(l, when));
}

GROVE_SHIM_EXPORT int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* when) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_timedwrlock(l, when);
  return acquired(grove::shims::real_rwlock_timedwrlock(l, when));
}

GROVE_SHIM_EXPORT int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t clock,
                                                 const timespec* when) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_clockrdlock(l, clock, when);
  return acquired(grove::shims::real_rwlock_clockrdlock(l, clock, when));
}

GROVE_SHIM_EXPORT int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t clock,
                                                 const timespec* when) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_clockwrlock(l, clock, when);
  return acquired(grove::shims::real_rwlock_clockwrlock(l, clock, when));
}

GROVE_SHIM_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t* l) {
  if (!checking()) [[likely]]
    return grove::shims::real_rwlock_unlock(l);
  return released(grove::shims::real_rwlock_unlock(l));
}
