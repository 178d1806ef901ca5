// Token embedding lookup (tied to the output head).
//   N rows (B*T), C model dim; wte (V,C)
//   forward:  out (N,C) = wte[tokens]
//   backward: dwte[tokens] += dout without atomics: thread (column c, bucket) owns the rows
//             v % NBUCKET == bucket and walks the tokens in order — deterministic, and the same
//             summation order as the CPU kernel.
#include "cuda_common.h"

enum { NBUCKET = 64, TPB = 128 };

__global__ static void mm_embedding_forward_kernel(float *out, const int32_t *tokens, const float *wte, int N, int C) {
    size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= (size_t)N * C) return;
    size_t n = e / C, c = e % C;
    out[e] = wte[(size_t)tokens[n] * C + c];
}

__global__ static void mm_embedding_backward_kernel(float *dwte, const float *dout, const int32_t *tokens, int N,
                                                    int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x, bucket = blockIdx.y;
    if (c >= C) return;
    for (int n = 0; n < N; n++) {
        int t = tokens[n];
        if (mm_embed_bucket(t, NBUCKET) == bucket) dwte[(size_t)t * C + c] += dout[(size_t)n * C + c];
    }
}

void mm_cuda_embedding_forward(float *out, const int32_t *tokens, const float *wte, int N, int C) {
    if (N <= 0 || C <= 0) return;  // a grid of 0 blocks is an invalid launch
    mm_embedding_forward_kernel<<<mm_cdiv((size_t)N * C, 256), 256>>>(out, tokens, wte, N, C);
    MM_CU_LAUNCHED();
}

void mm_cuda_embedding_backward(float *dwte, const float *dout, const int32_t *tokens, int N, int C) {
    if (N <= 0 || C <= 0) return;
    dim3 grid(mm_cdiv((size_t)C, TPB), NBUCKET);
    mm_embedding_backward_kernel<<<grid, TPB>>>(dwte, dout, tokens, N, C);
    MM_CU_LAUNCHED();
}
