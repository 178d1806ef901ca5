// Read-only memory maps of the engine's binary files (see minimind/binfile.h).
#include "minimind/binfile.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minimind/error.h"

int mm_map_readonly(const char *path, size_t min_size, const char *what, void **map, size_t *len) {
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return mm_errorf_errno("%s: cannot open", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = mm_errorf_errno("%s: cannot stat", path);
        close(fd);
        return rc;
    }
    if (st.st_size < (off_t)min_size) {
        close(fd);
        return mm_errorf("%s: not a %s (%lld bytes, shorter than the header)", path, what, (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return mm_errorf_errno("%s: mmap failed", path);
    *map = m;
    *len = (size_t)st.st_size;
    return 0;
}

void mm_unmap(void *map, size_t len) {
    if (map) munmap(map, len);
}
