// An `expt` project: the git repository root holding templates/, experiment/, run_file/, out/ and
// expt.ini, version validation and the paths of one experiment's files.
#ifndef EXPT_PROJECT_H
#define EXPT_PROJECT_H

#include <stddef.h>

typedef struct ex_project {
    char *root;           // absolute path of the repository work tree (no trailing slash)
    char *minimind;       // engine executable ([engine] minimind in expt.ini; default: the built one)
    char *out_root;       // run outputs ([paths] out, default "out" under root)
    long long patch_cap;  // files larger than this are listed, not included, in git.patch (bytes)
    char *lang;           // default record language "zh" or "en"
} ex_project;

// Finds the project from `start` (a directory inside the work tree; NULL = cwd) and reads
// ROOT/expt.ini if present. Errors: outside any git repository, repository owned by another
// user, bad expt.ini key (FILE:LINE). Messages via mm_error_message() (minimind/error.h).
int ex_project_open(ex_project *p, const char *start);
void ex_project_close(ex_project *p);

// A version is X.Y.Z with X, Y, Z non-empty digit strings (max 9 digits each); nothing else, so
// it can never escape the folders. Returns 0 or -1 with the reason set.
int ex_version_validate(const char *version);

// The versions of the records in experiment/ (experiment_X.Y.Z.md), sorted by (X, Y, Z):
// a malloc'd array of malloc'd strings. Returns the count (0 without experiment/) or -1.
int ex_list_versions(const ex_project *p, char ***out);
// <0, 0, >0 comparing two valid versions numerically.
int ex_version_compare(const char *a, const char *b);

// Experiment paths (malloc'd; caller frees):
char *ex_record_path(const ex_project *p, const char *version);   // experiment/experiment_X.Y.Z.md
char *ex_script_path(const ex_project *p, const char *version);   // run_file/experiment_X.Y.Z.sh
char *ex_config_path(const ex_project *p, const char *version);   // run_file/experiment_X.Y.Z.ini
char *ex_out_dir(const ex_project *p, const char *version);       // out/experiment_X_Y_Z
char *ex_out_file(const ex_project *p, const char *version, const char *name);  // out/.../NAME

// Joins root and a relative path.
char *ex_path_join(const char *a, const char *b);

#endif
