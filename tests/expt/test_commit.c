// Committing an experiment with libgit2, checked with the real `git`: exactly the given files are
// committed (contents and executable bit as in the work tree), other staged changes stay staged,
// a repository without commits gets a root commit, an unchanged file set is refused, and
// `expt commit` refuses an experiment that does not pass its gates.
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expt_test_git.h"
#include "git_commit.h"
#include "minimind/error.h"
#include "project.h"

static char *trim(char *s) {
    s[strcspn(s, "\n")] = '\0';
    return s;
}

static char *git_out(const char *repo, const char *a, const char *b, const char *c, const char *d) {
    mm_proc_result r = ext_git(repo, a, b, c, d, NULL);
    cr_assert_eq(r.status, 0, "git %s %s: %s", a, b ? b : "", r.err);
    free(r.err);
    return r.out;
}

static void write_experiment(const char *repo, const char *record) {
    ext_write_str(repo, "experiment/experiment_1.0.0.md", record);
    ext_write_str(repo, "run_file/experiment_1.0.0.sh", "#!/bin/sh\necho run\n");
    char *sh = mm_test_path(repo, "run_file/experiment_1.0.0.sh");
    chmod(sh, 0755);
    free(sh);
    ext_write_str(repo, "run_file/experiment_1.0.0.ini", "[train]\nepochs = 1\n");
    ext_write_str(repo, "experiment/assets/experiment_1.0.0_loss.svg", "<svg/>\n");
}

Test(commit, exactly_these_files_in_a_repository_without_commits) {
    char *tmp = mm_test_tmpdir("commit");
    char *repo = mm_test_path(tmp, "repo");
    mkdir(repo, 0755);
    EXT_GIT_OK(repo, "init", "-q");
    EXT_GIT_OK(repo, "config", "user.name", "Expt Tester");
    EXT_GIT_OK(repo, "config", "user.email", "tester@example.com");
    write_experiment(repo, "# 1.0.0\n\n### Goal\n\nfirst record\n");
    ext_write_str(repo, "other.txt", "staged, not part of the experiment\n");
    EXT_GIT_OK(repo, "add", "other.txt");
    ext_write_str(repo, "junk.txt", "untracked\n");

    ex_project p;
    cr_assert_eq(ex_project_open(&p, repo), 0, "%s", mm_error_message());
    const char *paths[] = {"experiment/experiment_1.0.0.md", "run_file/experiment_1.0.0.sh",
                           "run_file/experiment_1.0.0.ini", "experiment/assets/experiment_1.0.0_loss.svg"};
    char oid[64];
    cr_assert_eq(ex_git_commit_paths(&p, paths, 4, "experiment 1.0.0: first record\n", oid, sizeof oid), 0,
                 "%s", mm_error_message());

    char *head = git_out(repo, "rev-parse", "HEAD", NULL, NULL);
    cr_assert_str_eq(trim(head), oid);
    free(head);
    char *subject = git_out(repo, "log", "-1", "--format=%s%n%an <%ae>%n%P", NULL);
    cr_assert_str_eq(subject, "experiment 1.0.0: first record\nExpt Tester <tester@example.com>\n\n",
                     "message, author, no parent: %s", subject);
    free(subject);
    char *tree = git_out(repo, "ls-tree", "-r", "HEAD", NULL);
    cr_assert_not_null(strstr(tree, "100755 blob"), "%s", tree);
    cr_assert_not_null(strstr(strstr(tree, "100755 blob"), "run_file/experiment_1.0.0.sh"),
                       "exec bit kept: %s", tree);
    free(tree);
    char *names = git_out(repo, "show", "--name-only", "--format=", "HEAD");
    cr_assert_str_eq(names,
                     "experiment/assets/experiment_1.0.0_loss.svg\nexperiment/experiment_1.0.0.md\n"
                     "run_file/experiment_1.0.0.ini\nrun_file/experiment_1.0.0.sh\n");
    free(names);
    // The committed bytes are the work tree's; nothing else changed state.
    char *blob = git_out(repo, "show", "HEAD:experiment/experiment_1.0.0.md", NULL, NULL);
    cr_assert_str_eq(blob, "# 1.0.0\n\n### Goal\n\nfirst record\n");
    free(blob);
    char *st = git_out(repo, "status", "--porcelain", NULL, NULL);
    cr_assert_str_eq(st, "A  other.txt\n?? junk.txt\n", "other staged work stays staged: %s", st);
    free(st);

    // A second commit on top; an unchanged set is refused.
    write_experiment(repo, "# 1.0.0\n\n### Goal\n\nfirst record, analysed\n");
    char oid2[64];
    cr_assert_eq(ex_git_commit_paths(&p, paths, 1, "experiment 1.0.0: analysis\n", oid2, sizeof oid2), 0,
                 "%s", mm_error_message());
    char *parent = git_out(repo, "log", "-1", "--format=%P", NULL);
    cr_assert_str_eq(trim(parent), oid);
    free(parent);
    cr_assert_eq(ex_git_commit_paths(&p, paths, 1, "again\n", oid2, sizeof oid2), -1);
    cr_assert_not_null(strstr(mm_error_message(), "nothing to commit"), "%s", mm_error_message());
    st = git_out(repo, "status", "--porcelain", NULL, NULL);
    cr_assert_str_eq(st, "A  other.txt\n?? junk.txt\n", "%s", st);
    free(st);

    ex_project_close(&p);
    mm_test_rmtree(tmp);
    free(repo);
    free(tmp);
}

Test(commit, refused_unless_every_gate_passes) {
    char *tmp = mm_test_tmpdir("commitg");
    char *repo = mm_test_path(tmp, "repo");
    mkdir(repo, 0755);
    EXT_GIT_OK(repo, "init", "-q");
    // A draft: placeholders left, never run — no gate set can pass it.
    write_experiment(repo, "# 1.0.0\n\n### 实验目的\n\n[人类填写]\n");
    const char *argv[] = {"/usr/bin/env", "-C", repo, MM_EXPT_EXE, "commit", "1.0.0", NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.err, "expt: error: "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "nothing is committed"), "%s", r.err);
    mm_proc_result_free(&r);
    mm_proc_result c = ext_git(repo, "rev-parse", "--verify", "-q", "HEAD", NULL);
    cr_assert_neq(c.status, 0, "no commit was made");
    mm_proc_result_free(&c);
    mm_test_rmtree(tmp);
    free(repo);
    free(tmp);
}
