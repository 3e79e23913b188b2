// The part of a hub other threads may touch (issue 11): shared by the hub, every grove::hub_ref
// and every cross-thread wake in flight, so it outlives the hub. Posting into the hub's
// io_context happens under `mutex` while `hub` is set; the hub clears `hub` under the same mutex
// before its io_context is destroyed, so nothing is ever posted into a dead io_context.
#pragma once

#include <boost/asio/post.hpp>
#include <mutex>
#include <utility>

#include "core/hub_impl.hpp"

namespace grove::detail {

struct hub_control {
  std::mutex mutex;
  hub_impl* hub = nullptr;  ///< null once the hub has ended
};

/// Posts `handler` to run on the hub's thread; false (handler dropped here) if it has ended.
/// A handler the hub accepted but never ran (the hub ended first) is destroyed on its thread.
template <class Handler>
bool post_to(hub_control& control, Handler&& handler) {
  std::lock_guard lock(control.mutex);
  if (!control.hub) return false;
  boost::asio::post(control.hub->io(), std::forward<Handler>(handler));
  return true;
}

}  // namespace grove::detail
