// The run lock (see runlock.h).
#include "runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "minimind/error.h"

int ex_runlock_acquire(const char *lock_path) {
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return mm_errorf_errno("%s: cannot open the run lock", lock_path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) return -2;
        errno = e;
        return mm_errorf_errno("%s: cannot lock", lock_path);
    }
    return fd;
}

int ex_runlock_held(const char *lock_path) {
    int fd = open(lock_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return mm_errorf_errno("%s: cannot open the run lock", lock_path);
    }
    // A shared probe: fails only while the supervisor holds its exclusive lock.
    int rc = flock(fd, LOCK_SH | LOCK_NB);
    int e = errno;
    close(fd);  // releases the probe lock at once
    if (rc == 0) return 0;
    if (e == EWOULDBLOCK) return 1;
    errno = e;
    return mm_errorf_errno("%s: cannot probe the run lock", lock_path);
}
