// What grove::wait_all / grove::wait_any need from a source (a fiber, an event, a future):
// whether it is ready now, and the wait_queue that is notified (notify_all) when it becomes so.
#pragma once

#include <concepts>
#include <cstddef>
#include <type_traits>

#include <grove/detail/suspension.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove::detail {

/// Specialised next to each waitable type W:
///   static bool ready(const W&) noexcept;      // ready now?
///   static wait_queue* queue(W&);              // notified when it becomes ready (may allocate)
///   static const sync_owner* owner(W&);        // optional: its owner, if it may be shared
template <class W>
struct awaitable;

class sync_owner;

/// A type grove::wait_all / grove::wait_any accept.
template <class W>
concept awaitable_source = requires(std::remove_cvref_t<W>& w) {
  { awaitable<std::remove_cvref_t<W>>::ready(w) } noexcept -> std::same_as<bool>;
  { awaitable<std::remove_cvref_t<W>>::queue(w) } -> std::same_as<wait_queue*>;
};

/// One source, type-erased for the non-template wait loops (lib/sync/wait.cpp).
struct wait_source {
  const void* object;
  bool (*ready)(const void*) noexcept;
  wait_queue* queue;
  const sync_owner* owner = nullptr;  ///< for a source that may be shared across threads
};

/// Erases `w`'s type.
template <class W>
wait_source make_wait_source(W& w) {
  using traits = awaitable<std::remove_const_t<W>>;
  auto& source = const_cast<std::remove_const_t<W>&>(w);
  const sync_owner* owner = nullptr;
  if constexpr (requires { traits::owner(source); }) owner = traits::owner(source);
  return {&w, [](const void* p) noexcept { return traits::ready(*static_cast<const W*>(p)); },
          traits::queue(source), owner};
}

/// Waits until one source is ready; its index, or `count` if `deadline` passed first.
std::size_t wait_any_until(const wait_source* sources, std::size_t count, time_point deadline);
/// Waits until every source is ready at once; false if `deadline` passed first.
bool wait_all_until(const wait_source* sources, std::size_t count, time_point deadline);

}  // namespace grove::detail
