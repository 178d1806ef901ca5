// The "cpu-staged" device: the CPU kernels behind the memory model of a device backend
// (host_resident = 0). Buffers come from its own alloc and are reached by the host only through
// copy_h2d / copy_d2h, as on CUDA, so the engine takes every device code path — the model's
// uploads and host staging, the trainer's host copies at save and resume, the memory bank's device
// copy and its syncs, the EMA update's copies, the fp16 unscale op — on any machine, with the same
// kernels and therefore the same numbers as `cpu`. New buffers are filled with 0xFF bytes (NaN
// floats, -1 ids), so a buffer that is read before the engine writes or uploads it shows up.
// It cannot catch the host reading a device buffer directly (here both are host memory).
#include <stdlib.h>
#include <string.h>

#include "minimind/backend.h"
#include "minimind/error.h"

static void *mm_staged_alloc(size_t bytes) {
    void *p = mm_malloc(bytes ? bytes : 1);
    if (p) memset(p, 0xFF, bytes);
    return p;
}
static void mm_staged_free(void *p) { free(p); }
static void mm_staged_copy(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) memmove(dst, src, bytes);
}
static void mm_staged_zero(void *p, size_t bytes) {
    if (bytes) memset(p, 0, bytes);
}

static mm_backend mm_staged_backend;

static void mm_staged_init(void) {
    mm_staged_backend = *mm_backend_cpu();  // the CPU op table
    mm_staged_backend.name = "cpu-staged";
    mm_staged_backend.host_resident = 0;
    mm_staged_backend.alloc = mm_staged_alloc;
    mm_staged_backend.free = mm_staged_free;
    mm_staged_backend.copy_h2d = mm_staged_copy;
    mm_staged_backend.copy_d2h = mm_staged_copy;
    mm_staged_backend.copy_d2d = mm_staged_copy;
    mm_staged_backend.zero = mm_staged_zero;
}

const mm_backend *mm_backend_cpu_staged(void) {
    if (!mm_staged_backend.name) mm_staged_init();
    return &mm_staged_backend;
}
