#include "core/overflow_guard.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <mutex>

#include "core/hub_impl.hpp"
#include "core/sys.hpp"

namespace grove::detail {
namespace {

constexpr std::size_t alt_stack_bytes = 64 * 1024;  // ASan's own handlers need more than SIGSTKSZ

struct sigaction g_previous_segv;
struct sigaction g_previous_bus;
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
// (we chain to it in turn) must not loop forever.
thread_local bool t_in_fault = false;

void on_fault(int sig, siginfo_t* info, void* uc) {
  if (t_in_fault) {
    signal(sig, SIG_DFL);  // the chain came back around: let the fault take its default course
    return;
  }
  t_in_fault = true;
  hub_impl* hub = hub_impl::current();
  fiber_base* f = hub ? hub->running() : nullptr;
  if (f && f->stack_base) {
    auto* addr = static_cast<char*>(info->si_addr);
    auto* low = static_cast<char*>(f->stack_base);
    if (addr >= low && addr < low + stack_pool::guard_bytes) {
      line out;
      out.add("grove: stack overflow in fiber ");
      out.add(f->id);
      out.add(" '");
      out.add(f->name_c_str());
      out.add("' (stack ");
      out.add(f->stack_size / 1024);
      out.add(" KiB); give it more with spawn_options::stack_size\n");
      ssize_t ignored = detail::sys::write(STDERR_FILENO, out.text, out.used);
      (void)ignored;
      std::abort();
    }
  }
  chain(sig == SIGBUS ? g_previous_bus : g_previous_segv, sig, info, uc);
  t_in_fault = false;
}

// Checked at every grove::run, not once: test frameworks and crash reporters install their own
// handlers later; ours goes back on top and chains to theirs.
void install_handler(int sig, struct sigaction& previous) {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == &on_fault) return;
  struct sigaction action {};
  action.sa_sigaction = &on_fault;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  sigaction(sig, &action, &previous);
}

}  // namespace

overflow_guard::overflow_guard() {
  install_handler(SIGSEGV, g_previous_segv);
  install_handler(SIGBUS, g_previous_bus);
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
