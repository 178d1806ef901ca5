// The feed-forward block in bf16 (minimind/backend.h; reference: engine/src/cpu/ffn_bf16.c): whether
// the model takes it (ffn_bf16), and the fp32 -> bf16 conversion (to_bf16: the bf16 copies of the
// block's weights, or any fp32 tensor the block reads in bf16).
// The block's other ops are bf16 instances of the fp32 kernels — rmsnorm_forward_bf16 in
// rmsnorm.cu, swiglu_forward_bf16 / swiglu_backward_bf16 in swiglu.cu — and bf16-operand products
// in matmul.cu (gemm.cu: cuBLAS, CUBLAS_COMPUTE_32F).
//   to_bf16: n values (flat); src (n) fp32, dst (n) bf16, rounded to nearest even (ops_math.h)
// With src 16-byte and dst 8-byte aligned a thread converts 4 values (one 16-byte load, two packed
// conversions, one 8-byte store; the last n % 4 one by one); otherwise one value per thread.
#include "cuda_common.h"

enum { TPB = 256 };

static int g_ffn_on = 1;  // MM_CUDA_FFN=fp32: 0, the block stays fp32 in every precision

int mm_cuda_ffn_configure(const char *env) {
    return mm_cuda_switch("MM_CUDA_FFN", env, "bf16", "fp32", &g_ffn_on);
}

int mm_cuda_ffn_bf16(void) { return g_ffn_on && mm_cuda_precision() == MM_PRECISION_BF16; }

// dst (n) = bf16(src (n)), one value per thread.
__global__ static void mm_to_bf16_kernel(mm_bf16 *dst, const float *src, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) mm_st1(dst + i, src[i]);
}

// dst (4 n4) = bf16(src (4 n4)), 4 values per thread: src 16-byte, dst 8-byte aligned.
__global__ static void mm_to_bf16_vec4_kernel(mm_bf16 *dst, const float *src, size_t n4) {
    const size_t i = 4 * ((size_t)blockIdx.x * blockDim.x + threadIdx.x);
    if (i < 4 * n4) mm_st4(dst + i, mm_ldv<float4>(src + i));
}

// dst row r (ldd apart) = bf16(src row r (lds apart)): rows on the grid's x, VEC values per thread
// (4: src rows 16-byte, dst rows 8-byte aligned, cols a multiple of 4).
template <int VEC>
__global__ static void mm_to_bf16_rows_kernel(mm_bf16 *dst, int ldd, const float *src, int lds, int cols) {
    const int c = (blockIdx.y * blockDim.x + threadIdx.x) * VEC;
    if (c >= cols) return;
    const float *s = src + (size_t)blockIdx.x * lds + c;
    mm_bf16 *d = dst + (size_t)blockIdx.x * ldd + c;
    if (VEC == 4)
        mm_st4(d, mm_ldv<float4>(s));
    else
        mm_st1(d, s[0]);
}

void mm_cuda_to_bf16_rows(mm_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols) {
    if (rows <= 0 || cols <= 0) return;  // a grid of 0 blocks is an invalid launch
    const int vec =
        cols % 4 == 0 && lds % 4 == 0 && ldd % 4 == 0 && mm_aligned(src, 16) && mm_aligned(dst, 8) ? 4 : 1;
    const dim3 grid((unsigned)rows, mm_cdiv((size_t)cols / vec, TPB));
    if (vec == 4)
        mm_to_bf16_rows_kernel<4><<<grid, TPB>>>(dst, ldd, src, lds, cols);
    else
        mm_to_bf16_rows_kernel<1><<<grid, TPB>>>(dst, ldd, src, lds, cols);
    MM_CU_LAUNCHED();
}

void mm_cuda_to_bf16(mm_bf16 *dst, const float *src, size_t n) {
    if (!n) return;  // a grid of 0 blocks is an invalid launch
    size_t done = 0;
    if (n >= 4 && mm_aligned(src, 16) && mm_aligned(dst, 8)) {
        const size_t n4 = n / 4;
        mm_to_bf16_vec4_kernel<<<mm_cdiv(n4, TPB), TPB>>>(dst, src, n4);
        MM_CU_LAUNCHED();
        done = 4 * n4;
    }
    if (done < n) {  // the tail (or everything, unaligned)
        mm_to_bf16_kernel<<<mm_cdiv(n - done, TPB), TPB>>>(dst + done, src + done, n - done);
        MM_CU_LAUNCHED();
    }
}
