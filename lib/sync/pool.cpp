#include <grove/pool.hpp>

namespace grove {
namespace {

std::size_t checked_pool_size(std::size_t size) {
  if (size == 0) throw error("grove::pool: the size must be at least 1");
  return size;
}

}  // namespace

pool::pool(std::size_t size) : group(checked_pool_size(size)) {}

namespace detail {

std::exception_ptr task_killed_error() {
  return std::make_exception_ptr(killed_error(
      "grove::pool::imap_unordered: a task was killed before it delivered its result"));
}

}  // namespace detail
}  // namespace grove
