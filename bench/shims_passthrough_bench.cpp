// What a shimmed call costs outside any fiber, where it must be libc's call: read() through
// libgrove_shims (this program links it, so ::read is the shim) against libc's own read (found
// in libc.so.6 directly), on the same descriptors, interleaved in rounds so drift touches both.
//   shims_passthrough_bench [--rounds N] [--calls N]
// Prints, per workload, the median and the minimum over rounds of each one's ns per call, and the
// median per-round difference. The minimum is the figure to read on a loaded machine: a
// syscall costs 0.5-1 us on these VMs and preemption adds noise far above a few ns, while the
// fastest round of each is the least disturbed. Two workloads: a 1-byte read of /dev/zero and
// read(-1) (the kernel's cheapest failing path).
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <grove/grove.hpp>

#include "bench_util.hpp"

namespace {

using read_fn = ssize_t (*)(int, void*, size_t);

double ns_per_call(read_fn f, int fd, long calls) {
  char buf[1];
  auto start = std::chrono::steady_clock::now();
  for (long i = 0; i < calls; ++i) {
    ssize_t r = f(fd, buf, 1);
    asm volatile("" : : "r"(r) : "memory");
  }
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
             .count() /
         double(calls);
}

}  // namespace

int main(int argc, char** argv) {
  bench::rounds_calls knobs{101, 20000};
  if (int rc = bench::parse_rounds_calls(argc, argv, "shims_passthrough_bench",
                                         "usage: shims_passthrough_bench [--rounds N] [--calls N]",
                                         knobs);
      rc >= 0) {
    return rc;
  }
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  auto libc_read = libc ? reinterpret_cast<read_fn>(dlsym(libc, "read")) : nullptr;
  auto shim_read = reinterpret_cast<read_fn>(dlsym(RTLD_DEFAULT, "read"));
  if (!libc_read || !shim_read || libc_read == shim_read) {
    std::fprintf(stderr, "shims_passthrough_bench: the shims are not interposed on read()\n");
    return 1;
  }
  int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (zero < 0) {
    std::perror("shims_passthrough_bench: /dev/zero");
    return 1;
  }
  struct workload {
    const char* name;
    int fd;
  } workloads[] = {{"read(/dev/zero, 1 byte)", zero}, {"read(-1) (EBADF)", -1}};
  // Phase 1: a program where grove has not made any descriptor non-blocking (the shim tail-calls
  // libc). Phase 2: after a fiber waited on a socket, the shim must look at an EAGAIN (the
  // descriptor may be grove's doing), so its passthrough does a little more.
  for (int phase = 1; phase <= 2; ++phase) {
    if (phase == 2) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
      grove::run([&] {
        auto writer = grove::spawn([&] { send(sv[0], "x", 1, 0); });
        char c;
        recv(sv[1], &c, 1, 0);  // cooperative: grove makes sv[1] non-blocking
        writer.join();
      });
      close(sv[0]);
      close(sv[1]);
    }
    std::printf("phase %d (%s)\n", phase,
                phase == 1 ? "no descriptor made non-blocking by grove yet"
                           : "after a fiber waited on a socket");
    for (const auto& w : workloads) {
      bench::ab_rounds r = bench::interleave(
          knobs, [&](long calls) { return ns_per_call(shim_read, w.fd, calls); },
          [&](long calls) { return ns_per_call(libc_read, w.fd, calls); });
      std::printf(
          "%-26s median: libc_ns=%.1f shim_ns=%.1f paired_diff_ns=%.1f | min: libc_ns=%.1f "
          "shim_ns=%.1f shim_minus_libc_ns=%.1f | rounds=%d calls=%ld\n",
          w.name, r.median_b(), r.median_a(), r.median_difference(), r.min_b(), r.min_a(),
          r.min_a() - r.min_b(), knobs.rounds, knobs.calls);
    }
  }
  close(zero);
}
