// The readiness family: poll, ppoll, select, pselect, epoll_wait, epoll_pwait, and the fortified
// __poll_chk, __ppoll_chk. Inside a fiber each becomes one suspension on every descriptor it
// names (detail::fd_wait_any), so event loops (libcurl's multi interface, libevent, a
// hand-written epoll loop) run inside fibers and cooperate.
//
// One shape for all: ask the kernel with a zero timeout (the real call, so results, revents,
// fd_sets and errors are exactly libc's); if nothing is ready and the caller would wait, register
// the descriptors with the hub (once per descriptor: the registration stays for later calls),
// suspend until an event, the timeout, a kill or a grove::timeout, and ask the kernel again.
// A zero timeout never suspends. A signal mask (ppoll, pselect, epoll_pwait) applies to the
// kernel's checks, not to the fiber's wait: signals are not delivered to a fiber. select
// writes back the time left, as Linux does.
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <new>

#include "fd_call.hpp"

namespace grove::shims {
namespace {

int raw_poll(pollfd* fds, nfds_t n, int timeout) {
  timespec t{timeout / 1000, (timeout % 1000) * 1000000L};
  return static_cast<int>(syscall(SYS_ppoll, fds, n, timeout < 0 ? nullptr : &t, nullptr, 8));
}
int raw_ppoll(pollfd* fds, nfds_t n, const timespec* t, const sigset_t* mask) {
  return static_cast<int>(syscall(SYS_ppoll, fds, n, t, mask, 8));
}
int raw_select(int n, fd_set* r, fd_set* w, fd_set* e, timeval* t) {
  return static_cast<int>(syscall(SYS_select, n, r, w, e, t));
}
int raw_pselect(int n, fd_set* r, fd_set* w, fd_set* e, const timespec* t, const sigset_t* m) {
  struct {
    const sigset_t* mask;
    size_t size;
  } data{m, 8};
  return static_cast<int>(syscall(SYS_pselect6, n, r, w, e, t, m ? &data : nullptr));
}
int raw_epoll_wait(int epfd, epoll_event* ev, int n, int timeout) {
  return static_cast<int>(syscall(SYS_epoll_pwait, epfd, ev, n, timeout, nullptr, 8));
}
int raw_epoll_pwait(int epfd, epoll_event* ev, int n, int timeout, const sigset_t* m) {
  return static_cast<int>(syscall(SYS_epoll_pwait, epfd, ev, n, timeout, m, 8));
}

constinit real_function<int(pollfd*, nfds_t, int)> real_poll{"poll", &raw_poll};
constinit real_function<int(pollfd*, nfds_t, const timespec*, const sigset_t*)> real_ppoll{
    "ppoll", &raw_ppoll};
constinit real_function<int(int, fd_set*, fd_set*, fd_set*, timeval*)> real_select{"select",
                                                                                   &raw_select};
constinit real_function<int(int, fd_set*, fd_set*, fd_set*, const timespec*, const sigset_t*)>
    real_pselect{"pselect", &raw_pselect};
constinit real_function<int(int, epoll_event*, int, int)> real_epoll_wait{"epoll_wait",
                                                                          &raw_epoll_wait};
constinit real_function<int(int, epoll_event*, int, int, const sigset_t*)> real_epoll_pwait{
    "epoll_pwait", &raw_epoll_pwait};

/// The interests of one call: on the stack for a few descriptors.
class interest_list {
 public:
  explicit interest_list(std::size_t count) noexcept {
    if (count > small) {
      heap_.reset(new (std::nothrow) detail::fd_interest[count]);
      data_ = heap_.get();
    } else {
      data_ = local_;
    }
  }
  bool ok() const noexcept { return data_ != nullptr; }
  /// Registers `fd` (if epoll takes it) for the given directions.
  void add(int fd, bool read, bool write) noexcept {
    if (fd < 0 || (!read && !write)) return;
    detail::fd_state* s = detail::fd_watch(fd);
    if (!s) return;  // epoll refuses it: the kernel's check reports it ready or invalid
    data_[count_++] = {s, read, write};
  }
  const detail::fd_interest* data() const noexcept { return data_; }
  std::size_t count() const noexcept { return count_; }

 private:
  static constexpr std::size_t small = 16;
  detail::fd_interest local_[small];
  std::unique_ptr<detail::fd_interest[]> heap_;
  detail::fd_interest* data_ = nullptr;
  std::size_t count_ = 0;
};

/// Waits until `check()` (the real call with a zero timeout) reports something: a result other
/// than 0, or 0 once `deadline` has passed. -1 with errno for a kill or a grove::timeout.
template <class Check>
int wait_for_any(const interest_list& interests, detail::time_point deadline,
                 Check&& check) noexcept {
  for (;;) {
    detail::fd_wait_status status =
        detail::fd_wait_any(interests.data(), interests.count(), deadline);
    switch (status) {
      case detail::fd_wait_status::ready:
      case detail::fd_wait_status::closed: {  // the kernel's check reports the closed one
        int r = check();
        if (r != 0 || detail::deadline_passed(deadline)) return r;
        break;
      }
      case detail::fd_wait_status::deadline:
        return check();
      default:
        errno = wait_errno(status);
        return -1;
    }
  }
}

detail::time_point deadline_from_ms(int timeout) noexcept {
  return timeout < 0 ? detail::no_deadline
                     : detail::deadline_after(std::chrono::milliseconds(timeout));
}

detail::time_point deadline_from(const timespec* t) noexcept {
  if (!t) return detail::no_deadline;
  return detail::deadline_after(std::chrono::seconds(t->tv_sec) +
                                std::chrono::nanoseconds(t->tv_nsec));
}

bool is_zero(const timespec* t) noexcept { return t && t->tv_sec == 0 && t->tv_nsec == 0; }

constexpr short read_events = POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND;
constexpr short write_events = POLLOUT | POLLWRNORM | POLLWRBAND;

/// The cooperative poll/ppoll: `check()` polls with a zero timeout.
template <class Check>
int cooperative_poll(pollfd* fds, nfds_t count, detail::time_point deadline,
                     Check&& check) noexcept {
  int r = check();
  if (r != 0) return r;
  interest_list interests(count);
  if (!interests.ok()) {
    errno = ENOMEM;
    return -1;
  }
  for (nfds_t i = 0; i < count; ++i) {
    // Hangups and errors are reported whatever was asked: wait for them as a read.
    bool write = fds[i].events & write_events;
    bool read = (fds[i].events & read_events) || !write;
    interests.add(fds[i].fd, read, write);
  }
  return wait_for_any(interests, deadline, check);
}

int do_poll(pollfd* fds, nfds_t count, int timeout) noexcept {
  if (outside_any_hub() || timeout == 0 || !cooperating_fiber()) {
    return real_poll(fds, count, timeout);
  }
  return cooperative_poll(fds, count, deadline_from_ms(timeout),
                          [&] { return real_poll(fds, count, 0); });
}

int do_ppoll(pollfd* fds, nfds_t count, const timespec* limit, const sigset_t* mask) noexcept {
  if (is_zero(limit) || !cooperating_fiber()) return real_ppoll(fds, count, limit, mask);
  timespec zero{};
  return cooperative_poll(fds, count, deadline_from(limit),
                          [&] { return real_ppoll(fds, count, &zero, mask); });
}

/// The cooperative select/pselect: the caller's sets are restored before every check.
template <class Check>
int cooperative_select(int n, fd_set* r, fd_set* w, fd_set* e, detail::time_point deadline,
                       Check&& check) noexcept {
  fd_set in_r, in_w, in_e;
  if (r) in_r = *r;
  if (w) in_w = *w;
  if (e) in_e = *e;
  auto restore_and_check = [&] {
    if (r) *r = in_r;
    if (w) *w = in_w;
    if (e) *e = in_e;
    return check();
  };
  int result = check();
  if (result != 0) return result;
  std::size_t wanted = 0;
  for (int fd = 0; fd < n; ++fd) {
    if ((r && FD_ISSET(fd, &in_r)) || (w && FD_ISSET(fd, &in_w)) || (e && FD_ISSET(fd, &in_e))) {
      ++wanted;
    }
  }
  interest_list interests(wanted);
  if (!interests.ok()) {
    errno = ENOMEM;
    return -1;
  }
  for (int fd = 0; fd < n; ++fd) {
    bool read = (r && FD_ISSET(fd, &in_r)) || (e && FD_ISSET(fd, &in_e));
    bool write = w && FD_ISSET(fd, &in_w);
    interests.add(fd, read, write);
  }
  return wait_for_any(interests, deadline, restore_and_check);
}

}  // namespace
}  // namespace grove::shims

using namespace grove::shims;

extern "C" [[noreturn]] void __chk_fail(void);

GROVE_SHIM_EXPORT int poll(pollfd* fds, nfds_t count, int timeout) {
  return do_poll(fds, count, timeout);
}

GROVE_SHIM_EXPORT int __poll_chk(pollfd* fds, nfds_t count, int timeout, size_t fds_length) {
  if (fds_length / sizeof(*fds) < count) __chk_fail();
  return do_poll(fds, count, timeout);
}

GROVE_SHIM_EXPORT int ppoll(pollfd* fds, nfds_t count, const timespec* limit,
                            const sigset_t* mask) {
  return do_ppoll(fds, count, limit, mask);
}

GROVE_SHIM_EXPORT int __ppoll_chk(pollfd* fds, nfds_t count, const timespec* limit,
                                  const sigset_t* mask, size_t fds_length) {
  if (fds_length / sizeof(*fds) < count) __chk_fail();
  return do_ppoll(fds, count, limit, mask);
}

GROVE_SHIM_EXPORT int select(int n, fd_set* r, fd_set* w, fd_set* e, timeval* limit) {
  bool zero = limit && limit->tv_sec == 0 && limit->tv_usec == 0;
  if (zero || n < 0 || n > FD_SETSIZE || !cooperating_fiber())
    return real_select(n, r, w, e, limit);
  auto deadline = limit ? grove::detail::deadline_after(std::chrono::seconds(limit->tv_sec) +
                                                        std::chrono::microseconds(limit->tv_usec))
                        : grove::detail::no_deadline;
  int result = cooperative_select(n, r, w, e, deadline, [&] {
    timeval poll_now{};
    return real_select(n, r, w, e, &poll_now);
  });
  if (limit && result >= 0) {  // Linux writes back the time left
    auto left = deadline - grove::detail::clock::now();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
    if (us < 0) us = 0;
    limit->tv_sec = us / 1000000;
    limit->tv_usec = us % 1000000;
  }
  return result;
}

GROVE_SHIM_EXPORT int pselect(int n, fd_set* r, fd_set* w, fd_set* e, const timespec* limit,
                              const sigset_t* mask) {
  if (is_zero(limit) || n < 0 || n > FD_SETSIZE || !cooperating_fiber()) {
    return real_pselect(n, r, w, e, limit, mask);
  }
  return cooperative_select(n, r, w, e, deadline_from(limit), [&] {
    timespec zero{};
    return real_pselect(n, r, w, e, &zero, mask);
  });
}

GROVE_SHIM_EXPORT int epoll_wait(int epfd, epoll_event* events, int max, int timeout) {
  if (timeout == 0 || !cooperating_fiber()) return real_epoll_wait(epfd, events, max, timeout);
  auto check = [&] { return real_epoll_wait(epfd, events, max, 0); };
  int r = check();
  if (r != 0) return r;
  // An epoll descriptor is itself pollable: readable while its ready list is not empty.
  interest_list interests(1);
  interests.add(epfd, true, false);
  return wait_for_any(interests, deadline_from_ms(timeout), check);
}

GROVE_SHIM_EXPORT int epoll_pwait(int epfd, epoll_event* events, int max, int timeout,
                                  const sigset_t* mask) {
  if (timeout == 0 || !cooperating_fiber()) {
    return real_epoll_pwait(epfd, events, max, timeout, mask);
  }
  auto check = [&] { return real_epoll_pwait(epfd, events, max, 0, mask); };
  int r = check();
  if (r != 0) return r;
  interest_list interests(1);
  interests.add(epfd, true, false);
  return wait_for_any(interests, deadline_from_ms(timeout), check);
}
