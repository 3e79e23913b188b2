// Go-style channels between fibers: unbuffered (a rendezvous: send waits until a receiver has
// taken the value, handed over directly) or buffered (`channel<T>(n)`: send waits while n
// values are waiting).
//
// Example:
//   grove::channel<int> numbers;                  // unbuffered
//   auto producer = grove::spawn([&] {
//     for (int i = 0; i < 3; ++i) numbers.send(i);
//     numbers.close();
//   });
//   for (int n : numbers) std::printf("%d\n", n);  // 0 1 2, then the loop ends: closed
//
// receive() returns std::nullopt once the channel is closed and drained (Go's `v, ok := <-ch`);
// send on a closed channel throws grove::channel_closed (Go panics). Unlike Go, closing twice
// is harmless: close() returns false. Senders and receivers are served first come, first
// served, and nobody barges past a waiter. Every wait honours kill() and grove::timeout: a send
// that is interrupted has not sent, a receive that is interrupted has not received. To wait on
// several channels at once, or with a timeout, see grove::select (<grove/select.hpp>).
// A channel belongs to one hub's fibers and callbacks (try_send / try_receive may run in
// callbacks), unless made with grove::cross_thread then fibers of every hub
// and plain threads may send and receive (a plain thread blocks as it would on a std queue), with
// the same kill, timeout and destruction rules (<grove/cross_thread.hpp>; grove::select takes
// shared channels too). Not copyable or movable: waiting fibers point into it.
#pragma once

#include <source_location>

#include <cstddef>
#include <iterator>
#include <optional>
#include <utility>

#include <grove/cross_thread.hpp>
#include <grove/detail/exchange.hpp>
#include <grove/error.hpp>

namespace grove {

/// Thrown by send on a closed channel.
class channel_closed : public error {
 public:
  using error::error;
};

template <class T>
class channel;

namespace detail {
[[noreturn]] void throw_channel_closed();

/// The engine under a channel<T>, for grove::select.
template <class T>
using channel_core = exchange<T, fifo_order<T>>;

/// Gives grove::select access to a channel's engine.
struct channel_access {
  template <class T>
  static channel_core<T>& core(channel<T>& ch) noexcept {
    return ch.core_;
  }
};
}  // namespace detail

/// A channel of T values between fibers of one hub.
template <class T>
class channel {
 public:
  /// Reads values until the channel is closed and drained (range-for support).
  class iterator {
   public:
    using value_type = T;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    /// The value received last.
    T& operator*() const { return *current_; }
    /// Receives the next value (waits).
    iterator& operator++() {
      current_ = channel_->receive();
      return *this;
    }
    /// Receives the next value (waits).
    void operator++(int) { ++*this; }
    /// True once the channel is closed and drained.
    bool operator==(std::default_sentinel_t) const noexcept { return !current_.has_value(); }

   private:
    friend class channel;
    iterator(channel* owner, std::optional<T> first)
        : channel_(owner), current_(std::move(first)) {}
    channel* channel_ = nullptr;
    mutable std::optional<T> current_;
  };

  /// An unbuffered channel (capacity 0) or one buffering up to `capacity` values.
  explicit channel(std::size_t capacity = 0) noexcept
      : core_(capacity, detail::wait_kind::channel) {}
  /// A channel fibers of any hub and plain threads may use (see <grove/cross_thread.hpp>).
  channel(std::size_t capacity, cross_thread_t tag) noexcept
      : core_(capacity, tag, detail::wait_kind::channel) {}
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  /// Sends a copy of `value`: waits for a receiver (unbuffered) or for buffer room.
  void send(const T& value, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    send_until(detail::offer<T>::copy_of(value), detail::no_deadline);
  }
  /// Sends `value`: waits for a receiver (unbuffered) or for buffer room.
  void send(T&& value, std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    send_until(detail::offer<T>::move_of(value), detail::no_deadline);
  }
  /// Sends a copy of `value` if a receiver waits or the buffer has room; false otherwise.
  bool try_send(const T& value) {
    return send_until(detail::offer<T>::copy_of(value), detail::no_wait);
  }
  /// Sends `value` (moved from only on success) if that can be done now; false otherwise.
  bool try_send(T&& value) { return send_until(detail::offer<T>::move_of(value), detail::no_wait); }

  /// The next value, waiting for one; nullopt once the channel is closed and drained.
  std::optional<T> receive(std::source_location where = std::source_location::current()) {
    detail::call_site site(where);
    std::optional<T> value;
    core_.take(value, detail::no_deadline);
    return value;
  }
  /// The next value if one can be had now (buffered, or a sender waits); nullopt otherwise.
  std::optional<T> try_receive() {
    std::optional<T> value;
    core_.take(value, detail::no_wait);
    return value;
  }

  /// Closes the channel: waiting receivers get nullopt, waiting senders throw channel_closed;
  /// buffered values can still be received. False if it was already closed.
  bool close() { return core_.close(); }
  /// True once close() has been called.
  bool closed() const noexcept { return core_.closed(); }
  /// Values waiting in the buffer.
  std::size_t size() const { return core_.size(); }
  /// The buffer's capacity (0: unbuffered).
  std::size_t capacity() const noexcept { return core_.capacity(); }

  /// Receives the first value (waits); iterate with range-for.
  iterator begin() { return iterator(this, receive()); }
  /// The end of the values: closed and drained.
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  friend struct detail::channel_access;

  bool send_until(detail::offer<T> value, detail::time_point deadline) {
    auto result = core_.give(value, deadline);
    if (result == detail::exchange_base::outcome::closed) detail::throw_channel_closed();
    return result == detail::exchange_base::outcome::done;
  }

  detail::channel_core<T> core_;
};

}  // namespace grove
