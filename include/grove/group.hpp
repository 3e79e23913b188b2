// grove::group: a set of fibers to join, kill or watch together (gevent's Group).
//
// Example:
//   grove::group crawlers;
//   for (auto& url : urls) crawlers.spawn(crawl, url);   // fiber<T> handles, as spawn()
//   if (!crawlers.join_for(10s)) crawlers.kill();          // kill waits until they are gone
//
// A fiber belongs to the group from spawn until it finishes (returns, throws, is killed, or is
// killed before it ever ran); size() counts those still running. Membership is tracked by a
// ticket inside the fiber's function, so a fiber leaving costs O(1) and nothing polls. An
// exception escaping a member is reported as for any fiber (get() it from the handle to
// observe it). Destroying a group does not stop its fibers (as in gevent): they run on,
// detached; call join() or kill() first if the group's scope matters. While kill() runs,
// spawn() waits until it has ended, so a kill() ends even while other fibers keep spawning
// (and a spawner killed meanwhile dies there); a member spawning during its own kill (in a
// destructor, say) is not held up, and its new fiber is killed before it runs. A group belongs
// to one hub. Not copyable or movable. grove::pool (<grove/pool.hpp>) is a group with a size
// limit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <utility>

#include <grove/detail/deadline.hpp>
#include <grove/detail/wait_queue.hpp>
#include <grove/fiber.hpp>
#include <grove/semaphore.hpp>

namespace grove {

namespace detail {

class group_core;

/// One running member, linked into its group.
struct group_member {
  fiber_base* fiber = nullptr;
  group_member* prev = nullptr;
  group_member* next = nullptr;
  group_core* group = nullptr;  ///< nullptr once the group was destroyed
};

/// The non-template part of group and pool (lib/sync/group.cpp).
class group_core {
 public:
  static constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

  explicit group_core(std::size_t limit) noexcept : limit_(limit), slots_(limit) {}
  /// Detaches the members: they run on, and leave nothing behind when they finish.
  ~group_core();
  group_core(const group_core&) = delete;
  group_core& operator=(const group_core&) = delete;

  /// Waits while a kill() runs (unless a member spawns), takes a slot (waiting while a pool
  /// is full) and registers a new member.
  group_member* enter();
  /// Records the fiber `member` runs in; kills it at once if a kill() is in progress (a
  /// member spawned during its own kill), which would otherwise wait for it forever.
  void adopt(group_member* member, fiber_base* fiber) noexcept;
  /// Ends `member`'s membership (its ticket was destroyed) and frees it.
  static void leave(group_member* member) noexcept;

  /// Waits until no member is left; false if `deadline` came first.
  bool join_until(time_point deadline);
  /// Kills every member, then waits until they are gone.
  void kill();
  /// Waits until a member leaves; its fiber id, 0 if the group is empty or `deadline` passed.
  std::uint64_t wait_any_until(time_point deadline);

  std::size_t size() const noexcept { return size_; }
  std::size_t limit() const noexcept { return limit_; }
  std::size_t free_slots() const noexcept;

 private:
  /// True for a member of this group and outside fibers: their spawns do not wait for a kill.
  bool exempt_from_kill_wait() const noexcept;

  group_member* head_ = nullptr;
  std::size_t size_ = 0;
  std::size_t limit_;
  std::size_t killers_ = 0;  ///< kill() calls in progress
  semaphore slots_;          ///< used only when limited
  /// Woken (id in the payload, if any) whenever a member leaves.
  wait_queue exits_{wait_kind::group};
  /// Spawners waiting for the kill() calls in progress to end.
  wait_queue kill_done_{wait_kind::group};
};

/// Lives in a member fiber's function: ends the membership when that function is destroyed
/// (after it ran, or when the fiber was killed before it started).
class member_ticket {
 public:
  explicit member_ticket(group_member* member) noexcept : member_(member) {}
  member_ticket(member_ticket&& other) noexcept : member_(std::exchange(other.member_, nullptr)) {}
  member_ticket& operator=(member_ticket&&) = delete;
  ~member_ticket() {
    if (member_) group_core::leave(member_);
  }

 private:
  group_member* member_;
};

}  // namespace detail

/// A set of fibers spawned into it.
class group {
 public:
  /// An empty group without a size limit.
  group() noexcept : core_(detail::group_core::unlimited) {}
  group(const group&) = delete;
  group& operator=(const group&) = delete;

  /// Spawns `fn(args...)` as a member (see grove::spawn); waits while a kill() runs, and a
  /// pool first waits for a free slot.
  template <class Fn, class... Args>
  requires(!detail::is_spawn_options_v<Fn>) auto spawn(Fn&& fn, Args&&... args) {
    static const spawn_options defaults{};
    return spawn(defaults, std::forward<Fn>(fn), std::forward<Args>(args)...);
  }
  /// Spawns `fn(args...)` as a member with a name and/or stack size.
  template <class Fn, class... Args>
  auto spawn(const spawn_options& options, Fn&& fn, Args&&... args) {
    detail::group_member* member = core_.enter();
    detail::member_ticket ticket(member);
    auto body = [ticket = std::move(ticket),
                 fn = std::forward<Fn>(fn)](auto&&... call_args) mutable -> decltype(auto) {
      return std::invoke(std::move(fn), std::forward<decltype(call_args)>(call_args)...);
    };
    auto handle = grove::spawn(options, std::move(body), std::forward<Args>(args)...);
    core_.adopt(member, handle.control_block());
    return handle;
  }

  /// Waits until every member has finished.
  void join() { core_.join_until(detail::no_deadline); }
  /// Waits at most `d` for every member to finish; false if some still run.
  template <class Rep, class Period>
  bool join_for(std::chrono::duration<Rep, Period> d) {
    return core_.join_until(detail::deadline_after(d));
  }
  /// Kills every member and waits until all have finished; spawn() waits meanwhile.
  void kill() { core_.kill(); }
  /// Waits until the next member finishes; returns its fiber id (0 if the group is empty).
  std::uint64_t wait_any() { return core_.wait_any_until(detail::no_deadline); }
  /// Like wait_any(), waiting at most `d`; nullopt if none finished (or the group is empty).
  template <class Rep, class Period>
  std::optional<std::uint64_t> wait_any_for(std::chrono::duration<Rep, Period> d) {
    std::uint64_t id = core_.wait_any_until(detail::deadline_after(d));
    if (id == 0) return std::nullopt;
    return id;
  }

  /// Members still running.
  std::size_t size() const noexcept { return core_.size(); }
  /// True if no member is running.
  bool empty() const noexcept { return core_.size() == 0; }

 protected:
  /// A group running at most `limit` members at once (grove::pool).
  explicit group(std::size_t limit) noexcept : core_(limit) {}
  detail::group_core core_;
};

}  // namespace grove
