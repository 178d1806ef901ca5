// Helpers shared by the Criterion suites: temp dirs, running processes with argv, peers.
#ifndef MM_TEST_UTIL_H
#define MM_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stddef.h>

// Result of running a process: exit status (or 128+signal), captured stdout and stderr.
typedef struct mm_proc_result {
    int status;
    char *out;
    char *err;
} mm_proc_result;

// Runs argv (argv[0] a path or a name looked up on PATH) with stdin from /dev/null (or from the
// file stdin_path when non-NULL), capturing output. Returns 0 when it could be started.
int mm_test_run(const char *const argv[], const char *stdin_path, mm_proc_result *res);
void mm_proc_result_free(mm_proc_result *res);

// Creates a fresh temporary directory (under $TMPDIR) and returns its malloc'd path.
char *mm_test_tmpdir(const char *tag);
// Number of entries in a directory, "." and ".." (and other dot files) not counted.
int mm_test_dir_count(const char *dir);
// Removes a directory tree.
void mm_test_rmtree(const char *path);
// Writes a whole file (aborts the test on failure).
void mm_test_write_file(const char *path, const char *data, size_t len);
// Joins two path pieces into a malloc'd string.
char *mm_test_path(const char *dir, const char *name);

// The Python interpreter used for peers: $MM_PYTHON or /usr/bin/python3.
const char *mm_test_python(void);
// 1 when `python -c "import MODULES"` succeeds (MODULES comma-separated).
int mm_test_python_has(const char *modules);
// 1 when MM_REQUIRE_PEERS=1 (CI): a missing peer fails instead of skipping.
int mm_test_peers_required(void);

// Inside a test: skip (or fail under MM_REQUIRE_PEERS=1) unless the Python modules are importable.
#define MM_NEED_PYTHON(modules)                                                                \
    do {                                                                                       \
        if (!mm_test_python_has(modules)) {                                                    \
            if (mm_test_peers_required())                                                      \
                cr_assert_fail("peer missing: python modules '%s' (MM_REQUIRE_PEERS=1)", modules); \
            cr_skip_test("peer missing: python modules '%s' not importable by %s", modules,     \
                         mm_test_python());                                                    \
        }                                                                                      \
    } while (0)

// Inside a test: skip (or fail under MM_REQUIRE_PEERS=1) unless the shared data file exists.
// Sets `var` (a char*) to the malloc'd full path.
#define MM_NEED_SHARED(var, relpath)                                                           \
    do {                                                                                       \
        var = mm_test_path(MM_SHARED_DATA_DIR, relpath);                                       \
        if (access(var, R_OK) != 0) {                                                          \
            if (mm_test_peers_required())                                                      \
                cr_assert_fail("shared data missing: %s (MM_REQUIRE_PEERS=1)", var);          \
            cr_skip_test("shared data missing: %s (a fresh clone has no ../shared)", var);     \
        }                                                                                      \
    } while (0)

#endif
