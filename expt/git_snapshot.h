// Git state of the work tree at run time, taken with libgit2 (implemented in git_snapshot.c).
#ifndef EXPT_GIT_SNAPSHOT_H
#define EXPT_GIT_SNAPSHOT_H

#include <stddef.h>

#include "project.h"

// Writes OUT_DIR/git.json (commit, branch, dirty flag, diffstat text, diffstat since the based-on
// experiment's commit when given) and OUT_DIR/git.patch (all uncommitted changes against the
// recorded commit, untracked files included, ignored files excluded, binary files as git binary
// patches, files over p->patch_cap listed instead). Both atomically.
int ex_git_snapshot(const ex_project *p, const char *out_dir, const char *based_on_commit);
// The same, also recording the based-on experiment's version (NULL = none) in git.json.
// Schema of git.json: see git_snapshot.c.
int ex_git_snapshot_based(const ex_project *p, const char *out_dir, const char *based_on,
                          const char *based_on_commit);

// The HEAD commit's oid into out (>= 41 bytes), "none" in a repository without commits.
int ex_git_head(const ex_project *p, char *out, size_t cap);

#endif
