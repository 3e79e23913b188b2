// One unit of work another thread hands to a hub through its inbox (lib/core/hub_control.hpp),
// alone in its header so that what carries one (a shared primitive's waiter, an offload job, a
// use_fiber operation, the dump signal's request) needs nothing else of the cross-thread code.
#pragma once

namespace grove::detail {

/// One unit of work posted to a hub from another thread (lib/core/hub_control.hpp).
/// `invoke(item, true)` runs and destroys it, `invoke(item, false)` destroys it unrun; either
/// happens once, on the hub's thread. The poster owns the item until its push succeeds, and
/// allocates nothing to post it: a poster that cannot report a failure posts a preallocated item.
struct inbox_item {
  inbox_item* next = nullptr;
  void (*invoke)(inbox_item* item, bool run) noexcept = nullptr;
};

}  // namespace grove::detail
