// The quality standard as gates (experiment/README.md): each gate passes or fails with a reason.
// Implemented in gates.c; used by `expt check`, `expt run` (pre-run gates) and `expt commit`.
#ifndef EXPT_GATES_H
#define EXPT_GATES_H

#include "project.h"

typedef struct ex_gate {
    const char *name;  // e.g. "goal, hypothesis and expected result filled"
    int passed;
    char reason[512];  // why it failed (or a short confirmation)
} ex_gate;

#define EX_MAX_GATES 16

typedef struct ex_gate_list {
    ex_gate gates[EX_MAX_GATES];
    int n;
} ex_gate_list;

// Gates that must pass before `expt run`: human fields, AI reasoning, configuration parses,
// data paths exist. Returns 0 when evaluated (check ->gates[i].passed), -1 on error.
int ex_gates_prerun(const ex_project *p, const char *version, ex_gate_list *out);
// All gates of `expt check` (pre-run + git record, training finished cleanly, evaluation present,
// analysis and conclusion filled).
int ex_gates_all(const ex_project *p, const char *version, ex_gate_list *out);
// 1 when every gate in the list passed.
int ex_gates_passed(const ex_gate_list *g);
// Prints "✓ name" / "✗ name: reason" lines.
void ex_gates_print(const ex_gate_list *g);

#endif
