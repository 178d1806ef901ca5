// The supervisor of one run: a detached process (own session, stdin /dev/null, stdout+stderr
// appended to OUT/experiment.log) that holds OUT/run.lock for its whole life, writes run.json,
// runs the run script in its own process group with the EXPT_* environment, forwards a stop
// (SIGTERM/SIGINT/SIGHUP) to that group, waits for the script and every process it started
// (it is their subreaper), writes exit.json, runs the mandatory evaluation when the script left no
// fresh eval.json, fills the record (ex_report_experiment) and releases the lock by exiting.
//
// Run script environment (on top of the supervisor's own):
//   MINIMIND      the engine executable (expt.ini [engine] minimind)
//   EXPT_ROOT     the repository root (also the working directory)
//   EXPT_VERSION  X.Y.Z
//   EXPT_CONFIG   run_file/experiment_X.Y.Z.ini (absolute)
//   EXPT_OUT      out/experiment_X_Y_Z (absolute)
//   EXPT_RESUME   "1" when resuming (`expt resume`), else ""
// The script is run directly when executable, else with the interpreter of its #! line, else /bin/sh.
// Files: see runinfo.h (run.json, exit.json) and evaluate.h (the evaluation command).
#ifndef EXPT_SUPERVISOR_H
#define EXPT_SUPERVISOR_H

#include <sys/types.h>

#include "project.h"

typedef struct ex_supervise_opts {
    int resume;    // EXPT_RESUME=1
    int lock_fd;   // the run lock, already taken by the launcher; -1: take it here
    int ready_fd;  // where to write "ok PID\n" (or "error MESSAGE\n") once started; -1: none
} ex_supervise_opts;

// The supervisor's body (`expt supervise`). Returns its exit status: 0 when training and the
// evaluation succeeded, EX_EXIT_STOPPED (3) when stopped on request, 1 otherwise.
int ex_supervise(const ex_project *p, const char *version, const ex_supervise_opts *o);

// Starts `EXPT_EXE supervise VERSION --root ROOT --lock-fd 3 --ready-fd 4 [--resume]` detached
// (POSIX_SPAWN_SETSID), handing it the locked descriptor lock_fd (closed here), and waits for its
// ready line. Returns 0 with *pid, or -1 with the error set.
int ex_supervisor_spawn(const ex_project *p, const char *version, const char *expt_exe, int lock_fd,
                        int resume, pid_t *pid);

#endif
