// Calls Boost.Context's jump_fcontext so that the CPU's return-stack predictor stays balanced.
//
// jump_fcontext leaves through `jmp *%r8` rather than `ret`, so a plain `call` leaves one
// return-stack entry behind on every switch, and the resumed fiber's next `ret` is mispredicted:
// one misprediction per switch. Pushing the return address by hand and jumping adds no entry,
// so the resumed fiber's `ret`s meet the entries its own calls pushed (fibers switch from the
// same call sites, so the addresses match). Measured on yield ping-pong: see bench/RESULTS.md.
#pragma once

#include <boost/context/detail/fcontext.hpp>

namespace grove::detail {

inline boost::context::detail::transfer_t jump_to(boost::context::detail::fcontext_t to,
                                                  void* data) noexcept {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(GROVE_PLAIN_JUMP)
  register void* rdi asm("rdi") = to;
  register void* rsi asm("rsi") = data;
  void* fctx;
  void* out;
  // Needs -mno-red-zone (set for libgrove): the push must not clobber data below %rsp.
  asm volatile(
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "jmp jump_fcontext@PLT\n\t"
      "1:\n\t"
      : "=a"(fctx), "=d"(out), "+D"(rdi), "+S"(rsi)
      :
      : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
        "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1",
        "mm2", "mm3", "mm4", "mm5", "mm6", "mm7");
  return {fctx, out};
#else
  return boost::context::detail::jump_fcontext(to, data);
#endif
}

}  // namespace grove::detail
