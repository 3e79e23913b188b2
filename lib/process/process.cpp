// grove::process: posix_spawn for the start, a pidfd on the hub's descriptor wait for the exit,
// pipe_streams for the pipes, and a reaper thread for children nobody waits for any more.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/offload.hpp>
#include <grove/process.hpp>
#include <mutex>
#include <thread>
#include <utility>

#include "process/child_wait.hpp"
#include "process/process_sys.hpp"

extern char** environ;

namespace grove {
namespace {

constexpr std::size_t stderr_tail_size = 4096;

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

/// A descriptor closed on scope exit unless released.
struct owned_fd {
  int fd = -1;
  owned_fd() noexcept = default;
  explicit owned_fd(int f) noexcept : fd(f) {}
  owned_fd(owned_fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  owned_fd& operator=(owned_fd&& o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~owned_fd() {
    if (fd >= 0) detail::sys::close(fd);
  }
  int release() noexcept { return std::exchange(fd, -1); }
};

/// Keeps descriptors the child gets clear of 0, 1 and 2, so that the dup2 onto one of those
/// never overwrites another redirection's source (a parent started with stdin closed gets fd 0
/// from its first pipe()).
int above_stdio(int fd) {
  if (fd > 2) return fd;
  int moved = detail::sys::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int saved = errno;
  detail::sys::close(fd);
  errno = saved;
  return moved;
}

std::string quoted(const std::vector<std::string>& argv) { return "'" + argv.front() + "'"; }

// --- the reaper: children whose process object went away -------------------------------------
//
// A child nobody waits for any more has been sent SIGKILL; reaping it takes a blocking
// waitpid, which the hub must not make. One process-wide thread does it (children belong to
// the process, not to a hub), started on demand and ending once it has nothing left to reap.
struct reaper_state {
  std::mutex mutex;
  std::vector<int> pids;
  bool running = false;
};

reaper_state& reaper() {
  static auto* state = new reaper_state;  // never destroyed: the thread may outlive main
  return *state;
}

void reaper_main() {
  auto& r = reaper();
  std::unique_lock lock(r.mutex);
  while (!r.pids.empty()) {
    int pid = r.pids.back();
    r.pids.pop_back();
    lock.unlock();
    detail::sys::reap_blocking(pid);
    lock.lock();
  }
  r.running = false;
}

void reap_in_background(int pid) noexcept {
  auto& r = reaper();
  std::lock_guard lock(r.mutex);
  r.pids.push_back(pid);
  if (r.running) return;
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);  // the reaper takes no signals
  try {
    std::thread(reaper_main).detach();
    r.running = true;
  } catch (...) {
    r.pids.pop_back();
    // No thread: reap here. The child has been sent SIGKILL, so this wait is short.
    detail::sys::reap_blocking(pid);
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

int send_to_pidfd(int pidfd, int signal) noexcept {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
}

exit_status status_from(const siginfo_t& info) noexcept {
  exit_status s;
  if (info.si_code == CLD_EXITED) {
    s.code = info.si_status;
  } else {
    s.signal = info.si_status;
    s.core_dumped = info.si_code == CLD_DUMPED;
  }
  return s;
}

/// posix_spawn's attribute and file-action objects, destroyed on scope exit.
struct spawn_plan {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  spawn_plan() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
  }
  ~spawn_plan() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  spawn_plan(const spawn_plan&) = delete;
  spawn_plan& operator=(const spawn_plan&) = delete;
};

}  // namespace

// --- stdio, exit_status, process_error -------------------------------------------------------

stdio stdio::file(std::string path, bool append) {
  stdio s(kind::file);
  s.path_ = std::move(path);
  s.append_ = append;
  return s;
}

stdio stdio::descriptor(int fd) noexcept {
  stdio s(kind::descriptor);
  s.fd_ = fd;
  return s;
}

std::string exit_status::describe() const {
  if (signal == 0) return "exit code " + std::to_string(code);
  const char* name = ::strsignal(signal);
  return "killed by signal " + std::to_string(signal) + " (" + (name ? name : "?") + ")" +
         (core_dumped ? ", core dumped" : "");
}

process_error::process_error(const std::string& what, std::error_code ec)
    : error(what + ": " + ec.message()), code_(ec) {}

process_error::process_error(const std::string& what, exit_status status, std::string stderr_tail)
    : error(what + ": " + status.describe() +
            (stderr_tail.empty() ? std::string() : "; stderr ends with: " + stderr_tail)),
      status_(status),
      stderr_tail_(std::move(stderr_tail)) {}

// --- process ---------------------------------------------------------------------------------

process process::spawn(const std::vector<std::string>& argv, process_options options) {
  if (argv.empty() || argv.front().empty()) {
    throw process_error("grove::process::spawn: no program given",
                        std::make_error_code(std::errc::invalid_argument));
  }
  if (!hub::running()) {
    throw error("grove::process::spawn: call it inside grove::run (the child is waited on there)");
  }
  if (options.stdin_.how() == stdio::kind::merge_into_stdout ||
      options.stdout_.how() == stdio::kind::merge_into_stdout) {
    throw process_error("grove::process::spawn: merge_into_stdout is for stderr only",
                        std::make_error_code(std::errc::invalid_argument));
  }
  const std::string what = "grove::process::spawn: cannot start " + quoted(argv);

  spawn_plan plan;
  std::vector<owned_fd> child_ends;  // closed in the parent once the child has them
  owned_fd parent_ends[3];
  const stdio* specs[3] = {&options.stdin_, &options.stdout_, &options.stderr_};
  for (int target = 0; target < 3; ++target) {
    const stdio& spec = *specs[target];
    int source = -1;
    switch (spec.how()) {
      case stdio::kind::inherit:
        continue;
      case stdio::kind::pipe: {
        int fds[2];
        if (detail::sys::pipe2(fds, O_CLOEXEC) != 0)
          throw process_error(what + " (pipe)", last_error());
        owned_fd read_end(above_stdio(fds[0])), write_end(above_stdio(fds[1]));
        if (read_end.fd < 0 || write_end.fd < 0) throw process_error(what, last_error());
        parent_ends[target] = std::move(target == 0 ? write_end : read_end);
        child_ends.push_back(std::move(target == 0 ? read_end : write_end));
        source = child_ends.back().fd;
        break;
      }
      case stdio::kind::null:
      case stdio::kind::file: {
        bool null = spec.how() == stdio::kind::null;
        const char* path = null ? "/dev/null" : spec.path().c_str();
        int flags =
            target == 0 ? O_RDONLY : O_WRONLY | O_CREAT | (spec.append() ? O_APPEND : O_TRUNC);
        owned_fd file(above_stdio(detail::sys::open(path, flags | O_CLOEXEC, 0644)));
        if (file.fd < 0) {
          throw process_error(what + ": opening '" + path + "' for its " +
                                  (target == 0   ? "stdin"
                                   : target == 1 ? "stdout"
                                                 : "stderr"),
                              last_error());
        }
        child_ends.push_back(std::move(file));
        source = child_ends.back().fd;
        break;
      }
      case stdio::kind::descriptor:
        source = spec.fd();
        break;
      case stdio::kind::merge_into_stdout:
        source = 1;  // after stdout's own redirection: the actions run in order
        break;
    }
    posix_spawn_file_actions_adddup2(&plan.actions, source, target);
  }
  if (options.close_fds) posix_spawn_file_actions_addclosefrom_np(&plan.actions, 3);
  if (!options.working_directory.empty()) {
    posix_spawn_file_actions_addchdir_np(&plan.actions, options.working_directory.c_str());
  }

  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&plan.attributes, &none);
  posix_spawnattr_setsigdefault(&plan.attributes, &all);
  if (options.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&plan.attributes, 0);
  }
  posix_spawnattr_setflags(&plan.attributes, flags);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  char** envp = environ;
  if (options.environment) {
    for (const auto& e : *options.environment) env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    envp = env.data();
  }

  // glibc's posix_spawn runs the child on clone(CLONE_VM | CLONE_VFORK): no page tables are
  // copied, and an exec failure comes back as the return value. CLONE_VFORK also stops the
  // calling thread until the child has exec'ed (a millisecond or more on a busy machine), so
  // the call runs on the offload pool: the hub keeps running fibers, and a burst of spawns
  // proceeds in parallel (measured: bench/RESULTS.md). Shielded: the pool thread uses this
  // frame, and a child started must reach its process object (whose destructor reaps it).
  pid_t pid = 0;
  bool search = options.search_path && argv.front().find('/') == std::string::npos;
  int rc;
  {
    this_fiber::shield shield;
    rc = grove::offload([&] {
      return search
                 ? ::posix_spawnp(&pid, args[0], &plan.actions, &plan.attributes, args.data(), envp)
                 : ::posix_spawn(&pid, args[0], &plan.actions, &plan.attributes, args.data(), envp);
    });
  }
  if (rc != 0) {
    std::string where = options.working_directory.empty()
                            ? std::string()
                            : " (working directory '" + options.working_directory + "')";
    throw process_error(what + where, std::error_code(rc, std::system_category()));
  }

  process p;
  p.pid_ = pid;
  p.pidfd_ = detail::open_pidfd(pid);
  if (p.pidfd_ < 0) {
    std::error_code ec = last_error();
    ::kill(pid, SIGKILL);
    detail::sys::reap_blocking(pid);
    p.pid_ = 0;
    throw process_error(what + " (pidfd_open, Linux 5.3+)", ec);
  }
  child_ends.clear();  // the child has its copies; ours would keep its pipes from ending
  if (parent_ends[0].fd >= 0) p.stdin_ = pipe_stream(parent_ends[0].release());
  if (parent_ends[1].fd >= 0) p.stdout_ = pipe_stream(parent_ends[1].release());
  if (parent_ends[2].fd >= 0) p.stderr_ = pipe_stream(parent_ends[2].release());
  return p;
}

process::process(process&& other) noexcept
    : pid_(std::exchange(other.pid_, 0)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      status_(std::exchange(other.status_, std::nullopt)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)) {}

process& process::operator=(process&& other) noexcept {
  if (this != &other) {
    dispose();
    pid_ = std::exchange(other.pid_, 0);
    pidfd_ = std::exchange(other.pidfd_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
  }
  return *this;
}

process::~process() { dispose(); }

void process::dispose() noexcept {
  stdin_.close();
  stdout_.close();
  stderr_.close();
  if (pid_ != 0 && !status_) {
    send_to_pidfd(pidfd_, SIGKILL);
    if (!reap(false)) reap_in_background(pid_);  // not dead yet: the reaper thread waits
  }
  detail::close_pidfd(pidfd_);
  pidfd_ = -1;
  pid_ = 0;
  status_.reset();
}

bool process::reap(bool block_until_exit) {
  if (status_) return true;
  if (pid_ == 0) return false;
  siginfo_t info{};
  for (;;) {
    int rc = detail::sys::waitid(P_PID, static_cast<id_t>(pid_), &info,
                                 WEXITED | (block_until_exit ? 0 : WNOHANG));
    if (rc == 0) break;
    if (errno == EINTR) continue;
    // ECHILD: someone else reaped it (a SIGCHLD set to SIG_IGN, a stray waitpid(-1)).
    status_ = exit_status{};
    return true;
  }
  if (info.si_pid == 0) return false;  // WNOHANG: still running
  status_ = status_from(info);
  return true;
}

pipe_stream& process::stdin_pipe() {
  if (!stdin_.is_open()) throw error("grove::process: stdin is not a pipe (or was closed)");
  return stdin_;
}

pipe_stream& process::stdout_pipe() {
  if (!stdout_.is_open()) throw error("grove::process: stdout is not a pipe (or was closed)");
  return stdout_;
}

pipe_stream& process::stderr_pipe() {
  if (!stderr_.is_open()) throw error("grove::process: stderr is not a pipe (or was closed)");
  return stderr_;
}

exit_status process::wait() {
  if (pid_ == 0) throw error("grove::process::wait: no child (empty or moved-from object)");
  while (!reap(false)) {
    if (std::error_code ec = detail::wait_child_exit_or_throw(pidfd_, detail::no_deadline)) {
      throw process_error("grove::process::wait", ec);
    }
  }
  return *status_;
}

std::optional<exit_status> process::wait_for(std::chrono::nanoseconds limit) {
  if (pid_ == 0) throw error("grove::process::wait_for: no child (empty or moved-from object)");
  auto deadline = detail::deadline_after(limit);
  while (!reap(false)) {
    std::error_code ec = detail::wait_child_exit_or_throw(pidfd_, deadline);
    if (ec == std::errc::timed_out) return reap(false) ? status_ : std::nullopt;
    if (ec) throw process_error("grove::process::wait_for", ec);
  }
  return status_;
}

std::optional<exit_status> process::poll() {
  if (pid_ == 0) return std::nullopt;
  return reap(false) ? status_ : std::nullopt;
}

void process::send_signal(int signal) {
  if (pid_ == 0 || status_) return;  // reaped: its pid may belong to someone else now
  // Through the pidfd, so a signal can never reach a recycled pid.
  if (send_to_pidfd(pidfd_, signal) != 0 && errno != ESRCH) {
    throw process_error("grove::process::send_signal(" + std::to_string(signal) + ")",
                        last_error());
  }
}

process_output process::communicate(std::string_view input) {
  if (pid_ == 0) throw error("grove::process::communicate: no child");
  if (!input.empty() && !stdin_.is_open()) {
    throw error("grove::process::communicate: input given but stdin is not a pipe");
  }
  process_output result;
  // stdin and stderr get a fiber each; stdout is read here. Each pipe is served as soon as it
  // can move, so a child blocked writing one pipe never waits on a parent blocked on another.
  std::optional<fiber<void>> writer, error_reader;
  struct helper_guard {
    std::optional<fiber<void>>* fibers[2];
    ~helper_guard() {
      this_fiber::shield shield;  // unwinding or not, the helpers use this frame: end them first
      for (auto* f : fibers) {
        if (*f) {
          (*f)->kill();
          (*f)->join();
        }
      }
    }
  } guard{{&writer, &error_reader}};
  if (stdin_.is_open()) {
    writer.emplace(grove::spawn([this, input] {
      try {
        stdin_.write_all(input);
      } catch (const pipe_error& e) {
        if (e.code() != std::errc::broken_pipe) throw;  // a child that stops reading is fine
      }
      stdin_.close();
    }));
  }
  if (stderr_.is_open()) {
    error_reader.emplace(grove::spawn([this, &result] { result.err = stderr_.read_all(); }));
  }
  if (stdout_.is_open()) result.out = stdout_.read_all();
  if (error_reader) error_reader->get();
  if (writer) writer->get();
  stdout_.close();
  stderr_.close();
  result.status = wait();
  return result;
}

// --- helpers ---------------------------------------------------------------------------------

exit_status run_process(const std::vector<std::string>& argv, process_options options) {
  bool piped = options.stdin_.how() == stdio::kind::pipe ||
               options.stdout_.how() == stdio::kind::pipe ||
               options.stderr_.how() == stdio::kind::pipe;
  process p = process::spawn(argv, std::move(options));
  if (piped) {
    return p.communicate().status;  // piped output is drained (and dropped), never a deadlock
  }
  return p.wait();
}

std::string check_output(const std::vector<std::string>& argv, process_options options) {
  options.stdout_ = stdio::pipe();
  if (options.stderr_.how() == stdio::kind::inherit) options.stderr_ = stdio::pipe();
  process p = process::spawn(argv, options);
  process_output out = p.communicate();
  if (!out.status.success()) {
    std::string tail = out.err.size() > stderr_tail_size
                           ? out.err.substr(out.err.size() - stderr_tail_size)
                           : std::move(out.err);
    throw process_error("grove::check_output: " + quoted(argv), out.status, std::move(tail));
  }
  return std::move(out.out);
}

}  // namespace grove
