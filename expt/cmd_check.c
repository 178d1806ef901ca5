// `expt check X.Y.Z`: the quality standard as gates, each ✓/✗ with its reason.
#include <stdio.h>

#include "cli.h"
#include "commands.h"
#include "gates.h"

static const char ex_check_usage[] =
    "usage: expt check X.Y.Z\n\n"
    "Evaluates every quality gate of experiment X.Y.Z and prints each as ✓/✗ with its reason:\n"
    "  goal, hypothesis and expected result filled; AI reasoning filled; configuration parses;\n"
    "  data paths exist; git record present; training finished without anomaly (exit 0, no NaN);\n"
    "  evaluation present; analysis filled; conclusion and next steps filled.\n"
    "Exit status: 0 when every gate passes, 1 when one fails or on an error, 2 on a usage error.\n";

int ex_cmd_check(int argc, char **argv) {
    const char *version = NULL;
    int rc = ex_parse_version("check", ex_check_usage, argc, argv, &version);
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, NULL) != 0) return 1;
    ex_gate_list g;
    if (ex_gates_all(&p, version, &g) != 0) {
        rc = ex_fail();
    } else {
        printf("experiment %s:\n", version);
        ex_gates_print(&g);
        rc = ex_gates_passed(&g) ? 0 : 1;
        printf(rc == 0 ? "all gates pass\n" : "some gates fail\n");
    }
    ex_project_close(&p);
    return rc;
}
