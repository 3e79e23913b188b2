// Peer benchmark: Boost.Fiber spawn + join. N trivial fibers are all spawned first (launch
// policy post: none runs until main joins), then all joined, with stacks from one
// boost::fibers::pooled_fixedsize_stack.
//
//   boost_fiber_spawn [N] [stack_kib]      defaults: N = 1000000, stack = Boost's default (128 KiB)
//
// A warm-up round of the same N runs first on the same pool, so the timed round reuses stacks
// whose pages are already faulted in (a first touch costs 11-16 us on these VMs and would
// otherwise dominate). Prints one line:
// `ns_per_fiber=<float> cold_ns_per_fiber=<float> stack_kib=<int>` (cold = the warm-up round).
#include <boost/context/stack_traits.hpp>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace {

long completed = 0;  // touched only by fibers of the one thread

double spawn_and_join(long count, boost::fibers::pooled_fixedsize_stack& stacks) {
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(static_cast<std::size_t>(count));
  completed = 0;
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    fibers.emplace_back(std::allocator_arg, stacks, [] { ++completed; });
  }
  for (auto& fiber : fibers) fiber.join();
  std::chrono::duration<double, std::nano> ns = std::chrono::steady_clock::now() - start;
  if (completed != count) {
    std::fprintf(stderr, "only %ld of %ld fibers ran\n", completed, count);
    std::exit(1);
  }
  return ns.count() / static_cast<double>(count);
}

}  // namespace

int main(int argc, char** argv) {
  long count = argc > 1 ? std::atol(argv[1]) : 1'000'000;
  if (count < 1) count = 1;
  std::size_t stack_size = argc > 2 ? static_cast<std::size_t>(std::atol(argv[2])) * 1024
                                    : boost::context::stack_traits::default_size();
  // next_size 32, max_size 4096: the pool grows in chunks of at most 4096 stacks. Unbounded
  // doubling would ask malloc for one 64 GiB block at 1M x 128 KiB, which the kernel's
  // heuristic overcommit refuses on this 24 GiB machine.
  boost::fibers::pooled_fixedsize_stack stacks{stack_size, 32, 4096};
  // The first round is the warm-up; its figure is reported too: spawning on never-touched
  // stacks (page faults included) is what a program pays before its pool is warm.
  double cold_ns = spawn_and_join(count, stacks);
  double ns = spawn_and_join(count, stacks);
  std::printf("ns_per_fiber=%.1f cold_ns_per_fiber=%.1f stack_kib=%zu\n", ns, cold_ns,
              stack_size / 1024);
}
