// The offload pool: one per hub, kept as a service of the hub's io_context so that it lives and
// dies with the hub without the core knowing about it.
//
// Threads share `pool_state` with the hub (a shared_ptr, so a thread still finishing a call when
// the hub ends can touch it safely); everything else here runs on the hub thread. A finished
// job goes back as itself: the pool thread pushes it into the hub's inbox (hub_control), which
// allocates nothing and cannot fail, and interrupts the hub if it sleeps. (An asio::post
// allocated its handler there: out of memory, the pool thread could only end the process.)
// While a fiber waits, the service holds an executor work guard: the hub's loop then blocks
// for the result instead of reporting a deadlock.
#include <pthread.h>
#include <signal.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <grove/detail/completion.hpp>
#include <grove/error.hpp>
#include <grove/hub.hpp>
#include <grove/offload.hpp>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "core/hub_control.hpp"

namespace grove::detail {
namespace {

constexpr std::size_t default_offload_threads = 10;  // gevent's threadpool default
constexpr std::size_t max_offload_threads = 4096;

/// The pool size from GROVE_THREADPOOL_SIZE, or the default. A value that is not a whole number in
/// [1, max_offload_threads] is a clear error at the first offload, not a silent default.
std::size_t threads_from_environment() {
  const char* text = std::getenv("GROVE_THREADPOOL_SIZE");
  if (!text || !*text) return default_offload_threads;
  char* end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || *text == '-' || value < 1 || value > max_offload_threads) {
    throw error("grove: GROVE_THREADPOOL_SIZE='" + std::string(text) +
                "' is not a thread count from 1 to " + std::to_string(max_offload_threads));
  }
  return static_cast<std::size_t>(value);
}

struct pool_state {
  std::mutex mutex;
  std::condition_variable wakeup;
  offload_job* head = nullptr;  // queued calls, FIFO
  offload_job* tail = nullptr;
  std::size_t queued = 0;   // jobs in the queue
  std::size_t threads = 0;  // threads started and not yet exited
  std::size_t idle = 0;     // threads waiting for a job (they leave this count once awake)
  std::size_t max_threads = default_offload_threads;
  boost::asio::io_context* io = nullptr;  // null once the hub has shut the pool down
  std::shared_ptr<hub_control> hub;       // where finished jobs go back (outlives the hub)

  void push(offload_job* job) {
    job->next = nullptr;
    if (tail) {
      tail->next = job;
    } else {
      head = job;
    }
    tail = job;
    ++queued;
  }
  offload_job* pop() {
    offload_job* job = head;
    head = after(job);
    if (!head) tail = nullptr;
    --queued;
    return job;
  }
  bool unlink(offload_job* job) {
    offload_job* prev = nullptr;
    for (offload_job* j = head; j; prev = j, j = after(j)) {
      if (j != job) continue;
      if (prev) {
        prev->next = j->next;
      } else {
        head = after(j);
      }
      if (tail == j) tail = prev;
      --queued;
      return true;
    }
    return false;
  }
  /// The job queued after `job` (its inbox_item link serves the queue until it runs).
  static offload_job* after(const offload_job* job) noexcept {
    return static_cast<offload_job*>(job->next);
  }
};

/// A finished job back on the hub thread (its inbox_item's invoke): wakes its fiber, or deletes
/// an orphan. One the hub never ran (it ended first) is destroyed unrun on its thread: an
/// orphan then (no fiber can still wait once the hub has ended), deleted as well.
void deliver(inbox_item* item, bool run) noexcept {
  auto* job = static_cast<offload_job*>(item);
  if (job->orphaned) {
    delete job;
  } else if (run) {
    static_cast<completion*>(job->waiter)->complete();
  }
}

void worker_main(std::shared_ptr<pool_state> state) {
  pthread_setname_np(pthread_self(), "grove-offload");
  std::unique_lock lock(state->mutex);
  for (;;) {
    while (!state->head && state->io) {
      ++state->idle;
      state->wakeup.wait(lock);
      --state->idle;
    }
    if (!state->io) break;
    offload_job* job = state->pop();
    job->status = offload_job::state::running;
    lock.unlock();
    job->run();
    lock.lock();
    job->status = offload_job::state::finished;
    // Refused once the hub's loop has returned: every fiber that could have waited is gone.
    if (!state->io || !post_item(*state->hub, job)) delete job;
  }
  --state->threads;
}

class offload_service final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;

  explicit offload_service(boost::asio::execution_context& context)
      : service(context),
        io_(static_cast<boost::asio::io_context&>(context)),
        state_(std::make_shared<pool_state>()) {
    state_->max_threads = threads_from_environment();
    state_->io = &io_;
    state_->hub = t_hub->control();  // made by current_service(): on a hub's thread
  }

  /// Queues `job` and waits for it (see run_offloaded).
  void run(std::unique_ptr<offload_job>& job) {
    completion done;
    job->waiter = &done;
    job->invoke = &deliver;
    submit(job.get());
    waiter_started();
    struct waiter_guard {
      offload_service* self;
      ~waiter_guard() { self->waiter_finished(); }
    } guard{this};
    await_completion(
        done, no_deadline,
        [&] {
          std::lock_guard lock(state_->mutex);
          switch (job->status) {
            case offload_job::state::queued:
              state_->unlink(job.get());  // never started: drop it, the caller still owns it
              done.complete(true);
              break;
            case offload_job::state::running:
              job->orphaned = true;  // the pool deletes it when it comes back
              job.release();
              done.complete(true);
              break;
            case offload_job::state::finished:
              // Its delivery is already posted and completes `done` as a success: the caller gets
              // the result and the kill or timeout stays pending for its next wait (the promise of
              // await_completion: an operation that completed anyway keeps its result).
              break;
          }
        },
        {wait_kind::offload, reinterpret_cast<std::uintptr_t>(job.get())});
  }

  void set_max_threads(std::size_t count) {
    std::lock_guard lock(state_->mutex);
    state_->max_threads = count < 1 ? 1 : count;
    // A larger pool serves what already waits at once, as a burst submitted now would be.
    while (state_->queued > state_->idle && state_->threads < state_->max_threads) {
      try {
        start_thread();
      } catch (const std::system_error&) {
        break;  // the threads already running will get to the queue
      }
    }
  }
  std::size_t max_threads() {
    std::lock_guard lock(state_->mutex);
    return state_->max_threads;
  }

 private:
  void submit(offload_job* job) {
    std::unique_lock lock(state_->mutex);
    state_->push(job);
    // An idle thread stays counted as idle until it wakes, so `idle > 0` alone would send a
    // whole burst to one sleeping thread and run it one job after another. Every queued job
    // needs a thread of its own: start one while the jobs outnumber the idle threads.
    if (state_->queued <= state_->idle || state_->threads >= state_->max_threads) {
      state_->wakeup.notify_one();
      return;
    }
    try {
      start_thread();
    } catch (const std::system_error&) {
      if (state_->threads == 0) {  // nobody could ever run it
        state_->unlink(job);
        throw error("grove::offload: cannot start a pool thread (out of threads or memory)");
      }
      state_->wakeup.notify_one();  // a busy thread will get to it
    }
  }

  // Called with the state's mutex held.
  void start_thread() {
    // Pool threads take no signals: they belong to the threads the user created.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    try {
      std::thread(worker_main, state_).detach();
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    ++state_->threads;
  }

  void waiter_started() {
    if (waiters_++ == 0) work_.emplace(io_.get_executor());
  }
  void waiter_finished() noexcept {
    if (--waiters_ == 0) work_.reset();
  }

  void shutdown() override {
    // The hub is ending: every fiber has finished, so every job still out is an orphan. Threads
    // exit once idle; one still running a call deletes it when the call returns.
    std::lock_guard lock(state_->mutex);
    state_->io = nullptr;
    while (state_->head) delete state_->pop();
    state_->wakeup.notify_all();
    work_.reset();
  }

  boost::asio::io_context& io_;
  std::shared_ptr<pool_state> state_;
  std::size_t waiters_ = 0;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

boost::asio::execution_context::id offload_service::id;

offload_service& current_service() {
  return boost::asio::use_service<offload_service>(hub::current().io_context());
}

}  // namespace

void run_offloaded(std::unique_ptr<offload_job>& job) {
  require_fiber();
  current_service().run(job);
}

}  // namespace grove::detail

namespace grove {

void set_offload_threads(std::size_t count) { detail::current_service().set_max_threads(count); }

std::size_t offload_threads() { return detail::current_service().max_threads(); }

}  // namespace grove
