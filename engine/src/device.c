// Backend discovery for the CPU-only build and the CUDA build (see minimind/device.h).
#include "minimind/device.h"

#include <stdio.h>

#ifdef MM_HAVE_CUDA
// Implemented in src/cuda/device.cu.
int mm_cuda_query_count(const char **why);
int mm_cuda_query_name(int i, char *buf, int cap);

int mm_cuda_built(void) { return 1; }
int mm_cuda_device_count(const char **why) { return mm_cuda_query_count(why); }
int mm_cuda_device_name(int i, char *buf, int cap) { return mm_cuda_query_name(i, buf, cap); }
#else
int mm_cuda_built(void) { return 0; }
int mm_cuda_device_count(const char **why) {
    if (why) *why = "built without CUDA (nvcc was not found at build time)";
    return 0;
}
int mm_cuda_device_name(int i, char *buf, int cap) {
    (void)i;
    if (cap > 0) buf[0] = '\0';
    return -1;
}
#endif
