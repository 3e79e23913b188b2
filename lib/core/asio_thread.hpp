// What makes grove::use_fiber cheap: the hub's share of Asio's per-thread state.
//
// Asio's scheduler gives the thread running it two fast paths, found through its per-thread call
// stack (boost/asio/detail/call_stack.hpp): a completion posted there goes to a private queue
// (no lock, no atomic), and operation memory comes from a small per-thread cache. Fibers run
// between polls, outside io_context::run/poll, and so take the slow paths. Worse, an operation
// that completes inside its initiating function (a speculative read or send that succeeded) is
// posted, and the fiber must suspend and wait for the loop to poll it, although its result is
// already there.
//
// So use_fiber starts an operation inside this hub's scope (run_inside): for the length of the
// initiating function the hub counts as one of its io_context's threads, with a thread_info of
// its own. A completion posted meanwhile lands in the private queue; if it is the operation's own
// (its memory is the block use_fiber's allocator handed out last), run_inside runs it at once,
// on the fiber, which then returns without suspending, as grove's own sockets do when no wait is
// needed. Anything else posted meanwhile is handed to the scheduler before run_inside returns:
// nothing is delayed or lost, and run_one() still returns 0 only when no work is left (the
// deadlock detection).
//
// Why not run whole fiber batches inside the io_context's call stack: measured, it saved nothing
// by itself (the loop runs one handler per run_one() anyway; bench/RESULTS.md, issue 13), and
// io_context's executor would report running_in_this_thread() in every fiber, so asio::dispatch
// and co_spawn would run user code at once on a fiber's (possibly small) stack instead of on the
// hub's.
//
// It also keeps the pool use_fiber's handlers allocate their operations from (their associated
// allocator): Asio's per-thread cache cannot serve there, since those operations are freed
// inside poll(), under the poll's short-lived thread_info, and its two slots are far too few for
// a batch of fibers.
//
// Written against Boost 1.81's scheduler (Debian 12); fd_wait.cpp is the other place grove
// reaches into boost::asio::detail.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detail/call_stack.hpp>
#include <boost/asio/detail/op_queue.hpp>
#include <boost/asio/detail/scheduler.hpp>
#include <boost/asio/detail/scheduler_thread_info.hpp>
#include <boost/asio/detail/thread_context.hpp>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace grove::detail {

class asio_thread {
 public:
  using scheduler = boost::asio::detail::scheduler;
  static_assert(std::is_same_v<boost::asio::detail::io_context_impl, scheduler>,
                "grove's hub is written for Asio's scheduler (not IOCP, not io_uring)");

  explicit asio_thread(boost::asio::io_context& io)
      : scheduler_(&boost::asio::use_service<scheduler>(io)) {
    info_.private_outstanding_work = 0;
  }
  asio_thread(const asio_thread&) = delete;
  asio_thread& operator=(const asio_thread&) = delete;
  ~asio_thread() {
    for (free_block* head : free_) {
      while (head) ::operator delete(std::exchange(head, head->next));
    }
  }

  /// Calls `start(context)` (an operation's initiating function) as if inside io_context::run,
  /// runs at once the completion of the operation it allocated last if that was posted (true),
  /// then hands anything else posted to the scheduler. Never spans a suspension: the call stack
  /// entry lives on the caller's stack.
  bool run_inside(void (*start)(void*), void* context) {
    std::uint64_t mark = allocations_;
    bool ran = false;
    {
      settle on_exit{this};  // also when `start` throws
      call_stack_entry inside(scheduler_, info_);
      start(context);
      // A composed operation (async_write) may start its next step from the completion.
      while (allocations_ != mark) {
        mark = allocations_;
        if (!run_posted(last_allocation_)) break;
        ran = true;
      }
    }
    info_.rethrow_pending_exception();  // what a completion run here threw, as poll() would
    return ran;
  }

  /// Destroys the handler in `slot` with the hub counted as a thread of its io_context, so
  /// that its memory (and that of what it owns) goes back to Asio's per-thread cache, where
  /// the next operation started by run_inside finds it.
  void clear_inside(boost::asio::cancellation_slot slot) noexcept {
    call_stack_entry inside(scheduler_, info_);
    slot.clear();
  }

  /// What allocate(size) really allocates: sizes come in classes of `granule` bytes.
  static std::size_t block_size(std::size_t size) noexcept {
    std::size_t c = (size - 1) / granule;
    return c < classes ? (c + 1) * granule : size;
  }
  /// Memory for an operation, recycled.
  void* allocate(std::size_t size) {
    std::size_t c = (size - 1) / granule;
    void* p;
    if (c < classes && free_[c]) {
      p = free_[c];
      free_[c] = free_[c]->next;
      --cached_[c];
    } else {
      p = ::operator new(block_size(size));
    }
    last_allocation_ = p;
    ++allocations_;
    return p;
  }
  /// Gives back what allocate(size) returned (possibly on another hub's thread: blocks are
  /// plain operator new memory, so any pool may keep them).
  void deallocate(void* p, std::size_t size) noexcept {
    std::size_t c = (size - 1) / granule;
    if (c < classes && cached_[c] < max_cached) {
      free_[c] = new (p) free_block{free_[c]};
      ++cached_[c];
    } else {
      ::operator delete(p);
    }
  }

 private:
  using call_stack_entry =
      boost::asio::detail::call_stack<boost::asio::detail::thread_context,
                                      boost::asio::detail::thread_info_base>::context;

  /// Hands the completions and work counted privately to the scheduler (one lock, and only
  /// when something was posted). Runs after the call stack entry is gone.
  struct settle {
    asio_thread* self;
    ~settle() {
      auto& info = self->info_;
      long work = info.private_outstanding_work;
      info.private_outstanding_work = 0;
      if (work > 0 || !info.private_op_queue.empty()) {
        self->scheduler_->post_immediate_completions(static_cast<std::size_t>(work > 0 ? work : 0),
                                                     info.private_op_queue, false);
      }
      for (; work < 0; ++work) self->scheduler_->work_finished();
    }
  };

  /// If the operation whose memory starts at `block` waits in the private queue, takes it out
  /// and runs it; true if it did.
  bool run_posted(const void* block) {
    using operation = boost::asio::detail::scheduler_operation;
    using access = boost::asio::detail::op_queue_access;
    auto& queue = info_.private_op_queue;
    operation* previous = nullptr;
    operation* op = queue.front();
    while (op && static_cast<const void*>(op) != block) {
      previous = op;
      op = access::next(op);
    }
    if (!op) return false;
    if (previous) {
      access::next(previous, access::next(op));
      if (access::back(queue) == op) access::back(queue) = previous;
      access::next(op, static_cast<operation*>(nullptr));
    } else {
      queue.pop();
    }
    // Running an operation consumes the unit of work its posting counted, as the scheduler's
    // own work_cleanup does; settle() squares a negative balance.
    --info_.private_outstanding_work;
    try {
      op->complete(scheduler_, boost::system::error_code(), 0);
    } catch (...) {
      info_.capture_current_exception();
    }
    return true;
  }

  struct free_block {
    free_block* next;
  };
  static constexpr std::size_t granule = 64;
  static constexpr std::size_t classes = 16;  ///< up to 1 KiB; a socket read's op is ~200 B
  /// Per class: the operations of a few hundred fibers in flight at once.
  static constexpr std::uint32_t max_cached = 512;

  scheduler* scheduler_;
  boost::asio::detail::scheduler_thread_info info_;
  free_block* free_[classes] = {};
  std::uint32_t cached_[classes] = {};
  const void* last_allocation_ = nullptr;
  std::uint64_t allocations_ = 0;
};

}  // namespace grove::detail
