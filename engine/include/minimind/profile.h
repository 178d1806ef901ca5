// Per-op timing of a backend (`minimind bench --profile`): a backend table that forwards every op
// to an inner backend and measures it. Each timed op waits for the device before and after
// (inner->check), so a GPU's time lands on the op that launched the work; the waits themselves
// cost time, so profiled steps are slower than plain ones — use the profile for the split, the
// plain steps for the speed.
#ifndef MM_PROFILE_H
#define MM_PROFILE_H

#include "minimind/backend.h"

typedef struct mm_profile_op {
    const char *name;  // the backend op, e.g. "matmul_forward"
    long calls;
    double seconds;
} mm_profile_op;

// The timed view of `inner` (same name, memory model and results). One at a time per process:
// a second call re-targets it. Totals start at zero.
const mm_backend *mm_backend_profiled(const mm_backend *inner);
void mm_profile_reset(void);
// The per-op totals since the last reset, in the backend table's order; *n = number of ops.
const mm_profile_op *mm_profile_ops(int *n);

#endif
