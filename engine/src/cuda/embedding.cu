// Token embedding lookup (tied to the output head).
//   N rows (B*T), C model dim; wte (V,C)
//   forward:  out (N,C) = wte[tokens]; rows on the grid's x, columns on y (no division per
//             element), 4 columns per thread in 16-byte accesses when C is a multiple of 4 and
//             the buffers are aligned.
//   backward: dwte[tokens] += dout without atomics: warp (bucket, 128 columns) owns the rows whose
//             token t has t % NBUCKET == bucket; it scans the tokens 32 at a time (a ballot marks
//             its rows) and adds those rows in order, lane l taking columns l, l + 32, ... — per
//             (token, column) the rows in order: deterministic, and the CPU kernel's summation
//             order. (Was one thread per (column, bucket) walking all N tokens one by one: N
//             dependent steps per thread.)
#include "cuda_common.h"

enum { TPB = 128, NBUCKET = 512, BWD_WARPS = 4, BWD_COLS = 128 };

template <int VEC>
__global__ static void mm_embedding_forward_kernel(float *out, const int32_t *tokens, const float *wte,
                                                   int C) {
    const int c = (blockIdx.y * blockDim.x + threadIdx.x) * VEC;
    if (c >= C) return;
    const float *src = wte + (size_t)tokens[blockIdx.x] * C + c;
    float *dst = out + (size_t)blockIdx.x * C + c;
    if (VEC == 4)
        mm_stv<float4>(dst, mm_ldv<float4>(src));
    else
        dst[0] = src[0];
}

__global__ static void mm_embedding_backward_kernel(float *dwte, const float *dout, const int32_t *tokens, int N,
                                                    int C) {
    const int lane = threadIdx.x & 31, bucket = blockIdx.x * BWD_WARPS + (threadIdx.x >> 5);
    const int c0 = blockIdx.y * BWD_COLS, c1 = c0 + BWD_COLS < C ? c0 + BWD_COLS : C;
    if (bucket >= NBUCKET) return;  // a whole warp
    for (int n0 = 0; n0 < N; n0 += 32) {
        const int n = n0 + lane, t = n < N ? tokens[n] : -1;
        unsigned hits = __ballot_sync(0xffffffffu, t >= 0 && mm_embed_bucket(t, NBUCKET) == bucket);
        while (hits) {  // this bucket's rows among the 32, lowest first
            const int src = __ffs((int)hits) - 1;
            hits &= hits - 1;
            const int tok = __shfl_sync(0xffffffffu, t, src);
            const float *d = dout + (size_t)(n0 + src) * C;
            float *w = dwte + (size_t)tok * C;
            for (int c = c0 + lane; c < c1; c += 32) w[c] += d[c];
        }
    }
}

void mm_cuda_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
    if (N <= 0 || C <= 0) return;  // a grid of 0 blocks is an invalid launch
    const int vec = C % 4 == 0 && mm_aligned(out, 16) && mm_aligned(wte, 16) ? 4 : 1;
    const dim3 grid((unsigned)N, mm_cdiv((size_t)C / vec, TPB));
    if (vec == 4)
        mm_embedding_forward_kernel<4><<<grid, TPB>>>(out, tokens, wte, C);
    else
        mm_embedding_forward_kernel<1><<<grid, TPB>>>(out, tokens, wte, C);
    MM_CU_LAUNCHED();
}

void mm_cuda_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C) {
    if (N <= 0 || C <= 0) return;
    const dim3 grid(NBUCKET / BWD_WARPS, mm_cdiv((size_t)C, BWD_COLS));
    mm_embedding_backward_kernel<<<grid, 32 * BWD_WARPS>>>(dwte, dout, tokens, N, C);
    MM_CU_LAUNCHED();
}
