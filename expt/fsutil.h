// Small file-system helpers for expt (expt/fsutil.c).
#ifndef EXPT_FSUTIL_H
#define EXPT_FSUTIL_H

#include <stddef.h>

// 1 when path exists (any type).
int ex_exists(const char *path);
// mkdir -p (mode 0777 & ~umask). 0 or -1 with the message set.
int ex_mkdirs(const char *path);
// Writes data atomically unless the file already holds exactly these bytes (then nothing is
// touched, not even the mtime). *changed (optional) says whether it wrote. 0 or -1.
int ex_write_if_changed(const char *path, const void *data, size_t len, int *changed);
// `path` relative to directory `from` when both lie under a common root ("../out/x/git.patch");
// both absolute. Falls back to a copy of path. malloc'd.
char *ex_relpath(const char *path, const char *from);

#endif
