// Row-block copy (minimind/backend.h): dst (rows, cols) [+]= src (rows, cols), rows ldd / lds
// floats apart; one thread per element, rows on the grid's x and columns on y (no division per
// element).
#include "cuda_common.h"

enum { TPB = 128 };

__global__ static void mm_copy_rows_kernel(float *dst, int ldd, const float *src, int lds, int cols,
                                           int accumulate) {
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    const float v = src[(size_t)blockIdx.x * lds + c];
    float *d = dst + (size_t)blockIdx.x * ldd + c;
    *d = accumulate ? *d + v : v;
}

void mm_cuda_copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols, int accumulate) {
    if (rows <= 0 || cols <= 0) return;
    const dim3 grid((unsigned)rows, mm_cdiv((size_t)cols, TPB));
    mm_copy_rows_kernel<<<grid, TPB>>>(dst, ldd, src, lds, cols, accumulate);
    MM_CU_LAUNCHED();
}
