// `expt supervise X.Y.Z [--root DIR] [--lock-fd N] [--ready-fd N] [--resume]`: the supervisor
// process itself (internal; started detached by `expt run` / `expt resume`, see supervisor.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/error.h"
#include "cli.h"
#include "supervisor.h"

static const char ex_supervise_usage[] =
    "usage: expt supervise X.Y.Z [--root DIR] [--lock-fd N] [--ready-fd N] [--resume]\n"
    "\n"
    "Internal: the supervisor of one run, started detached by `expt run`. Run by hand it supervises\n"
    "in the foreground (taking run.lock itself).\n";

static int ex_fd_arg(const char *s, int *fd) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1023) return -1;
    *fd = (int)v;
    return 0;
}

int ex_cmd_supervise(int argc, char **argv) {
    if (ex_wants_help(argc, argv)) {
        fputs(ex_supervise_usage, stdout);
        return 0;
    }
    ex_supervise_opts o = {.lock_fd = -1, .ready_fd = -1};
    const char *version = NULL, *root = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--resume"))
            o.resume = 1;
        else if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--lock-fd") && i + 1 < argc) {
            if (ex_fd_arg(argv[++i], &o.lock_fd) != 0)
                return ex_usage_error("supervise", "bad --lock-fd");
        } else if (!strcmp(argv[i], "--ready-fd") && i + 1 < argc) {
            if (ex_fd_arg(argv[++i], &o.ready_fd) != 0)
                return ex_usage_error("supervise", "bad --ready-fd");
        } else if (argv[i][0] == '-')
            return ex_usage_error("supervise", "unknown option '%s'", argv[i]);
        else
            version = argv[i];
    }
    if (!version) return ex_usage_error("supervise", "which experiment?");
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
    int rc = ex_supervise(&p, version, &o);
    ex_project_close(&p);
    return rc;
}
