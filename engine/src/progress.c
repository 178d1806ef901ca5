// Progress bar / log lines (see minimind/progress.h).
#include "minimind/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

double mm_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *mm_format_duration(double s, char *buf, int cap) {
    if (s < 0 || s != s || s > 1e9) {
        snprintf(buf, cap, "?");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm%02lds", t / 3600, (t / 60) % 60, t % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
    return buf;
}

void mm_progress_begin(mm_progress *p, const char *label, int64_t total, const char *unit,
                       double unit_scale) {
    p->label = label;
    p->total = total;
    p->unit = unit ? unit : "";
    p->unit_scale = unit_scale > 0 ? unit_scale : 1.0;
    p->start_s = mm_now_s();
    p->last_draw_s = 0;
    p->log_every_s = 5.0;
    p->is_tty = isatty(STDERR_FILENO);
    p->quiet = getenv("MM_QUIET") != NULL;
}

static void mm_progress_draw(mm_progress *p, int64_t done, const char *extra, int final) {
    double now = mm_now_s(), el = now - p->start_s;
    double rate = el > 0 ? (double)done / p->unit_scale / el : 0;
    char eta[32] = "?", elapsed[32];
    if (p->total > 0 && done > 0) mm_format_duration(el * (double)(p->total - done) / (double)done, eta, sizeof eta);
    mm_format_duration(el, elapsed, sizeof elapsed);
    double frac = p->total > 0 ? (double)done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    // "12.0/40.0 facts (30.0%)", or "12.0 facts" when the total is unknown (0)
    char count[96];
    if (p->total > 0)
        snprintf(count, sizeof count, "%.1f/%.1f %s (%.1f%%)", done / p->unit_scale, p->total / p->unit_scale,
                 p->unit, 100 * frac);
    else
        snprintf(count, sizeof count, "%.1f %s", done / p->unit_scale, p->unit);
    if (p->is_tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r%s [%s] %s  %.2f %s/s  %s  ETA %s%s%s\x1b[K", p->label, bar, count, rate, p->unit, elapsed,
                final ? "0s" : eta, extra ? "  " : "", extra ? extra : "");
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %s %.2f %s/s elapsed %s eta %s%s%s\n", p->label, count, rate, p->unit, elapsed,
                final ? "0s" : eta, extra ? " " : "", extra ? extra : "");
    }
    fflush(stderr);
    p->last_draw_s = now;
}

void mm_progress_update(mm_progress *p, int64_t done, const char *extra) {
    if (p->quiet) return;
    double now = mm_now_s();
    double every = p->is_tty ? 0.2 : p->log_every_s;
    if (now - p->last_draw_s < every) return;
    mm_progress_draw(p, done, extra, 0);
}

void mm_progress_end(mm_progress *p, int64_t done, const char *extra) {
    if (p->quiet) return;
    mm_progress_draw(p, done, extra, 1);
}
