// grove::wait_signal: a fiber waits for a POSIX signal (SIGINT, SIGTERM, SIGHUP...) as it waits
// for anything else, and gets the signal's number back. The usual use is a server's graceful
// stop: one fiber waits for Ctrl-C or SIGTERM, then stops accepting and lets connections finish.
//
// Example (in grove::run):
//   grove::net::server server(grove::net::tcp_listener::bind("127.0.0.1", 8080), handle);
//   server.start();
//   int number = grove::wait_signal({SIGINT, SIGTERM});     // this fiber only; others run on
//   std::printf("%s: stopping\n", strsignal(number));
//   server.stop(std::chrono::seconds(5));                    // then main returns 0
//
//   if (auto number = grove::wait_signal_for({SIGHUP}, 10s)) reload();  // nullopt after 10 s
//
// How: Asio's signal_set on the hub's io_context. Its handler only writes the number to a pipe,
// so nothing runs in signal context; the hub delivers it like any other completion. Several
// hubs (threads) may wait for the same signal: each waiting fiber gets it.
//
// Semantics:
// - The signals are caught from the call until it returns. When the last wait for a signal in
//   the process ends, Asio sets its disposition back to the default (SIG_DFL, not whatever it
//   was before; for SIGINT / SIGTERM: the process ends), so a second Ctrl-C during a slow
//   shutdown still ends the process. A signal that arrives while no fiber waits for it is not
//   remembered for a later wait. Don't mix it with your own sigaction() for the same signal.
// - Like every grove wait it honours kill() and grove::timeout (the wait is cancelled and
//   fiber_killed / timeout_error is thrown), and is refused outside a fiber with grove::error.
// - A number that cannot be caught (SIGKILL, SIGSTOP, 0, out of range) throws grove::error
//   before anything waits.
#pragma once

#include <chrono>
#include <grove/detail/deadline.hpp>
#include <initializer_list>
#include <optional>

namespace grove {

namespace detail {
/// wait_signal's body: the signal's number, or nullopt when `deadline` passed first.
std::optional<int> wait_signal_until(std::initializer_list<int> signals, time_point deadline);
}  // namespace detail

/// Suspends the calling fiber until one of `signals` arrives; returns its number.
inline int wait_signal(std::initializer_list<int> signals) {
  return *detail::wait_signal_until(signals, detail::no_deadline);
}

/// Like wait_signal(), for at most `d`: the signal's number, or nullopt if none came in time.
template <class Rep, class Period>
std::optional<int> wait_signal_for(std::initializer_list<int> signals,
                                   std::chrono::duration<Rep, Period> d) {
  return detail::wait_signal_until(signals, detail::deadline_after(d));
}

}  // namespace grove
