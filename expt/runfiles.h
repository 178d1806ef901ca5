// The files of a run in out/experiment_X_Y_Z/ (DESIGN.md §3): their schemas, and readers for the
// ones expt reports on (expt/runfiles.c). Every file that another process reads is written
// atomically (temporary name + rename).
//
// Written by the engine (`minimind train`, `minimind eval`):
//   config.ini     the resolved configuration (read with ex_ini_load, inifile.h)
//   metrics.jsonl  one object per logged step {step, total_steps, epoch, loss, lr, grad_norm,
//                  tokens_per_s, elapsed_s, eta_s, ...}; progress.json: the latest one
//   pretrain_{dim}.safetensors (+ .state.safetensors for --resume)
//   eval.json      {"samples": [{"input", "reference", "output", "loss", ...}, ...],
//                   "summary": {"mean_loss", "perplexity", "num_samples", ...}, ...}
// Written by expt:
//   git.json, git.patch   the git snapshot (git_snapshot.h)
//   experiment.log        stdout+stderr of the supervisor, the run script and the evaluation
//   run.lock              held by the supervisor for its whole life (runlock.h)
//   run.json  — written by the supervisor when it starts (and again once the run script runs):
//     {"version": "X.Y.Z", "pid": supervisor pid, "proc_start_ticks": /proc/PID/stat field 22,
//      "start_time": "ISO 8601 UTC", "host": hostname, "command": [argv of the run script],
//      "commit": HEAD oid or "none", "resume": bool, "child_pid": run script pid or null,
//      "child_start_ticks": its field 22 or null, "log": "experiment.log"}
//   exit.json — written when the run script (and everything it started) has ended; rewritten
//     after the mandatory evaluation:
//     {"version", "pid": supervisor pid, "status": the run script's exit status (127: could not be
//      started), or null when killed by a signal, "signal": that signal's number, else 0,
//      "stopped": true when a stop was requested (expt stop, SIGTERM/SIGINT/SIGHUP to the
//      supervisor), "start_time", "end_time" (ISO 8601 UTC), "duration_s", "peak_rss_kb" (largest
//      resident set of the script and its descendants), "host", "cpu" (model name), "gpu" (model
//      name or null), "log_tail": the last 40 lines this run added to experiment.log,
//      "eval": {"ran": bool (the supervisor ran it), "status": 0 when eval.json is fresh (also
//               when the run script wrote it), the evaluation's exit status, or null when it could
//               not be started (no checkpoint, bad configuration), "reason": text}
//              or null before the evaluation step (and for failed or stopped runs)}
#ifndef EXPT_RUNFILES_H
#define EXPT_RUNFILES_H

#include <jansson.h>

// Exit status contract of the training engine (`minimind train`): 0 finished, EX_EXIT_STOPPED when
// it saved a checkpoint and stopped on SIGTERM/SIGINT (resumable), anything else failed
// (4: the loss became NaN/Inf).
#define EX_EXIT_STOPPED 3

// Lines kept in exit.json's log_tail.
#define EX_LOG_TAIL_LINES 40

// metrics.jsonl. Lines without a "loss" field are ignored.
typedef struct ex_metrics {
    int n;                 // points with a loss
    double *step, *loss, *lr, *epoch;  // (n,) each; lr/epoch NaN when absent
    long long total_steps; // from the last line (0 if absent)
    double final_loss, best_loss, best_step;
    double tokens_per_s, elapsed_s;  // of the last line (NaN when absent)
    // [train] eval_interval: the rows with a finite "val_loss" (n_val of them; the arrays NULL when
    // none); the last and the best (NaN without any).
    int n_val;
    double *val_step, *val_loss;
    double final_val, final_val_stderr, final_val_step, best_val, best_val_step;  // (stderr: NaN when absent)
    int n_bad;             // lines with a non-finite loss, or not parseable as JSON
    long first_bad_line;   // 1-based line of the first such line (0 if none)
    // Memory variants (docs/memory.md, "Instruments"): the last row's log window, NaN when the run
    // logs no memory usage; the EMA's rewritten entries and updates summed over every row.
    double mem_used, mem_entropy, mem_kl;  // memory_used_fraction, memory_usage_entropy, memory_kl_uniform
    long long mem_rewritten, mem_updates;
} ex_metrics;

// Returns 0, or -1 when the file cannot be opened (message set).
int ex_metrics_load(const char *path, ex_metrics *m);
void ex_metrics_free(ex_metrics *m);

// eval.json ("prompt" is accepted for "input", "generated" for "output").
typedef struct ex_eval {
    json_t *root;
    json_t *samples;   // array (borrowed; may be NULL)
    double mean_loss;  // NaN when absent
    double loss_stderr;  // the standard error of mean_loss from the samples' losses (NaN: < 2 of them)
    double perplexity; // exp(mean_loss) when absent
    int num_samples;
    json_t *facts;     // the "facts" object of `eval --facts` (borrowed; NULL when absent)
    int facts_correct, facts_total;  // 0 / 0 when absent
    json_t *ablation;  // the "bank_ablation" object of `eval --bank_ablation` (borrowed; NULL when absent)
    json_t *retrieval;  // the "retrieval" object of `eval --retrieval` (borrowed; NULL when absent)
} ex_eval;

// Returns 0 or -1 (missing file, not JSON, "summary.mean_loss" absent and no sample losses).
int ex_eval_load(const char *path, ex_eval *e);
void ex_eval_free(ex_eval *e);
// Sample field with the aliases above ("" when absent).
const char *ex_eval_sample_str(json_t *sample, const char *field);

// The last `n` lines of a file from byte offset `since` on (malloc'd, "" when the file is missing
// or empty).
char *ex_log_tail(const char *path, int n, long since);
// Modification time of a file; -1 when it does not exist.
double ex_mtime(const char *path);

#endif
