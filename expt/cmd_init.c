// `expt init`: sets up templates/, experiment/, run_file/, expt.ini (and an ignored out/) in a
// repository. Idempotent; never overwrites a file that exists (an edited template stays).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "fsutil.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "templates.h"

static const char ex_init_usage[] =
    "usage: expt init\n\n"
    "Sets up the experiment workflow in the current git repository:\n"
    "  templates/   EXPERIMENT_TEMPLATE.md (+ .en.md), experiment_template.sh, experiment_template.ini\n"
    "  experiment/  the records, README.md (the workflow guide), assets/\n"
    "  run_file/    run scripts and configurations\n"
    "  expt.ini     settings ([engine] minimind, [paths] out, [git] patch_size_cap, [record] lang)\n"
    "  out/.gitignore  run outputs stay out of git\n"
    "Idempotent: files that exist are kept as they are (an edited template is never overwritten).\n";

static const char ex_default_settings[] =
    "; expt settings (see experiment/README.md). Relative paths are relative to the repository root.\n"
    "[engine]\n"
    "; minimind = build/engine/minimind\n"
    "\n[paths]\n"
    "; out = out\n"
    "\n[git]\n"
    "; files larger than this (bytes) are listed in git.json instead of included in git.patch\n"
    "; patch_size_cap = 1048576\n"
    "\n[record]\n"
    "; language of new records: zh or en\n"
    "lang = zh\n";

// Creates root/rel with data unless it exists. Prints what happened. 0 or -1.
static int ex_init_file(const char *root, const char *rel, const void *data, size_t len, mode_t mode) {
    char *path = ex_path_join(root, rel);
    if (!path) return -1;
    int rc = 0;
    if (ex_exists(path)) {
        size_t old_len = 0;
        char *old = mm_read_file(path, &old_len);
        int same = old && old_len == len && memcmp(old, data, len) == 0;
        free(old);
        mm_error_clear();
        printf("  kept     %s%s\n", rel, same ? "" : " (differs from the built-in one: edited, left as is)");
    } else {
        char *slash = strrchr(path, '/');
        *slash = '\0';
        rc = ex_mkdirs(path);
        *slash = '/';
        if (rc == 0) rc = mm_write_file_atomic(path, data, len);
        if (rc == 0 && chmod(path, mode) != 0) rc = mm_errorf_errno("%s: cannot set permissions", path);
        if (rc == 0) printf("  created  %s\n", rel);
    }
    free(path);
    return rc;
}

static int ex_init_dir(const char *root, const char *rel) {
    char *path = ex_path_join(root, rel);
    if (!path) return -1;
    int existed = ex_exists(path);
    int rc = ex_mkdirs(path);
    if (rc == 0) printf("  %s %s/\n", existed ? "kept    " : "created ", rel);
    free(path);
    return rc;
}

int ex_cmd_init(int argc, char **argv) {
    int rc = ex_parse_args("init", ex_init_usage, argc, argv, NULL, 0);
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, NULL) != 0) return 1;
    printf("expt init in %s\n", p.root);
    rc = 0;
    static const char *const dirs[] = {"templates", "experiment", "experiment/assets", "run_file", NULL};
    for (int i = 0; dirs[i] && rc == 0; i++) rc = ex_init_dir(p.root, dirs[i]);
    for (const ex_template_file *t = ex_templates; t->name && rc == 0; t++) {
        size_t n = strlen(t->name);
        mode_t mode = n > 3 && !strcmp(t->name + n - 3, ".sh") ? 0755 : 0644;
        rc = ex_init_file(p.root, t->name, t->data, t->len, mode);
    }
    if (rc == 0) rc = ex_init_file(p.root, "expt.ini", ex_default_settings, strlen(ex_default_settings), 0644);
    if (rc == 0) {
        char *gi = ex_path_join(p.out_root, ".gitignore");
        char *rel = gi ? ex_relpath(gi, p.root) : NULL;
        if (!gi || !rel) rc = -1;
        else if (rel[0] == '/' || !strncmp(rel, "../", 3)) {  // out/ lies outside the repository: nothing to ignore
            printf("  skipped  %s (outside the repository)\n", rel);
        } else {
            rc = ex_init_file(p.root, rel, "*\n", 2, 0644);
        }
        free(gi), free(rel);
    }
    if (rc != 0) rc = ex_fail();
    else printf("next: expt new 1.0.0 (see experiment/README.md)\n");
    ex_project_close(&p);
    return rc;
}
