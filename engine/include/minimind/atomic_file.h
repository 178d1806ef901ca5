// Atomic file writes: write to "PATH.tmp.PID", fsync, rename over PATH. A reader never sees a
// half-written file, and a failed or killed write leaves the previous PATH untouched.
#ifndef MINIMIND_ATOMIC_FILE_H
#define MINIMIND_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

typedef struct mm_atomic_file {
    FILE *fp;        // write through this
    char *path;      // final name
    char *tmp_path;  // temporary name in the same directory
} mm_atomic_file;

// Opens the temporary file. Returns 0, or -1 with the error set (naming the path).
int mm_atomic_open(mm_atomic_file *af, const char *path);

// Flushes, fsyncs and renames into place. Always releases af. Returns 0 or -1 (temp removed).
int mm_atomic_commit(mm_atomic_file *af);

// Removes the temporary file and releases af. Safe on a zeroed or already released af.
void mm_atomic_abort(mm_atomic_file *af);

// Writes a whole buffer to PATH atomically.
int mm_write_file_atomic(const char *path, const void *data, size_t len);

// Reads a whole file into a NUL-terminated malloc'd buffer. Returns NULL with the error set.
char *mm_read_file(const char *path, size_t *len_out);

#endif
