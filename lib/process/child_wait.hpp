// Internal: the throwing form of detail::wait_child_exit, for grove::process.
#pragma once

#include <grove/detail/suspension.hpp>
#include <system_error>

namespace grove::detail {

/// As wait_child_exit, but a kill or an expired grove::timeout throws (fiber_killed /
/// timeout_error) after leaving the wait.
std::error_code wait_child_exit_or_throw(int pidfd, time_point deadline);

}  // namespace grove::detail
