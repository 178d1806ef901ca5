// Committing an experiment's files with libgit2 (see git_commit.h).
#include "git_commit.h"

#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/error.h"

static int ex_gc_fail(const char *what) {
    const git_error *e = git_error_last();
    return mm_errorf("git: %s: %s", what, e && e->message ? e->message : "unknown error");
}

// Puts the work tree's version of `path` into idx (or removes it when gone).
static int ex_stage(git_repository *repo, git_index *idx, const char *root, const char *path) {
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, path);
    struct stat st;
    if (lstat(full, &st) != 0) {
        git_index_remove_bypath(idx, path);
        return 0;
    }
    if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) return mm_errorf("%s: not a regular file", path);
    git_index_entry e;
    memset(&e, 0, sizeof e);
    if (git_blob_create_from_workdir(&e.id, repo, path) != 0) return ex_gc_fail(path);
    e.path = path;
    e.mode = S_ISLNK(st.st_mode)   ? GIT_FILEMODE_LINK
             : (st.st_mode & 0111) ? GIT_FILEMODE_BLOB_EXECUTABLE
                                   : GIT_FILEMODE_BLOB;
    e.file_size = (uint32_t)st.st_size;
    if (git_index_add(idx, &e) != 0) return ex_gc_fail(path);
    return 0;
}

int ex_git_commit_paths(const ex_project *p, const char *const *paths, size_t n, const char *message,
                        char *oid_out, size_t cap) {
    git_libgit2_init();
    int rc = -1;
    git_repository *repo = NULL;
    git_signature *sig = NULL;
    git_commit *parent = NULL;
    git_tree *parent_tree = NULL, *tree = NULL;
    git_index *idx = NULL, *real = NULL;
    git_oid tree_oid, commit_oid;
    if (git_repository_open(&repo, p->root) != 0) {
        ex_gc_fail(p->root);
        goto done;
    }
    if (git_signature_default(&sig, repo) != 0) {
        mm_errorf(
            "git has no identity to commit with: set it with `git config user.name \"Your Name\"` and "
            "`git config user.email you@example.com`");
        goto done;
    }
    git_oid head;
    int hr = git_reference_name_to_id(&head, repo, "HEAD");
    if (hr == 0) {
        if (git_commit_lookup(&parent, repo, &head) != 0 || git_commit_tree(&parent_tree, parent) != 0) {
            ex_gc_fail("HEAD");
            goto done;
        }
    } else if (hr != GIT_ENOTFOUND && hr != GIT_EUNBORNBRANCH) {
        ex_gc_fail("HEAD");
        goto done;
    }
    // A fresh index holding HEAD's tree plus exactly these files.
    if (git_index_new(&idx) != 0 || (parent_tree && git_index_read_tree(idx, parent_tree) != 0)) {
        ex_gc_fail("index");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        if (ex_stage(repo, idx, p->root, paths[i]) != 0) goto done;
    if (git_index_write_tree_to(&tree_oid, idx, repo) != 0) {
        ex_gc_fail("write tree");
        goto done;
    }
    if (parent_tree && git_oid_equal(&tree_oid, git_tree_id(parent_tree))) {
        mm_errorf("nothing to commit: these files are unchanged since HEAD");
        goto done;
    }
    if (git_tree_lookup(&tree, repo, &tree_oid) != 0) {
        ex_gc_fail("tree");
        goto done;
    }
    const git_commit *parents[1] = {parent};
    if (git_commit_create(&commit_oid, repo, "HEAD", sig, sig, NULL, message, tree, parent ? 1 : 0,
                          parents) != 0) {
        ex_gc_fail("commit");
        goto done;
    }
    git_oid_tostr(oid_out, cap, &commit_oid);
    // The repository's own index now agrees with the commit for these files.
    if (git_repository_index(&real, repo) == 0) {
        for (size_t i = 0; i < n; i++) {
            char full[4096];
            struct stat st;
            snprintf(full, sizeof full, "%s/%s", p->root, paths[i]);
            if (lstat(full, &st) == 0)
                git_index_add_bypath(real, paths[i]);
            else
                git_index_remove_bypath(real, paths[i]);
        }
        if (git_index_write(real) != 0) {
            ex_gc_fail("index write (the commit was made)");
            goto done;
        }
    }
    rc = 0;
done:
    git_index_free(real);
    git_index_free(idx);
    git_tree_free(tree);
    git_tree_free(parent_tree);
    git_commit_free(parent);
    git_signature_free(sig);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return rc;
}
