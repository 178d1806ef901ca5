// `expt supervise X.Y.Z [--root DIR] [--lock-fd N] [--ready-fd N] [--resume]`: the supervisor
// process itself (internal; started detached by `expt run` / `expt resume`, see supervisor.h).
#include <stdio.h>

#include "commands.h"
#include "minimind/error.h"
#include "cli.h"
#include "supervisor.h"

static const char ex_supervise_usage[] =
    "usage: expt supervise X.Y.Z [--root DIR] [--lock-fd N] [--ready-fd N] [--resume]\n"
    "\n"
    "Internal: the supervisor of one run, started detached by `expt run`. Run by hand it supervises\n"
    "in the foreground (taking run.lock itself).\n";

int ex_cmd_supervise(int argc, char **argv) {
    ex_supervise_opts o = {.lock_fd = -1, .ready_fd = -1};
    const char *version = NULL, *root = NULL;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_arg("X.Y.Z", &version)),
        mm_opt_str("--root", &root),
        mm_opt_int("--lock-fd", &o.lock_fd, 0, 1023),
        mm_opt_int("--ready-fd", &o.ready_fd, 0, 1023),
        mm_opt_flag("--resume", &o.resume),
    };
    int rc = ex_parse_args("supervise", ex_supervise_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_version_validate(version) != 0 || ex_project_open(&p, root) != 0) {
        ex_error(NULL);
        if (o.ready_fd >= 0) {
            FILE *fp = fdopen(o.ready_fd, "w");
            if (fp) {
                fprintf(fp, "error %s\n", mm_error_message());
                fclose(fp);
            }
        }
        return 1;
    }
    rc = ex_supervise(&p, version, &o);
    ex_project_close(&p);
    return rc;
}
