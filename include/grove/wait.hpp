// grove::wait_all / grove::wait_any: wait for several fibers, events and futures at once, with
// an optional timeout (gevent's wait / iwait).
//
// Example:
//   auto a = grove::spawn(fetch, "a");
//   auto b = grove::spawn(fetch, "b");
//   grove::event cancel;
//   std::size_t first = grove::wait_any(a, b, cancel);        // 0, 1 or 2
//   if (!grove::wait_all_for(2s, a, b)) std::puts("still running after 2 s");
//   std::vector<grove::fiber<int>> many = ...;
//   grove::wait_all(many);                                     // a range works too
//
// A fiber is ready once finished, an event while set, a future once its result is set; an
// empty fiber handle counts as ready. One wait_node per source is queued in one suspension
// (the first wake wins), so waiting on N sources costs N queue links, no helper fibers.
// wait_any returns the index of the first ready source in argument (or range) order; wait_all
// returns once all are ready at the same time (an event cleared meanwhile is waited for again).
// Waits honour kill() and grove::timeout; nothing is consumed; grove::cross_thread ones mix in.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <vector>

#include <grove/detail/awaitable.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/fiber.hpp>

namespace grove {

template <class T>
struct detail::awaitable<fiber<T>> {
  static bool ready(const fiber<T>& f) noexcept { return !f.valid() || f.ready(); }
  // Not noexcept: a fiber's joiners are made on first use (may throw std::bad_alloc, before the
  // wait starts).
  static wait_queue* queue(fiber<T>& f) {
    return f.valid() ? &f.control_block()->extras().joiners : nullptr;
  }
};

namespace detail {

/// A range whose elements wait_all / wait_any accept.
template <class R>
concept awaitable_range = std::ranges::range<R> && !awaitable_source<R> &&
                          awaitable_source<std::ranges::range_reference_t<R>>;

template <class R>
std::vector<wait_source> range_wait_sources(R& range) {
  std::vector<wait_source> sources;
  if constexpr (std::ranges::sized_range<R>) sources.reserve(std::ranges::size(range));
  for (auto& source : range) sources.push_back(make_wait_source(source));
  return sources;
}

template <class... W>
std::array<wait_source, sizeof...(W)> wait_sources_of(W&... sources) {
  return {make_wait_source(sources)...};
}

inline std::optional<std::size_t> found(std::size_t index, std::size_t count) {
  if (index == count) return std::nullopt;
  return index;
}

}  // namespace detail

/// Waits until every source is ready.
template <detail::awaitable_source... W>
void wait_all(W&&... sources) {
  auto all = detail::wait_sources_of(sources...);
  detail::wait_all_until(all.data(), all.size(), detail::no_deadline);
}
/// Waits at most `d` until every source is ready; false if some still were not.
template <class Rep, class Period, detail::awaitable_source... W>
bool wait_all_for(std::chrono::duration<Rep, Period> d, W&&... sources) {
  auto all = detail::wait_sources_of(sources...);
  return detail::wait_all_until(all.data(), all.size(), detail::deadline_after(d));
}
/// Waits until one source is ready; returns its index.
template <detail::awaitable_source... W>
std::size_t wait_any(W&&... sources) {
  static_assert(sizeof...(W) > 0, "grove::wait_any needs at least one source");
  auto all = detail::wait_sources_of(sources...);
  return detail::wait_any_until(all.data(), all.size(), detail::no_deadline);
}
/// Waits at most `d` until one source is ready; its index, or nullopt.
template <class Rep, class Period, detail::awaitable_source... W>
std::optional<std::size_t> wait_any_for(std::chrono::duration<Rep, Period> d, W&&... sources) {
  auto all = detail::wait_sources_of(sources...);
  return detail::found(detail::wait_any_until(all.data(), all.size(), detail::deadline_after(d)),
                       all.size());
}

/// Waits until every element of `range` is ready.
template <detail::awaitable_range R>
void wait_all(R&& range) {
  auto all = detail::range_wait_sources(range);
  detail::wait_all_until(all.data(), all.size(), detail::no_deadline);
}
/// Waits at most `d` until every element of `range` is ready; false if some still were not.
template <class Rep, class Period, detail::awaitable_range R>
bool wait_all_for(std::chrono::duration<Rep, Period> d, R&& range) {
  auto all = detail::range_wait_sources(range);
  return detail::wait_all_until(all.data(), all.size(), detail::deadline_after(d));
}
/// Waits until one element of `range` is ready; its index (range.size() if the range is empty).
template <detail::awaitable_range R>
std::size_t wait_any(R&& range) {
  auto all = detail::range_wait_sources(range);
  return detail::wait_any_until(all.data(), all.size(), detail::no_deadline);
}
/// Waits at most `d` until one element of `range` is ready; its index, or nullopt.
template <class Rep, class Period, detail::awaitable_range R>
std::optional<std::size_t> wait_any_for(std::chrono::duration<Rep, Period> d, R&& range) {
  auto all = detail::range_wait_sources(range);
  return detail::found(detail::wait_any_until(all.data(), all.size(), detail::deadline_after(d)),
                       all.size());
}

}  // namespace grove
