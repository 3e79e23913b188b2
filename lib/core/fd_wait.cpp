// fd_registration over grove's poller: one edge-triggered epoll set per hub, nested in Asio's.
//
// Why a second epoll set: the saving docs/architecture.md describes (no read that is known to fail) needs to
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
// The poller is also the per-hub half of the descriptor table (fd_table.hpp): registrations are
// found by descriptor number, so grove::net and the shims share one per descriptor. Waits come
// in two flavours over one mechanism: grove::net's throw (suspend), the shims' report a status
// (suspend_noexcept); both leave every wait list before returning, so no late wake-up can end a
// later suspension of the same fiber.
//
// This is the one place grove reaches into boost::asio::detail: the reactor's
// register/start_op/cancel API (what Asio's own socket services use) and a reactor_op of
// grove's. Checked against Boost 1.81 (Debian 12).
#include <sys/epoll.h>

#include <grove/detail/fd_table.hpp>
#include <grove/detail/fd_wait.hpp>

// clang-format off
#include <boost/asio/io_context.hpp>  // first: the reactor headers need the scheduler's
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
// clang-format on
#include <cerrno>
#include <grove/detail/fiber_base.hpp>
#include <grove/error.hpp>
#include <grove/hub.hpp>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/fd_table_impl.hpp"
#include "core/hub_impl.hpp"
#include "core/sys.hpp"

namespace grove::detail {
namespace {

using reactor_type = boost::asio::detail::reactor;
static_assert(std::is_same_v<reactor_type, boost::asio::detail::epoll_reactor>,
              "grove's descriptor waits are written for Asio's epoll reactor");
using reactor_op = boost::asio::detail::reactor_op;

constexpr int read_dir = static_cast<int>(io_direction::read);
constexpr int write_dir = static_cast<int>(io_direction::write);

/// A fiber waiting for one direction of one descriptor; lives on the fiber's stack. A wait on
/// many descriptors links one per descriptor and direction, all naming the same fiber.
struct fd_waiter {
  wake_token token;  ///< the one suspension this waiter may end
  fd_state* state = nullptr;
  fd_waiter* prev = nullptr;
  fd_waiter* next = nullptr;
  int dir = 0;
  bool linked = false;
  bool fired = false;     ///< an event reported the direction ready
  bool released = false;  ///< the descriptor was closed (or its registration released)
};

}  // namespace

/// A registered descriptor. Pooled by its poller and freed only with it, so an event still
/// queued for a closed descriptor lands on a valid (perhaps recycled) state and merely causes one
/// spurious attempt. Reference-counted by the poller's table (while registered) and by
/// fd_registration handles, so a handle never sees its state reused under it.
struct fd_state {
  void* owner = nullptr;         ///< its poller; nullptr once the hub has ended (an orphan)
  int fd = -1;                   ///< -1 once removed
  std::uint32_t serial = 0;      ///< changes at every reuse: a shim's pointer checks it
  std::uint32_t generation = 0;  ///< the table's generation of `fd` when registered
  std::uint32_t refs = 0;        ///< the poller's table + fd_registration handles
  bool ready[2] = {true, true};  ///< an attempt may succeed without waiting
  bool hangup = false;           ///< end of stream or error pending: reads never wait again
  fd_waiter* head[2] = {nullptr, nullptr};
  fd_waiter* tail[2] = {nullptr, nullptr};
  fd_state* next_free = nullptr;
};

namespace {

/// The reactor operation on the poller's epoll descriptor: its perform() harvests.
struct harvest_op final : reactor_op {
  explicit harvest_op(fd_poller* owner)
      : reactor_op(boost::system::error_code(), &harvest_op::do_perform, &harvest_op::do_complete),
        owner(owner) {
    cancellation_key_ = this;
  }
  static status do_perform(reactor_op* base);
  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const boost::system::error_code&, std::size_t);
  fd_poller* owner;
};

}  // namespace

/// The per-hub set of grove's descriptors (a service of the hub's io_context), and the hub's
/// half of the descriptor table: its registrations by descriptor number.
class fd_poller final : public boost::asio::execution_context::service {
 public:
  static boost::asio::execution_context::id id;

  explicit fd_poller(boost::asio::execution_context& context)
      : service(context),
        reactor_(boost::asio::use_service<reactor_type>(context)),
        epoll_fd_(sys::epoll_create1(EPOLL_CLOEXEC)),
        harvest_(this) {
    if (epoll_fd_ < 0) throw error("grove: epoll_create1 failed for the hub's descriptor set");
    reactor_.init_task();  // make sure the scheduler polls the reactor (idempotent)
    if (int err = reactor_.register_descriptor(epoll_fd_, epoll_state_)) {
      sys::close(epoll_fd_);
      throw error("grove: cannot register the hub's descriptor set with Asio (errno " +
                  std::to_string(err) + ")");
    }
  }

  ~fd_poller() override {
    if (hub_impl* h = current_hub(); h && h->fd_poller_cache() == this) {
      h->set_fd_poller_cache(nullptr);
    }
    sys::close(epoll_fd_);
    for (fd_state* s : by_fd_) {
      if (s) --s->refs;  // the table's; a handle still holding it sees its descriptor
    }
    // A socket that outlives its hub keeps its state, orphaned: its handle deletes it.
    for (fd_state* s : all_) {
      if (s->refs == 0) {
        delete s;
      } else {
        s->owner = nullptr;
      }
    }
  }

  void shutdown() override {
    // Queued harvests are destroyed by the reactor's and the scheduler's own shutdown, which
    // come after this one; harvest_ lives until the service is destroyed, after all shutdowns.
    reactor_.deregister_descriptor(epoll_fd_, epoll_state_, false);
    reactor_.cleanup_descriptor_data(epoll_state_);
  }

  /// The registration of `fd` in this hub, or nullptr (none, or one left by an earlier
  /// descriptor of the same number, which is dropped).
  fd_state* find(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= by_fd_.size()) return nullptr;
    fd_state* s = by_fd_[fd];
    if (s && s->generation != fd_generation(fd)) {
      remove(s, false);
      return nullptr;
    }
    return s;
  }

  /// The registration of `fd`, made now if there is none (epoll_ctl ADD).
  fd_state* acquire(int fd, std::error_code& ec) noexcept {
    if (fd_state* s = find(fd)) return s;
    if (fd < 0) {
      ec = std::make_error_code(std::errc::bad_file_descriptor);
      return nullptr;
    }
    try {
      if (static_cast<std::size_t>(fd) >= by_fd_.size()) {
        by_fd_.resize(std::max<std::size_t>(static_cast<std::size_t>(fd) + 1, by_fd_.size() * 2),
                      nullptr);
      }
      if (!free_) {
        all_.reserve(all_.size() + 1);
        auto* fresh = new fd_state;
        all_.push_back(fresh);
        fresh->next_free = free_;
        free_ = fresh;
      }
    } catch (...) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return nullptr;
    }
    fd_track(fd);
    fd_state* s = free_;
    free_ = s->next_free;
    std::uint32_t serial = s->serial + 1;
    *s = fd_state{};
    s->serial = serial;
    s->owner = this;
    s->fd = fd;
    s->generation = fd_generation(fd);
    ::epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET;
    ev.data.ptr = s;
    if (sys::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      int err = errno;
      if (err == EEXIST) {
        // Registered by an earlier descriptor of this number that grove did not see closed,
        // whose file a dup keeps open: take the registration over.
        if (sys::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) == 0) err = 0;
      }
      if (err != 0) {
        ec = {err, std::system_category()};
        s->fd = -1;
        s->next_free = free_;
        free_ = s;
        return nullptr;
      }
    }
    s->refs = 1;  // the table's
    by_fd_[fd] = s;
    return s;
  }

  /// Wakes every waiter of `s` as released and unregisters it. `closing`: the descriptor is
  /// closed right after and no other descriptor shares its file, so epoll forgets it by itself.
  void remove(fd_state* s, bool closing) noexcept {
    if (s->fd < 0) return;
    for (int d : {read_dir, write_dir}) {
      while (fd_waiter* w = s->head[d]) {
        unlink(*w);
        w->released = true;
        wake(w->token, wake_reason::notified);
      }
    }
    cancel_idle_harvest();
    if (!closing) sys::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, s->fd, nullptr);
    if (by_fd_[s->fd] == s) by_fd_[s->fd] = nullptr;
    s->fd = -1;
    unref(s);
  }

  /// Drops a reference: the last one returns the state to the pool.
  void unref(fd_state* s) noexcept {
    if (--s->refs != 0) return;
    s->next_free = free_;
    free_ = s;
  }

  /// Queues `w` for its direction; it fires when an event reports that direction ready.
  void link(fd_waiter& w) noexcept {
    fd_state* s = w.state;
    int d = w.dir;
    w.prev = s->tail[d];
    w.next = nullptr;
    (s->tail[d] ? s->tail[d]->next : s->head[d]) = &w;
    s->tail[d] = &w;
    w.linked = true;
    ++waiting_;
    if (!harvest_armed_) arm();
  }

  /// Takes `w` out of its queue without an event (its fiber stopped waiting).
  void forget(fd_waiter& w) noexcept {
    if (!w.linked) return;
    unlink(w);
    cancel_idle_harvest();
  }

  /// Runs epoll_wait(0) on grove's set and wakes the fibers of every ready descriptor.
  reactor_op::status harvest() {
    ::epoll_event events[128];
    int n;
    do {
      n = sys::epoll_wait(epoll_fd_, events, 128, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return reactor_op::not_done;
    for (int i = 0; i < n; ++i) {
      auto* s = static_cast<fd_state*>(events[i].data.ptr);
      std::uint32_t e = events[i].events;
      if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->hangup = true;
      if (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ready(s, read_dir);
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
  void arm() noexcept {
    harvest_armed_ = true;
    harvest_.ec_ = boost::system::error_code();
    reactor_.start_op(reactor_type::read_op, epoll_fd_, epoll_state_, &harvest_, false, true);
  }

  void cancel_idle_harvest() noexcept {
    if (waiting_ == 0 && harvest_armed_) {
      // Nobody waits: a queued harvest would count as pending work and hide a deadlock.
      reactor_.cancel_ops_by_key(epoll_fd_, epoll_state_, reactor_type::read_op, &harvest_);
    }
  }

  void ready(fd_state* s, int d) noexcept {
    s->ready[d] = true;
    while (fd_waiter* w = s->head[d]) {
      unlink(*w);
      w->fired = true;
      wake(w->token, wake_reason::notified);
    }
  }

  void unlink(fd_waiter& w) noexcept {
    fd_state* s = w.state;
    int d = w.dir;
    (w.prev ? w.prev->next : s->head[d]) = w.next;
    (w.next ? w.next->prev : s->tail[d]) = w.prev;
    w.prev = w.next = nullptr;
    w.linked = false;
    --waiting_;
  }

  reactor_type& reactor_;
  reactor_type::per_descriptor_data epoll_state_ = nullptr;
  int epoll_fd_;
  harvest_op harvest_;
  bool harvest_armed_ = false;
  std::size_t waiting_ = 0;
  fd_state* free_ = nullptr;
  std::vector<fd_state*> by_fd_;  ///< this hub's registrations by descriptor number
  std::vector<fd_state*> all_;    ///< every state ever made (for the destructor)
};

boost::asio::execution_context::id fd_poller::id;

namespace {

reactor_op::status harvest_op::do_perform(reactor_op* base) {
  return static_cast<harvest_op*>(base)->owner->harvest();
}

void harvest_op::do_complete(void* owner, boost::asio::detail::operation* base,
                             const boost::system::error_code&, std::size_t) {
  if (!owner) return;  // the io_context is being destroyed
  static_cast<harvest_op*>(base)->owner->harvest_completed();
}

/// The running hub's poller (made on first use), or nullptr outside a hub.
fd_poller* current_poller() {
  hub_impl* h = current_hub();
  if (!h) return nullptr;
  if (fd_poller* p = h->fd_poller_cache()) return p;
  fd_poller* p = &boost::asio::use_service<fd_poller>(h->io());
  h->set_fd_poller_cache(p);
  return p;
}

fd_poller* current_poller_noexcept() noexcept {
  try {
    return current_poller();
  } catch (...) {
    return nullptr;
  }
}

/// Keeps errno across a suspension: the hub's own calls overwrite it while the fiber is away.
struct errno_keeper {
  int saved = errno;
  ~errno_keeper() { errno = saved; }
};

/// Links `waiters`, suspends once with `suspend_fn(deadline)`, and unlinks whatever is left,
/// also when suspend_fn throws (a kill or a scoped timeout in grove::net's flavour).
template <class Suspend>
wake_reason wait_on(fd_poller& p, fd_waiter* waiters, std::size_t count, time_point deadline,
                    Suspend&& suspend_fn) {
  wake_token token = next_suspension();  // the suspension below, and no other
  for (std::size_t i = 0; i < count; ++i) {
    waiters[i].token = token;
    p.link(waiters[i]);
  }
  struct unlink_all {
    fd_poller& p;
    fd_waiter* waiters;
    std::size_t count;
    ~unlink_all() {
      for (std::size_t i = 0; i < count; ++i) p.forget(waiters[i]);
    }
  } guard{p, waiters, count};
  // Arming the harvest may run it at once (Asio's speculative attempt), firing waiters before
  // the fiber has suspended: their wake-up found it running, so it must not suspend now.
  for (std::size_t i = 0; i < count; ++i) {
    if (waiters[i].fired || waiters[i].released) return wake_reason::notified;
  }
  waiting_on on{wait_kind::fd_poll, count};
  if (count == 1) {
    on = {waiters[0].dir == read_dir ? wait_kind::fd_readable : wait_kind::fd_writable,
          static_cast<std::uintptr_t>(waiters[0].state->fd)};
  }
  return suspend_fn(deadline, on);
}

/// What a finished no-throw wait reports.
fd_wait_status status_of(wake_reason reason, const fd_waiter* waiters, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i) {
    if (waiters[i].released) return fd_wait_status::closed;
  }
  switch (reason) {
    case wake_reason::notified:
      return fd_wait_status::ready;
    case wake_reason::deadline:
      return fd_wait_status::deadline;
    case wake_reason::killed:
      return fd_wait_status::killed;
    case wake_reason::timeout:
      return fd_wait_status::timed_out;
    default:  // deadlock (nothing can ever wake this fiber) or no fiber
      return fd_wait_status::failed;
  }
}

/// The one-descriptor wait of both flavours.
template <class Suspend>
fd_wait_status wait_one(fd_state* s, int d, time_point deadline, Suspend&& suspend_fn) {
  auto* p = static_cast<fd_poller*>(s->owner);
  if (!p || s->fd < 0) return fd_wait_status::closed;
  if (deadline_passed(deadline)) return fd_wait_status::deadline;
  fd_waiter w;
  w.state = s;
  w.dir = d;
  wake_reason reason = wait_on(*p, &w, 1, deadline, suspend_fn);
  return status_of(reason, &w, 1);
}

wake_reason suspend_throwing(time_point deadline, waiting_on on) { return suspend(deadline, on); }
wake_reason suspend_quietly(time_point deadline, waiting_on on) noexcept {
  return suspend_noexcept(deadline, on);
}

/// Runs `attempt` until it stops reporting would_block, waiting in between with `suspend_fn`.
template <class Suspend>
fd_wait_status perform_loop(fd_state* s, int d, io_attempt attempt, void* context,
                            time_point deadline, io_result& result, Suspend&& suspend_fn) {
  const int fd = s->fd;
  const std::uint32_t serial = s->serial;
  for (;;) {
    // A close while this fiber was away (or about to run) recycles the state: never act on it.
    if (s->fd != fd || s->serial != serial) return fd_wait_status::closed;
    if (s->ready[d]) {
      result = io_result{};
      io_status status = attempt(context, fd, result.ec, result.bytes);
      if (status == io_status::would_block) {
        s->ready[d] = false;
      } else {
        // A short transfer emptied the socket (or filled its send buffer): the next call waits
        // for an event first, unless a hangup is pending (then the next read returns at once).
        if (status == io_status::drained && !(d == read_dir && s->hangup)) s->ready[d] = false;
        return fd_wait_status::ready;
      }
    }
    fd_wait_status status = wait_one(s, d, deadline, suspend_fn);
    if (status != fd_wait_status::ready) return status;
  }
}

std::error_code error_of(fd_wait_status status) noexcept {
  switch (status) {
    case fd_wait_status::ready:
      return {};
    case fd_wait_status::deadline:
      return std::make_error_code(std::errc::timed_out);
    case fd_wait_status::failed:
      return std::make_error_code(std::errc::not_enough_memory);
    default:
      return std::make_error_code(std::errc::operation_canceled);
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// fd_registration: grove::net's handle on a registration (throwing flavour)

fd_registration::fd_registration(fd_registration&& other) noexcept
    : state_(std::exchange(other.state_, nullptr)),
      serial_(std::exchange(other.serial_, 0)),
      fd_(std::exchange(other.fd_, -1)) {}

fd_registration& fd_registration::operator=(fd_registration&& other) noexcept {
  if (this != &other) {
    release();
    state_ = std::exchange(other.state_, nullptr);
    serial_ = std::exchange(other.serial_, 0);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

std::error_code fd_registration::open(int fd) {
  release();
  fd_poller* p = current_poller();
  if (!p) throw error("grove: sockets need a running hub (grove::run)");
  fd_adopt(fd, false, true);  // grove's descriptor: non-blocking in the kernel, for grove
  std::error_code ec;
  fd_state* s = p->acquire(fd, ec);
  if (!s) return ec;
  ++s->refs;  // this handle's
  state_ = s;
  serial_ = s->serial;
  fd_ = fd;
  return {};
}

fd_state* fd_registration::live_state() const noexcept {
  return state_ && state_->fd == fd_ && state_->serial == serial_ ? state_ : nullptr;
}

namespace {
/// Throws unless `s` belongs to the running hub (a socket cannot wait in another thread's hub,
/// nor after its own hub has ended).
void check_hub(const fd_state* s) {
  if (!current_fiber()) {
    throw error("grove: this descriptor call waits, and can only be made from a fiber");
  }
  if (!s->owner || s->owner != current_poller()) {
    throw error("grove: a descriptor can only wait in the hub (thread) that registered it");
  }
}
}  // namespace

bool fd_registration::registered() const noexcept { return live_state() != nullptr; }

void fd_registration::release(bool closing) noexcept {
  if (!state_) return;
  fd_state* s = std::exchange(state_, nullptr);
  int fd = std::exchange(fd_, -1);
  serial_ = 0;
  auto* p = static_cast<fd_poller*>(s->owner);
  if (!p) {  // its hub has ended
    if (--s->refs == 0) delete s;
    return;
  }
  if (s->fd == fd) {
    if (closing) {
      fd_closing(fd);  // wakes the waiters, drops the registration and the table's facts
    } else {
      p->remove(s, false);
    }
  }
  p->unref(s);
}

io_result fd_registration::perform(io_direction dir, io_attempt attempt, void* context,
                                   time_point deadline) {
  fd_state* s = live_state();
  if (!s) return {std::make_error_code(std::errc::operation_canceled), 0};
  if (s->owner != current_poller()) check_hub(s);
  io_result r;
  fd_wait_status status =
      perform_loop(s, static_cast<int>(dir), attempt, context, deadline, r, suspend_throwing);
  if (status != fd_wait_status::ready) return {error_of(status), 0};
  return r;
}

std::error_code fd_registration::wait_ready(io_direction dir, time_point deadline) {
  fd_state* s = live_state();
  if (!s) return std::make_error_code(std::errc::operation_canceled);
  check_hub(s);
  // Only an event from now on counts. An unconnected socket polls as hung up: forget that too.
  s->ready[static_cast<int>(dir)] = false;
  s->hangup = false;
  return error_of(wait_one(s, static_cast<int>(dir), deadline, suspend_throwing));
}

// ---------------------------------------------------------------------------------------------
// The shims' side: no-throw waits

fd_state* fd_watch(int fd) noexcept {
  if (!current_fiber()) return nullptr;
  fd_poller* p = current_poller_noexcept();
  if (!p) return nullptr;
  std::error_code ec;
  return p->acquire(fd, ec);
}

fd_state* registered_state(int fd) noexcept {
  fd_poller* p = current_poller_noexcept();
  return p ? p->find(fd) : nullptr;
}

fd_state* register_descriptor(int fd, int& error) noexcept {
  fd_poller* p = current_poller_noexcept();
  if (!p) {
    error = ENOMEM;
    return nullptr;
  }
  std::error_code ec;
  fd_state* s = p->acquire(fd, ec);
  error = ec.value();
  return s;
}

void drop_registration(int fd, bool closing) noexcept {
  hub_impl* h = current_hub();
  if (!h || !h->fd_poller_cache()) return;  // this hub never registered a descriptor
  fd_poller* p = h->fd_poller_cache();
  if (fd_state* s = p->find(fd)) p->remove(s, closing);
}

fd_wait_status fd_perform(fd_state* state, io_direction dir, io_attempt attempt, void* context,
                          time_point deadline, io_result& result) noexcept {
  errno_keeper keep;
  return perform_loop(state, static_cast<int>(dir), attempt, context, deadline, result,
                      suspend_quietly);
}

fd_wait_status fd_wait_event(fd_state* state, io_direction dir, time_point deadline) noexcept {
  errno_keeper keep;
  int d = static_cast<int>(dir);
  state->ready[d] = false;
  state->hangup = false;
  return wait_one(state, d, deadline, suspend_quietly);
}

fd_wait_status fd_wait_any(const fd_interest* interests, std::size_t count,
                           time_point deadline) noexcept {
  errno_keeper keep;
  if (deadline_passed(deadline)) return fd_wait_status::deadline;
  fd_poller* p = current_poller_noexcept();
  if (!p || !current_fiber()) return fd_wait_status::failed;
  constexpr std::size_t on_stack = 16;
  fd_waiter local[on_stack];
  std::unique_ptr<fd_waiter[]> heap;
  std::size_t needed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (interests[i].state) needed += interests[i].read + interests[i].write;
  }
  fd_waiter* waiters = local;
  if (needed > on_stack) {
    heap.reset(new (std::nothrow) fd_waiter[needed]);
    if (!heap) return fd_wait_status::failed;
    waiters = heap.get();
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const fd_interest& in = interests[i];
    if (!in.state || in.state->fd < 0) continue;
    for (int d : {read_dir, write_dir}) {
      if (d == read_dir ? !in.read : !in.write) continue;
      waiters[n].state = in.state;
      waiters[n].dir = d;
      ++n;
    }
  }
  wake_reason reason = wait_on(*p, waiters, n, deadline, suspend_quietly);
  return status_of(reason, waiters, n);
}

fd_wait_status sleep_noexcept(time_point deadline) noexcept {
  errno_keeper keep;
  if (!current_fiber()) return fd_wait_status::failed;
  for (;;) {
    wake_reason reason = suspend_noexcept(deadline, {wait_kind::sleep, 0});
    if (reason == wake_reason::notified) continue;  // nobody should wake a sleeper: sleep on
    return status_of(reason, nullptr, 0);
  }
}

}  // namespace grove::detail
