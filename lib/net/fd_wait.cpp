// fd_registration over grove's poller: one edge-triggered epoll set per hub, nested in Asio's.
//
// Why a second epoll set: the saving DESIGN.md asks for (no read that is known to fail) needs to
// know when a short read really emptied the socket. A short read can leave a pending end of
// stream or error behind it, whose epoll edge was already consumed with the data's: waiting
// after such a read would wait forever. EPOLLRDHUP tells the two apart, and epoll reports the
// socket's current state (ep_item_poll) when the events are harvested, but Asio registers
// descriptors without EPOLLRDHUP and does not show its operations the event mask. So grove keeps
// its own set (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, registered once per descriptor) and a
// readiness flag per direction, set by events and cleared by EAGAIN or by a short transfer that
// no hangup explains. The set's own descriptor sits in Asio's reactor; while any fiber waits, a
// reactor operation on it (the harvest) runs epoll_wait(0) on grove's set when Asio's epoll
// reports it readable, and wakes the fibers whose descriptors became ready. Per batch of events
// that is one more epoll_wait than a hand-written loop; per round trip it saves a recv.
//
// This is the one place grove reaches into boost::asio::detail: the reactor's
// register/start_op/cancel API (what Asio's own socket services use) and a reactor_op of
// grove's. Checked against Boost 1.81 (Debian 12).
#include <sys/epoll.h>
#include <unistd.h>

#include <grove/detail/fd_wait.hpp>

// clang-format off
#include <boost/asio/io_context.hpp>  // first: the reactor headers need the scheduler's
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
// clang-format on
#include <cerrno>
#include <grove/detail/completion.hpp>
#include <grove/error.hpp>
#include <grove/hub.hpp>
#include <type_traits>
#include <utility>
#include <vector>

namespace grove::detail {
namespace {

using reactor_type = boost::asio::detail::reactor;
static_assert(std::is_same_v<reactor_type, boost::asio::detail::epoll_reactor>,
              "grove's descriptor waits are written for Asio's epoll reactor");
using reactor_op = boost::asio::detail::reactor_op;

constexpr int read_dir = static_cast<int>(io_direction::read);
constexpr int write_dir = static_cast<int>(io_direction::write);

/// A fiber waiting for one direction of one descriptor; lives on the fiber's stack.
struct fd_waiter {
  completion done;
  fd_waiter* prev = nullptr;
  fd_waiter* next = nullptr;
  bool released = false;  ///< woken because the registration was released
};

}  // namespace

/// A registered descriptor. Pooled by its poller and never freed while the poller lives, so
/// an event still queued for a closed descriptor lands on a valid (perhaps recycled) state and
/// merely causes one spurious attempt.
struct fd_state {
  void* owner = nullptr;  ///< its poller; nullptr once the hub has ended (an orphan)
  int fd = -1;
  bool ready[2] = {true, true};  ///< an attempt may succeed without waiting
  bool hangup = false;           ///< end of stream or error pending: reads never wait again
  fd_waiter* head[2] = {nullptr, nullptr};
  fd_waiter* tail[2] = {nullptr, nullptr};
  fd_state* next_free = nullptr;
};

namespace {

class poller;

/// The reactor operation on the poller's epoll descriptor: its perform() harvests.
struct harvest_op final : reactor_op {
  explicit harvest_op(poller* owner)
      : reactor_op(boost::system::error_code(), &harvest_op::do_perform, &harvest_op::do_complete),
        owner(owner) {
    cancellation_key_ = this;
  }
  static status do_perform(reactor_op* base);
  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const boost::system::error_code&, std::size_t);
  poller* owner;
};

/// The per-hub set of grove's descriptors: a service of the hub's io_context.
class poller final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;

  explicit poller(boost::asio::execution_context& context)
      : service(context),
        reactor_(boost::asio::use_service<reactor_type>(context)),
        epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
        harvest_(this) {
    if (epoll_fd_ < 0) throw error("grove: epoll_create1 failed for the hub's descriptor set");
    reactor_.init_task();  // make sure the scheduler polls the reactor (idempotent)
    if (int err = reactor_.register_descriptor(epoll_fd_, epoll_state_)) {
      ::close(epoll_fd_);
      throw error("grove: cannot register the hub's descriptor set with Asio (errno " +
                  std::to_string(err) + ")");
    }
  }

  ~poller() override {
    ::close(epoll_fd_);
    // A socket that outlives its hub keeps its state, orphaned: the registration deletes it.
    for (fd_state* s : all_) {
      if (s->fd >= 0) {
        s->owner = nullptr;
      } else {
        delete s;
      }
    }
  }

  void shutdown() override {
    // Queued harvests are destroyed by the reactor's and the scheduler's own shutdown, which
    // come after this one; harvest_ lives until the service is destroyed, after all shutdowns.
    reactor_.deregister_descriptor(epoll_fd_, epoll_state_, false);
    reactor_.cleanup_descriptor_data(epoll_state_);
  }

  std::error_code add(int fd, fd_state*& out) {
    fd_state* s = free_;
    if (s) {
      free_ = s->next_free;
    } else {
      s = new fd_state;
      all_.push_back(s);
    }
    *s = fd_state{};
    s->owner = this;
    s->fd = fd;
    ::epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = s;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      std::error_code ec(errno, std::system_category());
      recycle(s);
      return ec;
    }
    out = s;
    return {};
  }

  void remove(fd_state* s, bool closing) noexcept {
    for (int d : {read_dir, write_dir}) {
      while (fd_waiter* w = s->head[d]) {
        unlink(s, d, *w);
        w->released = true;
        w->done.complete();
      }
    }
    if (!closing) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->fd, nullptr);
    recycle(s);
  }

  /// Queues `w` for direction `d` of `s`; it completes when an event reports `d` ready.
  void wait(fd_state* s, int d, fd_waiter& w) {
    w.prev = s->tail[d];
    w.next = nullptr;
    (s->tail[d] ? s->tail[d]->next : s->head[d]) = &w;
    s->tail[d] = &w;
    ++waiting_;
    if (!harvest_armed_) arm();
  }

  /// Takes `w` out of the queue without an event (its fiber stopped waiting).
  void forget(fd_state* s, int d, fd_waiter& w) noexcept {
    unlink(s, d, w);
    if (waiting_ == 0 && harvest_armed_) {
      // Nobody waits: a queued harvest would count as pending work and hide a deadlock.
      reactor_.cancel_ops_by_key(epoll_fd_, epoll_state_, reactor_type::read_op, &harvest_);
    }
  }

  /// Runs epoll_wait(0) on grove's set and wakes the fibers of every ready descriptor.
  reactor_op::status harvest() {
    ::epoll_event events[128];
    int n;
    do {
      n = ::epoll_wait(epoll_fd_, events, 128, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return reactor_op::not_done;
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<fd_state*>(events[i].data.ptr);
      std::uint32_t e = events[i].events;
      if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->hangup = true;
      if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready(s, read_dir);
      if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready(s, write_dir);
    }
    // Fewer events than room: grove's set is empty now and its next event is a new edge for
    // Asio's epoll, so Asio may skip its speculative attempt when the harvest is re-armed.
    return n < 128 ? reactor_op::done_and_exhausted : reactor_op::done;
  }

  void harvest_completed() {
    harvest_armed_ = false;
    if (waiting_ > 0) arm();
  }

 private:
  void arm() {
    harvest_armed_ = true;
    harvest_.ec_ = boost::system::error_code();
    reactor_.start_op(reactor_type::read_op, epoll_fd_, epoll_state_, &harvest_, false, true);
  }

  void ready(fd_state* s, int d) noexcept {
    s->ready[d] = true;
    while (fd_waiter* w = s->head[d]) {
      unlink(s, d, *w);
      w->done.complete();
    }
  }

  void unlink(fd_state* s, int d, fd_waiter& w) noexcept {
    (w.prev ? w.prev->next : s->head[d]) = w.next;
    (w.next ? w.next->prev : s->tail[d]) = w.prev;
    w.prev = w.next = nullptr;
    --waiting_;
  }

  void recycle(fd_state* s) noexcept {
    s->fd = -1;
    s->next_free = free_;
    free_ = s;
  }

  reactor_type& reactor_;
  reactor_type::per_descriptor_data epoll_state_ = nullptr;
  int epoll_fd_;
  harvest_op harvest_;
  bool harvest_armed_ = false;
  std::size_t waiting_ = 0;
  fd_state* free_ = nullptr;
  std::vector<fd_state*> all_;  ///< every state ever made (for the destructor)
};

boost::asio::execution_context::id poller::id;

reactor_op::status harvest_op::do_perform(reactor_op* base) {
  return static_cast<harvest_op*>(base)->owner->harvest();
}

void harvest_op::do_complete(void* owner, boost::asio::detail::operation* base,
                             const boost::system::error_code&, std::size_t) {
  if (!owner) return;  // the io_context is being destroyed
  static_cast<harvest_op*>(base)->owner->harvest_completed();
}

}  // namespace

fd_registration::fd_registration(fd_registration&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)), fd_(std::exchange(other.fd_, -1)) {}

fd_registration& fd_registration::operator=(fd_registration&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::exchange(other.state_, nullptr);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

std::error_code fd_registration::open(int fd) {
  release();
  auto& p = boost::asio::use_service<poller>(hub::current().io_context());
  if (std::error_code ec = p.add(fd, state_)) return ec;
  fd_ = fd;
  return {};
}

void fd_registration::release(bool closing) noexcept {
  if (!state_) return;
  if (auto* p = static_cast<poller*>(state_->owner)) {
    p->remove(state_, closing);
  } else {
    delete state_;  // its hub has ended
  }
  state_ = nullptr;
  fd_ = -1;
}

io_result fd_registration::perform(io_direction dir, io_attempt attempt, void* context,
                                   time_point deadline) {
  int d = static_cast<int>(dir);
  for (;;) {
    if (!state_) return {std::make_error_code(std::errc::operation_canceled), 0};
    fd_state* s = state_;
    if (s->ready[d]) {
      io_result r;
      io_status status = attempt(context, fd_, r.ec, r.bytes);
      if (status == io_status::would_block) {
        s->ready[d] = false;
      } else {
        // A short transfer emptied the socket (or filled its send buffer): the next call waits
        // for an event first, unless a hangup is pending (then the next read returns at once).
        if (status == io_status::drained && !(d == read_dir && s->hangup)) s->ready[d] = false;
        return r;
      }
    }
    if (std::error_code ec = wait(dir, deadline)) return {ec, 0};
  }
}

std::error_code fd_registration::wait_ready(io_direction dir, time_point deadline) {
  if (!state_) return std::make_error_code(std::errc::operation_canceled);
  // Only an event from now on counts. An unconnected socket polls as hung up: forget that too.
  state_->ready[static_cast<int>(dir)] = false;
  state_->hangup = false;
  return wait(dir, deadline);
}

std::error_code fd_registration::wait(io_direction dir, time_point deadline) {
  if (!current_fiber()) {
    throw error("grove: this descriptor call waits, and can only be made from a fiber");
  }
  int d = static_cast<int>(dir);
  fd_state* s = state_;
  auto* p_ptr = static_cast<poller*>(s->owner);
  if (!p_ptr || &p_ptr->context() != &hub::current().io_context()) {
    throw error("grove: a descriptor can only wait in the hub (thread) that registered it");
  }
  poller& p = *p_ptr;
  fd_waiter w;
  p.wait(s, d, w);
  bool completed = await_completion(w.done, deadline, [&] {
    p.forget(s, d, w);
    w.done.complete(true);
  });
  if (w.released) return std::make_error_code(std::errc::operation_canceled);
  if (!completed) return std::make_error_code(std::errc::timed_out);
  return {};
}

}  // namespace grove::detail
