// The state of an experiment, derived from its record and run files. Liveness comes from the
// run lock (flock held by the supervisor), never from a PID alone.
// Implemented in runstate.c; used by status/list/run/stop/resume/report/check.
#ifndef EXPT_RUNSTATE_H
#define EXPT_RUNSTATE_H

#include <stddef.h>

#include "project.h"

typedef enum ex_state {
    EX_DRAFT,      // record exists, human/AI fields not filled
    EX_READY,      // pre-run gates pass, never run
    EX_RUNNING,    // supervisor holds the lock, progress recent
    EX_STALLED,    // supervisor holds the lock, no progress for a long time
    EX_STOPPED,    // stopped on request (expt stop), resumable
    EX_FAILED,     // training exited non-zero / NaN
    EX_CRASHED,    // lock free but no exit.json (SIGKILL, dead supervisor, reboot)
    EX_FINISHED,   // training exited 0, no evaluation yet
    EX_EVALUATED,  // eval.json present
    EX_QUALIFIED,  // every gate of `expt check` passes
    EX_COMMITTED,  // record committed and unchanged since
} ex_state;

typedef struct ex_status {
    ex_state state;
    long pid;  // supervisor pid from run.json (0 if none)
    long long step, total_steps;
    double loss, eta_s, elapsed_s;
    int has_progress;
    char detail[256];  // e.g. "exit status 1", "killed by signal 9"
} ex_status;

const char *ex_state_name(ex_state s);
int ex_status_get(const ex_project *p, const char *version, ex_status *out);
// Display cells for status/list: progress "120/1000 12%", loss "3.2100", ETA "5m02s" ("-" when
// unknown or not running).
void ex_status_cells(const ex_status *st, char *prog, size_t pc, char *loss, size_t lc, char *eta, size_t ec);

#endif
