// A run's training log files (DESIGN.md §3, "A run's output directory"):
//   metrics.jsonl  one JSON object per logged step, appended and flushed line by line
//   progress.json  the latest row plus the run status, rewritten atomically (temp + rename)
#ifndef MINIMIND_METRICS_H
#define MINIMIND_METRICS_H

#include <jansson.h>
#include <stdio.h>

typedef struct mm_metrics_row {
    long step;           // micro-steps done (1-based after the first step)
    long total_steps;    // micro-steps of the whole run
    int epoch;           // 0-based epoch of the step
    double loss;         // mean masked loss of the step
    double lr;           // learning rate used at the step
    double grad_norm;    // global gradient norm before clipping, of the last optimizer step
    double tokens_per_s; // training throughput (non-padding tokens) since the last row
    double elapsed_s;    // wall time since the run (or the resumed run) started, plus earlier time
    double eta_s;        // estimated seconds to the end
} mm_metrics_row;

typedef struct mm_metrics_log {
    FILE *fp;
    char *metrics_path;
    char *progress_path;
    // What the run computes on ("cuda:0 (NVIDIA H200 ...)", "cpu"), the matmul precision it
    // really uses ("bf16"; "fp32" on the CPU) and, where the backend has several, its attention
    // ("flash", "gemm"; NULL on the CPU), the attention and feed-forward blocks' and the head's
    // storage ("bf16"; NULL: fp32): copied into progress.json when set (not owned).
    const char *device, *precision, *attention, *attention_storage, *ffn, *head;
} mm_metrics_log;

// Opens OUT_DIR/metrics.jsonl. keep_until_step < 0 truncates it (a new run); otherwise it keeps
// the rows with step <= keep_until_step (a resumed run: rows past the checkpoint are dropped, the
// rewrite is atomic) and appends after them.
int mm_metrics_open(mm_metrics_log *log, const char *out_dir, long keep_until_step);
// Appends the row (+ the fields of `extra`, may be NULL) and rewrites progress.json with
// status "running".
int mm_metrics_write(mm_metrics_log *log, const mm_metrics_row *row, json_t *extra);
// Rewrites progress.json with the final status ("finished", "stopped", "failed") and message.
int mm_metrics_finish(mm_metrics_log *log, const mm_metrics_row *last, const char *status, const char *message);
void mm_metrics_close(mm_metrics_log *log);

// The row as a JSON object (new reference).
json_t *mm_metrics_row_json(const mm_metrics_row *row);

#endif
