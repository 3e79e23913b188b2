// The part of a hub that a yield touches: the running fiber, the ready queue, the switch budget
// and the loop's context. It is public (detail) so that this_fiber::yield() runs its whole
// bookkeeping inline in the caller (include/grove/detail/yield.hpp): the out-of-line version cost
// a call, a return and two PLT hops per switch, ~35% on top of a raw Boost.Context switch.
// hub_impl (lib/core/hub_impl.hpp) derives from it and owns everything else.
#pragma once

#include <atomic>
#include <cstdint>

#include <grove/detail/fiber_base.hpp>

namespace grove::detail {

class hub_impl;
/// This thread's running hub (lib/core/hub.cpp); a hub_core at the same address (hub_impl
/// derives from nothing else and has no virtual functions; checked when a hub is made).
extern constinit thread_local hub_impl* t_hub __attribute__((tls_model("initial-exec")));

// Layout of the Itanium C++ ABI's __cxa_eh_globals (libstdc++ and libc++abi alike).
struct eh_globals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

struct hub_core;
/// Makes an unstarted fiber runnable (takes its stack); false if it ended instead (no stack, or
/// killed before it started). Out of line: once per fiber.
bool prepare_to_start(hub_core& hub, fiber_base* f) noexcept;

/// Scheduling state of one hub. Nothing here is thread-safe: one hub, one thread.
struct hub_core {
  /// The hub of this thread as its scheduling state, or null outside grove::run.
  static hub_core* current() noexcept { return reinterpret_cast<hub_core*>(t_hub); }

  /// Appends a fiber to the ready queue (state must already say ready).
  void push_ready(fiber_base* f) noexcept {
    f->next_ready = nullptr;
    if (ready_tail_) {
      ready_tail_->next_ready = f;
    } else {
      ready_head_ = f;
    }
    ready_tail_ = f;
  }

  /// Appends the running fiber `self` that yields (state already ready): behind every fiber
  /// spawned before, started or not, as a yield promises; the starts still queued
  /// (hub_impl::queue_start) join the ready queue first, all at once.
  void push_yielded(fiber_base* self) noexcept {
    if (start_head_) [[unlikely]] {
      if (ready_tail_) {
        ready_tail_->next_ready = start_head_;
      } else {
        ready_head_ = start_head_;
      }
      ready_tail_ = start_tail_;
      start_head_ = start_tail_ = nullptr;
    }
    push_ready(self);
  }

  /// The next ready fiber that can run (started, or given a stack now), or nullptr.
  fiber_base* pop_runnable() noexcept {
    while (fiber_base* f = ready_head_) {
      ready_head_ = f->next_ready;
      if (!ready_head_) ready_tail_ = nullptr;
      if (f->ctx.fctx || prepare_to_start(*this, f)) [[likely]]
        return f;
    }
    return nullptr;
  }

  /// Where the running fiber `self` goes when it suspends: the next ready fiber (marked
  /// running), the loop, or nullptr when `self` itself is next and runs on.
  execution_context* next_context(fiber_base* self) noexcept {
    // A fiber yielding with nothing else ready goes through the loop, so I/O, timers and
    // callbacks get their turn instead of the fiber spinning alone.
    bool alone = ready_head_ == self && ready_tail_ == self;
    fiber_base* next = budget() > 0 && !alone ? pop_runnable() : nullptr;
    if (!next) return &loop_ctx_;
    spend_budget();
    next->state = fiber_state::running;
    return next == self ? nullptr : &next->ctx;
  }

  /// The thread's C++ exception state ("exceptions being caught", uncaught_exceptions()). Each
  /// fiber needs its own, or a fiber suspended in a catch block corrupts another's. It is empty
  /// at every jump: a context whose state is not empty moves it onto its own stack and empties
  /// it before it jumps away, and puts it back on arrival (hub_impl::switch_to). So the inline
  /// yield, which jumps only with an empty state, has nothing to save or restore: two loads
  /// instead of four loads and four stores a switch.
  eh_globals& exception_state() noexcept { return *static_cast<eh_globals*>(eh_globals_); }
  /// Whether the running context has an exception caught or in flight.
  bool has_exception_state() noexcept {
    const eh_globals& eh = exception_state();
    return eh.caught_exceptions || eh.uncaught_exceptions;
  }

  /// Counts a pass of the loop (or a switch through it) for the blocking monitor
  /// (lib/debug/monitor.cpp), which reads it from its own thread: a relaxed load and store, no
  /// locked instruction. Direct switches are not counted here: each spends one unit of the
  /// budget, which only a pass of the loop refills, so (passes, budget) changes at every switch
  /// and the monitor watches the pair (hub_watch::progress) at no cost to a switch.
  void count_switch() noexcept {
    switches_.store(switches_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  /// Direct switches left before the loop polls Asio again.
  int budget() const noexcept { return budget_.load(std::memory_order_relaxed); }
  /// One direct switch (a plain load and store: only this thread writes it).
  void spend_budget() noexcept {
    budget_.store(budget_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }

  fiber_base* current_ = nullptr;
  fiber_base* ready_head_ = nullptr;
  fiber_base* ready_tail_ = nullptr;
  /// Fibers never started and not yet in the ready queue (hub_impl::queue_start).
  fiber_base* start_head_ = nullptr;
  fiber_base* start_tail_ = nullptr;
  /// Direct fiber-to-fiber switches left before the loop polls Asio again; atomic because the
  /// blocking monitor reads it (count_switch), written by this thread only.
  std::atomic<int> budget_{0};
  void* eh_globals_ = nullptr;  ///< this thread's __cxa_eh_globals
  int* errno_ = nullptr;        ///< this thread's errno (saves a libc call a switch)
  execution_context loop_ctx_;
  std::atomic<std::uint64_t> switches_{0};  ///< loop passes, see count_switch()
};

}  // namespace grove::detail
