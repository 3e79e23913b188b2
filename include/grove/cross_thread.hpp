// grove::cross_thread: makes a synchronization primitive usable from several threads.
//
// Example:
//   grove::channel<int> results(0, grove::cross_thread);
//   std::thread worker([&] { grove::run([&] { results.send(42); }); });
//   grove::run([&] { std::printf("%d\n", *results.receive()); });
//   worker.join();
//
// The rule (docs/architecture.md, "Threads"): an event, promise/future, channel, queue,
// semaphore, mutex or condition_variable made on a hub belongs to that hub, and touching it from
// another thread throws grove::error; one made with grove::cross_thread is shared. (One made
// outside any hub without the tag belongs to no hub and is used unchecked by one thread at a time,
// as before.) A shared primitive guards its state with a small spinlock (held for a few pointer
// writes, never across a wait); a fiber waiting on it may be woken from any thread (the wake is
// posted to the fiber's own hub: fibers never migrate), and a plain thread without a hub may use it
// too, blocking like its std counterpart. Kill and grove::timeout behave as on one hub. A hub whose
// fibers wait on shared primitives keeps running (another thread may still wake them) instead of
// reporting a deadlock. Destroying a shared primitive (event, channel, queue, semaphore, mutex,
// condition_variable) under its waiters, fibers of any hub or plain threads, wakes them with
// grove::error naming it (as on one hub) and returns once they have left: never a use after free.
// Destroy it from a fiber or a plain thread; from a hub callback while a fiber of that same hub
// waits on it, grove aborts with a message (that waiter could never leave). grove::select and
// grove::wait_any / wait_all take shared primitives too (<grove/select.hpp>).
// Primitives of one hub pay nothing for this: a pointer compare per operation.
#pragma once

namespace grove {

/// Tag type of grove::cross_thread.
struct cross_thread_t {
  explicit cross_thread_t() = default;
};
/// Passed to a primitive's constructor: make it usable from several threads.
inline constexpr cross_thread_t cross_thread{};

}  // namespace grove
