// Helpers for the expt suites: run the real `git` with argv, build small repositories, compare
// directory trees byte for byte. Header-only (each suite is one executable).
#ifndef EXPT_TEST_GIT_H
#define EXPT_TEST_GIT_H

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

// Runs `git -C DIR -c user.name=expt-test -c user.email=t@example.com ARGS...` (NULL-terminated)
// and returns its result; asserts that it could be started.
static inline mm_proc_result ext_git(const char *dir, ...) {
    const char *argv[64] = {"git",
                            "-C",
                            dir,
                            "-c",
                            "user.name=expt-test",
                            "-c",
                            "user.email=t@example.com",
                            "-c",
                            "init.defaultBranch=main",
                            "-c",
                            "core.autocrlf=false"};
    int n = 11;
    va_list ap;
    va_start(ap, dir);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 63;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0, "cannot run git");
    return r;
}

// Like ext_git but asserts exit status 0 and frees the result.
#define EXT_GIT_OK(dir, ...)                                                            \
    do {                                                                                \
        mm_proc_result r_ = ext_git(dir, __VA_ARGS__, NULL);                            \
        cr_assert_eq(r_.status, 0, "git failed (%d): %s%s", r_.status, r_.out, r_.err); \
        mm_proc_result_free(&r_);                                                       \
    } while (0)

// Writes DIR/REL (creating parent folders).
static inline void ext_write(const char *dir, const char *rel, const void *data, size_t len) {
    char *path = mm_test_path(dir, rel);
    for (char *c = path + strlen(dir) + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            mkdir(path, 0755);
            *c = '/';
        }
    mm_test_write_file(path, data, len);
    free(path);
}

static inline void ext_write_str(const char *dir, const char *rel, const char *s) {
    ext_write(dir, rel, s, strlen(s));
}

static inline char *ext_read(const char *dir, const char *rel, size_t *len) {
    char *path = rel ? mm_test_path(dir, rel) : strdup(dir);
    FILE *fp = fopen(path, "rb");
    free(path);
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    b[got] = '\0';
    if (len) *len = got;
    return b;
}

// --- tree listing (relative paths of files and symlinks, sorted) ---
typedef struct ext_list {
    char **v;
    int n;
} ext_list;

static ext_list ext_walk_out;
static size_t ext_walk_root_len;
static const char *const *ext_walk_skip;

static int ext_walk_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DP) return 0;
    const char *rel = p + ext_walk_root_len + 1;
    if (!strncmp(rel, ".git/", 5) || !strcmp(rel, ".git")) return 0;
    for (const char *const *s = ext_walk_skip; s && *s; s++)
        if (!strncmp(rel, *s, strlen(*s))) return 0;
    ext_walk_out.v = realloc(ext_walk_out.v, sizeof(char *) * (size_t)(ext_walk_out.n + 1));
    ext_walk_out.v[ext_walk_out.n++] = strdup(rel);
    return 0;
}

static int ext_cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Lists files under root (skipping .git and paths starting with one of `skip`).
static inline ext_list ext_list_tree(const char *root, const char *const *skip) {
    ext_walk_out = (ext_list){0};
    ext_walk_root_len = strlen(root);
    ext_walk_skip = skip;
    nftw(root, ext_walk_one, 16, FTW_PHYS);
    qsort(ext_walk_out.v, (size_t)ext_walk_out.n, sizeof(char *), ext_cmp_str);
    return ext_walk_out;
}

static inline void ext_list_free(ext_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

// Asserts that trees a and b hold the same files (bytes, executable bit, symlink targets).
static inline void ext_assert_same_tree(const char *a, const char *b, const char *const *skip) {
    ext_list la = ext_list_tree(a, skip), lb = ext_list_tree(b, skip);
    for (int i = 0; i < la.n && i < lb.n; i++) cr_assert_str_eq(la.v[i], lb.v[i], "tree listing differs");
    cr_assert_eq(la.n, lb.n, "%s has %d files, %s has %d", a, la.n, b, lb.n);
    for (int i = 0; i < la.n; i++) {
        char *pa = mm_test_path(a, la.v[i]), *pb = mm_test_path(b, lb.v[i]);
        struct stat sa, sb;
        cr_assert_eq(lstat(pa, &sa), 0);
        cr_assert_eq(lstat(pb, &sb), 0);
        cr_assert_eq(S_ISLNK(sa.st_mode), S_ISLNK(sb.st_mode), "%s: symlink vs file", la.v[i]);
        if (S_ISLNK(sa.st_mode)) {
            char ta[4096] = {0}, tb[4096] = {0};
            cr_assert(readlink(pa, ta, sizeof ta - 1) >= 0 && readlink(pb, tb, sizeof tb - 1) >= 0);
            cr_assert_str_eq(ta, tb, "%s: symlink target", la.v[i]);
        } else {
            cr_assert_eq((sa.st_mode & 0100) != 0, (sb.st_mode & 0100) != 0, "%s: executable bit", la.v[i]);
            size_t na = 0, nb = 0;
            char *da = ext_read(pa, NULL, &na), *db = ext_read(pb, NULL, &nb);
            cr_assert(da && db, "%s: unreadable", la.v[i]);
            cr_assert_eq(na, nb, "%s: size %zu vs %zu", la.v[i], na, nb);
            cr_assert_eq(memcmp(da, db, na), 0, "%s: contents differ", la.v[i]);
            free(da);
            free(db);
        }
        free(pa);
        free(pb);
    }
    ext_list_free(&la);
    ext_list_free(&lb);
}

#endif
