// Processes for the run half of `expt`: argv/env vectors, posix_spawn in a process group, the
// kernel start time of a process (guards against PID reuse), UTC timestamps. No shell strings.
#ifndef EXPT_PROC_H
#define EXPT_PROC_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "minimind/error.h"

// A NULL-terminated vector of malloc'd strings (argv or environment).
typedef struct ex_strv {
    char **v;
    size_t n, cap;
} ex_strv;

int ex_strv_push(ex_strv *s, const char *str);
int ex_strv_pushf(ex_strv *s, const char *fmt, ...) MM_PRINTF(2, 3);
void ex_strv_free(ex_strv *s);
// Copies the current environment and sets NAME=VALUE pairs (replacing existing ones).
int ex_env_build(ex_strv *env, const char *const *pairs);  // pairs: "NAME=VALUE", NULL-terminated

// Spawns argv[0] (a path; no PATH search unless it has no '/') with env (NULL = environ),
// in a new process group when new_pgroup, with default signal dispositions and an empty mask.
// stdin/stdout/stderr are inherited. Returns 0 with *pid, or -1 with the error set.
int ex_spawn(char *const argv[], char *const env[], int new_pgroup, pid_t *pid);

// Field 22 of /proc/PID/stat (start time in clock ticks since boot). -1 when the process is gone
// (a zombie counts as gone).
int ex_proc_start_ticks(pid_t pid, unsigned long long *ticks);
// 1 when PID is alive and started at `ticks` (the same process, not a reused PID), else 0.
int ex_proc_is(pid_t pid, unsigned long long ticks);

// "2024-05-01T12:34:56Z" into buf (>= 21 bytes).
const char *ex_iso_utc(time_t t, char *buf, size_t cap);
// Parses the format above. Returns 0 or -1.
int ex_parse_iso_utc(const char *s, time_t *t);
// Wall-clock seconds (CLOCK_REALTIME) as a double.
double ex_wall_s(void);
// Sleeps `s` seconds (restarting after signals).
void ex_sleep_s(double s);
// "SIGKILL" etc. for a signal number.
const char *ex_signal_name(int sig);

#endif
