#include <grove/select.hpp>

namespace grove::detail {

// Any non-zero start will do for xorshift; each thread runs its own sequence, and the
// sequences being alike across threads does not matter: each select only needs its own
// thread's picks spread evenly.
constinit thread_local std::uint32_t t_select_seed = 0x9e3779b9u;

}  // namespace grove::detail
