// Git snapshot of the work tree at run time, with libgit2 (see git_snapshot.h).
//
// OUT/git.patch: every uncommitted change against the recorded commit — staged and unstaged
// changes to tracked files, deletions, mode changes, and untracked files (recursively), ignored
// files excluded, binary files as full-index "GIT binary patch" hunks — so that
// `git apply git.patch` on a clean checkout of the commit recreates the work tree. Files larger
// than the cap ([git] patch_size_cap in expt.ini) and the run output folder (out/, when it is not
// ignored) are left out; the cap's files are listed in a "# " comment header that `git apply`
// skips. A clean tree gives a patch with only the header (apply it with --allow-empty).
//
// OUT/git.json:
//   {"commit": HEAD oid or "none" (no commits yet), "branch": name or null (detached HEAD),
//    "dirty": bool, "taken_at": ISO 8601 UTC,
//    "diffstat": text, one " path | N +-" line per file and git's summary line,
//    "diffstat_summary": {"files_changed", "insertions", "deletions", "shortstat"} — everything in
//      the patch, untracked files counted as added files (= `git add -A; git diff --cached
//      --shortstat HEAD`); files over the cap count as changed with 0 lines,
//    "tracked_diffstat": {"files_changed", "insertions", "deletions", "shortstat"} — tracked files
//      only, staged + unstaged (= `git diff HEAD --shortstat`),
//    "files": [{"path", "status": modified|added|deleted|untracked|typechange|renamed|other,
//               "insertions", "deletions", "binary", "included"}],
//    "excluded": [{"path", "size"}] — files over the cap, listed instead of included,
//    "patch_cap": bytes, "excluded_dir": "out/" or null, "patch": "git.patch",
//    "based_on": version or null, "based_on_commit": oid or null,
//    "diffstat_since_based_on": text or null — changes from the based-on experiment's commit to
//      this work tree (uncommitted and untracked included),
//    "since_based_on": {"files_changed", "insertions", "deletions", "shortstat"}, or {"error"} when
//      that commit is not in the repository, or null}
#include "git_snapshot.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "jsonfile.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "proc.h"
#include "runfiles.h"

typedef struct ex_stat {
    int files, insertions, deletions;
} ex_stat;

typedef struct ex_snap {
    const ex_project *p;
    git_repository *repo;
    const char *exclude;  // "out/" relative prefix or NULL
    json_t *files, *over_cap;
    ex_stat all, tracked;
    char *body;  // concatenated patches
    size_t body_len;
    char *text;  // diffstat lines
    size_t text_len, text_cap;
} ex_snap;

static int ex_git_fail(const char *what) {
    const git_error *e = git_error_last();
    return mm_errorf("git: %s: %s", what, e && e->message ? e->message : "unknown error");
}

// git's own summary line: " N files changed, X insertions(+), Y deletions(-)".
static void ex_shortstat(const ex_stat *s, char *buf, size_t cap) {
    int n = snprintf(buf, cap, " %d file%s changed", s->files, s->files == 1 ? "" : "s");
    if (s->insertions || !s->deletions)
        n += snprintf(buf + n, cap - (size_t)n, ", %d insertion%s(+)", s->insertions,
                      s->insertions == 1 ? "" : "s");
    if (s->deletions || !s->insertions)
        snprintf(buf + n, cap - (size_t)n, ", %d deletion%s(-)", s->deletions, s->deletions == 1 ? "" : "s");
}

static int ex_text_append(ex_snap *s, const char *line) {
    size_t n = strlen(line);
    if (s->text_len + n + 1 > s->text_cap) {
        size_t cap = (s->text_cap + n + 1) * 2;
        char *t = mm_realloc(s->text, cap);
        if (!t) return -1;
        s->text = t;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, line, n + 1);
    s->text_len += n;
    return 0;
}

static const char *ex_delta_status(git_delta_t st) {
    switch (st) {
        case GIT_DELTA_MODIFIED:
            return "modified";
        case GIT_DELTA_ADDED:
            return "added";
        case GIT_DELTA_DELETED:
            return "deleted";
        case GIT_DELTA_UNTRACKED:
            return "untracked";
        case GIT_DELTA_TYPECHANGE:
            return "typechange";
        case GIT_DELTA_RENAMED:
            return "renamed";
        default:
            return "other";
    }
}

// Size of the larger side of a delta (work tree file or blob), to apply the cap without loading it.
static long long ex_delta_size(ex_snap *s, const git_diff_delta *d) {
    long long size = 0;
    if (d->status != GIT_DELTA_DELETED) {
        char *path = ex_path_join(s->p->root, d->new_file.path);
        struct stat st;
        if (path && lstat(path, &st) == 0) size = (long long)st.st_size;
        free(path);
    }
    if (!git_oid_is_zero(&d->old_file.id)) {
        git_odb *odb = NULL;
        size_t len = 0;
        git_object_t type;
        if (git_repository_odb(&odb, s->repo) == 0 &&
            git_odb_read_header(&len, &type, odb, &d->old_file.id) == 0 && (long long)len > size)
            size = (long long)len;
        git_odb_free(odb);
    }
    return size;
}

static int ex_add_stat_line(ex_snap *s, const char *path, size_t adds, size_t dels, int binary,
                            int over_cap) {
    char line[4096];
    if (over_cap)
        snprintf(line, sizeof line, " %s | (over the size cap, not in git.patch)\n", path);
    else if (binary)
        snprintf(line, sizeof line, " %s | Bin\n", path);
    else {
        char bar[52];
        size_t total = adds + dels, width = total > 50 ? 50 : total;
        size_t plus = total ? (adds * width + total / 2) / total : 0;
        if (adds && !plus) plus = 1;
        if (plus > width) plus = width;
        for (size_t i = 0; i < width; i++) bar[i] = i < plus ? '+' : '-';
        bar[width] = '\0';
        snprintf(line, sizeof line, " %s | %zu %s\n", path, total, bar);
    }
    return ex_text_append(s, line);
}

// Walks the deltas of `diff`: fills stats and per-file entries; with `body`, appends the patches.
static int ex_walk_diff(ex_snap *s, git_diff *diff, int write_patch) {
    size_t n = git_diff_num_deltas(diff);
    for (size_t i = 0; i < n; i++) {
        const git_diff_delta *d = git_diff_get_delta(diff, i);
        const char *path = d->status == GIT_DELTA_DELETED ? d->old_file.path : d->new_file.path;
        if (s->exclude && (!strncmp(path, s->exclude, strlen(s->exclude)) ||
                           !strncmp(d->old_file.path, s->exclude, strlen(s->exclude))))
            continue;
        if (d->status == GIT_DELTA_UNMODIFIED || d->status == GIT_DELTA_IGNORED) continue;
        int tracked = d->status != GIT_DELTA_UNTRACKED;
        long long size = ex_delta_size(s, d);
        size_t adds = 0, dels = 0;
        int binary = 0, over = s->p->patch_cap > 0 && size > s->p->patch_cap;
        if (!over) {
            git_patch *patch = NULL;
            if (git_patch_from_diff(&patch, diff, i) != 0) return ex_git_fail(path);
            if (!patch) continue;
            if (git_patch_line_stats(NULL, &adds, &dels, patch) != 0) {
                git_patch_free(patch);
                return ex_git_fail(path);
            }
            binary = (git_patch_get_delta(patch)->flags & GIT_DIFF_FLAG_BINARY) != 0;
            if (write_patch) {
                git_buf one = GIT_BUF_INIT;
                int rc = git_patch_to_buf(&one, patch);
                if (rc == 0) {
                    char *grown = mm_realloc(s->body, s->body_len + one.size + 1);
                    if (!grown)
                        rc = -1;
                    else {
                        memcpy(grown + s->body_len, one.ptr, one.size);
                        s->body = grown;
                        s->body_len += one.size;
                        grown[s->body_len] = '\0';
                    }
                }
                git_buf_dispose(&one);
                if (rc != 0) {
                    git_patch_free(patch);
                    return rc == -1 ? -1 : ex_git_fail(path);
                }
            }
            git_patch_free(patch);
        } else if (s->over_cap) {
            json_array_append_new(
                s->over_cap, json_pack("{s:o, s:I}", "path", ex_json_text(path), "size", (json_int_t)size));
        }
        s->all.files++;
        s->all.insertions += (int)adds;
        s->all.deletions += (int)dels;
        if (tracked) {
            s->tracked.files++;
            s->tracked.insertions += (int)adds;
            s->tracked.deletions += (int)dels;
        }
        if (s->files)
            json_array_append_new(
                s->files, json_pack("{s:o, s:s, s:i, s:i, s:b, s:b}", "path", ex_json_text(path), "status",
                                    ex_delta_status(d->status), "insertions", (int)adds, "deletions",
                                    (int)dels, "binary", binary, "included", !over));
        if (ex_add_stat_line(s, path, adds, dels, binary, over) != 0) return -1;
    }
    return 0;
}

static int ex_diff_workdir(git_diff **diff, git_repository *repo, git_tree *tree, int binary) {
    git_diff_options o;
    git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
    o.flags = GIT_DIFF_INCLUDE_UNTRACKED | GIT_DIFF_RECURSE_UNTRACKED_DIRS | GIT_DIFF_SHOW_UNTRACKED_CONTENT |
              GIT_DIFF_INCLUDE_TYPECHANGE;
    if (binary) o.flags |= GIT_DIFF_SHOW_BINARY;
    o.id_abbrev = GIT_OID_HEXSZ;  // `git apply` needs full index lines for binary patches
    o.ignore_submodules = GIT_SUBMODULE_IGNORE_ALL;
    if (git_diff_tree_to_workdir_with_index(diff, repo, tree, &o) != 0)
        return ex_git_fail("diff against the work tree");
    return 0;
}

static json_t *ex_stat_json(const ex_stat *st, const char *text) {
    char ss[256];
    ex_shortstat(st, ss, sizeof ss);
    json_t *j = json_pack("{s:i, s:i, s:i, s:s}", "files_changed", st->files, "insertions", st->insertions,
                          "deletions", st->deletions, "shortstat", ss);
    if (j && text) json_object_set_new(j, "text", ex_json_text(text));
    return j;
}

// The changes from the based-on commit to the work tree: numbers (or an error) and the text.
static json_t *ex_based_on_json(ex_snap *outer, const char *commit, char **text) {
    git_oid oid;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    git_diff *diff = NULL;
    json_t *j = NULL;
    if (git_oid_fromstr(&oid, commit) != 0 || git_commit_lookup(&c, outer->repo, &oid) != 0 ||
        git_commit_tree(&tree, c) != 0) {
        const git_error *e = git_error_last();
        j = json_pack("{s:s}", "error", e && e->message ? e->message : "not a commit of this repository");
        goto done;
    }
    if (ex_diff_workdir(&diff, outer->repo, tree, 0) != 0) goto done;
    ex_snap s = {.p = outer->p, .repo = outer->repo, .exclude = outer->exclude};
    if (ex_walk_diff(&s, diff, 0) == 0) {
        j = ex_stat_json(&s.all, NULL);
        char ss[256];
        ex_shortstat(&s.all, ss, sizeof ss);
        size_t n = (s.text ? strlen(s.text) : 0) + strlen(ss) + 2;
        *text = mm_malloc(n);
        if (*text) snprintf(*text, n, "%s%s\n", s.text ? s.text : "", ss);
    }
    free(s.text);
done:
    git_diff_free(diff);
    git_tree_free(tree);
    git_commit_free(c);
    return j;
}

static int ex_write_patch(const char *path, const char *commit, const char *branch, const ex_snap *s,
                          long long cap) {
    mm_atomic_file af;
    if (mm_atomic_open(&af, path) != 0) return -1;
    fprintf(af.fp,
            "# expt git snapshot: uncommitted changes (untracked files included) against commit %s%s%s%s\n",
            commit, branch ? " (branch " : "", branch ? branch : "", branch ? ")" : "");
    if (!strcmp(commit, "none"))
        fprintf(af.fp, "# The repository had no commits: apply in an empty repository with `git apply`.\n");
    else
        fprintf(af.fp, "# Recreate the work tree: git checkout %s && git apply %s\n", commit, "git.patch");
    size_t n_over = json_array_size(s->over_cap);
    if (n_over) {
        fprintf(af.fp, "# Files over the size cap (%lld bytes), listed here but not included:\n", cap);
        for (size_t i = 0; i < n_over; i++) {
            json_t *o = json_array_get(s->over_cap, i);
            fprintf(af.fp, "#   %s (%lld bytes)\n", ex_json_str(o, "path"), ex_json_int(o, "size", 0));
        }
    }
    if (s->body_len == 0) fprintf(af.fp, "# No uncommitted changes.\n");
    if (s->body_len && fwrite(s->body, 1, s->body_len, af.fp) != s->body_len) {
        mm_atomic_abort(&af);
        return mm_errorf("%s: write failed", path);
    }
    return mm_atomic_commit(&af);
}

int ex_git_snapshot(const ex_project *p, const char *out_dir, const char *based_on_commit) {
    return ex_git_snapshot_based(p, out_dir, NULL, based_on_commit);
}

int ex_git_snapshot_based(const ex_project *p, const char *out_dir, const char *based_on,
                          const char *based_on_commit) {
    git_libgit2_init();
    int rc = -1;
    ex_snap s = {.p = p};
    git_reference *head = NULL;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    git_diff *diff = NULL;
    json_t *j = NULL;
    char *patch_path = NULL, *json_path = NULL, *exclude = NULL, *branch = NULL;
    char commit_hex[GIT_OID_HEXSZ + 1] = "none";

    if (git_repository_open(&s.repo, p->root) != 0) {
        ex_git_fail(p->root);
        goto done;
    }
    int hr = git_repository_head(&head, s.repo);
    if (hr == 0) {
        const git_oid *oid = git_reference_target(head);
        if (!oid || git_commit_lookup(&commit, s.repo, oid) != 0 || git_commit_tree(&tree, commit) != 0) {
            ex_git_fail("HEAD");
            goto done;
        }
        git_oid_tostr(commit_hex, sizeof commit_hex, oid);
        if (git_reference_is_branch(head)) branch = mm_strdup(git_reference_shorthand(head));
    } else if (hr == GIT_EUNBORNBRANCH || hr == GIT_ENOTFOUND) {
        // No commits yet: everything is new; the branch is where HEAD points.
        git_reference *sym = NULL;
        if (git_reference_lookup(&sym, s.repo, "HEAD") == 0 &&
            git_reference_type(sym) == GIT_REFERENCE_SYMBOLIC) {
            const char *t = git_reference_symbolic_target(sym);
            branch = mm_strdup(!strncmp(t, "refs/heads/", 11) ? t + 11 : t);
        }
        git_reference_free(sym);
    } else {
        ex_git_fail("HEAD");
        goto done;
    }

    // Leave the run outputs out of the snapshot (they are normally ignored by .gitignore).
    size_t rl = strlen(p->root);
    if (!strncmp(p->out_root, p->root, rl) && p->out_root[rl] == '/' && p->out_root[rl + 1]) {
        size_t n = strlen(p->out_root + rl + 1);
        exclude = mm_malloc(n + 2);
        if (!exclude) goto done;
        memcpy(exclude, p->out_root + rl + 1, n);
        if (exclude[n - 1] != '/') exclude[n++] = '/';
        exclude[n] = '\0';
        s.exclude = exclude;
    }

    s.files = json_array();
    s.over_cap = json_array();
    if (!s.files || !s.over_cap) goto done;
    if (ex_diff_workdir(&diff, s.repo, tree, 1) != 0 || ex_walk_diff(&s, diff, 1) != 0) goto done;

    char when[32];
    ex_iso_utc(time(NULL), when, sizeof when);
    j = json_object();
    json_object_set_new(j, "commit", json_string(commit_hex));
    json_object_set_new(j, "branch", branch ? ex_json_text(branch) : json_null());
    json_object_set_new(j, "dirty", json_boolean(s.all.files > 0));
    json_object_set_new(j, "taken_at", json_string(when));
    char ss[256];
    ex_shortstat(&s.all, ss, sizeof ss);
    size_t tn = (s.text ? strlen(s.text) : 0) + strlen(ss) + 2;
    char *text = mm_malloc(tn);
    if (!text) goto done;
    snprintf(text, tn, "%s%s\n", s.text ? s.text : "", ss);
    json_object_set_new(j, "diffstat", ex_json_text(text));
    free(text);
    json_object_set_new(j, "diffstat_summary", ex_stat_json(&s.all, NULL));
    json_object_set_new(j, "tracked_diffstat", ex_stat_json(&s.tracked, NULL));
    json_object_set(j, "files", s.files);
    json_object_set(j, "excluded", s.over_cap);
    json_object_set_new(j, "patch_cap", json_integer(p->patch_cap));
    json_object_set_new(j, "excluded_dir", exclude ? json_string(exclude) : json_null());
    json_object_set_new(j, "patch", json_string("git.patch"));
    json_object_set_new(j, "based_on", based_on && *based_on ? json_string(based_on) : json_null());
    if (based_on_commit && *based_on_commit && strcmp(based_on_commit, "none")) {
        char *since_text = NULL;
        json_t *b = ex_based_on_json(&s, based_on_commit, &since_text);
        if (!b) goto done;
        json_object_set_new(j, "based_on_commit", json_string(based_on_commit));
        json_object_set_new(j, "diffstat_since_based_on",
                            since_text ? ex_json_text(since_text) : json_null());
        json_object_set_new(j, "since_based_on", b);
        free(since_text);
    } else {
        json_object_set_new(j, "based_on_commit", json_null());
        json_object_set_new(j, "diffstat_since_based_on", json_null());
        json_object_set_new(j, "since_based_on", json_null());
    }

    patch_path = ex_path_join(out_dir, "git.patch");
    json_path = ex_path_join(out_dir, "git.json");
    if (!patch_path || !json_path) goto done;
    if (ex_write_patch(patch_path, commit_hex, branch, &s, p->patch_cap) != 0) goto done;
    if (ex_json_save(json_path, j) != 0) goto done;
    rc = 0;
done:
    json_decref(j);
    json_decref(s.files);
    json_decref(s.over_cap);
    free(s.body);
    free(s.text);
    free(patch_path);
    free(json_path);
    free(exclude);
    free(branch);
    git_diff_free(diff);
    git_tree_free(tree);
    git_commit_free(commit);
    git_reference_free(head);
    git_repository_free(s.repo);
    git_libgit2_shutdown();
    return rc;
}

int ex_git_head(const ex_project *p, char *out, size_t cap) {
    git_libgit2_init();
    git_repository *repo = NULL;
    git_oid oid;
    int rc = 0;
    snprintf(out, cap, "none");
    if (git_repository_open(&repo, p->root) != 0)
        rc = ex_git_fail(p->root);
    else {
        int r = git_reference_name_to_id(&oid, repo, "HEAD");
        if (r == 0)
            git_oid_tostr(out, cap, &oid);
        else if (r != GIT_ENOTFOUND && r != GIT_EUNBORNBRANCH)
            rc = ex_git_fail("HEAD");
    }
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}
