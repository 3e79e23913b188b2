// grove::select: wait on several channel operations at once (Go's select), with an optional
// timeout and/or default case. Returns the index of the case taken, after running its handler.
//
// Example:
//   std::size_t taken = grove::select(
//       grove::on_receive(results, [&](int v) { total += v; }),      // 0
//       grove::on_receive(done),                                      // 1: fires when closed
//       grove::on_send(requests, next_request, [&] { ++sent; }),      // 2
//       grove::after(100ms, [] { std::puts("nothing for 100 ms"); })); // 3
//
// Rules:
// - If cases are ready when select starts, one of them is taken at random (each equally
//   likely), as in Go, so that no ready case starves. Otherwise on_default, if present, is
//   taken at once; otherwise select waits for the first case to become ready, or the earliest
//   after() to pass.
// - Exactly one case happens: one wait_node per channel case is queued in one suspension and
//   the first wake wins, so no other channel gives or takes anything on this select's behalf.
//   A kill or grove::timeout during the wait throws and no case happens.
// - A receive case on a closed, drained channel is ready. Its handler then decides: one taking
//   std::optional<T> (or `auto`) gets nullopt; one taking no argument just runs (Go's
//   `case <-done:`); one taking T cannot express "closed", so select throws channel_closed.
// - A send case on a closed channel throws channel_closed, as send() does.
// - Channels shared across threads (grove::cross_thread) mix freely with the calling hub's own
//   channels, and the same rules hold: the shared channels' locks are taken together (in address
//   order) to poll and queue every case, then the select suspends once; wakers on other hubs or
//   plain threads race for one claim word of the select, so exactly one case happens even when
//   several threads complete cases at once (Go's select, learnt from runtime/select.go). A case a
//   waker on another thread completed before a kill or timeout reached the select is taken (its
//   handler runs; the kill or timeout is raised at the next wait), as for a plain shared wait.
//   A plain thread may select over shared channels too (blocking). A channel owned by another
//   hub throws grove::error. A shared channel destroyed under a waiting select makes it throw
//   grove::error naming it.
// - Handlers run after the operation completed, outside the wait: they may block, and an
//   exception from a handler propagates out of select.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <grove/channel.hpp>
#include <grove/detail/deadline.hpp>
#include <grove/detail/sync_owner.hpp>
#include <grove/detail/wait_queue.hpp>

namespace grove {

namespace detail {

/// The handler of a case given without one: does nothing, accepts anything.
struct no_handler {
  template <class... Args>
  void operator()(Args&&...) const noexcept {}
};

enum class case_kind { channel, timer, otherwise };

[[noreturn]] void throw_select_receive_closed();

/// on_receive(ch, fn).
template <class T, class Fn>
struct receive_case {
  static constexpr case_kind kind = case_kind::channel;
  channel<T>* ch;
  Fn fn;
  std::optional<T> value{};
  bool closed = false;

  const sync_owner& owner() const noexcept { return channel_access::core(*ch).owner(); }
  bool poll() { return settle(channel_access::core(*ch).try_take_held(value)); }
  bool may_proceed() const noexcept { return channel_access::core(*ch).may_take(); }
  void arm(wait_node& node) noexcept { channel_access::core(*ch).enqueue_taker(node, value); }
  bool served(const wait_node& node) noexcept { return settle(exchange_base::outcome_from(node)); }
  void run() {
    if constexpr (std::is_invocable_v<Fn&, std::optional<T>&&>) {
      std::invoke(fn, std::move(value));
    } else if constexpr (std::is_invocable_v<Fn&, T&&>) {
      if (closed) throw_select_receive_closed();
      std::invoke(fn, std::move(*value));
    } else {
      static_assert(std::is_invocable_v<Fn&>,
                    "an on_receive handler takes T, std::optional<T> or nothing");
      std::invoke(fn);
    }
  }
  bool settle(exchange_base::outcome result) noexcept {
    closed = result == exchange_base::outcome::closed;
    return result != exchange_base::outcome::blocked;
  }
};

/// on_send(ch, value, fn).
template <class T, class Fn>
struct send_case {
  static constexpr case_kind kind = case_kind::channel;
  channel<T>* ch;
  T value;
  Fn fn;
  std::optional<offer<T>> offered{};
  bool closed = false;

  const sync_owner& owner() const noexcept { return channel_access::core(*ch).owner(); }
  bool poll() {
    auto item = offer<T>::move_of(value);
    return settle(channel_access::core(*ch).try_give_held(item));
  }
  bool may_proceed() const noexcept { return channel_access::core(*ch).may_give(); }
  void arm(wait_node& node) noexcept {
    offered.emplace(offer<T>::move_of(value));
    channel_access::core(*ch).enqueue_giver(node, *offered);
  }
  bool served(const wait_node& node) noexcept { return settle(exchange_base::outcome_from(node)); }
  void run() {
    if (closed) throw_channel_closed();
    std::invoke(fn);
  }
  bool settle(exchange_base::outcome result) noexcept {
    closed = result == exchange_base::outcome::closed;
    return result != exchange_base::outcome::blocked;
  }
};

/// after(d, fn).
template <class Fn>
struct timer_case {
  static constexpr case_kind kind = case_kind::timer;
  time_point deadline;
  Fn fn;
  void run() { std::invoke(fn); }
};

/// on_default(fn).
template <class Fn>
struct default_case {
  static constexpr case_kind kind = case_kind::otherwise;
  Fn fn;
  void run() { std::invoke(fn); }
};

template <class Case>
constexpr case_kind kind_of = std::remove_cvref_t<Case>::kind;

/// The state of this thread's generator that picks among select's ready cases
/// (lib/sync/select.cpp).
extern constinit thread_local std::uint32_t t_select_seed
    __attribute__((tls_model("initial-exec")));

/// A pseudo-random number below `n` (xorshift32 on a thread-local word: no lock, a few
/// instructions; select needs no better).
inline std::size_t select_random(std::size_t n) noexcept {
  std::uint32_t x = t_select_seed;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  t_select_seed = x;
  return static_cast<std::size_t>((std::uint64_t{x} * n) >> 32);
}

/// Does one channel case that can proceed now and returns its index (sizeof...(I) if none
/// can). Among several that can, one chosen at random (Go's rule: no ready case starves): a
/// look at each case that changes nothing finds those that may proceed (exact for those that
/// cannot), then the chosen one is done. Only if it could not after all (its waiter had been
/// woken by a kill, or claimed by another select) are all polled, in argument order.
template <class Tuple, std::size_t... I>
std::size_t poll_cases(Tuple& cases, std::index_sequence<I...>) {
  constexpr std::size_t none = sizeof...(I);
  constexpr std::size_t channels =
      ((kind_of<std::tuple_element_t<I, Tuple>> == case_kind::channel ? 1 : 0) + ...);
  std::size_t chosen = none;
  auto poll = [&](auto& c, std::size_t i) {
    if constexpr (kind_of<decltype(c)> == case_kind::channel) {
      if (chosen == none && c.poll()) chosen = i;
    }
  };
  if constexpr (channels >= 2) {
    std::array<std::size_t, none> may;
    std::size_t count = 0;
    auto look = [&](auto& c, std::size_t i) {
      if constexpr (kind_of<decltype(c)> == case_kind::channel) {
        if (c.may_proceed()) may[count++] = i;
      }
    };
    (look(std::get<I>(cases), I), ...);
    if (count == 0) return none;
    const std::size_t pick = may[count == 1 ? 0 : select_random(count)];
    ((I == pick ? poll(std::get<I>(cases), I) : void()), ...);
    if (chosen != none) return chosen;
  }
  (poll(std::get<I>(cases), I), ...);
  return chosen;
}

/// After a wait that was handed nothing (a hand-off failed): throws if a channel of the select
/// ended meanwhile (a local one marks the node abandoned_status: exchange_base::retried_),
/// instead of letting the select poll it again.
template <std::size_t N>
void throw_if_channel_ended(const std::array<wait_node, N>& nodes) {
  for (const wait_node& node : nodes) {
    if (node.status == abandoned_status) {
      throw_destroyed_while_waiting(primitive_name(wait_kind::channel));
    }
  }
}

/// The timer case with the earliest deadline: its index (sizeof...(I) if there is none) and
/// its deadline (no_deadline then).
template <class Tuple, std::size_t... I>
std::pair<std::size_t, time_point> earliest_timer(Tuple& cases, std::index_sequence<I...>) {
  time_point deadline = no_deadline;
  std::size_t timer = sizeof...(I);
  auto earliest = [&](auto& c, std::size_t i) {
    if constexpr (kind_of<decltype(c)> == case_kind::timer) {
      if (c.deadline < deadline) {
        deadline = c.deadline;
        timer = i;
      }
    }
  };
  (earliest(std::get<I>(cases), I), ...);
  return {timer, deadline};
}

/// select with a channel shared across threads among its cases: every step of the local path
/// below, under the locks of the shared channels (multi_lock, sync_owner.hpp).
template <class Tuple, std::size_t... I>
std::size_t run_select_shared(Tuple& cases, multi_lock& locks, std::index_sequence<I...>) {
  constexpr std::size_t none = sizeof...(I);
  constexpr std::array<case_kind, sizeof...(I)> kind{kind_of<std::tuple_element_t<I, Tuple>>...};

  time_point deadline;
  std::size_t timer;
  std::tie(timer, deadline) = earliest_timer(cases, std::index_sequence<I...>{});
  std::size_t chosen = none;
  for (;;) {
    locks.lock();  // released by its destructor if a hand-off throws
    chosen = poll_cases(cases, std::index_sequence<I...>{});
    ((chosen = chosen == none && kind[I] == case_kind::otherwise ? I : chosen), ...);
    if (chosen == none && timer != none && deadline_passed(deadline)) chosen = timer;
    if (chosen != none) {
      locks.unlock();
      break;
    }
    std::array<wait_node, sizeof...(I)> nodes;
    auto arm = [&](auto& c, std::size_t i) {
      if constexpr (kind_of<decltype(c)> == case_kind::channel) c.arm(nodes[i]);
    };
    (arm(std::get<I>(cases), I), ...);
    // Returns with the locks held and the nodes unlinked: what they were handed is final.
    wake_reason why = locks.wait(nodes.data(), nodes.size(), deadline, {wait_kind::select, 0});
    auto served = [&](auto& c, std::size_t i) {
      if constexpr (kind_of<decltype(c)> == case_kind::channel) {
        if (chosen == none && c.served(nodes[i])) chosen = i;
      }
    };
    (served(std::get<I>(cases), I), ...);
    locks.unlock();
    // A case served before a kill or timeout landed happened: it is taken, and the kill or
    // timeout stays pending (raised at the next wait), as for a single shared wait.
    if (chosen != none) break;
    if (why == wake_reason::deadline) {
      chosen = timer;
      break;
    }
    raise_for(why);  // killed, timed out: no case happened
    // Woken with nothing handed over (a hand-off failed): poll and queue again, unless a local
    // channel ended meanwhile (a shared one throws in locks.wait).
    throw_if_channel_ended(nodes);
  }
  ((I == chosen ? std::get<I>(cases).run() : void()), ...);
  return chosen;
}

template <class Tuple, std::size_t... I>
std::size_t run_select(Tuple& cases, std::index_sequence<I...> all) {
  constexpr std::size_t none = sizeof...(I);
  constexpr std::array<case_kind, sizeof...(I)> kind{kind_of<std::tuple_element_t<I, Tuple>>...};

  multi_lock locks;
  auto add_lock = [&](auto& c) {
    if constexpr (kind_of<decltype(c)> == case_kind::channel) locks.add(c.owner());
  };
  (add_lock(std::get<I>(cases)), ...);
  if (locks.any()) [[unlikely]]
    return run_select_shared(cases, locks, all);

  std::size_t chosen = none;
  for (;;) {
    // 1. A channel case that can complete now (one at random if several can).
    chosen = poll_cases(cases, all);
    if (chosen != none) break;
    // 2. The default case.
    ((chosen = chosen == none && kind[I] == case_kind::otherwise ? I : chosen), ...);
    if (chosen != none) break;
    // 3. The earliest timer.
    time_point deadline;
    std::size_t timer;
    std::tie(timer, deadline) = earliest_timer(cases, all);
    if (timer != none && deadline_passed(deadline)) {
      chosen = timer;
      break;
    }
    // 4. One wait_node per channel case, one suspension: the first wake wins.
    std::array<wait_node, sizeof...(I)> nodes;
    auto arm = [&](auto& c, std::size_t i) {
      if constexpr (kind_of<decltype(c)> == case_kind::channel) c.arm(nodes[i]);
    };
    (arm(std::get<I>(cases), I), ...);
    if (suspend(deadline, {wait_kind::select, 0}) != wake_reason::notified) {
      chosen = timer;
      break;
    }
    auto served = [&](auto& c, std::size_t i) {
      if constexpr (kind_of<decltype(c)> == case_kind::channel) {
        if (chosen == none && c.served(nodes[i])) chosen = i;
      }
    };
    (served(std::get<I>(cases), I), ...);
    if (chosen != none) break;
    // A hand-off failed (a throwing copy in the other fiber): poll and queue again, unless
    // that channel ended meanwhile (exchange_base::retried_).
    throw_if_channel_ended(nodes);
  }
  ((I == chosen ? std::get<I>(cases).run() : void()), ...);
  return chosen;
}

}  // namespace detail

/// A case receiving from `ch`; `fn` takes T, std::optional<T> (nullopt: closed) or nothing.
template <class T, class Fn = detail::no_handler>
detail::receive_case<T, std::decay_t<Fn>> on_receive(channel<T>& ch, Fn&& fn = {}) {
  return {&ch, std::forward<Fn>(fn)};
}

/// A case sending `value` (copied or moved into the case) to `ch`; `fn()` runs once sent.
template <class T, class U, class Fn = detail::no_handler>
requires std::is_constructible_v<T, U&&> detail::send_case<T, std::decay_t<Fn>> on_send(
    channel<T>& ch, U&& value, Fn&& fn = {}) {
  return {&ch, T(std::forward<U>(value)), std::forward<Fn>(fn)};
}

/// A case taken if no other became ready within `d`; `fn()` runs then.
template <class Rep, class Period, class Fn = detail::no_handler>
detail::timer_case<std::decay_t<Fn>> after(std::chrono::duration<Rep, Period> d, Fn&& fn = {}) {
  return {detail::deadline_after(d), std::forward<Fn>(fn)};
}

/// A case taken at once if no channel case is ready (Go's `default:`); `fn()` runs then.
template <class Fn = detail::no_handler>
detail::default_case<std::decay_t<Fn>> on_default(Fn&& fn = {}) {
  return {std::forward<Fn>(fn)};
}

/// Waits until one of `cases` can proceed, performs it, runs its handler and returns its index
/// (see the rules at the top of <grove/select.hpp>).
template <class... Cases>
std::size_t select(Cases&&... cases) {
  static_assert(sizeof...(Cases) > 0, "grove::select needs at least one case");
  static_assert(((detail::kind_of<Cases> == detail::case_kind::otherwise ? 1 : 0) + ...) <= 1,
                "grove::select takes at most one on_default case");
  auto all = std::forward_as_tuple(cases...);
  return detail::run_select(all, std::make_index_sequence<sizeof...(Cases)>{});
}

}  // namespace grove
