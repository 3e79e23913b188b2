// The diagnostics thread: one per process, started by the first grove::monitor_blocking or
// grove::dump_fibers_on (or their environment variables). It serves the blocking monitor (a
// look at every hub's progress, hub_watch::progress, a few times per threshold) and the dump signal (its
// handler writes a byte to a pipe this thread reads, then pushes each hub's preallocated dump
// request into its inbox, so the dump is printed by each hub between fibers, never in a
// handler, and asking for it allocates nothing here).
#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/debug.hpp>
#include <grove/error.hpp>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/hub_control.hpp"
#include "core/hub_impl.hpp"

extern char** environ;

namespace grove::detail {

void dump_hub(hub_impl& h, std::ostream& out);

namespace {

using namespace std::chrono;

/// The hub thread's state at the monitor's signal, filled by the handler (preallocated: the
/// handler may not allocate). One capture at a time, under the registry mutex.
struct capture {
  static constexpr int max_frames = 64;
  std::atomic<int> state{0};  ///< 0 idle, 1 requested, 2 done
  std::uint64_t fiber_id = 0;
  bool in_fiber = false;
  char name[64] = {};
  void* frames[max_frames] = {};
  int depth = 0;
};

struct diagnostics {
  std::mutex mutex;  ///< the registry, and one capture at a time
  hub_watch* head = nullptr;
  std::atomic<long> monitor_ms{0};
  std::atomic<int> dump_signal{0};
  int pipe_read = -1;
  int pipe_write = -1;  ///< the dump signal's handler writes 'd' here; settings write 'm'
  std::once_flag started;
  capture shot;
};

// fork() copies the registry mutex as it is: held, if another thread (the diagnostics thread in
// a capture, which can wait a second for a hub thread's answer; a hub starting or ending) held it
// then, and no thread of the child would ever unlock it: the child's first grove::run would hang.
// So the forking thread takes it for the fork (waiting for such a capture to end), and the child
// keeps only its own hubs in the registry. The child has no diagnostics thread (threads do not
// survive fork), and its dump signal and settings must not reach the parent's through the pipe
// they share: it closes the pipe, so the monitor and the dump signal stay off in the child.
void before_fork() noexcept;
void after_fork_in_parent() noexcept;
void after_fork_in_child() noexcept;

diagnostics& diag() {
  static diagnostics* d = [] {
    auto* made = new diagnostics;  // never destroyed: the thread outlives main()
    ::pthread_atfork(&before_fork, &after_fork_in_parent, &after_fork_in_child);
    return made;
  }();
  return *d;
}

void before_fork() noexcept { diag().mutex.lock(); }
void after_fork_in_parent() noexcept { diag().mutex.unlock(); }
void after_fork_in_child() noexcept {
  diagnostics& d = diag();
  pthread_t self = ::pthread_self();  // the forking thread's, in the child too
  for (hub_watch* w = d.head; w;) {
    hub_watch* next = w->next;
    if (!::pthread_equal(w->thread, self)) {  // a hub of a thread the child does not have
      (w->prev ? w->prev->next : d.head) = w->next;
      if (w->next) w->next->prev = w->prev;
      w->next = w->prev = nullptr;
    }
    w = next;
  }
  if (d.pipe_write >= 0) {
    ::close(d.pipe_read);
    ::close(d.pipe_write);
    d.pipe_read = d.pipe_write = -1;
  }
  d.mutex.unlock();
}

int monitor_signal() { return SIGRTMIN + 6; }

void on_monitor_signal(int) {
  int saved = errno;
  capture& c = diag().shot;
  if (c.state.load(std::memory_order_acquire) == 1) {
    hub_impl* h = t_hub;
    fiber_base* f = h ? h->running() : nullptr;
    c.in_fiber = f != nullptr;
    c.fiber_id = f ? f->id : 0;
    std::size_t n = 0;
    if (f) {
      std::string_view name = f->name();
      for (; n < name.size() && n < sizeof c.name - 1; ++n) c.name[n] = name[n];
    }
    c.name[n] = '\0';
    c.depth = ::backtrace(c.frames, capture::max_frames);
    c.state.store(2, std::memory_order_release);
  }
  errno = saved;
}

void on_dump_signal(int) {
  int saved = errno;
  char byte = 'd';
  [[maybe_unused]] ssize_t n = ::write(diag().pipe_write, &byte, 1);
  errno = saved;
}

/// addr2line's lines for `addresses` (file-relative) of `object`, one block per address; empty
/// when addr2line is missing or fails.
std::vector<std::string> addr2line(const char* object,
                                   const std::vector<std::uintptr_t>& addresses) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return {};
  std::vector<std::string> args = {"addr2line", "-a", "-C", "-f", "-i", "-p", "-e", object};
  for (std::uintptr_t a : addresses) {
    char text[32];
    std::snprintf(text, sizeof text, "0x%" PRIxPTR, a);
    args.emplace_back(text);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "addr2line", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  std::string text;
  if (rc == 0) {
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(out[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) text.append(buffer, static_cast<std::size_t>(n));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) text.clear();
  }
  ::close(out[0]);
  // One block per address: a line starting with "0x", then its "(inlined by)" lines.
  std::vector<std::string> blocks;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("0x", 0) == 0) {
      auto colon = line.find(": ");
      blocks.push_back(colon == std::string::npos ? line : line.substr(colon + 2));
    } else if (!blocks.empty()) {
      blocks.back() += "\n        " + line.substr(line.find_first_not_of(' '));
    }
  }
  if (blocks.size() != addresses.size()) return {};
  return blocks;
}

/// One line (or more, for inlined frames) per frame: function, file and line.
std::string symbolise(void* const* frames, int depth) {
  struct frame {
    void* pc;
    Dl_info info{};
    bool found = false;
    std::uintptr_t relative = 0;
    std::string text;
  };
  std::vector<frame> all(static_cast<std::size_t>(depth));
  for (int i = 0; i < depth; ++i) {
    frame& f = all[static_cast<std::size_t>(i)];
    f.pc = frames[i];
    // Return addresses point after the call; the call itself is one byte earlier. The first
    // frame is the interrupted instruction itself.
    auto pc = reinterpret_cast<std::uintptr_t>(f.pc) - (i == 0 ? 0 : 1);
    f.found = ::dladdr(reinterpret_cast<void*>(pc), &f.info) != 0 && f.info.dli_fname;
    if (!f.found) continue;
    auto base = reinterpret_cast<std::uintptr_t>(f.info.dli_fbase);
    auto* header = static_cast<const ElfW(Ehdr)*>(f.info.dli_fbase);
    f.relative = header->e_type == ET_DYN ? pc - base : pc;
  }
  // One addr2line per object.
  std::vector<bool> done(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (!all[i].found || done[i]) continue;
    std::vector<std::size_t> members;
    std::vector<std::uintptr_t> addresses;
    for (std::size_t j = i; j < all.size(); ++j) {
      if (all[j].found && !done[j] &&
          std::strcmp(all[j].info.dli_fname, all[i].info.dli_fname) == 0) {
        members.push_back(j);
        addresses.push_back(all[j].relative);
        done[j] = true;
      }
    }
    const char* object = all[i].info.dli_fname;
    std::string self;
    if (!*object || std::strcmp(object, program_invocation_name) == 0) {
      char path[4096];
      ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
      if (n > 0) self.assign(path, static_cast<std::size_t>(n));
      object = self.c_str();
    }
    std::vector<std::string> lines = addr2line(object, addresses);
    for (std::size_t k = 0; k < members.size(); ++k) {
      frame& f = all[members[k]];
      if (k < lines.size() && lines[k].rfind("?? ", 0) != 0) {
        f.text = lines[k] + " (" + object + ")";
        continue;
      }
      if (f.info.dli_sname) {
        int status = 0;
        char* name = abi::__cxa_demangle(f.info.dli_sname, nullptr, nullptr, &status);
        f.text = std::string(status == 0 && name ? name : f.info.dli_sname) + " (" + object + ")";
        std::free(name);
      } else {
        f.text = std::string("?? (") + object + ")";
      }
    }
  }
  std::string text;
  for (std::size_t i = 0; i < all.size(); ++i) {
    char head[64];
    std::snprintf(head, sizeof head, "    #%zu %p ", i, all[i].pc);
    text += head + (all[i].text.empty() ? std::string("??") : all[i].text) + '\n';
  }
  return text;
}

/// Reads a small file of /proc into `text`; false if it cannot.
bool read_proc(const char* path, char (&text)[512]) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  return true;
}

/// The CPU time thread `tid` of this process has used, in ns, or -1.
long long cpu_time_ns(pid_t tid) {
  char path[64];
  char text[512];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", static_cast<int>(tid));
  unsigned long long running = 0;
  if (!read_proc(path, text) || std::sscanf(text, "%llu", &running) != 1) return -1;
  return static_cast<long long>(running);
}

/// True if thread `tid` sleeps in the kernel (a blocking call), false if it runs or waits for
/// a CPU (or its state is unknown).
bool sleeps_in_kernel(pid_t tid) {
  char path[64];
  char text[512];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/stat", static_cast<int>(tid));
  if (!read_proc(path, text)) return false;
  const char* end_of_name = std::strrchr(text, ')');
  return end_of_name && end_of_name[1] == ' ' && (end_of_name[2] == 'S' || end_of_name[2] == 'D');
}

/// One stall, captured while its hub was registered, printed after the registry is unlocked
/// (symbolising runs addr2line: no hub should wait for that to start or end).
struct incident {
  std::string headline;
  std::vector<void*> frames;
};

/// Captures the hub thread of `w` (which has not switched for `held`) for a report.
incident capture_blocked(diagnostics& d, hub_watch& w, milliseconds held, milliseconds wall,
                         bool in_kernel, long threshold) {
  capture& c = d.shot;
  c.depth = 0;
  c.state.store(1, std::memory_order_release);
  bool captured = false;
  if (::pthread_kill(w.thread, monitor_signal()) == 0) {
    for (int i = 0; i < 1000 && c.state.load(std::memory_order_acquire) != 2; ++i) {
      std::this_thread::sleep_for(1ms);
    }
    captured = c.state.load(std::memory_order_acquire) == 2;
  }
  c.state.store(0, std::memory_order_release);
  std::string who = !captured    ? std::string("(the hub thread did not answer the signal)")
                    : c.in_fiber ? "fiber " + std::to_string(c.fiber_id) + " '" + c.name + "'"
                                 : std::string("the hub itself (a callback or an Asio handler)");
  // The frames before the interrupted one are the handler's and the kernel's signal return.
  int skip = 0;
  if (captured) {
    for (int i = 0; i < c.depth; ++i) {
      Dl_info info{};
      if (::dladdr(c.frames[i], &info) && info.dli_sname &&
          std::strcmp(info.dli_sname, "__restore_rt") == 0) {
        skip = i + 1;
        break;
      }
    }
    if (skip == 0 && c.depth > 2) skip = 2;
  }
  std::string text = "grove: monitor: " + who + " has held the hub of thread " +
                     std::to_string(w.tid) + " for " + std::to_string(held.count()) +
                     " ms without switching (threshold " + std::to_string(threshold) + " ms";
  text += in_kernel ? ", blocked in a system call" : ", on the CPU";
  if (wall - held >= milliseconds(1))
    text += "; " + std::to_string(wall.count()) + " ms of wall time";
  text += ")";
  text += captured ? "; its backtrace:\n" : "\n";
  incident found{std::move(text), {}};
  if (captured) found.frames.assign(c.frames + skip, c.frames + c.depth);
  return found;
}

void print(const incident& i) {
  std::string text = i.headline;
  if (!i.frames.empty()) {
    text += symbolise(i.frames.data(), static_cast<int>(i.frames.size()));
    text += "grove: monitor: end of backtrace\n";
  }
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

void check_hubs(diagnostics& d, long threshold) {
  std::vector<incident> found;
  std::unique_lock lock(d.mutex);
  auto now = steady_clock::now();
  for (hub_watch* w = d.head; w; w = w->next) {
    std::uint64_t s = w->progress();
    if (w->idle.load(std::memory_order_relaxed) || s != w->seen) {
      w->seen = s;
      w->seen_at = now;
      w->seen_cpu_ns = cpu_time_ns(w->tid);
      w->reported = false;
      continue;
    }
    if (w->reported) continue;  // once per incident: until the hub switches again
    // On a busy machine a thread also stops switching while it waits for a CPU: that time is
    // not the fiber's. So a thread on the CPU (or waiting for one) is measured in CPU time, one
    // sleeping in a blocking call in wall time.
    auto wall = duration_cast<milliseconds>(now - w->seen_at);
    bool in_kernel = sleeps_in_kernel(w->tid);
    long long cpu = cpu_time_ns(w->tid);
    auto held = wall;
    if (!in_kernel && cpu >= 0 && w->seen_cpu_ns >= 0) {
      held = std::min(wall, duration_cast<milliseconds>(nanoseconds(cpu - w->seen_cpu_ns)));
    }
    if (held.count() >= threshold) {
      w->reported = true;
      found.push_back(capture_blocked(d, *w, held, wall, in_kernel, threshold));
    }
  }
  lock.unlock();
  for (const incident& i : found) print(i);
}

/// A dump_request's invoke, on its hub's thread, from the loop (between fibers). Unrun, the
/// hub is ending: nothing to print.
void run_dump(inbox_item* item, bool run) noexcept {
  auto* request = static_cast<dump_request*>(item);
  // Cleared first: a request that comes while this dump is printed gets a dump of its own.
  request->queued.store(false, std::memory_order_release);
  if (!run) return;
  try {
    std::ostringstream text;
    dump_hub(*request->hub, text);
    std::string s = text.str();
    std::fwrite(s.data(), 1, s.size(), stderr);
  } catch (const std::exception& e) {  // the loop's inbox is noexcept: say so, and go on
    std::fprintf(stderr, "grove: the fiber dump failed: %s\n", e.what());
  } catch (...) {
    std::fputs("grove: the fiber dump failed\n", stderr);
  }
  std::fflush(stderr);
}

void post_dumps(diagnostics& d) {
  // Under the registry's mutex: a registered hub is running, so its control and its inbox
  // (open until it has returned) are there. Nothing here allocates: out of memory, this thread
  // could only have ended the process.
  std::lock_guard lock(d.mutex);
  for (hub_watch* w = d.head; w; w = w->next) {
    dump_request& request = w->dump;
    if (request.queued.exchange(true, std::memory_order_acq_rel)) continue;  // one is waiting
    if (!post_item(*w->hub->control(), &request)) {
      request.queued.store(false, std::memory_order_release);
    }
  }
}

void diagnostics_thread() {
  diagnostics& d = diag();
  for (;;) {
    long ms = d.monitor_ms.load(std::memory_order_relaxed);
    // A few looks per threshold: an incident is seen within a quarter of it.
    int wait = ms > 0 ? static_cast<int>(std::max(1L, ms / 4)) : -1;
    pollfd p{d.pipe_read, POLLIN, 0};
    int n = ::poll(&p, 1, wait);
    if (n > 0) {
      char bytes[64];
      ssize_t got = ::read(d.pipe_read, bytes, sizeof bytes);
      bool dump = false;
      for (ssize_t i = 0; i < got; ++i) dump |= bytes[i] == 'd';
      if (dump) post_dumps(d);
    }
    ms = d.monitor_ms.load(std::memory_order_relaxed);
    if (ms > 0) check_hubs(d, ms);
  }
}

void start_thread() {
  diagnostics& d = diag();
  std::call_once(d.started, [&d] {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
      throw error(std::string("grove: cannot start the diagnostics thread: pipe: ") +
                  std::strerror(errno));
    }
    d.pipe_read = fds[0];
    d.pipe_write = fds[1];
    // The first backtrace() loads the unwinder (dlopen): never inside the signal handler.
    void* frames[4];
    ::backtrace(frames, 4);
    struct sigaction sa {};
    sa.sa_handler = &on_monitor_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_ONSTACK;  // the hub thread's alternate stack (overflow guard)
    ::sigaction(monitor_signal(), &sa, nullptr);
    // The thread must not take the process's signals meant for the hubs' threads.
    sigset_t all, previous;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, &previous);
    std::thread(diagnostics_thread).detach();
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  });
}

void poke(char byte) { [[maybe_unused]] ssize_t n = ::write(diag().pipe_write, &byte, 1); }

int signal_from_name(const char* text) {
  if (!text || !*text) return 0;
  std::string s = text;
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  if (s == "USR1") return SIGUSR1;
  if (s == "USR2") return SIGUSR2;
  if (s == "QUIT") return SIGQUIT;
  char* end = nullptr;
  long n = std::strtol(s.c_str(), &end, 10);
  return *end == '\0' && n > 0 && n < NSIG ? static_cast<int>(n) : -1;
}

}  // namespace

void register_hub(hub_watch& w) noexcept {
  static std::once_flag from_environment;
  std::call_once(from_environment, [] {
    try {
      if (const char* ms = std::getenv("GROVE_MONITOR_MS"); ms && *ms) {
        char* end = nullptr;
        long n = std::strtol(ms, &end, 10);
        if (*end == '\0' && n > 0) {
          monitor_blocking(milliseconds(n));
        } else {
          std::fprintf(stderr,
                       "grove: GROVE_MONITOR_MS=%s is not a positive number of "
                       "milliseconds; the blocking monitor stays off\n",
                       ms);
        }
      }
      const char* name = std::getenv("GROVE_DUMP_SIGNAL");
      if (int sig = signal_from_name(name); sig > 0) {
        dump_fibers_on(sig);
      } else if (sig < 0) {
        std::fprintf(stderr,
                     "grove: GROVE_DUMP_SIGNAL=%s is not a signal (USR1, USR2, QUIT or "
                     "a number); no dump signal\n",
                     name);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
    }
  });
  diagnostics& d = diag();
  std::lock_guard lock(d.mutex);
  w.dump.hub = w.hub;
  w.dump.invoke = &run_dump;
  w.seen = w.progress();
  w.seen_at = steady_clock::now();
  w.next = d.head;
  if (d.head) d.head->prev = &w;
  d.head = &w;
}

void unregister_hub(hub_watch& w) noexcept {
  diagnostics& d = diag();
  std::lock_guard lock(d.mutex);
  if (w.prev) {
    w.prev->next = w.next;
  } else {
    d.head = w.next;
  }
  if (w.next) w.next->prev = w.prev;
  w.next = w.prev = nullptr;
}

}  // namespace grove::detail

namespace grove {

void dump_fibers_on(int signal) {
  detail::diagnostics& d = detail::diag();
  if (signal < 0 || signal >= NSIG || signal == SIGKILL || signal == SIGSTOP) {
    throw error("grove::dump_fibers_on: " + std::to_string(signal) +
                " is not a signal one can catch");
  }
  detail::start_thread();
  int previous = d.dump_signal.exchange(signal);
  if (previous > 0 && previous != signal) ::signal(previous, SIG_DFL);
  if (signal == 0) return;
  struct sigaction sa {};
  sa.sa_handler = &detail::on_dump_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(signal, &sa, nullptr);
}

void monitor_blocking(std::chrono::milliseconds threshold) {
  detail::start_thread();
  detail::diag().monitor_ms.store(threshold.count() > 0 ? static_cast<long>(threshold.count()) : 0);
  detail::poke('m');  // the thread re-reads its period
}

}  // namespace grove
