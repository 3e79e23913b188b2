// The one child-wait mechanism: a pidfd (readable once the child has exited) waited on by the
// hub's descriptor wait. grove::process and the waitpid/system shims both come here.
#include "process/child_wait.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <grove/detail/fd_table.hpp>
#include <grove/detail/fd_wait.hpp>
#include <grove/error.hpp>
#include <grove/process.hpp>
#include <grove/timeout.hpp>

#include "process/process_sys.hpp"

namespace grove::detail {
namespace {

// The pidfd reports readable (POLLIN) once the child has exited; poll() with no timeout asks
// without consuming anything (the child stays unreaped for waitid).
io_status try_exited(void*, int fd, std::error_code& ec, std::size_t& bytes) noexcept {
  bytes = 0;
  int n;
  while ((n = sys::poll_one(fd, POLLIN, 0)) < 0 && errno == EINTR) {
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
    int n = sys::poll_one(pidfd, POLLIN, ms);
    if (n > 0) return {};
    if (n < 0 && errno != EINTR) return {errno, std::system_category()};
  }
}

// The only use of the descriptor wait in the process code: the pidfd is watched by this hub
// (registered once, flags untouched) and waited on with the no-throw wait of the descriptor
// table, the same call the shims make.
fd_wait_status wait_exited(int pidfd, time_point deadline, std::error_code& ec) noexcept {
  fd_state* state = fd_watch(pidfd);
  if (!state) {
    ec = std::make_error_code(std::errc::bad_file_descriptor);
    return fd_wait_status::failed;
  }
  io_result r;
  fd_wait_status status = fd_perform(state, io_direction::read, &try_exited, nullptr, deadline, r);
  ec = r.ec;
  return status;
}

/// The error a wait status means for the caller (kill and scoped timeout: they stay pending).
std::error_code to_error(fd_wait_status status, std::error_code ec) noexcept {
  switch (status) {
    case fd_wait_status::ready:
      return ec;
    case fd_wait_status::deadline:
      return std::make_error_code(std::errc::timed_out);
    case fd_wait_status::closed:
      return std::make_error_code(std::errc::bad_file_descriptor);
    case fd_wait_status::killed:
    case fd_wait_status::timed_out:
      return std::make_error_code(std::errc::operation_canceled);
    case fd_wait_status::failed:
      break;
  }
  return ec ? ec : std::make_error_code(std::errc::not_enough_memory);
}

}  // namespace

std::error_code wait_child_exit(int pidfd, time_point deadline) noexcept {
  if (!current_fiber()) return block_until_exited(pidfd, deadline);
  std::error_code ec;
  fd_wait_status status = wait_exited(pidfd, deadline, ec);
  return to_error(status, ec);
}

std::error_code wait_child_exit_or_throw(int pidfd, time_point deadline) {
  if (!current_fiber()) return block_until_exited(pidfd, deadline);
  std::error_code ec;
  fd_wait_status status = wait_exited(pidfd, deadline, ec);
  if (status == fd_wait_status::killed) raise_for(wake_reason::killed);
  if (status == fd_wait_status::timed_out) raise_for(wake_reason::timeout);
  return to_error(status, ec);
}

void close_pidfd(int pidfd) noexcept {
  if (pidfd < 0) return;
  if (current_hub()) fd_closing(pidfd);  // drops this hub's registration of the number
  sys::close(pidfd);
}

int open_pidfd(int pid) noexcept {
  // pidfd_open always sets close-on-exec on the new descriptor.
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace grove::detail
