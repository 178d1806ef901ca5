// `expt list`: one line per experiment (state, progress, loss, ETA, detail).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/error.h"
#include "cli.h"
#include "runstate.h"

static const char ex_list_usage[] =
    "usage: expt list\n"
    "\n"
    "One line per experiment record (experiment/experiment_X.Y.Z.md): state (draft, ready, running,\n"
    "stalled, stopped, failed, crashed, finished, evaluated, qualified, committed), progress, last\n"
    "loss, ETA and what to do next.\n";

int ex_cmd_list(int argc, char **argv) {
    int rc = ex_parse_args("list", ex_list_usage, argc, argv, NULL, 0);
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, NULL) != 0) return 1;
    char **v;
    int n = ex_list_versions(&p, &v);
    rc = 0;
    if (n < 0) {
        ex_error(NULL);
        ex_project_close(&p);
        return 1;
    }
    if (n == 0)
        printf("no experiments yet (create one with `expt new X.Y.Z`)\n");
    else
        printf("%-10s %-10s %-16s %-8s %-9s %s\n", "VERSION", "STATE", "PROGRESS", "LOSS", "ETA", "DETAIL");
    for (int i = 0; i < n; i++) {
        ex_status st;
        if (ex_status_get(&p, v[i], &st) != 0) {
            printf("%-10s %-10s %s\n", v[i], "?", mm_error_message());
            rc = 1;
        } else {
            char prog[64], loss[32], eta[32];
            ex_status_cells(&st, prog, sizeof prog, loss, sizeof loss, eta, sizeof eta);
            printf("%-10s %-10s %-16s %-8s %-9s %s\n", v[i], ex_state_name(st.state), prog, loss, eta,
                   st.detail);
        }
        free(v[i]);
    }
    free(v);
    ex_project_close(&p);
    return rc;
}
