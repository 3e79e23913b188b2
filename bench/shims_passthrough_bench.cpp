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

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <grove/grove.hpp>
#include <string>
#include <vector>

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

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 101;
  long calls = 20000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help") {
      std::puts("usage: shims_passthrough_bench [--rounds N] [--calls N]");
      return 0;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else if (a == "--calls" && i + 1 < argc) {
      calls = std::atol(argv[++i]);
    } else {
      std::fprintf(stderr, "shims_passthrough_bench: bad argument '%s' (try --help)\n", argv[i]);
      return 2;
    }
  }
  if (rounds < 1 || calls < 1) {
    std::fprintf(stderr, "shims_passthrough_bench: rounds and calls must be positive\n");
    return 2;
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
      ns_per_call(shim_read, w.fd, calls / 10);  // warm-up: resolve, fault in
      ns_per_call(libc_read, w.fd, calls / 10);
      std::vector<double> shim, base, diff;
      for (int r = 0; r < rounds; ++r) {
        double a = r % 2 ? ns_per_call(shim_read, w.fd, calls) : 0;
        double b = ns_per_call(libc_read, w.fd, calls);
        if (r % 2 == 0) a = ns_per_call(shim_read, w.fd, calls);
        shim.push_back(a);
        base.push_back(b);
        diff.push_back(a - b);
      }
      double min_shim = *std::min_element(shim.begin(), shim.end());
      double min_base = *std::min_element(base.begin(), base.end());
      std::printf(
          "%-26s median: libc_ns=%.1f shim_ns=%.1f paired_diff_ns=%.1f | min: libc_ns=%.1f "
          "shim_ns=%.1f shim_minus_libc_ns=%.1f | rounds=%d calls=%ld\n",
          w.name, median(base), median(shim), median(diff), min_base, min_shim, min_shim - min_base,
          rounds, calls);
    }
  }
  close(zero);
}
