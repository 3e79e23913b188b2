// grove::use_fiber: an Asio completion token that makes any Asio asynchronous operation look
// blocking inside a fiber. The calling fiber suspends (only it: the hub and the other fibers,
// callbacks and coroutines keep running) and the call returns the operation's result.
//
// Example (in a fiber):
//   namespace asio = boost::asio;
//   auto& io = grove::hub::current().io_context();
//   asio::ip::tcp::resolver resolver(io);
//   auto endpoints = resolver.async_resolve("127.0.0.1", "8080", grove::use_fiber);
//   asio::ip::tcp::socket socket(io);
//   asio::async_connect(socket, endpoints, grove::use_fiber);      // failure: system_error
//   std::size_t n = socket.async_read_some(asio::buffer(buf), grove::use_fiber);
//   boost::system::error_code ec;
//   n = socket.async_read_some(asio::buffer(buf), grove::use_fiber[ec]);  // no throw
//   int answer = asio::co_spawn(io, compute(), grove::use_fiber);  // waits for a coroutine
//
// What the operation's signature becomes:
//   void()                          -> void
//   void(error_code)                -> void; a failure throws boost::system::system_error
//   void(error_code, T)             -> T
//   void(error_code, T1, T2, ...)   -> std::tuple<T1, T2, ...>
//   void(std::exception_ptr, ...)   -> the same, rethrowing the exception (co_spawn's results)
// With use_fiber[ec] the error_code is stored in `ec` (cleared on success) instead of thrown.
//
// Kill and scoped grove::timeout: the fiber emits terminal cancellation on the operation's
// per-operation cancellation slot, then waits, without interruption, until the operation's
// handler has run (so nothing refers to the fiber's stack any more), and only then throws
// grove::fiber_killed / grove::timeout_error as at every grove wait. An operation that
// completed anyway (it raced the kill, or ignores cancellation, like a resolver's) returns its
// result; the kill stays pending and is raised at the fiber's next wait.
//
// Cost: the operation is started with the hub counted as a thread of its io_context
// (lib/core/asio_thread.hpp). One that completes inside its initiating function (a speculative
// read or send that succeeded) is completed at once, and the call returns after the other ready
// fibers had their turn, without waiting for the io_context to be polled. Operation memory comes
// from a per-hub pool (the handler's associated allocator). asio::post / defer / dispatch and
// co_spawn with use_fiber take the ordinary path.
//
// Rules: call it from a fiber (elsewhere it throws grove::error); the I/O object must use the
// hub's io_context (grove::hub::current().io_context()); an object bound to another executor is
// refused with grove::error before the operation starts. An operation without an executor to
// check may complete (or drop its handler) on another thread: the fiber is then woken through
// its hub's inbox, with nothing allocated on that thread; the hub does not count such an
// operation as pending work, so keep its io_context busy meanwhile (an executor_work_guard).
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/defer.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <grove/detail/completion.hpp>
#include <grove/detail/inbox_item.hpp>
#include <grove/error.hpp>
#include <grove/hub.hpp>
#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace boost::asio::detail {
template <typename Executor>
class initiate_co_spawn;  // <boost/asio/co_spawn.hpp>, which this header does not need
}  // namespace boost::asio::detail

namespace grove {

/// The type of grove::use_fiber; `use_fiber[ec]` reports errors in `ec` instead of throwing.
class use_fiber_t {
 public:
  constexpr use_fiber_t() noexcept = default;

  /// A token that stores the operation's error in `ec` instead of throwing it.
  constexpr use_fiber_t operator[](boost::system::error_code& ec) const noexcept {
    use_fiber_t token;
    token.ec_ = &ec;
    return token;
  }

  /// Where errors go (nullptr: they are thrown).
  constexpr boost::system::error_code* error_target() const noexcept { return ec_; }

 private:
  boost::system::error_code* ec_ = nullptr;
};

/// Completion token: the calling fiber waits for the operation and gets its result.
inline constexpr use_fiber_t use_fiber{};

namespace detail {

struct hub_control;

/// Throws grove::error unless the caller is a fiber of a running hub.
void require_fiber_for_use_fiber();
/// What an operation started by use_fiber needs of the calling fiber's hub.
struct fiber_hub {
  hub_impl* hub;
  boost::asio::io_context* io;
  hub_control* control;  ///< where a completion on another thread goes (lib/core/hub_control.hpp)
};
/// The calling fiber's hub; throws grove::error when not called from a fiber.
fiber_hub use_fiber_hub();
/// Pushes `item`, an operation completed on a thread other than its hub's, into the hub's
/// inbox; allocates nothing. Refused once the hub has ended (its fiber was abandoned, its frame
/// leaked): the item is then left as it is.
void post_completion(hub_control* control, inbox_item* item) noexcept;
/// Memory for the operations use_fiber starts, recycled by the hub (lib/core/asio_thread.hpp).
void* allocate_operation(std::size_t size);
/// Gives back what allocate_operation(size) returned, on any thread.
void deallocate_operation(void* p, std::size_t size) noexcept;
/// Calls `start(context)`, an operation's initiating function, with the hub counted as a
/// thread of its io_context; if the operation completes inside it (Asio then posts its
/// completion), runs the completion at once. See lib/core/asio_thread.hpp.
void start_inside_io(void (*start)(void*), void* context);
/// Destroys the cancellation handler in `slot` so that start_inside_io can reuse its memory.
void clear_inside_io(hub_impl* hub, boost::asio::cancellation_slot slot) noexcept;

/// The associated allocator of use_fiber's handlers: Asio allocates each operation through it.
template <class T>
struct operation_allocator {
  using value_type = T;
  operation_allocator() noexcept = default;
  template <class U>
  operation_allocator(const operation_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      return std::allocator<T>().allocate(n);
    } else {
      return static_cast<T*>(allocate_operation(n * sizeof(T)));
    }
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      std::allocator<T>().deallocate(p, n);
    } else {
      deallocate_operation(p, n * sizeof(T));
    }
  }
  template <class U>
  bool operator==(const operation_allocator<U>&) const noexcept {
    return true;
  }
};

/// Initiations started the ordinary way, not inside the io_context: asio::post / defer
/// (use_fiber) are how a fiber lets the other handlers run, so must never complete at once;
/// asio::dispatch and co_spawn would run a function or a coroutine on the fiber's stack.
template <class Initiation>
struct starts_outside_io : std::false_type {};
template <>
struct starts_outside_io<boost::asio::detail::initiate_post> : std::true_type {};
template <class Executor>
struct starts_outside_io<boost::asio::detail::initiate_post_with_executor<Executor>>
    : std::true_type {};
template <>
struct starts_outside_io<boost::asio::detail::initiate_defer> : std::true_type {};
template <class Executor>
struct starts_outside_io<boost::asio::detail::initiate_defer_with_executor<Executor>>
    : std::true_type {};
template <>
struct starts_outside_io<boost::asio::detail::initiate_dispatch> : std::true_type {};
template <class Executor>
struct starts_outside_io<boost::asio::detail::initiate_dispatch_with_executor<Executor>>
    : std::true_type {};
template <class Executor>
struct starts_outside_io<boost::asio::detail::initiate_co_spawn<Executor>> : std::true_type {};
/// Throws grove::error: the operation's I/O object runs on another execution context.
[[noreturn]] void throw_foreign_executor();
/// Throws grove::error: the operation dropped its handler without calling it.
[[noreturn]] void throw_abandoned_operation();

/// The execution context of an Asio executor (standard-style or Networking-TS-style).
template <class Executor>
const void* context_of(const Executor& ex) noexcept {
  if constexpr (boost::asio::execution::is_executor<Executor>::value) {
    return &boost::asio::query(ex, boost::asio::execution::context);
  } else {
    return &ex.context();
  }
}

/// Refuses an operation whose I/O object (the initiation's executor) is not the hub's: its
/// completion would never run on this hub, or would run on another thread.
template <class Initiation>
void check_executor(const Initiation& init, const boost::asio::io_context& hub_context) {
  if constexpr (requires { init.get_executor(); }) {
    if (context_of(init.get_executor()) != &hub_context) throw_foreign_executor();
  }
}

template <class T>
inline constexpr bool is_error_v =
    std::is_same_v<T, boost::system::error_code> || std::is_same_v<T, std::exception_ptr>;

/// The results after a leading error_code / exception_ptr.
template <class... Args>
struct value_types {
  using tuple = std::tuple<Args...>;
};
template <class First, class... Rest>
requires is_error_v<std::decay_t<First>>
struct value_types<First, Rest...> {
  using tuple = std::tuple<std::decay_t<Rest>...>;
};

/// What the initiating function returns for values `Tuple`: void, the value, or the tuple.
template <class Tuple>
struct returned {
  using type = Tuple;
};
template <>
struct returned<std::tuple<>> {
  using type = void;
};
template <class T>
struct returned<std::tuple<T>> {
  using type = T;
};

template <class... Args>
using use_fiber_result_t = typename returned<typename value_types<Args...>::tuple>::type;

/// Lives on the waiting fiber's stack for the duration of one operation. Completed on another
/// thread, it is itself the item that thread pushes into its hub's inbox (post_completion), so
/// that nothing is allocated where a failure could not be reported.
template <class... Args>
struct fiber_operation final : inbox_item {
  completion done;
  std::optional<std::tuple<std::decay_t<Args>...>> result;
  boost::asio::cancellation_signal cancel_signal;
  bool cancel_requested = false;
  bool abandoned = false;
  hub_impl* hub;
  hub_control* control;

  explicit fiber_operation(const fiber_hub& here) noexcept : hub(here.hub), control(here.control) {
    invoke = &run_posted;
  }
  fiber_operation(const fiber_operation&) = delete;
  fiber_operation& operator=(const fiber_operation&) = delete;
  ~fiber_operation() {
    if (cancel_signal.slot().has_handler()) clear_inside_io(hub, cancel_signal.slot());
  }

  void finish() noexcept {
    bool failed = false;
    if constexpr (sizeof...(Args) > 0) {
      using first = std::decay_t<std::tuple_element_t<0, std::tuple<Args...>>>;
      if constexpr (is_error_v<first>) failed = static_cast<bool>(std::get<0>(*result));
    }
    // Ended by our own cancellation: the interruption wins. Completed anyway: the result wins.
    done.complete(cancel_requested && failed);
  }

 private:
  /// The inbox item's invoke, on the hub's thread. Unrun, the hub ended first, which it does
  /// only having abandoned the waiting fiber: the operation stays in that fiber's leaked frame,
  /// result and all (a result holding an I/O object of the dead hub must not be destroyed).
  static void run_posted(inbox_item* item, bool run) noexcept {
    auto* op = static_cast<fiber_operation*>(item);
    if (!run) return;
    if (op->abandoned) {
      op->done.complete(true);
    } else {
      op->finish();
    }
  }
};

/// The completion handler use_fiber hands to an operation.
template <class... Args>
class fiber_handler {
 public:
  using cancellation_slot_type = boost::asio::cancellation_slot;
  using allocator_type = operation_allocator<void>;

  explicit fiber_handler(fiber_operation<Args...>* op) noexcept : op_(op) {}
  fiber_handler(fiber_handler&& other) noexcept : op_(std::exchange(other.op_, nullptr)) {}
  fiber_handler& operator=(fiber_handler&&) = delete;
  ~fiber_handler() {
    // Destroyed without being called (an io_context torn down, a composed operation dropping
    // its handler): wake the fiber with an error rather than leave it waiting forever; from
    // another thread, through the hub's inbox as a completion would.
    if (!op_) return;
    op_->abandoned = true;
    if (current_hub() == op_->hub) {
      op_->done.complete(true);
    } else {
      post_completion(op_->control, op_);
    }
  }

  /// The slot through which kill() and scoped timeouts cancel the operation.
  cancellation_slot_type get_cancellation_slot() const noexcept {
    return op_->cancel_signal.slot();
  }

  /// Operation memory from the hub's pool instead of operator new.
  allocator_type get_allocator() const noexcept { return {}; }

  void operator()(Args... args) {
    fiber_operation<Args...>* op = std::exchange(op_, nullptr);
    op->result.emplace(std::move(args)...);
    if (current_hub() == op->hub) {
      op->finish();
    } else {
      // Completed on another thread (an initiation whose executor could not be checked up
      // front): the operation itself goes to the hub's thread, as an inbox item.
      post_completion(op->control, op);
    }
  }

 private:
  fiber_operation<Args...>* op_;
};

/// Turns the handler's arguments into what the initiating function returns or throws.
template <class... Args>
use_fiber_result_t<Args...> deliver(std::tuple<std::decay_t<Args>...>&& all, use_fiber_t token) {
  using result_t = use_fiber_result_t<Args...>;
  auto values = [&]<std::size_t... I>(std::index_sequence<I...>)->result_t {
    constexpr std::size_t skip = sizeof...(Args) - sizeof...(I);
    if constexpr (std::is_void_v<result_t>) {
      return;
    } else if constexpr (sizeof...(I) == 1) {
      return std::move(std::get<skip>(all));
    } else {
      return result_t(std::move(std::get<skip + I>(all))...);
    }
  };
  if constexpr (sizeof...(Args) > 0) {
    using first = std::tuple_element_t<0, std::tuple<std::decay_t<Args>...>>;
    if constexpr (std::is_same_v<first, boost::system::error_code>) {
      const boost::system::error_code& ec = std::get<0>(all);
      if (auto* target = token.error_target()) {
        *target = ec;
      } else if (ec) {
        throw boost::system::system_error(ec);
      }
      return values(std::make_index_sequence<sizeof...(Args) - 1>{});
    } else if constexpr (std::is_same_v<first, std::exception_ptr>) {
      if (std::get<0>(all)) std::rethrow_exception(std::get<0>(all));
      return values(std::make_index_sequence<sizeof...(Args) - 1>{});
    } else {
      return values(std::make_index_sequence<sizeof...(Args)>{});
    }
  } else {
    return;
  }
}

/// Starts `init(handler, args...)` and waits in the calling fiber for the handler to run.
template <class... Args, class Initiation, class... InitArgs>
use_fiber_result_t<Args...> run_with_fiber(Initiation&& init, use_fiber_t token,
                                           InitArgs&&... args) {
  const fiber_hub here = use_fiber_hub();
  check_executor(init, *here.io);
  fiber_operation<Args...> op(here);
  auto start = [&] {
    std::move(init)(fiber_handler<Args...>(&op), std::forward<InitArgs>(args)...);
  };
  if constexpr (starts_outside_io<std::decay_t<Initiation>>::value) {
    start();
  } else {
    // An operation that completes inside its initiating function (a speculative read or send
    // that succeeded) then returns without suspending, as grove's own sockets do.
    start_inside_io([](void* f) { (*static_cast<decltype(start)*>(f))(); }, &start);
  }
  await_completion(op.done, no_deadline, [&op] {
    op.cancel_requested = true;
    op.cancel_signal.emit(boost::asio::cancellation_type::terminal);
  });
  if (op.abandoned) throw_abandoned_operation();
  return deliver<Args...>(std::move(*op.result), token);
}

}  // namespace detail
}  // namespace grove

template <class R, class... Args>
struct boost::asio::async_result<grove::use_fiber_t, R(Args...)> {
  using return_type = grove::detail::use_fiber_result_t<Args...>;

  template <class Initiation, class... InitArgs>
  static return_type initiate(Initiation&& init, grove::use_fiber_t token, InitArgs&&... args) {
    return grove::detail::run_with_fiber<Args...>(std::forward<Initiation>(init), token,
                                                  std::forward<InitArgs>(args)...);
  }
};
