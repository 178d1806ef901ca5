// `expt commit X.Y.Z`: commit a qualified experiment's record, run files and assets.
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "gates.h"
#include "git_commit.h"
#include "minimind/error.h"
#include "recinfo.h"
#include "cli.h"

static const char ex_commit_usage[] =
    "usage: expt commit X.Y.Z\n"
    "\n"
    "Only when every gate of `expt check X.Y.Z` passes: commits experiment/experiment_X.Y.Z.md,\n"
    "run_file/experiment_X.Y.Z.{sh,ini} and experiment/assets/experiment_X.Y.Z* — exactly these\n"
    "files; anything else staged stays staged — with the message\n"
    "`experiment X.Y.Z: <first line of the goal>`. Works in a repository without commits.\n";

int ex_cmd_commit(int argc, char **argv) {
    const char *version = NULL;
    int rc = ex_parse_version("commit", ex_commit_usage, argc, argv, &version);
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    rc = 1;
    char *files[64];
    size_t n = 0;
    glob_t g = {0};
    ex_gate_list gates;
    memset(&gates, 0, sizeof gates);
    if (ex_gates_all(&p, version, &gates) != 0) {
        ex_error("%s: cannot check the gates, so nothing is committed: %s", version, mm_error_message());
        goto done;
    }
    if (!ex_gates_passed(&gates)) {
        ex_gates_print(&gates);
        ex_error("%s does not pass every gate (marked ✗ above): nothing is committed", version);
        goto done;
    }
    files[n++] = ex_record_path(&p, version);
    files[n++] = ex_script_path(&p, version);
    files[n++] = ex_config_path(&p, version);
    char pattern[4200];
    snprintf(pattern, sizeof pattern, "%s/experiment/assets/experiment_%s*", p.root, version);
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc && n < 64; i++) files[n++] = mm_strdup(g.gl_pathv[i]);
    const char *rel[64];
    size_t m = 0, root_len = strlen(p.root);
    for (size_t i = 0; i < n; i++) {
        if (!files[i]) goto done;
        if (i > 0 && access(files[i], F_OK) != 0) continue;  // the run files are optional
        rel[m++] = files[i] + root_len + 1;
    }
    char goal[512], msg[700], oid[64];
    if (ex_recinfo_goal(&p, version, goal, sizeof goal) == 1)
        snprintf(msg, sizeof msg, "experiment %s: %s\n", version, goal);
    else
        snprintf(msg, sizeof msg, "experiment %s\n", version);
    if (ex_git_commit_paths(&p, rel, m, msg, oid, sizeof oid) != 0) {
        ex_error(NULL);
        goto done;
    }
    printf("[%.*s] %s", 12, oid, msg);
    for (size_t i = 0; i < m; i++) printf("  %s\n", rel[i]);
    rc = 0;
done:
    for (size_t i = 0; i < n; i++) free(files[i]);
    globfree(&g);
    ex_project_close(&p);
    return rc;
}
