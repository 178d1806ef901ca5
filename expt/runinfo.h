// The files of a run that the supervisor writes and everyone else reads (DESIGN.md §3), their
// schemas, and small JSON helpers. All writes are atomic (temporary name + rename).
//
// OUT/run.json — written by the supervisor when it starts (and again once the run script runs):
//   {"version": "X.Y.Z", "pid": supervisor pid, "proc_start_ticks": /proc/PID/stat field 22,
//    "start_time": "ISO 8601 UTC", "host": hostname, "command": [argv of the run script],
//    "commit": HEAD oid or "none", "resume": bool, "child_pid": run script pid or null,
//    "child_start_ticks": its field 22 or null, "log": "experiment.log"}
// OUT/exit.json — written when the run script (and everything it started) has ended; rewritten
// after the mandatory evaluation:
//   {"version", "pid": supervisor pid, "status": the run script's exit status (127: could not be
//    started), or null when killed by a signal, "signal": that signal's number, else 0,
//    "stopped": true when a stop was requested (expt stop, SIGTERM/SIGINT/SIGHUP to the
//    supervisor), "start_time", "end_time" (ISO 8601 UTC),
//    "duration_s", "peak_rss_kb" (largest resident set of the script and its descendants),
//    "host", "cpu" (model name), "gpu" (model name or null), "log_tail": the last 40 lines this run added to
//    experiment.log, "eval": {"ran": bool (the supervisor ran it), "status": 0 when eval.json is fresh (also
//             when the run script wrote it), the evaluation's exit status, or null when it could
//             not be started (no checkpoint, bad configuration), "reason": text}
//            or null before the evaluation step (and for failed or stopped runs)}
#ifndef EXPT_RUNINFO_H
#define EXPT_RUNINFO_H

#include <jansson.h>
#include <time.h>

// Exit status contract of the training engine (`minimind train`): 0 finished, EX_EXIT_STOPPED when
// it saved a checkpoint and stopped on SIGTERM/SIGINT (resumable), anything else failed.
#define EX_EXIT_STOPPED 3

// Lines kept in exit.json's log_tail.
#define EX_LOG_TAIL_LINES 40

// Reads a JSON object. Returns NULL with *missing = 1 when the file does not exist, or NULL with
// the error set ("PATH:LINE:COL: ...") when it cannot be parsed.
json_t *ex_runjson_read(const char *path, int *missing);
// Writes obj (pretty, trailing newline) atomically.
int ex_runjson_write(const char *path, const json_t *obj);
// Field access with defaults (wrong type = default).
long long ex_jint(const json_t *obj, const char *key, long long def);
double ex_jnum(const json_t *obj, const char *key, double def);
const char *ex_jstr(const json_t *obj, const char *key);  // NULL when absent
int ex_jbool(const json_t *obj, const char *key, int def);

// The last `n` lines of a file from byte offset `since` on (malloc'd, "" when the file is missing
// or empty).
char *ex_log_tail(const char *path, int n, long since);
// Modification time of a file; -1 when it does not exist.
double ex_mtime(const char *path);

#endif
