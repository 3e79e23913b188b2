// grove::fiber_local<T>: one T per fiber, created on first use in that fiber and destroyed
// when the fiber ends (on its own stack, newest first). thread_local for fibers.
//
// Example:
//   grove::fiber_local<std::string> request_id;              // T() on first use
//   grove::fiber_local<int> depth([] { return 1; });          // or from an initializer
//   grove::spawn([&] {
//     *request_id = "r-42";                                   // this fiber's copy only
//     log(*request_id);
//   });
//
// Each fiber_local has a key that is a process-wide serial number, never an address, so a new
// fiber_local built where an old one was never sees the old values. Destroying a fiber_local
// does not destroy the values fibers made from it: they go when their fibers end. Using it
// outside a fiber (hub callbacks, outside grove::run) throws grove::error.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

namespace grove {

namespace detail {
/// A key never handed out before (process-wide).
std::uint64_t new_fiber_local_key() noexcept;
/// The calling fiber's value for `key`, or nullptr; throws grove::error outside a fiber.
void* find_fiber_local(std::uint64_t key);
/// Stores `value` for `key` in the calling fiber; `destroy` runs when the fiber ends.
void store_fiber_local(std::uint64_t key, void* value, void (*destroy)(void*) noexcept);
/// Removes the calling fiber's value for `key` and returns it (nullptr if none).
void* release_fiber_local(std::uint64_t key);
}  // namespace detail

/// A value per fiber.
template <class T>
class fiber_local {
 public:
  /// Values start as T().
  fiber_local() : init_([] { return T(); }) {}
  /// Values start as `init()`.
  explicit fiber_local(std::function<T()> init) : init_(std::move(init)) {}
  fiber_local(const fiber_local&) = delete;
  fiber_local& operator=(const fiber_local&) = delete;

  /// The calling fiber's value, created on first use.
  T& get() {
    if (void* value = detail::find_fiber_local(key_)) return *static_cast<T*>(value);
    auto value = std::make_unique<T>(init_());
    detail::store_fiber_local(key_, value.get(), &destroy);
    return *value.release();
  }
  /// The calling fiber's value, created on first use.
  T& operator*() { return get(); }
  /// The calling fiber's value, created on first use.
  T* operator->() { return &get(); }
  /// True if the calling fiber has a value.
  bool has_value() const { return detail::find_fiber_local(key_) != nullptr; }
  /// Destroys the calling fiber's value (the next get() creates a new one).
  void reset() { destroy(detail::release_fiber_local(key_)); }

 private:
  static void destroy(void* value) noexcept { delete static_cast<T*>(value); }

  std::uint64_t key_ = detail::new_fiber_local_key();
  std::function<T()> init_;
};

}  // namespace grove
