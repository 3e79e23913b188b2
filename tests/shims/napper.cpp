// A third-party library that blocks: it calls libc's usleep and knows nothing of grove. Built
// twice by tests/shims/meson.build: linked into the --as-needed probe, and as a plugin the
// sleep test loads with dlopen.
#include <unistd.h>

/// Sleeps `microseconds` with plain libc usleep; returns usleep's result.
extern "C" __attribute__((visibility("default"))) int napper_usleep(unsigned microseconds) {
  return usleep(microseconds);
}
