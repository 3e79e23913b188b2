// Peer benchmark: the floor under any stackful fiber switch on this machine.
//
//   raw_context_switch fiber    [switches]   boost::context::fiber resume ping-pong
//   raw_context_switch fcontext [switches]   the lower layer: jump_fcontext / make_fcontext
//
// One resume (or one jump) is one switch; both directions are counted, so a round trip
// main -> peer -> main is two switches. Prints one line: `ns_per_switch=<float>
// cpu_ns_per_switch=<float>` (wall time and the process's CPU time).
#include <sys/mman.h>
#include <time.h>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace ctx = boost::context;

namespace {

using steady = std::chrono::steady_clock;

double elapsed_ns(steady::time_point start) {
  return std::chrono::duration<double, std::nano>(steady::now() - start).count();
}

// Runs `round_trips` main -> fiber -> main round trips; returns ns per switch.
double fiber_ping_pong(long round_trips) {
  ctx::fiber peer{[round_trips](ctx::fiber&& main) {
    for (long i = 0; i < round_trips; ++i) main = std::move(main).resume();
    return std::move(main);
  }};
  auto start = steady::now();
  for (long i = 0; i < round_trips; ++i) peer = std::move(peer).resume();
  double ns = elapsed_ns(start);
  peer = std::move(peer).resume();  // let the peer return, so no forced unwind is needed
  return ns / (2.0 * static_cast<double>(round_trips));
}

// The fcontext peer never returns (returning from an fcontext entry exits the process):
// it bounces every jump straight back to whoever jumped to it.
void bounce(ctx::detail::transfer_t from) {
  for (;;) from = ctx::detail::jump_fcontext(from.fctx, nullptr);
}

double fcontext_ping_pong(long round_trips) {
  constexpr std::size_t stack_size = 64 * 1024;
  void* base =
      mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  // make_fcontext takes the *top* of the stack (stacks grow down on x86-64).
  ctx::detail::fcontext_t peer =
      ctx::detail::make_fcontext(static_cast<char*>(base) + stack_size, stack_size, bounce);
  auto start = steady::now();
  for (long i = 0; i < round_trips; ++i) peer = ctx::detail::jump_fcontext(peer, nullptr).fctx;
  double ns = elapsed_ns(start);
  // The peer is parked inside bounce() forever; its stack is simply dropped.
  munmap(base, stack_size);
  return ns / (2.0 * static_cast<double>(round_trips));
}

}  // namespace

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "fiber";
  long switches = argc > 2 ? std::atol(argv[2]) : 20'000'000;
  long round_trips = switches / 2 > 0 ? switches / 2 : 1;

  double (*run)(long);
  if (std::strcmp(mode, "fiber") == 0) {
    run = fiber_ping_pong;
  } else if (std::strcmp(mode, "fcontext") == 0) {
    run = fcontext_ping_pong;
  } else {
    std::fprintf(stderr, "usage: %s fiber|fcontext [switches]\n", argv[0]);
    return 2;
  }
  run(round_trips / 10 + 1);  // warm-up: fault in stacks, warm caches and branch predictors
  // CPU time too: on a loaded machine wall time also counts the time other processes ran.
  timespec cpu0{}, cpu1{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
  double ns = run(round_trips);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
  double cpu_ns = static_cast<double>(cpu1.tv_sec - cpu0.tv_sec) * 1e9 +
                  static_cast<double>(cpu1.tv_nsec - cpu0.tv_nsec);
  std::printf("ns_per_switch=%.2f cpu_ns_per_switch=%.2f\n", ns,
              cpu_ns / (2.0 * static_cast<double>(round_trips)));
}
