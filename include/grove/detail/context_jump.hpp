// A stack switch that keeps the CPU's return-stack predictor balanced; inline, so
// this_fiber::yield() can switch from its caller's frame. On x86-64 it jumps through grove's
// own grove_jump_context (lib/core/context_jump.cpp: Boost.Context's jump_fcontext without the
// floating-point control, which belongs to the thread), elsewhere through jump_fcontext.
//
// jump_fcontext leaves through `jmp *%r8` rather than `ret`, so a plain `call` leaves one
// return-stack entry behind on every switch, and the resumed fiber's next `ret` is mispredicted.
// Pushing the return address by hand and jumping adds no entry. That alone only helps when both
// fibers switch from the same call sites: a resumed fiber that then returns through its own
// frames (yield() out of line, the caller's loop) meets return-stack entries pushed by the other
// fiber's calls, and every level where the two call chains differ mispredicts (measured: two
// fibers yielding from two different functions cost 2x two yielding from the same one; the main
// fiber against a spawned one is just the common case of it). Jumping from the caller's own
// frame leaves no `ret` between two switches, as with a raw boost::context::fiber ping-pong.
// The jump goes through the GOT, not the PLT: the PLT stub is one more indirect jump a switch.
#pragma once

#include <boost/context/detail/fcontext.hpp>

#if defined(__x86_64__) && defined(__GNUC__)
#define GROVE_JUMP_CONTEXT 1
/// grove's jump_fcontext (lib/core/context_jump.cpp); every x86-64 switch goes through it.
extern "C" boost::context::detail::transfer_t grove_jump_context(void* to, void* data) noexcept;
#endif

namespace grove::detail {

/// What a jump brings back: the context that jumped here (to resume it later) and its datum.
struct jump_result {
  void* fctx;
  void* data;
};

/// Switches to the suspended context `to`, passing `data`; returns when something jumps back.
inline jump_result jump_to(void* to, void* data) noexcept {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(GROVE_PLAIN_JUMP)
  register void* rdi asm("rdi") = to;
  register void* rsi asm("rsi") = data;
  void* fctx;
  void* out;
  // Step over the caller's red zone (128 bytes below %rsp that a leaf may use unannounced):
  // jump_fcontext saves registers below %rsp, and so does the push.
  asm volatile(
      "leaq -128(%%rsp), %%rsp\n\t"
      "leaq 1f(%%rip), %%rax\n\t"
      "pushq %%rax\n\t"
      "jmp *grove_jump_context@GOTPCREL(%%rip)\n\t"
      "1:\n\t"
      "leaq 128(%%rsp), %%rsp\n\t"
      : "=a"(fctx), "=d"(out), "+D"(rdi), "+S"(rsi)
      :
      : "rcx", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
        "xmm15", "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "mm0", "mm1",
        "mm2", "mm3", "mm4", "mm5", "mm6", "mm7");
  return {fctx, out};
#elif defined(__x86_64__) && defined(__GNUC__)
  auto t = grove_jump_context(to, data);  // never mixed with jump_fcontext: see context_jump.cpp
  return {t.fctx, t.data};
#else
  auto t = boost::context::detail::jump_fcontext(to, data);
  return {t.fctx, t.data};
#endif
}

}  // namespace grove::detail
