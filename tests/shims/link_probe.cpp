// A program that names no symbol of libgrove_shims, linked with grove_shims_dep under meson's
// default --as-needed: the shims must still be loaded (issue 7). Exit status 0 if they are.
#include <dlfcn.h>

#include <cstdio>

int main() {
  if (dlopen("libgrove_shims.so.0", RTLD_NOW | RTLD_NOLOAD) == nullptr) {
    std::fprintf(stderr, "libgrove_shims.so was dropped from the link (--as-needed)\n");
    return 1;
  }
  std::puts("libgrove_shims.so is loaded");
  return 0;
}
