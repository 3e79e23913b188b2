// Between the two halves of the descriptor table: the facts (fd_table.cpp) and this hub's
// registrations (fd_wait.cpp).
#pragma once

#include <grove/detail/fd_table.hpp>

namespace grove::detail {

/// Makes sure `fd` has a slot, so that its generation changes when it is closed.
void fd_track(int fd) noexcept;
/// This hub's live registration of `fd`, or nullptr (none, or a stale one, which is dropped).
fd_state* registered_state(int fd) noexcept;
/// Registers `fd` with this hub (epoll_ctl ADD) or returns its registration; on failure nullptr
/// with the errno in `error` (EPERM: epoll refuses the descriptor).
fd_state* register_descriptor(int fd, int& error) noexcept;
/// Wakes this hub's waiters on `fd` as closed and drops its registration. `closing`: the
/// descriptor is closed right after and no other descriptor shares its file (no epoll_ctl DEL).
void drop_registration(int fd, bool closing) noexcept;

}  // namespace grove::detail
