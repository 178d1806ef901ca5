// Progress reporting for long work: on a terminal, one redrawn bar with rate and ETA; otherwise
// (logs, pipes) a plain line every `log_every_s` seconds. Writes to stderr.
#ifndef MINIMIND_PROGRESS_H
#define MINIMIND_PROGRESS_H

#include <stdint.h>

typedef struct mm_progress {
    const char *label;
    int64_t total;        // units of work (0 = unknown)
    const char *unit;     // e.g. "MB", "steps"
    double unit_scale;    // divide done/total by this for display (e.g. 1e6 for bytes -> MB)
    double start_s;
    double last_draw_s;
    double log_every_s;
    int is_tty;
    int quiet;
} mm_progress;

void mm_progress_begin(mm_progress *p, const char *label, int64_t total, const char *unit,
                       double unit_scale);
// done: units finished so far; extra: optional text appended (e.g. "loss 3.21"), may be NULL.
void mm_progress_update(mm_progress *p, int64_t done, const char *extra);
void mm_progress_end(mm_progress *p, int64_t done, const char *extra);

// Monotonic seconds.
double mm_now_s(void);
// Formats seconds as "1h02m03s" / "2m05s" / "7s" into buf.
const char *mm_format_duration(double s, char *buf, int cap);

#endif
