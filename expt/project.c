// Project discovery, expt.ini, version validation and experiment paths (see project.h).
#include "project.h"

#include <ctype.h>
#include <dirent.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inifile.h"
#include "minimind/error.h"

char *ex_path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = mm_malloc(n);
    if (s) snprintf(s, n, "%s/%s", a, b);
    return s;
}

int ex_version_validate(const char *v) {
    int parts = 0, digits = 0;
    for (const char *c = v;; c++) {
        if (isdigit((unsigned char)*c)) {
            if (++digits > 9) return mm_errorf("version '%s': a part has more than 9 digits", v);
        } else if (*c == '.' || *c == '\0') {
            if (digits == 0) return mm_errorf("version '%s': expected X.Y.Z with digits only (e.g. 1.4.2)", v);
            parts++;
            digits = 0;
            if (*c == '\0') break;
        } else {
            return mm_errorf("version '%s': expected X.Y.Z with digits only (e.g. 1.4.2)", v);
        }
    }
    if (parts != 3) return mm_errorf("version '%s': expected exactly three parts X.Y.Z", v);
    return 0;
}

static char *ex_fmt_path(const ex_project *p, const char *dir, const char *prefix, const char *version,
                         const char *suffix, char sep) {
    char name[128];
    snprintf(name, sizeof name, "%s%s%s", prefix, version, suffix);
    for (char *c = name + strlen(prefix); *c && sep != '.'; c++)
        if (*c == '.' && c < name + strlen(prefix) + strlen(version)) *c = sep;
    char *d = ex_path_join(p->root, dir);
    if (!d) return NULL;
    char *r = ex_path_join(d, name);
    free(d);
    return r;
}

char *ex_record_path(const ex_project *p, const char *v) { return ex_fmt_path(p, "experiment", "experiment_", v, ".md", '.'); }
char *ex_script_path(const ex_project *p, const char *v) { return ex_fmt_path(p, "run_file", "experiment_", v, ".sh", '.'); }
char *ex_config_path(const ex_project *p, const char *v) { return ex_fmt_path(p, "run_file", "experiment_", v, ".ini", '.'); }

char *ex_out_dir(const ex_project *p, const char *v) {
    char name[128];
    snprintf(name, sizeof name, "experiment_%s", v);
    for (char *c = name; *c; c++)
        if (*c == '.') *c = '_';
    return ex_path_join(p->out_root, name);
}

char *ex_out_file(const ex_project *p, const char *v, const char *file) {
    char *d = ex_out_dir(p, v);
    if (!d) return NULL;
    char *r = ex_path_join(d, file);
    free(d);
    return r;
}

// expt.ini keys: [engine] minimind, [paths] out, [git] patch_size_cap, [record] lang.
static const char *ex_settings_check(const char *section, const char *key, const char *value) {
    if ((!strcmp(section, "engine") && !strcmp(key, "minimind")) || (!strcmp(section, "paths") && !strcmp(key, "out")))
        return *value ? NULL : "empty path";
    if (!strcmp(section, "git") && !strcmp(key, "patch_size_cap")) {
        char *end;
        long long v = strtoll(value, &end, 10);
        return *value == '\0' || *end != '\0' || v < 0 ? "not a number of bytes" : NULL;
    }
    if (!strcmp(section, "record") && !strcmp(key, "lang"))
        return strcmp(value, "zh") && strcmp(value, "en") ? "must be zh or en" : NULL;
    return "unknown key (expected [engine] minimind, [paths] out, [git] patch_size_cap, [record] lang)";
}

// Replaces *dst with `value` made absolute against the project root.
static int ex_set_path(const ex_project *p, char **dst, const char *value) {
    if (!value) return 0;
    char *abs = value[0] == '/' ? mm_strdup(value) : ex_path_join(p->root, value);
    if (!abs) return -1;
    free(*dst);
    *dst = abs;
    return 0;
}

static int ex_read_settings(ex_project *p) {
    char *path = ex_path_join(p->root, "expt.ini");
    if (!path) return -1;
    int rc = 0;
    ex_ini ini;
    if (access(path, F_OK) == 0) {
        rc = ex_ini_load(path, ex_settings_check, &ini);
        if (rc == 0) {
            const char *cap = ex_ini_get(&ini, "git", "patch_size_cap"), *lang = ex_ini_get(&ini, "record", "lang");
            if (cap) p->patch_cap = strtoll(cap, NULL, 10);
            if (lang) {
                free(p->lang);
                p->lang = mm_strdup(lang);
            }
            if (ex_set_path(p, &p->minimind, ex_ini_get(&ini, "engine", "minimind")) != 0 ||
                ex_set_path(p, &p->out_root, ex_ini_get(&ini, "paths", "out")) != 0 || !p->lang)
                rc = -1;
            ex_ini_free(&ini);
        }
    }
    free(path);
    return rc;
}

int ex_project_open(ex_project *p, const char *start) {
    memset(p, 0, sizeof *p);
    git_libgit2_init();
    git_buf buf = {0};
    int rc = git_repository_discover(&buf, start ? start : ".", 0, NULL);
    if (rc != 0) {
        const git_error *e = git_error_last();
        if (e && strstr(e->message, "owner"))
            rc = mm_errorf("%s: the repository is owned by another user (git refuses it: %s)", start ? start : ".",
                           e->message);
        else
            rc = mm_errorf("%s: not inside a git repository (run `git init` first, then `expt init`)",
                           start ? start : ".");
        git_libgit2_shutdown();
        return rc;
    }
    git_repository *repo = NULL;
    rc = git_repository_open(&repo, buf.ptr);
    if (rc != 0) {
        const git_error *e = git_error_last();
        struct stat st;
        // libgit2 1.5 reports its ownership check as "config value 'safe.directory' was not found".
        if (stat(buf.ptr, &st) == 0 && st.st_uid != geteuid()) {
            char wd[4096];
            snprintf(wd, sizeof wd, "%s", buf.ptr);
            size_t n = strlen(wd);
            if (n >= 6 && !strcmp(wd + n - 6, "/.git/")) wd[n - 6] = '\0';
            rc = mm_errorf("%s: the repository is owned by another user (uid %ld), so git refuses it; if you "
                           "trust it: git config --global --add safe.directory %s",
                           wd, (long)st.st_uid, wd);
        } else
            rc = mm_errorf("cannot open the git repository: %s", e ? e->message : "unknown error");
        git_buf_dispose(&buf);
        git_libgit2_shutdown();
        return rc;
    }
    git_buf_dispose(&buf);
    const char *wd = git_repository_workdir(repo);
    if (!wd) {
        git_repository_free(repo);
        git_libgit2_shutdown();
        return mm_errorf("the git repository is bare: expt needs a work tree");
    }
    p->root = mm_strdup(wd);
    git_repository_free(repo);
    git_libgit2_shutdown();
    if (!p->root) return -1;
    size_t n = strlen(p->root);
    while (n > 1 && p->root[n - 1] == '/') p->root[--n] = '\0';
    p->out_root = ex_path_join(p->root, "out");
    p->minimind = mm_strdup(EX_DEFAULT_MINIMIND);
    p->lang = mm_strdup("zh");
    p->patch_cap = 1 << 20;
    if (!p->out_root || !p->minimind || !p->lang || ex_read_settings(p) != 0) {
        ex_project_close(p);
        return -1;
    }
    return 0;
}

void ex_project_close(ex_project *p) {
    free(p->root);
    free(p->minimind);
    free(p->out_root);
    free(p->lang);
    memset(p, 0, sizeof *p);
}

// Versions of the records in experiment/, sorted numerically. Returns the count or -1.
int ex_list_versions(const ex_project *p, char ***out) {
    *out = NULL;
    char *dir = ex_path_join(p->root, "experiment");
    if (!dir) return -1;
    DIR *d = opendir(dir);
    if (!d) {
        free(dir);
        return 0;
    }
    char **v = NULL;
    int n = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 15 || strncmp(e->d_name, "experiment_", 11) || strcmp(e->d_name + len - 3, ".md")) continue;
        char ver[64];
        if (len - 14 >= sizeof ver) continue;
        memcpy(ver, e->d_name + 11, len - 14);
        ver[len - 14] = '\0';
        if (ex_version_validate(ver) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nv = mm_realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                rc = -1;
                break;
            }
            v = nv;
        }
        if (!(v[n] = mm_strdup(ver))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    free(dir);
    mm_error_clear();
    if (rc != 0) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return -1;
    }
    // Insertion sort by (X, Y, Z).
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && ex_version_compare(v[j - 1], v[j]) > 0; j--) {
            char *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    return n;
}

int ex_version_compare(const char *a, const char *b) {
    for (int i = 0; i < 3; i++) {
        unsigned long x = strtoul(a, (char **)&a, 10), y = strtoul(b, (char **)&b, 10);
        if (x != y) return x < y ? -1 : 1;
        if (*a == '.') a++;
        if (*b == '.') b++;
    }
    return 0;
}
