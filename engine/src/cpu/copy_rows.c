// Row-block copy (minimind/backend.h): dst (rows, cols) [+]= src (rows, cols), rows ldd / lds
// floats apart. memcpy per row for `=` (the memory variants' [z | m] concatenation), a plain loop
// for `+=` (m added to the residual).
#include "cpu_ops.h"

void mm_cpu_copy_rows(float *dst, int ldd, const float *src, int lds, int rows, int cols, int accumulate) {
    if (cols <= 0) return;
#pragma omp parallel for schedule(static) if ((long)rows * cols > 65536)
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * ldd;
        const float *s = src + (size_t)r * lds;
        if (!accumulate) {
            memcpy(d, s, sizeof(float) * (size_t)cols);
            continue;
        }
        for (int c = 0; c < cols; c++) d[c] += s[c];
    }
}
