// Seeing inside a running program: what every fiber waits on, and what blocks a hub.
//
// Example:
//   grove::run([] {
//     grove::dump_fibers_on(SIGUSR1);       // `kill -USR1 <pid>` prints every fiber on stderr
//     grove::monitor_blocking(100ms);       // reports a fiber holding the hub for over 100 ms
//     auto sleeper = grove::spawn({.name = "sleeper"}, [] { grove::this_fiber::sleep_for(1h); });
//     grove::dump_fibers(std::cout);
//     // fiber 2 'sleeper' suspended: sleep, timer in 3599999 ms
//     //     waits at app.cpp:5 in main()::<lambda()>::operator()()
//     //     spawned at app.cpp:5 in ...
//     //     stack 256 KiB, high-water 3 KiB (painted)
//   });
//
// The dump lists each fiber of the calling thread's hub with its id, name and state; for a
// suspended fiber what it waits on (a timer, a descriptor and direction, an event, a queue, a
// channel, a mutex, a semaphore, a child process, an offload job, another fiber's end...) and the
// source line of the grove call that waits (captured by a defaulted std::source_location on the
// waiting functions; lines inside grove show for the few that take none); where the fiber was
// spawned (every spawn form but spawn(fn, args...) with more than three arguments and
// spawn_later(d, fn, args...) without options: see fiber.hpp); and
// its stack's high-water mark: exact when stacks are painted (GROVE_STACK_PAINT=1 in the
// environment when a hub starts; painting touches every stack page, a debug mode), otherwise the
// span of resident pages (an upper bound: a reused stack keeps the pages of earlier fibers).
//
// The blocking monitor (gevent's max_blocking_time) is one process-wide thread that looks at
// every hub a few times per threshold. When a hub has not switched for longer than the
// threshold while not idle, it prints once per incident the running fiber's id and name, how
// long it has held the hub, and the hub thread's backtrace, captured by a real-time signal
// (SIGRTMIN + 6) sent to that thread and symbolised with addr2line (function, file and line;
// function names from dladdr without it, for which executables need -rdynamic). The hubs pay
// one relaxed counter increment per loop pass, nothing per switch, whether it runs or not.
// GROVE_MONITOR_MS=<n> and GROVE_DUMP_SIGNAL=USR1 (or a number) in the environment when a hub
// starts do the same as the calls.
#pragma once

#include <chrono>
#include <iosfwd>

namespace grove {

/// Prints every fiber of the calling thread's hub (see above); throws grove::error outside one.
void dump_fibers(std::ostream& out);

/// From now on, `signal` (e.g. SIGUSR1) makes every running hub print dump_fibers on stderr,
/// from the hub itself between fibers (the handler only writes to a pipe). 0 turns it off.
void dump_fibers_on(int signal);

/// Starts (or retunes) the blocking monitor for every hub of the process; zero stops it.
void monitor_blocking(std::chrono::milliseconds threshold);

}  // namespace grove
