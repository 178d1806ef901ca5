// Row-block copy (minimind/backend.h): dst (rows, cols) [+]= src (rows, cols), rows ldd / lds
// floats apart; one thread per element.
#include "cuda_common.h"

__global__ static void mm_copy_rows_kernel(float *dst, int ldd, const float *src, int lds, int rows, int cols,
                                           int accumulate) {
    const size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)rows * cols) return;
    const size_t r = e / cols, c = e % cols;
    const float v = src[r * lds + c];
    float *d = dst + r * ldd + c;
    *d = accumulate ? *d + v : v;
}

void mm_cuda_copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols, int accumulate) {
    if (rows <= 0 || cols <= 0) return;
    mm_copy_rows_kernel<<<mm_cdiv((size_t)rows * cols, 256), 256>>>(dst, ldd, src, lds, rows, cols, accumulate);
    MM_CU_LAUNCHED();
}
