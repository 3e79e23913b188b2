// Turning a non-blocking syscall into a detail::io_attempt outcome.
#pragma once

#include <sys/types.h>

#include <cerrno>
#include <cstddef>
#include <grove/detail/fd_wait.hpp>
#include <system_error>

namespace grove::detail {

/// Runs `call()` (a syscall returning -1 and errno on failure) until it is not interrupted:
/// EAGAIN is would_block, another error goes to `ec`, a result below `asked` is drained.
template <class Call>
io_status attempt_syscall(Call&& call, std::error_code& ec, std::size_t& bytes,
                          std::size_t asked) noexcept {
  for (;;) {
    ssize_t n = call();
    if (n >= 0) {
      bytes = static_cast<std::size_t>(n);
      return bytes < asked ? io_status::drained : io_status::done;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return io_status::would_block;
    ec = {errno, std::system_category()};
    return io_status::done;
  }
}

}  // namespace grove::detail
