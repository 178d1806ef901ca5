// CUDA device discovery. Linked with the static CUDA runtime, so a binary built here runs on a
// machine without a driver: the query then reports zero devices with the reason.
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" int mm_cuda_query_count(const char **why) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        if (why) *why = cudaGetErrorString(err);
        cudaGetLastError();  // clear the sticky error
        return 0;
    }
    if (n == 0 && why) *why = "no CUDA device";
    return n;
}

extern "C" int mm_cuda_query_name(int i, char *buf, int cap) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) return -1;
    snprintf(buf, (size_t)cap, "%s (sm_%d%d, %.0f GiB)", prop.name, prop.major, prop.minor,
             (double)prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    return 0;
}
