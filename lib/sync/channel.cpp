#include <grove/channel.hpp>
#include <grove/select.hpp>

namespace grove::detail {

void throw_channel_closed() { throw channel_closed("grove::channel: send on a closed channel"); }

void throw_select_receive_closed() {
  throw channel_closed(
      "grove::select: an on_receive case whose handler takes T found its channel closed (take "
      "std::optional<T>, or no argument, to handle closing)");
}

}  // namespace grove::detail
