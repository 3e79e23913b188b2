// grove::wait_signal (include/grove/signal.hpp): an Asio signal_set on the hub's io_context,
// waited on through the one completion wait (detail/completion.hpp), so kill and scoped
// timeouts cancel it like every other wait.
#include <boost/asio/error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/system/error_code.hpp>
#include <grove/detail/completion.hpp>
#include <grove/error.hpp>
#include <grove/hub.hpp>
#include <grove/signal.hpp>
#include <string>

namespace grove::detail {

std::optional<int> wait_signal_until(std::initializer_list<int> signals, time_point deadline) {
  require_fiber();
  if (signals.size() == 0) throw error("grove::wait_signal: no signal to wait for");
  boost::asio::signal_set set(hub::current().io_context());
  for (int number : signals) {
    boost::system::error_code ec;
    set.add(number, ec);
    if (ec) {
      throw error("grove::wait_signal: signal " + std::to_string(number) +
                  " cannot be caught: " + ec.message());
    }
  }
  auto [ec, number] = await_asio<boost::system::error_code, int>(
      [&](auto handler) { set.async_wait(std::move(handler)); }, [&] { set.cancel(); }, deadline);
  if (ec == boost::asio::error::operation_aborted) return std::nullopt;  // the deadline passed
  if (ec) throw error("grove::wait_signal: " + ec.message());
  return number;
}

}  // namespace grove::detail
