#include "core/overflow_guard.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>

#include "core/hub_impl.hpp"
#include "core/sys.hpp"

namespace grove::detail {
namespace {

constexpr std::size_t alt_stack_bytes = 64 * 1024;  // ASan's own handlers need more than SIGSTKSZ

// The handlers that were in place when ours was installed, which ours chains to. A record is
// never written once published: a fault on another thread may be reading it. Installing again
// (someone put a handler over ours) publishes a new record that keeps the older ones reachable
// (`older`): never freed, a few hundred bytes each time ours is displaced.
struct previous_handlers {
  struct sigaction segv {};
  struct sigaction bus {};
  const previous_handlers* older = nullptr;
};
std::atomic<const previous_handlers*> g_previous{nullptr};
std::mutex g_install_mutex;

// Async-signal-safe formatting into a fixed buffer.
struct line {
  char text[512];
  std::size_t used = 0;
  void add(const char* s) {
    while (*s && used < sizeof text - 1) text[used++] = *s++;
  }
  void add(std::uint64_t v) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v && n < 24);
    while (n && used < sizeof text - 1) text[used++] = digits[--n];
  }
};

void chain(const struct sigaction& previous, int sig, siginfo_t* info, void* uc) {
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) {
      previous.sa_sigaction(sig, info, uc);
      return;
    }
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
    return;
  }
  // Default action: reinstall it and return; the faulting instruction faults again and the
  // kernel terminates the process with the usual signal (and core dump).
  signal(sig, SIG_DFL);
}

// Set while this thread is inside on_fault: a handler installed later that chains back to us
// (we chain to it in turn) must not loop forever. initial-exec: the general-dynamic model may
// call __tls_get_addr, which may allocate, and nothing may allocate in a signal handler.
thread_local bool t_in_fault __attribute__((tls_model("initial-exec"))) = false;

bool in_guard(const fiber_base* f, const char* addr) noexcept {
  if (!f || !f->stack.base) return false;
  auto* low = static_cast<const char*>(f->stack.base);
  return addr >= low && addr < low + f->stack.guard;
}

// The fiber of this thread's hub whose guard region holds `addr`. Not only the running one:
// while jump_fcontext saves registers on the stack it leaves, the hub already names the fiber
// it switches to (or none, for the loop). Stacks never move between threads, so this hub's
// live fibers hold every guard a fault on this thread can hit. The walk is bounded: a fault in
// the middle of a list update must not loop.
const fiber_base* overflowed_fiber(const hub_impl* hub, const char* addr) noexcept {
  if (!hub) return nullptr;
  if (in_guard(hub->running(), addr)) return hub->running();
  std::size_t budget = hub->live_count() + 1;
  for (const fiber_base* f = hub->live_head(); f && budget > 0; f = f->next_live, --budget) {
    if (in_guard(f, addr)) return f;
  }
  return nullptr;
}

void on_fault(int sig, siginfo_t* info, void* uc) {
  if (t_in_fault) {
    signal(sig, SIG_DFL);  // the chain came back around: let the fault take its default course
    return;
  }
  t_in_fault = true;
  if (const fiber_base* f =
          overflowed_fiber(hub_impl::current(), static_cast<const char*>(info->si_addr))) {
    line out;
    out.add("grove: stack overflow in fiber ");
    out.add(f->id);
    out.add(" '");
    out.add(f->name.c_str());
    out.add("' (stack ");
    out.add((f->stack.size - f->stack.guard) / 1024);
    out.add(" KiB); give it more with spawn_options::stack_size\n");
    ssize_t ignored = detail::sys::write(STDERR_FILENO, out.text, out.used);
    (void)ignored;
    std::abort();
  }
  if (const previous_handlers* previous = g_previous.load(std::memory_order_acquire)) {
    chain(sig == SIGBUS ? previous->bus : previous->segv, sig, info, uc);
  } else {
    signal(sig, SIG_DFL);
  }
  t_in_fault = false;
}

bool is_ours(int sig) {
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  return (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &on_fault;
}

// Checked at every grove::run, not once: test frameworks and crash reporters install their own
// handlers later; ours goes back on top and chains to theirs. The handlers it displaces are
// published as a new record before ours goes in, so a fault anywhere always reads a complete
// record that nobody writes.
void install_handlers() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  bool segv_ours = is_ours(SIGSEGV), bus_ours = is_ours(SIGBUS);
  if (segv_ours && bus_ours) return;
  const previous_handlers* old = g_previous.load(std::memory_order_relaxed);
  auto* record = new previous_handlers(old ? *old : previous_handlers{});
  record->older = old;
  if (!segv_ours) sigaction(SIGSEGV, nullptr, &record->segv);
  if (!bus_ours) sigaction(SIGBUS, nullptr, &record->bus);
  g_previous.store(record, std::memory_order_release);
  struct sigaction action {};
  action.sa_sigaction = &on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  if (!segv_ours) sigaction(SIGSEGV, &action, nullptr);
  if (!bus_ours) sigaction(SIGBUS, &action, nullptr);
}

}  // namespace

overflow_guard::overflow_guard() {
  install_handlers();
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
    void* mem = ::mmap(nullptr, alt_stack_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem != MAP_FAILED) {
      stack_t alt{};
      alt.ss_sp = mem;
      alt.ss_size = alt_stack_bytes;
      if (sigaltstack(&alt, &previous_) == 0) {
        alt_stack_ = mem;
      } else {
        ::munmap(mem, alt_stack_bytes);
      }
    }
  }
}

overflow_guard::~overflow_guard() {
  if (!alt_stack_) return;
  sigaltstack(&previous_, nullptr);
  ::munmap(alt_stack_, alt_stack_bytes);
}

}  // namespace grove::detail
