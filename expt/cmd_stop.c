// `expt stop X.Y.Z [--timeout S]`: stop a run gracefully (the engine saves a checkpoint first).
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/progress.h"
#include "proc.h"
#include "cli.h"
#include "jsonfile.h"
#include "runfiles.h"
#include "runlock.h"

static const char ex_stop_usage[] =
    "usage: expt stop X.Y.Z [--timeout S]\n"
    "\n"
    "Asks the supervisor to stop the run: it sends SIGTERM to the run script's process group, the\n"
    "engine saves a checkpoint and exits (status 3), and exit.json records stopped=true. Waits up to\n"
    "S seconds (default 120) for the run to end. A run script left running by a dead supervisor is\n"
    "sent SIGTERM directly. Resume with `expt resume X.Y.Z`.\n";

// Waits until the lock is free (or, lock_path NULL, until pid is gone). 0 when it ended in time.
static int ex_wait_end(const char *lock_path, pid_t pid, unsigned long long ticks, double timeout) {
    double t0 = ex_wall_s();
    while (ex_wall_s() - t0 < timeout) {
        if (lock_path ? ex_runlock_held(lock_path) != 1 : !ex_proc_is(pid, ticks)) return 0;
        ex_sleep_s(0.1);
    }
    return -1;
}

int ex_cmd_stop(int argc, char **argv) {
    double timeout = 120;
    const char *version = NULL;
    mm_opt opts[] = {mm_opt_required(mm_opt_arg("X.Y.Z", &version)),
                     mm_opt_float("--timeout", &timeout, 0, INFINITY)};
    int rc = ex_parse_args("stop", ex_stop_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    char *lock = ex_out_file(&p, version, "run.lock"), *run_path = ex_out_file(&p, version, "run.json");
    char *exit_path = ex_out_file(&p, version, "exit.json");
    json_t *run = run_path ? ex_json_load(run_path, NULL) : NULL;
    int held = lock ? ex_runlock_held(lock) : -1;
    rc = 1;
    pid_t sup = (pid_t)ex_json_int(run, "pid", 0), child = (pid_t)ex_json_int(run, "child_pid", 0);
    unsigned long long sticks = (unsigned long long)ex_json_int(run, "proc_start_ticks", 0);
    unsigned long long cticks = (unsigned long long)ex_json_int(run, "child_start_ticks", 0);
    char d[32];
    if (held < 0) {
        ex_error(NULL);
    } else if (held) {
        // The lock holder must be the supervisor named in run.json (same PID *and* start time).
        if (!ex_proc_is(sup, sticks)) {
            ex_error(
                "%s: the run lock is held but run.json does not name a live supervisor (starting?); try "
                "again",
                version);
            goto done;
        }
        if (kill(sup, SIGTERM) != 0) {
            ex_error("cannot signal the supervisor (pid %ld): %s", (long)sup, strerror(errno));
            goto done;
        }
        printf("stopping %s (supervisor pid %ld): the engine saves a checkpoint first...\n", version,
               (long)sup);
        fflush(stdout);
        if (ex_wait_end(lock, 0, 0, timeout) != 0) {
            ex_error("%s is still stopping after %s; it keeps going on its own (`expt status %s`)",
                        version, mm_format_duration(timeout, d, sizeof d), version);
            goto done;
        }
        json_t *ex = exit_path ? ex_json_load(exit_path, NULL) : NULL;
        json_t *st = json_object_get(ex, "status");
        int sig = (int)ex_json_int(ex, "signal", 0);
        if (!ex)
            printf("%s ended without an exit record\n", version);
        else if (sig)
            printf("%s stopped: run script ended by signal %d (%s)\n", version, sig, ex_signal_name(sig));
        else
            printf("%s stopped: run script exit status %lld%s\n", version,
                   json_is_integer(st) ? json_integer_value(st) : -1,
                   json_is_integer(st) && json_integer_value(st) == 3 ? " (checkpoint saved)" : "");
        printf("resume it with `expt resume %s`\n", version);
        json_decref(ex);
        rc = 0;
    } else if (child > 0 && ex_proc_is(child, cticks)) {
        // The supervisor is gone but the run script is not: stop its process group directly.
        kill(-child, SIGTERM);
        printf("%s: supervisor gone; sent SIGTERM to the unsupervised run script (process group %ld)\n",
               version, (long)child);
        if (ex_wait_end(NULL, child, cticks, timeout) != 0) {
            ex_error("the run script (pid %ld) is still running after %s", (long)child,
                        mm_format_duration(timeout, d, sizeof d));
            goto done;
        }
        printf("stopped; resume it with `expt resume %s`\n", version);
        rc = 0;
    } else {
        ex_error("%s is not running", version);
    }
done:
    json_decref(run);
    free(lock);
    free(run_path);
    free(exit_path);
    ex_project_close(&p);
    return rc;
}
