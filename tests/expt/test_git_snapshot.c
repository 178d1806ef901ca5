// The git snapshot against the real `git`: the stored git.patch, applied with `git apply` to a
// clean checkout of the recorded commit, recreates the work tree exactly (modified, deleted,
// staged, untracked, nested untracked folders, binary files, mode changes, symlinks, empty files);
// ignored files, the run output folder and files over the size cap stay out; the diffstat equals
// git's; a repository with no commits works; project discovery gives clear messages.
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expt_test_git.h"
#include "git_snapshot.h"
#include "minimind/error.h"
#include "project.h"

static char *trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
    return s;
}

static json_t *load_json(const char *dir, const char *name) {
    char *path = mm_test_path(dir, name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    cr_assert_not_null(j, "%s: %s", path, e.text);
    free(path);
    return j;
}

static void make_binary(unsigned char *buf, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    buf[0] = 0;  // a NUL byte: git and libgit2 both call it binary
}

static char *snapshot(const char *repo, const char *based_on) {
    ex_project p;
    cr_assert_eq(ex_project_open(&p, repo), 0, "%s", mm_error_message());
    char *out = ex_out_dir(&p, "1.0.0");
    char *parent = mm_test_path(repo, "out");
    mkdir(parent, 0755);
    mkdir(out, 0755);
    free(parent);
    cr_assert_eq(ex_git_snapshot(&p, out, based_on), 0, "%s", mm_error_message());
    ex_project_close(&p);
    return out;
}

// An empty repository at dir/repo (returned, malloc'd).
static char *init_repo(const char *dir) {
    char *repo = mm_test_path(dir, "repo");
    mkdir(repo, 0755);
    EXT_GIT_OK(repo, "init", "-q");
    return repo;
}

// A repository with one commit and then every kind of change.
static void make_dirty_repo(const char *repo) {
    mkdir(repo, 0755);
    EXT_GIT_OK(repo, "init", "-q");
    ext_write_str(repo, "a.txt", "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n");
    ext_write_str(repo, "b.txt", "to be deleted\nsecond line\n");
    ext_write_str(repo, "c.sh", "#!/bin/sh\necho mode change\n");
    ext_write_str(repo, "sub/d.txt", "nested tracked\n");
    ext_write_str(repo, "noeol.txt", "no newline at the end");
    ext_write_str(repo, ".gitignore", "*.log\n");
    unsigned char bin[3000];
    make_binary(bin, sizeof bin, 1);
    ext_write(repo, "bin.dat", bin, sizeof bin);
    EXT_GIT_OK(repo, "add", "-A");
    EXT_GIT_OK(repo, "commit", "-q", "-m", "base");

    // Tracked changes: edit, delete, mode change, binary edit, no-newline edit, staged new file.
    ext_write_str(repo, "a.txt", "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n");
    char *b = mm_test_path(repo, "b.txt");
    cr_assert_eq(unlink(b), 0);
    free(b);
    char *c = mm_test_path(repo, "c.sh");
    cr_assert_eq(chmod(c, 0755), 0);
    free(c);
    make_binary(bin, sizeof bin, 2);
    ext_write(repo, "bin.dat", bin, sizeof bin);
    ext_write_str(repo, "noeol.txt", "no newline at the end, edited");
    ext_write_str(repo, "staged.txt", "staged but not committed\n");
    EXT_GIT_OK(repo, "add", "staged.txt");
    // Untracked: plain, nested folders, binary, empty, symlink.
    ext_write_str(repo, "u.txt", "untracked\nfile\n");
    ext_write_str(repo, "n1/n2/n3/deep.txt", "deep untracked\n");
    ext_write_str(repo, "n1/top.txt", "another\n");
    make_binary(bin, 1500, 3);
    ext_write(repo, "n1/ubin.dat", bin, 1500);
    ext_write_str(repo, "empty.txt", "");
    char *l = mm_test_path(repo, "link");
    cr_assert_eq(symlink("u.txt", l), 0);
    free(l);
    // Ignored: never in the patch.
    ext_write_str(repo, "x.log", "ignored\n");
    // Over the cap (4096 bytes, from expt.ini): listed, not included.
    unsigned char big[10000];
    make_binary(big, sizeof big, 4);
    ext_write(repo, "big.bin", big, sizeof big);
    ext_write_str(repo, "expt.ini", "[git]\npatch_size_cap = 4096\n");
    // The run output folder (not ignored here): left out.
    ext_write_str(repo, "out/experiment_0_9_0/metrics.jsonl", "{\"step\": 1}\n");
}

Test(git_snapshot, patch_recreates_the_work_tree) {
    char *tmp = mm_test_tmpdir("gitsnap");
    char *repo = mm_test_path(tmp, "repo");
    make_dirty_repo(repo);
    mm_proc_result head = ext_git(repo, "rev-parse", "HEAD", NULL);
    trim(head.out);

    char *out = snapshot(repo, NULL);
    json_t *j = load_json(out, "git.json");
    cr_assert_str_eq(json_string_value(json_object_get(j, "commit")), head.out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "branch")), "main");
    cr_assert(json_is_true(json_object_get(j, "dirty")));
    json_t *over = json_object_get(j, "excluded");
    cr_assert_eq(json_array_size(over), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(over, 0), "path")), "big.bin");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(over, 0), "size")), 10000);

    size_t plen;
    char *patch = ext_read(out, "git.patch", &plen);
    cr_assert_not_null(strstr(patch, "#   big.bin (10000 bytes)"), "over-cap file listed in the header");
    cr_assert_null(strstr(patch, "b/big.bin"), "over-cap file not included");
    cr_assert_null(strstr(patch, "x.log"), "ignored file not included");
    cr_assert_null(strstr(patch, "metrics.jsonl"), "run output not included");
    cr_assert_not_null(strstr(patch, "GIT binary patch"));

    // Tracked diffstat = `git diff HEAD --shortstat`.
    mm_proc_result g = ext_git(repo, "diff", "HEAD", "--shortstat", NULL);
    json_t *tracked = json_object_get(j, "tracked_diffstat");
    cr_assert_str_eq(json_string_value(json_object_get(tracked, "shortstat")), trim(g.out));
    mm_proc_result_free(&g);
    // Whole diffstat (untracked files as added) = `git add -A; git diff --cached --shortstat HEAD`.
    EXT_GIT_OK(repo, "add", "-A", "--", ".", ":!out");
    g = ext_git(repo, "diff", "--cached", "--shortstat", "HEAD", NULL);
    json_t *all = json_object_get(j, "diffstat_summary");
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "diffstat")),
                              json_string_value(json_object_get(all, "shortstat"))));
    cr_assert_str_eq(json_string_value(json_object_get(all, "shortstat")), trim(g.out));
    mm_proc_result_free(&g);
    g = ext_git(repo, "diff", "--cached", "--numstat", "HEAD", NULL);
    int files = 0, ins = 0, del = 0;
    for (char *line = strtok(g.out, "\n"); line; line = strtok(NULL, "\n")) {
        int a = 0, d = 0;
        if (sscanf(line, "%d\t%d", &a, &d) == 2) {
            ins += a;
            del += d;
        }
        files++;
    }
    mm_proc_result_free(&g);
    cr_assert_eq(json_integer_value(json_object_get(all, "files_changed")), files);
    cr_assert_eq(json_integer_value(json_object_get(all, "insertions")), ins);
    cr_assert_eq(json_integer_value(json_object_get(all, "deletions")), del);
    EXT_GIT_OK(repo, "reset", "-q");
    EXT_GIT_OK(repo, "add", "staged.txt");

    // A clean checkout of the recorded commit + git apply = the work tree.
    char *clone = mm_test_path(tmp, "clone");
    EXT_GIT_OK(tmp, "clone", "-q", repo, clone);
    EXT_GIT_OK(clone, "checkout", "-q", "--detach", head.out);
    char *patch_path = mm_test_path(out, "git.patch");
    EXT_GIT_OK(clone, "apply", patch_path);
    const char *skip[] = {"out/", "x.log", "big.bin", NULL};
    ext_assert_same_tree(repo, clone, skip);

    free(patch_path);
    free(clone);
    free(patch);
    json_decref(j);
    mm_proc_result_free(&head);
    free(out);
    mm_test_rmtree(tmp);
    free(repo);
    free(tmp);
}

// A file name that is not UTF-8 (Latin-1 "café"): listed in git.json with U+FFFD, counted in the
// diffstat, kept in the patch (jansson refused the raw name: the file's entry and the whole
// diffstat went missing from git.json).
Test(git_snapshot, file_names_that_are_not_utf8_stay_in_git_json) {
    char *tmp = mm_test_tmpdir("gitsnap8");
    char *repo = init_repo(tmp);
    ext_write_str(repo, "a.txt", "one\n");
    EXT_GIT_OK(repo, "add", "-A");
    EXT_GIT_OK(repo, "commit", "-q", "-m", "base");
    ext_write_str(repo, "a.txt", "one\ntwo\n");
    ext_write_str(repo, "caf\xe9.txt", "latin-1 name\n");

    char *out = snapshot(repo, NULL);
    json_t *j = load_json(out, "git.json");
    json_t *files = json_object_get(j, "files");
    cr_assert_eq(json_array_size(files), 2, "%zu files listed", json_array_size(files));
    int found = 0;
    for (size_t i = 0; i < 2; i++)
        found += !strcmp(json_string_value(json_object_get(json_array_get(files, i), "path")),
                         "caf\xef\xbf\xbd.txt");
    cr_assert_eq(found, 1, "the Latin-1 name is not listed as caf\\uFFFD.txt");
    const char *diffstat = json_string_value(json_object_get(j, "diffstat"));
    cr_assert_not_null(diffstat, "git.json lacks its diffstat");
    cr_assert(strstr(diffstat, "caf\xef\xbf\xbd.txt") && strstr(diffstat, "2 files changed"), "%s", diffstat);
    size_t plen;
    char *patch = ext_read(out, "git.patch", &plen);
    cr_assert(strstr(patch, "latin-1 name"), "the file is not in git.patch");
    free(patch);
    json_decref(j);
    free(out);
    mm_test_rmtree(tmp);
    free(repo);
    free(tmp);
}

Test(git_snapshot, repository_without_commits) {
    char *tmp = mm_test_tmpdir("gitsnap0");
    char *repo = init_repo(tmp);
    ext_write_str(repo, "staged.txt", "staged in a repository without commits\n");
    EXT_GIT_OK(repo, "add", "staged.txt");
    ext_write_str(repo, "dir/untracked.txt", "untracked\n");
    unsigned char bin[700];
    make_binary(bin, sizeof bin, 9);
    ext_write(repo, "dir/b.bin", bin, sizeof bin);

    char *out = snapshot(repo, NULL);
    json_t *j = load_json(out, "git.json");
    cr_assert_str_eq(json_string_value(json_object_get(j, "commit")), "none");
    cr_assert_str_eq(json_string_value(json_object_get(j, "branch")), "main");
    cr_assert(json_is_true(json_object_get(j, "dirty")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "diffstat_summary"), "files_changed")),
                 3);

    char *fresh = mm_test_path(tmp, "fresh");
    mkdir(fresh, 0755);
    EXT_GIT_OK(fresh, "init", "-q");
    char *patch_path = mm_test_path(out, "git.patch");
    EXT_GIT_OK(fresh, "apply", patch_path);
    const char *skip[] = {"out/", NULL};
    ext_assert_same_tree(repo, fresh, skip);

    free(patch_path);
    free(fresh);
    json_decref(j);
    free(out);
    mm_test_rmtree(tmp);
    free(repo);
    free(tmp);
}

Test(git_snapshot, clean_tree_and_based_on_diffstat) {
    char *tmp = mm_test_tmpdir("gitsnapb");
    char *repo = init_repo(tmp);
    ext_write_str(repo, ".gitignore", "out/\n");
    ext_write_str(repo, "model.c", "int a;\nint b;\nint c;\n");
    EXT_GIT_OK(repo, "add", "-A");
    EXT_GIT_OK(repo, "commit", "-q", "-m", "A");
    mm_proc_result a = ext_git(repo, "rev-parse", "HEAD", NULL);
    trim(a.out);

    // Clean: not dirty, nothing in the patch but the header.
    char *out = snapshot(repo, NULL);
    json_t *j = load_json(out, "git.json");
    cr_assert(json_is_false(json_object_get(j, "dirty")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "diffstat_summary"), "files_changed")),
                 0);
    cr_assert(json_is_null(json_object_get(j, "excluded_dir")) ||
              json_is_string(json_object_get(j, "excluded_dir")));
    char *patch = ext_read(out, "git.patch", NULL);
    cr_assert_not_null(strstr(patch, "# No uncommitted changes."));
    cr_assert_null(strstr(patch, "diff --git"));
    free(patch);
    json_decref(j);
    free(out);

    // Commit B, then an uncommitted edit: based-on A counts both (tracked only here).
    ext_write_str(repo, "model.c", "int a;\nint B;\nint c;\nint d;\n");
    EXT_GIT_OK(repo, "commit", "-q", "-am", "B");
    ext_write_str(repo, "train.c", "void train(void);\n");
    EXT_GIT_OK(repo, "add", "train.c");
    ext_write_str(repo, "model.c", "int a;\nint B;\nint d;\n");
    out = snapshot(repo, a.out);
    j = load_json(out, "git.json");
    json_t *b = json_object_get(j, "since_based_on");
    mm_proc_result g = ext_git(repo, "diff", a.out, "--shortstat", NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "based_on_commit")), a.out);
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "diffstat_since_based_on")), "model.c"));
    cr_assert_str_eq(json_string_value(json_object_get(b, "shortstat")), trim(g.out));
    mm_proc_result_free(&g);
    json_decref(j);
    free(out);

    // An unknown based-on commit is reported, not fatal.
    out = snapshot(repo, "0123456789012345678901234567890123456789");
    j = load_json(out, "git.json");
    cr_assert_not_null(json_object_get(json_object_get(j, "since_based_on"), "error"));
    json_decref(j);
    free(out);

    mm_proc_result_free(&a);
    mm_test_rmtree(tmp);
    free(repo);
    free(tmp);
}

Test(git_snapshot, discovery_messages) {
    // Outside any repository (under /tmp, not under the build tree which is inside this repo).
    char outside[] = "/tmp/expt_norepo.XXXXXX";
    cr_assert_not_null(mkdtemp(outside));
    ex_project p;
    int rc = ex_project_open(&p, outside);
    if (rc == 0) {
        ex_project_close(&p);
        rmdir(outside);
        cr_skip_test("/tmp is inside a git repository on this machine");
    }
    cr_assert_not_null(strstr(mm_error_message(), "not inside a git repository"), "%s", mm_error_message());

    // A repository owned by another user (needs root to create; skipped otherwise).
    if (geteuid() != 0) {
        rmdir(outside);
        cr_skip_test("creating a repository owned by another user needs root");
    }
    char *repo = init_repo(outside);
    const char *chown_argv[] = {"chown", "-R", "65534:65534", repo, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(chown_argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    rc = ex_project_open(&p, repo);
    if (rc == 0) ex_project_close(&p);
    cr_assert_eq(rc, -1, "a repository owned by another user must be refused");
    cr_assert_not_null(strstr(mm_error_message(), "owned by another user"), "%s", mm_error_message());
    mm_test_rmtree(outside);
    free(repo);
}
