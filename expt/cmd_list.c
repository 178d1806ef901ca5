// `expt list`: one line per experiment (state, progress, loss, ETA, detail).
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/error.h"
#include "runcmd.h"
#include "runstate.h"

static const char ex_list_usage[] =
    "usage: expt list\n"
    "\n"
    "One line per experiment record (experiment/experiment_X.Y.Z.md): state (draft, ready, running,\n"
    "stalled, stopped, failed, crashed, finished, evaluated, qualified, committed), progress, last\n"
    "loss, ETA and what to do next.\n";

static int ex_cmp_version(const void *a, const void *b) {
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    for (int i = 0; i < 3; i++) {
        long long u = strtoll(x, (char **)&x, 10), v = strtoll(y, (char **)&y, 10);
        if (u != v) return u < v ? -1 : 1;
        if (*x == '.') x++;
        if (*y == '.') y++;
    }
    return 0;
}

// Versions of experiment/experiment_X.Y.Z.md, sorted numerically. Returns the count or -1.
static int ex_scan_versions(const ex_project *p, char ***out) {
    *out = NULL;
    char *dir = ex_path_join(p->root, "experiment");
    if (!dir) return -1;
    DIR *d = opendir(dir);
    free(dir);
    if (!d) return 0;
    int n = 0, cap = 0;
    char **v = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "experiment_", 11) || len < 14 || strcmp(e->d_name + len - 3, ".md")) continue;
        char ver[64];
        size_t vl = len - 14;
        if (vl >= sizeof ver) continue;
        memcpy(ver, e->d_name + 11, vl);
        ver[vl] = '\0';
        if (ex_version_validate(ver) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **g = realloc(v, sizeof *v * (size_t)cap);
            if (!g) break;
            v = g;
        }
        v[n++] = mm_strdup(ver);
    }
    closedir(d);
    mm_error_clear();
    qsort(v, (size_t)n, sizeof *v, ex_cmp_version);
    *out = v;
    return n;
}

int ex_cmd_list(int argc, char **argv) {
    if (ex_rc_wants_help(argc, argv)) {
        fputs(ex_list_usage, stdout);
        return 0;
    }
    if (argc > 1) return ex_rc_usage(ex_list_usage, "list: unexpected argument '%s'", argv[1]);
    ex_project p;
    if (ex_rc_open(&p, NULL) != 0) return 1;
    char **v;
    int n = ex_scan_versions(&p, &v), rc = 0;
    if (n < 0) {
        ex_rc_error(NULL);
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
