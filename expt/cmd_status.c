// `expt status [X.Y.Z]`: the state of one experiment in detail (all of them: like `expt list`).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "fsutil.h"
#include "minimind/error.h"
#include "minimind/progress.h"
#include "runfiles.h"
#include "runstate.h"

static const char ex_status_usage[] =
    "usage: expt status [X.Y.Z]\n"
    "\n"
    "State, progress, loss and ETA of one experiment; without a version, one line per experiment\n"
    "(as `expt list`). Liveness comes from the run lock: a run whose supervisor died (SIGKILL,\n"
    "crash, reboot) shows as crashed, never as running. Exit status 0.\n";

// [train] eval_interval: the last validation loss in metrics.jsonl.
static void ex_print_validation(const ex_project *p, const char *version) {
    char *path = ex_out_file(p, version, "metrics.jsonl");
    ex_metrics m;
    if (path && ex_exists(path) && ex_metrics_load(path, &m) == 0) {
        if (m.n_val) {
            printf("  validation:     loss %.4f", m.final_val);
            if (isfinite(m.final_val_stderr)) printf(" ± %.4f", m.final_val_stderr);
            printf(" at step %.0f (best %.4f at step %.0f)\n", m.final_val_step, m.best_val, m.best_val_step);
        }
        ex_metrics_free(&m);
    }
    mm_error_clear();
    free(path);
}

int ex_cmd_status(int argc, char **argv) {
    const char *version = NULL;
    mm_opt opts[] = {mm_opt_arg("X.Y.Z", &version)};
    int rc = ex_parse_args("status", ex_status_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    if (!version) return ex_cmd_list(1, argv);
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    ex_status st;
    if (ex_status_get(&p, version, &st) != 0) {
        ex_error(NULL);
        ex_project_close(&p);
        return 1;
    }
    char prog[64], loss[32], eta[32], el[32];
    ex_status_cells(&st, prog, sizeof prog, loss, sizeof loss, eta, sizeof eta);
    printf("experiment %s: %s\n", version, ex_state_name(st.state));
    if (st.detail[0]) printf("  %s\n", st.detail);
    if (st.pid)
        printf("  supervisor pid: %ld%s\n", st.pid,
               st.state == EX_RUNNING || st.state == EX_STALLED ? "" : " (ended)");
    if (st.has_progress) printf("  progress:       %s   loss %s\n", prog, loss);
    ex_print_validation(&p, version);
    if (st.elapsed_s >= 0) printf("  elapsed:        %s\n", mm_format_duration(st.elapsed_s, el, sizeof el));
    if (strcmp(eta, "-")) printf("  ETA:            %s\n", eta);
    char *log = ex_out_file(&p, version, "experiment.log");
    if (log && st.state != EX_DRAFT && st.state != EX_READY)
        printf("  log:            %s\n", log + strlen(p.root) + 1);
    free(log);
    ex_project_close(&p);
    return 0;
}
