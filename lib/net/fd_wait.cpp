// fd_registration over Asio's epoll reactor. This is the one place grove reaches into
// boost::asio::detail: the reactor's register/start_op/cancel API, which Asio's own socket
// services use, and a reactor_op of grove's whose perform() is the caller's attempt function.
// Checked against Boost 1.81 (Debian 12).
#include <grove/detail/fd_wait.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/version.hpp>
#include <type_traits>
#include <utility>

#include <grove/detail/completion.hpp>
#include <grove/error.hpp>
#include <grove/hub.hpp>

namespace grove::detail {
namespace {

using reactor_type = boost::asio::detail::reactor;
static_assert(std::is_same_v<reactor_type, boost::asio::detail::epoll_reactor>,
              "grove's descriptor waits are written for Asio's epoll reactor");
static_assert(static_cast<int>(io_direction::read) == reactor_type::read_op &&
              static_cast<int>(io_direction::write) == reactor_type::write_op);

using reactor_op = boost::asio::detail::reactor_op;

/// A reactor operation on the waiting fiber's stack; perform() is the caller's attempt.
struct fd_op final : reactor_op {
  fd_op(io_attempt attempt, void* context, int fd, bool skip_first_try)
      : reactor_op(boost::system::error_code(), &fd_op::do_perform, &fd_op::do_complete),
        attempt(attempt),
        context(context),
        fd(fd),
        skip_first_try(skip_first_try) {
    cancellation_key_ = this;
  }

  static status do_perform(reactor_op* base) {
    auto* op = static_cast<fd_op*>(base);
    if (op->skip_first_try) {  // the caller's own attempt just said EAGAIN
      op->skip_first_try = false;
      return not_done;
    }
    if (!op->attempt) return done;  // a readiness wait
    switch (op->attempt(op->context, op->fd, op->result.ec, op->result.bytes)) {
      case io_status::would_block:
        return not_done;
      case io_status::done:
      case io_status::drained:
        // Never done_and_exhausted: that would make the reactor skip its next speculative
        // attempt, and an end of stream (or error) that arrived together with the data read
        // here raises no further epoll edge: the next read would wait forever.
        return done;
    }
    return done;
  }

  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<fd_op*>(base);
    if (!owner) return;  // the io_context is being destroyed: no fiber waits any more
    bool aborted = op->ec_ == boost::asio::error::operation_aborted;
    if (aborted) op->result.ec = std::make_error_code(std::errc::operation_canceled);
    op->waiter.complete(aborted);
  }

  io_attempt attempt;
  void* context;
  int fd;
  bool skip_first_try;
  io_result result;
  completion waiter;
};

reactor_type& reactor_of(void* p) { return *static_cast<reactor_type*>(p); }
reactor_type::per_descriptor_data& state_of(void*& p) {
  return reinterpret_cast<reactor_type::per_descriptor_data&>(p);
}

}  // namespace

fd_registration::fd_registration(fd_registration&& other) noexcept
    : reactor_(std::exchange(other.reactor_, nullptr)),
      state_(std::exchange(other.state_, nullptr)),
      fd_(std::exchange(other.fd_, -1)) {}

fd_registration& fd_registration::operator=(fd_registration&& other) noexcept {
  if (this != &other) {
    release();
    reactor_ = std::exchange(other.reactor_, nullptr);
    state_ = std::exchange(other.state_, nullptr);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

std::error_code fd_registration::open(int fd) {
  release();
  auto& io = hub::current().io_context();
  auto& reactor = boost::asio::use_service<reactor_type>(io);
  reactor.init_task();  // make sure the scheduler polls the reactor (idempotent)
  void* state = nullptr;
  if (int err = reactor.register_descriptor(fd, state_of(state))) {
    if (state) reactor.cleanup_descriptor_data(state_of(state));
    return {err, std::system_category()};
  }
  reactor_ = &reactor;
  state_ = state;
  fd_ = fd;
  return {};
}

void fd_registration::release(bool closing) noexcept {
  if (!state_) return;
  auto& reactor = reactor_of(reactor_);
  // Pending operations complete with operation_aborted, which wakes their fibers.
  reactor.deregister_descriptor(fd_, state_of(state_), closing);
  reactor.cleanup_descriptor_data(state_of(state_));
  state_ = nullptr;
  reactor_ = nullptr;
  fd_ = -1;
}

io_result fd_registration::perform(io_direction dir, io_attempt attempt, void* context,
                                   time_point deadline) {
  io_result r;
  if (attempt(context, fd_, r.ec, r.bytes) != io_status::would_block) return r;
  // EAGAIN now; nothing runs between here and start_op, so no readiness edge can be missed by
  // letting the reactor skip its own speculative attempt.
  return wait(dir, attempt, context, true, true, deadline);
}

std::error_code fd_registration::wait_ready(io_direction dir, time_point deadline) {
  return wait(dir, nullptr, nullptr, false, false, deadline).ec;
}

io_result fd_registration::wait(io_direction dir, io_attempt attempt, void* context,
                                bool skip_first_try, bool speculative, time_point deadline) {
  if (!state_) return {std::make_error_code(std::errc::bad_file_descriptor), 0};
  if (!current_fiber()) {
    throw error("grove: this socket call waits, and can only be made from a fiber");
  }
  auto d = static_cast<int>(dir);
  auto& reactor = reactor_of(reactor_);
  fd_op op(attempt, context, fd_, skip_first_try);
  // With speculative=false the reactor re-arms the descriptor (epoll_ctl MOD), which reports a
  // readiness that already holds: what a pure readiness wait needs in edge-triggered mode.
  reactor.start_op(d, fd_, state_of(state_), &op, false, speculative);
  op.skip_first_try = false;  // only ever the speculative attempt inside start_op
  void* reactor_ptr = reactor_;
  void* state = state_;
  int fd = fd_;
  bool completed = await_completion(op.waiter, deadline, [&] {
    if (state_ == state) {  // not released meanwhile
      reactor_of(reactor_ptr).cancel_ops_by_key(fd, state_of(state), d, &op);
    }
  });
  if (!completed) return {std::make_error_code(std::errc::timed_out), 0};
  return op.result;
}

}  // namespace grove::detail
