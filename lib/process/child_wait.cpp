// The one child-wait mechanism: a pidfd (readable once the child has exited) waited on by the
// hub's descriptor wait. grove::process and the waitpid/system shims both come here.
#include "process/child_wait.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <grove/detail/fd_wait.hpp>
#include <grove/error.hpp>
#include <grove/process.hpp>
#include <grove/timeout.hpp>

namespace grove::detail {
namespace {

// The pidfd reports readable (POLLIN) once the child has exited; poll() with no timeout asks
// without consuming anything (the child stays unreaped for waitid).
io_status try_exited(void*, int fd, std::error_code& ec, std::size_t& bytes) noexcept {
  bytes = 0;
  pollfd p{fd, POLLIN, 0};
  int n;
  while ((n = ::poll(&p, 1, 0)) < 0 && errno == EINTR) {
  }
  if (n < 0) {
    ec = {errno, std::system_category()};
    return io_status::done;
  }
  return n == 0 ? io_status::would_block : io_status::done;
}

std::error_code block_until_exited(int pidfd, time_point deadline) noexcept {
  for (;;) {
    int ms = -1;
    if (deadline != no_deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0) return std::make_error_code(std::errc::timed_out);
      ms = left > 1 << 30 ? 1 << 30 : static_cast<int>(left);
    }
    pollfd p{pidfd, POLLIN, 0};
    int n = ::poll(&p, 1, ms);
    if (n > 0) return {};
    if (n < 0 && errno != EINTR) return {errno, std::system_category()};
  }
}

}  // namespace

// The only use of the descriptor wait in the process code: when the fdtable work moves
// fd_registration into lib/core (with a no-throw wait), only this function changes.
std::error_code wait_child_exit_or_throw(int pidfd, time_point deadline) {
  if (!current_fiber()) return block_until_exited(pidfd, deadline);
  fd_registration registration;
  if (std::error_code ec = registration.open(pidfd)) return ec;
  io_result r = registration.perform(io_direction::read, &try_exited, nullptr, deadline);
  registration.release();  // the caller keeps the pidfd open: deregister it from epoll
  return r.ec;
}

std::error_code wait_child_exit(int pidfd, time_point deadline) noexcept {
  try {
    return wait_child_exit_or_throw(pidfd, deadline);
  } catch (const fiber_killed&) {
    return std::make_error_code(std::errc::operation_canceled);  // the kill stays pending
  } catch (const timeout_error&) {
    return std::make_error_code(std::errc::operation_canceled);  // so does the expired scope
  } catch (...) {
    return std::make_error_code(std::errc::resource_deadlock_would_occur);
  }
}

int open_pidfd(int pid) noexcept {
  // pidfd_open always sets close-on-exec on the new descriptor.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace grove::detail
