// `expt report [X.Y.Z]`: regenerates the machine-owned regions of one or all records, and
// experiment/INDEX.md.
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "report.h"

static const char ex_report_usage[] =
    "usage: expt report [X.Y.Z]\n\n"
    "Regenerates, from the stored run files in out/experiment_X_Y_Z/, the machine-owned regions of\n"
    "experiment/experiment_X.Y.Z.md (git record, configuration, execution record, training results\n"
    "with experiment/assets/experiment_X.Y.Z_loss.svg, evaluation) — of every record when no version\n"
    "is given — and experiment/INDEX.md. Only the bytes between the markers change; running it\n"
    "twice changes nothing.\n";

int ex_cmd_report(int argc, char **argv) {
    const char *version = NULL;
    mm_opt opts[] = {mm_opt_arg("X.Y.Z", &version)};
    int rc = ex_parse_args("report", ex_report_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    if (version && ex_version_validate(version) != 0) return ex_fail() + 1;
    ex_project p;
    if (ex_open_project(&p, NULL) != 0) return 1;
    rc = 0;
    if (version) {
        if (ex_report_experiment(&p, version) != 0) rc = ex_fail();
        else printf("experiment/experiment_%s.md: regions regenerated\n", version);
    } else {
        char **versions = NULL;
        int n = ex_list_versions(&p, &versions);
        if (n < 0) rc = ex_fail();
        for (int i = 0; i < n; i++) {
            if (ex_report_experiment(&p, versions[i]) != 0) rc = ex_fail();  // go on with the others
            else printf("experiment/experiment_%s.md: regions regenerated\n", versions[i]);
            free(versions[i]);
        }
        free(versions);
    }
    if (ex_report_index(&p) != 0) rc = ex_fail();
    else printf("experiment/INDEX.md: regenerated\n");
    ex_project_close(&p);
    return rc;
}
