// cusim: switching between the scheduler and a fiber's stack. x86-64 has a hand-written switch
// (the callee-saved registers: a few nanoseconds); elsewhere ucontext
// (which also saves the signal mask with a system call per switch: slower, same behaviour).
#ifndef CUSIM_CONTEXT_H
#define CUSIM_CONTEXT_H

#include <stddef.h>

#if defined(__x86_64__)
struct cusim_context {
    void *sp;
};
#else
#include <ucontext.h>
struct cusim_context {
    ucontext_t uc;
};
#endif

// Prepares `c` to start `entry` (which must never return) on [stack, stack + bytes).
void cusim_context_init(cusim_context *c, char *stack, size_t bytes, void (*entry)(void));
// Saves the running context in `from` and continues `to`.
void cusim_context_switch(cusim_context *from, cusim_context *to);

#endif
