// cusim: see context.h.
#include "context.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)

// cusim_switch(void **save_sp, void *to_sp): pushes the callee-saved registers and the FP control
// words, stores the stack pointer, loads the other one and pops the same frame from it.
extern "C" void cusim_switch(void **save_sp, void *to_sp);
asm(R"(
    .text
    .globl cusim_switch
    .type cusim_switch, @function
cusim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cusim_switch, .-cusim_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");

void cusim_context_init(cusim_context *c, char *stack, size_t bytes, void (*entry)(void)) {
    // from the new sp up: control words, r15 r14 r13 r12 rbx rbp (zero), entry (popped by `ret`),
    // then a zero return address so that `entry` starts with rsp = 8 mod 16 as after a call.
    uintptr_t top = ((uintptr_t)stack + bytes) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 72);
    memset(sp, 0, 72);
    const uint32_t mxcsr = 0x1F80, fpcw = 0x037F;  // the ABI's initial values
    sp[0] = mxcsr | (uint64_t)fpcw << 32;
    sp[7] = (uint64_t)(uintptr_t)entry;
    c->sp = sp;
}

void cusim_context_switch(cusim_context *from, cusim_context *to) { cusim_switch(&from->sp, to->sp); }

#else

void cusim_context_init(cusim_context *c, char *stack, size_t bytes, void (*entry)(void)) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = bytes;
    c->uc.uc_link = nullptr;
    makecontext(&c->uc, entry, 0);
}

void cusim_context_switch(cusim_context *from, cusim_context *to) { swapcontext(&from->uc, &to->uc); }

#endif
