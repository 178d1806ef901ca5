// `expt eval X.Y.Z`: run the mandatory evaluation now, then fill the record.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "evaluate.h"
#include "launch.h"
#include "minimind/error.h"
#include "proc.h"
#include "report.h"
#include "cli.h"
#include "jsonfile.h"
#include "runfiles.h"
#include "runlock.h"

static const char ex_eval_usage[] =
    "usage: expt eval X.Y.Z\n"
    "\n"
    "Runs the evaluation of experiment X.Y.Z's checkpoint now (`minimind eval ... --json\n"
    "out/experiment_X_Y_Z/eval.json`, options from the [eval] and [data] sections of its\n"
    "configuration), records it in exit.json, and fills the record. Refused while the run is going.\n";

// Records the evaluation in exit.json (when the run has one).
static void ex_note_eval(const char *exit_path, int status) {
    json_t *e = ex_json_load(exit_path, NULL);
    if (!e) return;
    json_object_set_new(e, "eval",
                        json_pack("{s:b, s:i, s:s}", "ran", 1, "status", status, "reason",
                                  status == 0 ? "ok (expt eval)" : "the evaluation failed (expt eval)"));
    if (ex_json_save(exit_path, e) != 0) ex_error(NULL);
    json_decref(e);
}

int ex_cmd_eval(int argc, char **argv) {
    const char *version = NULL;
    int rc = ex_parse_version("eval", ex_eval_usage, argc, argv, &version);
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    char *lock_path = ex_out_file(&p, version, "run.lock"),
         *exit_path = ex_out_file(&p, version, "exit.json");
    char *out = ex_out_dir(&p, version);
    ex_strv av = {0};
    int lock = -1;
    rc = 1;
    if (!lock_path || !exit_path || !out) goto done;
    if (access(out, F_OK) != 0) {
        ex_error("%s has not run yet (no %s)", version, out);
        goto done;
    }
    // Holding the run lock keeps a run from starting while we evaluate (and vice versa).
    lock = ex_runlock_acquire(lock_path);
    if (lock == -2) {
        char msg[512];
        ex_describe_running(&p, version, msg, sizeof msg);
        ex_error("%s: evaluate after it ends (the supervisor does it by itself)", msg);
        goto done;
    }
    if (lock < 0 || ex_eval_argv(&p, version, 1, &av) != 0) {
        ex_error(NULL);
        goto done;
    }
    fprintf(stderr, "expt: evaluating %s:", version);
    for (size_t i = 0; i < av.n; i++) fprintf(stderr, " %s", av.v[i]);
    fputc('\n', stderr);
    double start = ex_wall_s();
    pid_t pid;
    if (chdir(p.root) != 0) {  // relative paths in the configuration are relative to the root
        mm_errorf_errno("%s: cannot enter", p.root);
        ex_error(NULL);
        goto done;
    }
    if (ex_spawn(av.v, NULL, 0, &pid) != 0) {
        ex_error(NULL);
        goto done;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code == 0 && !ex_eval_fresh(&p, version, start)) code = 1;
    ex_note_eval(exit_path, code);
    if (code != 0) {
        ex_error("the evaluation of %s failed (status %d)", version, code);
        goto done;
    }
    close(lock);
    lock = -1;
    if (ex_report_experiment(&p, version) != 0 || ex_report_index(&p) != 0) {
        ex_error("evaluation done, but the record was not filled: %s", mm_error_message());
        goto done;
    }
    printf("evaluated %s: out/.../eval.json; record experiment/experiment_%s.md filled\n", version, version);
    rc = 0;
done:
    if (lock >= 0) close(lock);
    ex_strv_free(&av);
    free(lock_path);
    free(exit_path);
    free(out);
    ex_project_close(&p);
    return rc;
}
