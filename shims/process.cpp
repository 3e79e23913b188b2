// Child processes: waitpid, wait, wait3, wait4, waitid and system. In a fiber a wait does not
// block the thread: it asks the kernel without blocking (WNOHANG) and, while the answer is "not
// yet", waits for the child's pidfd (pidfd_open) to become readable, which it does when the child
// exits. Waits the pidfd cannot express fall back to polling WNOHANG with a growing interval
// (1 ms to 20 ms): any child or a process group (pid -1, 0, < -1, P_ALL, P_PGID), and stops /
// continues (WUNTRACED, WSTOPPED, WCONTINUED: the pidfd covers the exit, polling the rest). A call
// with WNOHANG, and every call outside fibers, is libc's.
//
// system() is glibc's algorithm with a cooperative wait: SIGINT and SIGQUIT ignored in the
// process while any system() runs (a process-wide count, as glibc keeps), SIGCHLD blocked on the
// calling thread while any system() of that thread runs (a per-thread count: the fibers of one
// thread share its signal mask), /bin/sh -c -- command started with posix_spawn (no fork
// handlers, no copy of the parent), the child getting the original mask and default SIGINT /
// SIGQUIT unless they were ignored. A shell that cannot start returns as if it exited with 127.
//
// A kill or scoped timeout ends a wait with -1 and errno ECANCELED / ETIMEDOUT; the child is left
// alone (a later wait reaps it). system() cannot leave its child behind (the caller never learns
// its pid), so there, as glibc does when its thread is cancelled, the child gets SIGKILL and is
// reaped before system() returns -1 with that errno.
//
// fork() needs no shim: shim.cpp's pthread_atfork handler turns the shims off in a child forked
// while a hub ran on the forking thread, so the child sees plain libc.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <grove/detail/fd_table.hpp>
#include <mutex>

#include "shim.hpp"

extern char** environ;

namespace grove::shims {
namespace {

// Fallbacks while libc cannot be resolved: the kernel's calls.
pid_t raw_wait4(pid_t pid, int* status, int options, rusage* usage) {
  return static_cast<pid_t>(syscall(SYS_wait4, pid, status, options, usage));
}
pid_t raw_waitpid(pid_t pid, int* status, int options) {
  return raw_wait4(pid, status, options, nullptr);
}
pid_t raw_wait(int* status) { return raw_wait4(-1, status, 0, nullptr); }
pid_t raw_wait3(int* status, int options, rusage* usage) {
  return raw_wait4(-1, status, options, usage);
}
int raw_waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  return static_cast<int>(syscall(SYS_waitid, type, id, info, options, nullptr));
}
int no_system(const char*) {
  errno = ENOSYS;
  return -1;
}

constinit real_function<pid_t(pid_t, int*, int)> real_waitpid{"waitpid", &raw_waitpid};
constinit real_function<pid_t(int*)> real_wait{"wait", &raw_wait};
constinit real_function<pid_t(int*, int, rusage*)> real_wait3{"wait3", &raw_wait3};
constinit real_function<pid_t(pid_t, int*, int, rusage*)> real_wait4{"wait4", &raw_wait4};
constinit real_function<int(idtype_t, id_t, siginfo_t*, int)> real_waitid{"waitid", &raw_waitid};
constinit real_function<int(const char*)> real_system{"system", &no_system};

int raw_close(int fd) noexcept { return static_cast<int>(syscall(SYS_close, fd)); }

/// A descriptor for process `pid` that becomes readable when it exits, or -1 (no such process,
/// or a kernel without pidfd_open: the caller polls).
int open_pidfd(pid_t pid) noexcept {
  if (pid <= 0) return -1;
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

/// One WNOHANG attempt of the caller's wait: returns what the wait returned (0: nothing yet) and
/// leaves errno as the wait set it.
template <class Attempt>
struct reap {
  Attempt attempt;
  long result = 0;
  int error = 0;

  bool run() noexcept {
    errno = 0;
    result = attempt();
    error = errno;
    return result != 0;
  }
  /// fd_perform's form: would_block while the child has nothing to report.
  static detail::io_status on_ready(void* context, int, std::error_code&, std::size_t&) noexcept {
    return static_cast<reap*>(context)->run() ? detail::io_status::done
                                              : detail::io_status::would_block;
  }
};

constexpr auto first_poll_interval = std::chrono::milliseconds(1);
constexpr auto longest_poll_interval = std::chrono::milliseconds(20);

/// Repeats `attempt` (a WNOHANG wait) until it reports something, waiting cooperatively in
/// between: on `pidfd` (if >= 0) for an exit, by polling for the rest (or for everything when
/// exits_only is false or there is no pidfd). Returns the wait's result with errno set as it
/// left it, or -1 with ECANCELED / ETIMEDOUT when the fiber is killed or its scope times out.
template <class Attempt>
long wait_cooperatively(int pidfd, bool exits_only, Attempt attempt) noexcept {
  reap<Attempt> r{attempt};
  if (r.run()) {
    errno = r.error;
    return r.result;
  }
  auto interval = std::chrono::duration_cast<detail::clock::duration>(first_poll_interval);
  detail::fd_state* state = pidfd >= 0 ? detail::fd_watch(pidfd) : nullptr;
  for (;;) {
    detail::time_point next_poll = detail::clock::now() + interval;
    int error = 0;
    if (state) {
      detail::io_result ignored;
      detail::time_point deadline = exits_only ? detail::no_deadline : next_poll;
      switch (detail::fd_perform(state, detail::io_direction::read, &reap<Attempt>::on_ready, &r,
                                 deadline, ignored)) {
        case detail::fd_wait_status::ready:
          errno = r.error;
          return r.result;
        case detail::fd_wait_status::deadline:
          break;
        case detail::fd_wait_status::killed:
          error = ECANCELED;
          break;
        case detail::fd_wait_status::timed_out:
          error = ETIMEDOUT;
          break;
        case detail::fd_wait_status::closed:
        case detail::fd_wait_status::failed:
          state = nullptr;  // poll instead
          break;
      }
    } else {
      error = interruption_errno(sleep_until(next_poll));
    }
    if (error != 0) {
      errno = error;
      return -1;
    }
    if (r.run()) {
      errno = r.error;
      return r.result;
    }
    interval = std::min<detail::clock::duration>(interval * 2, longest_poll_interval);
  }
}

/// A pidfd owned for the length of one wait; closed (after leaving the hub's table) at the end.
class pidfd_holder {
 public:
  explicit pidfd_holder(int fd) noexcept : fd_(fd) {}
  ~pidfd_holder() {
    if (fd_ < 0) return;
    detail::fd_closing(fd_);
    raw_close(fd_);
  }
  pidfd_holder(const pidfd_holder&) = delete;
  pidfd_holder& operator=(const pidfd_holder&) = delete;
  int get() const noexcept { return fd_; }

 private:
  int fd_;
};

/// wait4 in a fiber (waitpid, wait and wait3 are its special cases).
pid_t wait4_in_fiber(pid_t pid, int* status, int options, rusage* usage) noexcept {
  pidfd_holder pidfd(open_pidfd(pid));
  bool exits_only = (options & (WUNTRACED | WCONTINUED)) == 0;
  return static_cast<pid_t>(wait_cooperatively(pidfd.get(), exits_only, [=]() noexcept {
    return static_cast<long>(real_wait4(pid, status, options | WNOHANG, usage));
  }));
}

// --- system() ----------------------------------------------------------------------------------

/// SIGINT / SIGQUIT ignored while any system() runs in the process (glibc's rule).
struct ignored_signals {
  std::mutex mutex;
  int users = 0;
  struct sigaction saved_interrupt {};
  struct sigaction saved_quit {};
};
ignored_signals& process_signals() {
  static ignored_signals s;
  return s;
}

/// SIGCHLD blocked on this thread while any system() of this thread runs.
struct blocked_child_signal {
  int users = 0;
  sigset_t saved_mask{};
};
thread_local blocked_child_signal t_child_signal;

/// What the shell's child must start with, and what the parent restores afterwards.
class system_signals {
 public:
  system_signals() noexcept {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    auto& s = process_signals();
    {
      std::lock_guard lock(s.mutex);
      if (s.users++ == 0) {
        sigaction(SIGINT, &ignore, &s.saved_interrupt);
        sigaction(SIGQUIT, &ignore, &s.saved_quit);
      }
      sigemptyset(&child_defaults_);
      if (s.saved_interrupt.sa_handler != SIG_IGN) sigaddset(&child_defaults_, SIGINT);
      if (s.saved_quit.sa_handler != SIG_IGN) sigaddset(&child_defaults_, SIGQUIT);
    }
    if (t_child_signal.users++ == 0) {
      sigset_t child;
      sigemptyset(&child);
      sigaddset(&child, SIGCHLD);
      pthread_sigmask(SIG_BLOCK, &child, &t_child_signal.saved_mask);
    }
  }
  ~system_signals() {
    if (--t_child_signal.users == 0)
      pthread_sigmask(SIG_SETMASK, &t_child_signal.saved_mask, nullptr);
    auto& s = process_signals();
    std::lock_guard lock(s.mutex);
    if (--s.users == 0) {
      sigaction(SIGINT, &s.saved_interrupt, nullptr);
      sigaction(SIGQUIT, &s.saved_quit, nullptr);
    }
  }
  system_signals(const system_signals&) = delete;
  system_signals& operator=(const system_signals&) = delete;

  /// The signals the child resets to their default action.
  const sigset_t& child_defaults() const noexcept { return child_defaults_; }
  /// The signal mask the child starts with: the thread's before any system().
  const sigset_t& child_mask() const noexcept { return t_child_signal.saved_mask; }

 private:
  sigset_t child_defaults_{};
};

int system_in_fiber(const char* command) noexcept {
  system_signals signals;
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setsigmask(&attributes, &signals.child_mask());
  posix_spawnattr_setsigdefault(&attributes, &signals.child_defaults());
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  char* argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"), const_cast<char*>("--"),
                  const_cast<char*>(command), nullptr};
  pid_t pid = 0;
  int spawn_error = posix_spawn(&pid, "/bin/sh", nullptr, &attributes, argv, environ);
  posix_spawnattr_destroy(&attributes);
  if (spawn_error != 0) {
    errno = spawn_error;
    return W_EXITCODE(127, 0);  // POSIX: as if the shell had run _exit(127)
  }
  int status = 0;
  pid_t reaped = wait4_in_fiber(pid, &status, 0, nullptr);
  if (reaped == pid) return status;
  int error = errno;
  if (error == ECANCELED || error == ETIMEDOUT) {
    // Nobody else knows the child: end it now, as glibc does for a cancelled thread.
    kill(pid, SIGKILL);
    while (real_waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  errno = error;
  return -1;
}

}  // namespace
}  // namespace grove::shims

using namespace grove::shims;

GROVE_SHIM_EXPORT pid_t wait4(pid_t pid, int* status, int options, rusage* usage) {
  if (!cooperating_fiber() || (options & WNOHANG)) return real_wait4(pid, status, options, usage);
  return wait4_in_fiber(pid, status, options, usage);
}

GROVE_SHIM_EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  if (!cooperating_fiber() || (options & WNOHANG)) return real_waitpid(pid, status, options);
  return wait4_in_fiber(pid, status, options, nullptr);
}

GROVE_SHIM_EXPORT pid_t wait(int* status) {
  if (!cooperating_fiber()) return real_wait(status);
  return wait4_in_fiber(-1, status, 0, nullptr);
}

GROVE_SHIM_EXPORT pid_t wait3(int* status, int options, rusage* usage) {
  if (!cooperating_fiber() || (options & WNOHANG)) return real_wait3(status, options, usage);
  return wait4_in_fiber(-1, status, options, usage);
}

GROVE_SHIM_EXPORT int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  if (!cooperating_fiber() || (options & WNOHANG) || !info) {
    return real_waitid(type, id, info, options);
  }
  // The descriptor to wait on: the child's own pidfd, or a duplicate of the caller's (P_PIDFD),
  // registered and closed by this call alone.
  int pidfd = -1;
  if (type == P_PID) {
    pidfd = open_pidfd(static_cast<pid_t>(id));
  } else if (type == P_PIDFD) {
    // A PIDFD_NONBLOCK descriptor makes waitid fail with EAGAIN instead of waiting: libc's.
    long flags = syscall(SYS_fcntl, static_cast<int>(id), F_GETFL);
    if (flags < 0 || (flags & O_NONBLOCK)) return real_waitid(type, id, info, options);
    pidfd = static_cast<int>(syscall(SYS_fcntl, static_cast<int>(id), F_DUPFD_CLOEXEC, 0));
  }
  pidfd_holder holder(pidfd);
  bool exits_only = (options & (WSTOPPED | WCONTINUED)) == 0;
  return static_cast<int>(wait_cooperatively(
             holder.get(), exits_only,
             [=]() noexcept -> long {
               info->si_pid = 0;  // how WNOHANG's "nothing yet" is told from a report
               int rc = real_waitid(type, id, info, options | WNOHANG);
               if (rc != 0) return rc;
               return info->si_pid != 0 ? 1 : 0;
             })) > 0
             ? 0
             : -1;
}

GROVE_SHIM_EXPORT int system(const char* command) {
  if (!cooperating_fiber() || !command) return real_system(command);
  return system_in_fiber(command);
}
