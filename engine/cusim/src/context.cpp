// cusim: see context.h.
#include "context.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)

// cusim_switch(void **save_sp, void *to_sp): pushes the callee-saved registers, stores the stack
// pointer, loads the other one and pops the same frame from it. The FP control words (MXCSR, x87)
// are not switched: neither the scheduler nor a kernel changes them (ldmxcsr would cost more than
// the rest of the switch).
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
    movq %rsp, (%rdi)
    movq %rsi, %rsp
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
    // from the new sp up: r15 r14 r13 r12 rbx rbp (zero), entry (popped by `ret`), then a zero
    // return address so that `entry` starts with rsp = 8 mod 16 as after a call.
    uintptr_t top = ((uintptr_t)stack + bytes) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 64);
    memset(sp, 0, 64);
    sp[6] = (uint64_t)(uintptr_t)entry;
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
