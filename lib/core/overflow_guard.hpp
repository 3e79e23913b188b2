// Stack-overflow reporting: a SIGSEGV handler (process-wide, chained to any previous one) that
// runs on a per-thread sigaltstack, recognises a fault in the guard region of any live fiber of
// the thread's hub (the running one, or the one a switch is leaving), prints which fiber
// overflowed and aborts.
#pragma once

#include <signal.h>

namespace grove::detail {

/// Installs the handler (once per process) and an alternate signal stack for this thread if it
/// has none; restores the thread's previous alternate stack on destruction.
class overflow_guard {
 public:
  overflow_guard();
  ~overflow_guard();
  overflow_guard(const overflow_guard&) = delete;
  overflow_guard& operator=(const overflow_guard&) = delete;

 private:
  void* alt_stack_ = nullptr;
  stack_t previous_{};
};

}  // namespace grove::detail
