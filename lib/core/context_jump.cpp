// grove's stack switch (x86-64 System V): Boost.Context's jump_fcontext without the floating-
// point control. Boost's saves MXCSR and the x87 control word on every jump and loads the other
// context's; reading MXCSR (stmxcsr) alone costs ~2.8 ns on these machines, half of a raw
// Boost.Context switch (bench/RESULTS.md, "yield"). So the FP control (rounding mode, FTZ/DAZ,
// exception masks) belongs to the thread, as in Go, not to each fiber: a fiber that changes it
// restores it before it waits (docs/architecture.md, "The hub").
//
// The frame it saves and restores is jump_fcontext's (Boost 1.81): 0x00 MXCSR, 0x04 x87 CW
// (left as they are), 0x10-0x38 r12-r15, rbx, rbp, 0x40 the return address. So the contexts
// boost::context::detail::make_fcontext creates start here, and grove never mixes the two
// jumps: every switch goes through this one (include/grove/detail/context_jump.hpp).
#if defined(__x86_64__) && defined(__GNUC__)

asm(R"(
    .text
    .globl grove_jump_context
    .type grove_jump_context, @function
    .p2align 4
grove_jump_context:
    leaq  -0x40(%rsp), %rsp
    movq  %r12, 0x10(%rsp)
    movq  %r13, 0x18(%rsp)
    movq  %r14, 0x20(%rsp)
    movq  %r15, 0x28(%rsp)
    movq  %rbx, 0x30(%rsp)
    movq  %rbp, 0x38(%rsp)
    movq  %rsp, %rax
    movq  %rdi, %rsp
    movq  0x40(%rsp), %r8
    movq  0x10(%rsp), %r12
    movq  0x18(%rsp), %r13
    movq  0x20(%rsp), %r14
    movq  0x28(%rsp), %r15
    movq  0x30(%rsp), %rbx
    movq  0x38(%rsp), %rbp
    leaq  0x48(%rsp), %rsp
    movq  %rsi, %rdx
    movq  %rax, %rdi
    jmp   *%r8
    .size grove_jump_context, .-grove_jump_context
)");

#endif
