// Committing an experiment with libgit2: exactly the given files, as they are in the work tree, on
// top of HEAD (like `git commit -- PATHS`): other staged changes stay staged and uncommitted.
// Works in a repository without commits (the root commit). Author and committer come from git's
// configuration (user.name, user.email).
#ifndef EXPT_GIT_COMMIT_H
#define EXPT_GIT_COMMIT_H

#include <stddef.h>

#include "project.h"

// paths: relative to the work tree; a path that no longer exists is committed as deleted.
// Writes the new commit's oid (41 bytes with the NUL) into oid_out. Errors: nothing changed
// since HEAD, no identity configured, libgit2 failures.
int ex_git_commit_paths(const ex_project *p, const char *const *paths, size_t n, const char *message,
                        char *oid_out, size_t cap);

#endif
