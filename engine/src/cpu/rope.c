// Rotary position embedding on interleaved pairs (x[2i], x[2i+1]) — MiniMind's complex multiply
// (x[2i] + i x[2i+1]) * (cos + i sin). In place, on NH heads of size hs at the start of each row.
//   B batch, T positions, NH heads, hs head size; rows of stride ld; cos/sin (max_pos, hs/2)
//   forward:  (a, b) -> (a c - b s, a s + b c)
//   backward: the transpose rotation (da, db) -> (da c + db s, -da s + db c)
#include "cpu_ops.h"

static void mm_rope_apply(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                          int pos0, float sign) {
    int half = hs / 2;
#pragma omp parallel for schedule(static)
    for (int bt = 0; bt < B * T; bt++) {
        int t = bt % T;
        const float *c = cos + (size_t)(pos0 + t) * half, *s = sin + (size_t)(pos0 + t) * half;
        float *row = x + (size_t)bt * ld;
        for (int h = 0; h < NH; h++) {
            float *v = row + (size_t)h * hs;
            for (int i = 0; i < half; i++) {
                float a = v[2 * i], b = v[2 * i + 1], si = sign * s[i];
                v[2 * i] = a * c[i] - b * si;
                v[2 * i + 1] = a * si + b * c[i];
            }
        }
    }
}

void mm_cpu_rope_forward(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                         int pos0) {
    mm_rope_apply(x, ld, cos, sin, B, T, NH, hs, pos0, 1.0f);
}

void mm_cpu_rope_backward(float *dx, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                          int pos0) {
    mm_rope_apply(dx, ld, cos, sin, B, T, NH, hs, pos0, -1.0f);
}
