// `expt logs X.Y.Z [-f] [-n N]`: print (and follow) an experiment's log.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "proc.h"
#include "cli.h"
#include "jsonfile.h"
#include "runfiles.h"
#include "runlock.h"

static const char ex_logs_usage[] =
    "usage: expt logs X.Y.Z [-f] [-n N]\n"
    "\n"
    "Prints out/experiment_X_Y_Z/experiment.log (the run script's output and the supervisor's\n"
    "lines). -n N: only the last N lines. -f: keep printing what is appended until the run ends.\n";

// Copies from fp to stdout until its end; returns the bytes copied.
static long ex_drain(FILE *fp) {
    char buf[65536];
    long total = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
        fwrite(buf, 1, n, stdout);
        total += (long)n;
    }
    clearerr(fp);
    fflush(stdout);
    return total;
}

int ex_cmd_logs(int argc, char **argv) {
    int follow = 0, last = -1;
    const char *version = NULL;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_arg("X.Y.Z", &version)),
        mm_opt_flag("-f", &follow),
        mm_opt_flag("--follow", &follow),
        mm_opt_int("-n", &last, 0, INT_MAX),
    };
    int rc = ex_parse_args("logs", ex_logs_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    char *log = ex_out_file(&p, version, "experiment.log"), *lock = ex_out_file(&p, version, "run.lock");
    rc = 1;
    FILE *fp = log ? fopen(log, "rb") : NULL;
    if (!fp) {
        ex_error("%s has no log yet (%s): it has not run", version, log ? log : "?");
        goto done;
    }
    if (last >= 0) {
        char *tail = ex_log_tail(log, last, 0);
        if (tail && *tail) printf("%s%s", tail, tail[strlen(tail) - 1] == '\n' ? "" : "\n");
        free(tail);
        fseek(fp, 0, SEEK_END);
    } else {
        ex_drain(fp);
    }
    fflush(stdout);
    while (follow) {
        long pos = ftell(fp);
        if (ex_mtime(log) >= 0) {
            fseek(fp, 0, SEEK_END);
            if (ftell(fp) < pos) pos = 0;  // truncated: start over
            fseek(fp, pos, SEEK_SET);
        }
        if (ex_drain(fp) > 0) continue;
        if (ex_runlock_held(lock) != 1) {  // the run ended: print what is left and stop
            ex_drain(fp);
            break;
        }
        ex_sleep_s(0.2);
    }
    rc = 0;
done:
    if (fp) fclose(fp);
    free(log);
    free(lock);
    ex_project_close(&p);
    return rc;
}
