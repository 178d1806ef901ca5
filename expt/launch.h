// Starting a run (`expt run`, `expt resume`): refuse a second run while the lock is held, check the
// pre-run gates, snapshot git, take the run lock, start the detached supervisor, print how to
// follow it — or, in the foreground, follow it with a progress bar until it ends.
#ifndef EXPT_LAUNCH_H
#define EXPT_LAUNCH_H

#include "project.h"

typedef struct ex_launch_opts {
    int resume;            // continue from the last checkpoint (EXPT_RESUME=1); keeps the git snapshot
    int foreground;        // stay attached: progress bar, Ctrl-C stops the run gracefully
    int dry_run;           // print what would happen, start nothing
    int check_gates;       // refuse unless ex_gates_prerun passes (`expt run`)
    const char *expt_exe;  // the expt executable for `expt supervise` (NULL: /proc/self/exe)
} ex_launch_opts;

#define EX_LAUNCH_BUSY (-2)  // already running (message set)

// Returns 0 when launched (foreground: when the run ended; *run_status gets the supervisor's exit
// status: 0 finished and evaluated, 3 stopped, 1 failed), EX_LAUNCH_BUSY, or -1 with the message set.
int ex_launch(const ex_project *p, const char *version, const ex_launch_opts *o, int *run_status);

// "X.Y.Z is running (supervisor pid N since T)" into buf, for refusals.
void ex_describe_running(const ex_project *p, const char *version, char *buf, size_t cap);

#endif
