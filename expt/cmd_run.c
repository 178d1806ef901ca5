// `expt run X.Y.Z [--foreground] [--dry-run]`: snapshot git, launch the supervised run.
#include <stdio.h>

#include "commands.h"
#include "launch.h"
#include "cli.h"

static const char ex_run_usage[] =
    "usage: expt run X.Y.Z [--foreground] [--dry-run]\n"
    "\n"
    "Starts experiment X.Y.Z: refuses while it is already running or while the pre-run gates fail\n"
    "(human fields, AI reasoning, configuration, data paths; see `expt check`), records the git state\n"
    "(out/experiment_X_Y_Z/git.patch, git.json), then starts a detached supervisor that survives\n"
    "logout: it holds run.lock, runs run_file/experiment_X.Y.Z.sh (output in experiment.log), runs\n"
    "the mandatory evaluation when the script wrote no fresh eval.json, and fills the record.\n"
    "\n"
    "  --foreground  stay attached with a progress bar until the run ends (Ctrl-C stops it\n"
    "                gracefully); exit status 0 finished and evaluated, 3 stopped, 1 failed\n"
    "  --dry-run     print what would be done and start nothing\n";

int ex_cmd_run(int argc, char **argv) {
    ex_launch_opts o = {.check_gates = 1};
    const char *version = NULL;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_arg("X.Y.Z", &version)),
        mm_opt_flag("--foreground", &o.foreground),
        mm_opt_flag("--dry-run", &o.dry_run),
    };
    int rc = ex_parse_args("run", ex_run_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    int status = 0;
    rc = ex_launch(&p, version, &o, &status);
    ex_project_close(&p);
    if (rc != 0) {
        ex_error(NULL);
        return 1;
    }
    return o.foreground ? status : 0;
}
