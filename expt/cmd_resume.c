// `expt resume X.Y.Z [--foreground]`: continue a stopped, crashed or failed run from its checkpoint.
#include <stdio.h>

#include "commands.h"
#include "launch.h"
#include "cli.h"
#include "runstate.h"

static const char ex_resume_usage[] =
    "usage: expt resume X.Y.Z [--foreground]\n"
    "\n"
    "Starts the supervisor again for a stopped, crashed or failed run, with EXPT_RESUME=1 (the run\n"
    "script passes --resume to `minimind train`, which continues from the last checkpoint). The git\n"
    "snapshot of the original run is kept. --foreground: as for `expt run`.\n";

int ex_cmd_resume(int argc, char **argv) {
    ex_launch_opts o = {.resume = 1};
    const char *version = NULL;
    mm_opt opts[] = {mm_opt_required(mm_opt_arg("X.Y.Z", &version)),
                     mm_opt_flag("--foreground", &o.foreground)};
    int rc = ex_parse_args("resume", ex_resume_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    ex_status st;
    rc = 1;
    if (ex_status_get(&p, version, &st) != 0) {
        ex_error(NULL);
    } else if (st.state == EX_DRAFT || st.state == EX_READY) {
        ex_error("%s has never run: start it with `expt run %s`", version, version);
    } else if (st.state >= EX_FINISHED) {
        ex_error("%s has finished (%s): nothing to resume", version, ex_state_name(st.state));
    } else {
        int status = 0, lr = ex_launch(&p, version, &o, &status);
        if (lr != 0)
            ex_error(NULL);
        else
            rc = o.foreground ? status : 0;
    }
    ex_project_close(&p);
    return rc;
}
