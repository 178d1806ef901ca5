// The CUDA simulator itself (engine/cusim): kernels written in CUDA, rewritten by cu2cpp.cmake
// and run on the CPU. Collectives and barriers give the GPU's results whatever the fiber order;
// code a GPU would punish fails here too: an unsynchronised shared-memory read, a warp collective
// naming an exited lane, a host pointer as a kernel argument, an empty grid, bad cuBLAS leading
// dimensions, overlapping batch outputs, copies in the wrong direction. cuBLAS products against
// a double-precision reference, with bf16 / fp16 input rounding for the FAST compute types; bf16
// operands into a bf16 C (rounded to nearest even) and through cuBLASLt into fp32 C / D.
#include <criterion/criterion.h>
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

#include "cuda/mma.h"

static float *dev_floats(size_t n) {
    float *p = nullptr;
    cr_assert_eq(cudaMalloc(&p, n * sizeof(float)), cudaSuccess);
    return p;
}

// ---- collectives and barriers

__global__ void block_sum_kernel(float *out, const float *in, int n) {
    __shared__ float part[32];
    const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x) v += in[i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? part[lane] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) out[blockIdx.x] = v;
    }
}

Test(cusim, block_reduction_with_shuffles_and_shared_memory) {
    const int n = 5000, blocks = 3;
    float *h = (float *)malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) h[i] = (float)(i % 7);  // small integers: every order sums exactly
    float *in = dev_floats(n), *out = dev_floats(blocks);
    cr_assert_eq(cudaMemcpy(in, h, n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    block_sum_kernel<<<blocks, 256>>>(out, in, n);
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    float got[blocks];
    cr_assert_eq(cudaMemcpy(got, out, sizeof got, cudaMemcpyDeviceToHost), cudaSuccess);
    double want[blocks] = {0, 0, 0};
    for (int i = 0; i < n; i++) want[(i / 256) % blocks] += h[i];
    for (int b = 0; b < blocks; b++) cr_expect_eq(got[b], (float)want[b], "block %d: %g, want %g", b, got[b], want[b]);
    cudaFree(in), cudaFree(out), free(h);
}

__global__ void ballot_shfl_kernel(unsigned *ballots, int *from_lane) {
    const int lane = threadIdx.x & 31;
    const unsigned b = __ballot_sync(0xffffffffu, lane % 3 == 0);
    const int v = __shfl_sync(0xffffffffu, lane * 10, (lane + 5) & 31);
    ballots[threadIdx.x] = b;
    from_lane[threadIdx.x] = v;
}

Test(cusim, ballot_and_shuffle_results) {
    unsigned *b = nullptr;
    int *v = nullptr;
    cr_assert_eq(cudaMalloc(&b, 64 * sizeof(unsigned)), cudaSuccess);
    cr_assert_eq(cudaMalloc(&v, 64 * sizeof(int)), cudaSuccess);
    ballot_shfl_kernel<<<1, 64>>>(b, v);
    unsigned hb[64];
    int hv[64];
    cudaMemcpy(hb, b, sizeof hb, cudaMemcpyDeviceToHost);
    cudaMemcpy(hv, v, sizeof hv, cudaMemcpyDeviceToHost);
    unsigned want = 0;
    for (int l = 0; l < 32; l++) want |= (unsigned)(l % 3 == 0) << l;
    for (int t = 0; t < 64; t++) {
        cr_expect_eq(hb[t], want, "thread %d: ballot 0x%08x, want 0x%08x", t, hb[t], want);
        cr_expect_eq(hv[t], ((t + 5) & 31) * 10, "thread %d: shuffle %d", t, hv[t]);
    }
    cudaFree(b), cudaFree(v);
}

// Each thread reads its neighbour's shared slot: with the barrier every read sees the write.
__global__ void neighbour_kernel(int *out, int with_barrier) {
    __shared__ int slot[128];
    const int t = threadIdx.x;
    slot[t] = t;
    if (with_barrier) __syncthreads();
    out[t] = slot[(t + 1) % blockDim.x];
}

Test(cusim, a_missing_barrier_shows_as_wrong_results) {
    int *d = nullptr, h[128];
    cr_assert_eq(cudaMalloc(&d, sizeof h), cudaSuccess);
    neighbour_kernel<<<1, 128>>>(d, 1);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    for (int t = 0; t < 128; t++) cr_expect_eq(h[t], (t + 1) % 128, "with the barrier: thread %d read %d", t, h[t]);
    neighbour_kernel<<<1, 128>>>(d, 0);
    cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
    int wrong = 0;
    for (int t = 0; t < 128; t++) wrong += h[t] != (t + 1) % 128;
    cr_expect(wrong > 0, "without the barrier every read still saw its write: the race went unnoticed");
    cudaFree(d);
}

// ---- misuse: each test runs in its own process (Criterion), so a sticky failure stays there.

__global__ void half_warp_sync_kernel(int *out) {
    if (threadIdx.x >= 16) return;
    __syncwarp(0xffffffffu);  // names lanes 16..31, which exited
    out[threadIdx.x] = 1;
}

Test(cusim, a_warp_collective_naming_an_exited_lane_fails_the_launch) {
    int *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, 32 * sizeof(int)), cudaSuccess);
    half_warp_sync_kernel<<<1, 32>>>(d);
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
    cr_expect_eq(cudaGetLastError(), cudaErrorLaunchFailure, "the failure is sticky");
    cudaFree(d);
}

__global__ void deadlock_kernel(int *out) {
    if (threadIdx.x > 32) __syncwarp(0xffffffffu);  // waits for lane 0 of warp 1 ...
    else __syncthreads();                            // ... which waits here for lanes 33..63
    out[threadIdx.x] = 0;
}

Test(cusim, a_deadlock_fails_the_launch) {
    int *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, 64 * sizeof(int)), cudaSuccess);
    deadlock_kernel<<<1, 64>>>(d);
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
    cudaFree(d);
}

__global__ void write_kernel(float *p) { p[threadIdx.x] = 1.0f; }

Test(cusim, a_host_pointer_as_a_kernel_argument_fails_the_launch) {
    float host[32] = {0};
    write_kernel<<<1, 32>>>(host);
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
}

Test(cusim, an_empty_grid_is_an_invalid_configuration) {
    float *d = dev_floats(32);
    write_kernel<<<0, 32>>>(d);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    cr_expect_eq(cudaGetLastError(), cudaSuccess, "not sticky");
    write_kernel<<<1, 2048>>>(d);
    cr_expect_eq(cudaGetLastError(), cudaErrorInvalidConfiguration);
    cudaFree(d);
}

Test(cusim, copies_are_checked_against_their_kind_and_extent) {
    float *d = dev_floats(8), h[16] = {0};
    cr_expect_eq(cudaMemcpy(d, h, 8 * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
    cr_expect_eq(cudaMemcpy(h, d, 8 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue, "reversed kind");
    cr_expect_eq(cudaMemcpy(d, h, 16 * sizeof(float), cudaMemcpyHostToDevice), cudaErrorInvalidValue, "past the end");
    cr_expect_eq(cudaMemset(d + 4, 0, 8 * sizeof(float)), cudaErrorInvalidValue, "memset past the end");
    cr_expect_eq(cudaFree(h), cudaErrorInvalidValue, "freeing host memory");
    float fresh;
    cr_expect_eq(cudaMemcpy(&fresh, d + 0, 0, cudaMemcpyDeviceToHost), cudaSuccess);
    float *n = dev_floats(1);
    cudaMemcpy(&fresh, n, sizeof fresh, cudaMemcpyDeviceToHost);
    cr_expect(isnan(fresh), "new device memory reads as NaN, not %g", fresh);
    cudaFree(d), cudaFree(n);
}

// ---- cuBLAS

// C (m, n) = op(A) op(B) in double, column-major, inputs rounded by `round`.
static void ref_gemm(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B, int ldb, double *C,
                     float (*round)(float)) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0.0;
            for (int q = 0; q < k; q++) {
                float a = ta ? A[q + (size_t)i * lda] : A[i + (size_t)q * lda];
                float b = tb ? B[j + (size_t)q * ldb] : B[q + (size_t)j * ldb];
                s += (double)round(a) * round(b);
            }
            C[i + (size_t)j * m] = s;
        }
}
static float keep(float x) { return x; }
static float to_bf16(float x) {  // round to nearest even, 8 mantissa bits
    uint32_t b;
    memcpy(&b, &x, 4);
    b = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &b, 4);
    return x;
}
static float to_fp16(float x) { return (float)(_Float16)x; }

static void gemm_case(cublasHandle_t h, int ta, int tb, cublasComputeType_t ct, float (*round)(float), double tol) {
    const int m = 13, n = 7, k = 29, lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldc = m + 2;
    const size_t na = (size_t)lda * (ta ? m : k), nb = (size_t)ldb * (tb ? k : n), nc = (size_t)ldc * n;
    float *A = (float *)malloc(na * 4), *B = (float *)malloc(nb * 4), *C = (float *)malloc(nc * 4);
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < na + nb; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float v = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
        if (i < na) A[i] = v;
        else B[i - na] = v;
    }
    float *dA = dev_floats(na), *dB = dev_floats(nb), *dC = dev_floats(nc);
    cudaMemcpy(dA, A, na * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, B, nb * 4, cudaMemcpyHostToDevice);
    const float one = 1.0f, zero = 0.0f;
    cr_assert_eq(cublasGemmEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &one, dA,
                              CUDA_R_32F, lda, dB, CUDA_R_32F, ldb, &zero, dC, CUDA_R_32F, ldc, ct, CUBLAS_GEMM_DEFAULT),
                 CUBLAS_STATUS_SUCCESS, "beta = 0 must not read C (new memory is NaN)");
    cudaMemcpy(C, dC, nc * 4, cudaMemcpyDeviceToHost);
    double *want = (double *)malloc((size_t)m * n * sizeof(double));
    ref_gemm(ta, tb, m, n, k, A, lda, B, ldb, want, round);
    double worst = 0.0, worst_unrounded = 0.0;
    double *plain = (double *)malloc((size_t)m * n * sizeof(double));
    ref_gemm(ta, tb, m, n, k, A, lda, B, ldb, plain, keep);
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            worst = fmax(worst, fabs(C[i + (size_t)j * ldc] - want[i + (size_t)j * m]));
            worst_unrounded = fmax(worst_unrounded, fabs(C[i + (size_t)j * ldc] - plain[i + (size_t)j * m]));
        }
    cr_expect(worst < tol, "ta %d tb %d compute %d: max error %g vs the rounded reference", ta, tb, (int)ct, worst);
    if (round != keep)
        cr_expect(worst_unrounded > 10 * tol, "compute %d: the inputs were not rounded (error %g vs fp32)", (int)ct,
                  worst_unrounded);
    cudaFree(dA), cudaFree(dB), cudaFree(dC);
    free(A), free(B), free(C), free(want), free(plain);
}

Test(cusim, cublas_products_against_a_double_reference) {
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case(h, ta, tb, CUBLAS_COMPUTE_32F, keep, 1e-5);
            gemm_case(h, ta, tb, CUBLAS_COMPUTE_32F_FAST_16BF, to_bf16, 1e-5);
            gemm_case(h, ta, tb, CUBLAS_COMPUTE_32F_FAST_16F, to_fp16, 1e-5);
        }
    cublasDestroy(h);
}

Test(cusim, cublas_refuses_bad_leading_dimensions_overlaps_and_host_operands) {
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    float *A = dev_floats(64), *B = dev_floats(64), *C = dev_floats(64), host[64];
    const float one = 1.0f, zero = 0.0f;
    cr_expect_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, A, 3, B, 4, &zero, C, 4),
                 CUBLAS_STATUS_INVALID_VALUE, "lda 3 < m 4");
    cr_expect_eq(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 4, 4, 8, &one, A, 4, B, 8, &zero, C, 4),
                 CUBLAS_STATUS_INVALID_VALUE, "transposed A: lda 4 < k 8");
    cr_expect_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, host, 4, B, 4, &zero, C, 4),
                 CUBLAS_STATUS_INVALID_VALUE, "A in host memory");
    cr_expect_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 9, 4, &one, A, 8, B, 4, &zero, C, 8),
                 CUBLAS_STATUS_INVALID_VALUE, "C (8 x 9) runs past its 64 floats");
    // two members whose 4 x 4 outputs interleave (stride 2 < 14 elements spanned with ldc 4)
    cr_expect_eq(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 4, 4, &one, A, 2, 8, B, 4, 0, &zero, C, 4, 2,
                                           2),
                 CUBLAS_STATUS_INVALID_VALUE, "overlapping batch outputs");
    cr_expect_eq(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 4, 4, &one, A, 2, 8, B, 4, 0, &zero, C, 4, 16,
                                           2),
                 CUBLAS_STATUS_SUCCESS, "disjoint batch outputs");
    cudaFree(A), cudaFree(B), cudaFree(C);
    cublasDestroy(h);
}

// cublasGemmBatchedEx: member i of a pointer-array batch equals cublasSgemm on the same operands;
// members may interleave within rows (disjoint elements, as the attention's outputs do); two
// members writing one element, and pointer arrays in host memory, are refused.
static cublasStatus_t batched(cublasHandle_t h, int m, int n, int k, const float *const *A, int lda,
                              const float *const *B, int ldb, float *const *C, int ldc, int batch) {
    const float one = 1.0f, zero = 0.0f;
    return cublasGemmBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_T, m, n, k, &one, (const void *const *)A, CUDA_R_32F, lda,
                               (const void *const *)B, CUDA_R_32F, ldb, &zero, (void *const *)C, CUDA_R_32F, ldc,
                               batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

Test(cusim, cublas_pointer_array_batches) {
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    float hA[64], hB[64];
    for (int i = 0; i < 64; i++) hA[i] = (float)(i % 7) - 3.0f, hB[i] = (float)(i % 5) * 0.5f - 1.0f;
    float *A = dev_floats(64), *B = dev_floats(64), *C = dev_floats(64), *R = dev_floats(64);
    cudaMemcpy(A, hA, sizeof hA, cudaMemcpyHostToDevice);
    cudaMemcpy(B, hB, sizeof hB, cudaMemcpyHostToDevice);
    const float **ptrs = (const float **)dev_floats(3 * 2 * sizeof(void *) / sizeof(float));
    // member i: C + 2i (2 x 4, ldc 4: rows 0-1 / 2-3 of each column) = A + 8i (2 x 3, lda 2) times (B + i)^T
    const float *hp[6] = {A, A + 8, B, B + 1, C, C + 2};
    cudaMemcpy(ptrs, hp, sizeof hp, cudaMemcpyHostToDevice);
    cr_expect_eq(batched(h, 2, 4, 3, ptrs, 2, ptrs + 2, 4, (float *const *)(ptrs + 4), 4, 2), CUBLAS_STATUS_SUCCESS,
                 "interleaved but disjoint outputs");
    const float one = 1.0f, zero = 0.0f;
    for (int i = 0; i < 2; i++)
        cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, 2, 4, 3, &one, A + 8 * i, 2, B + i, 4, &zero, R + 2 * i, 4),
                     CUBLAS_STATUS_SUCCESS);
    float got[16], want[16];
    cudaMemcpy(got, C, sizeof got, cudaMemcpyDeviceToHost);
    cudaMemcpy(want, R, sizeof want, cudaMemcpyDeviceToHost);
    cr_expect_eq(memcmp(got, want, sizeof got), 0, "the batch differs from the members computed one by one");
    const float *clash[6] = {A, A + 8, B, B + 1, C, C + 1};  // member 1's row 0 is member 0's row 1
    cudaMemcpy(ptrs, clash, sizeof clash, cudaMemcpyHostToDevice);
    cr_expect_eq(batched(h, 2, 4, 3, ptrs, 2, ptrs + 2, 4, (float *const *)(ptrs + 4), 4, 2),
                 CUBLAS_STATUS_INVALID_VALUE, "two members write one element");
    cr_expect_eq(batched(h, 2, 4, 3, hp, 2, hp + 2, 4, (float *const *)(hp + 4), 4, 2), CUBLAS_STATUS_INVALID_VALUE,
                 "pointer arrays in host memory");
    cudaFree(A), cudaFree(B), cudaFree(C), cudaFree(R), cudaFree((void *)ptrs);
    cublasDestroy(h);
}

// ---- the tensor-core product (mma.sync m16n8k16): fragments built here from the PTX ISA's table
// (g = lane / 4, t = lane % 4; A a[r]: row g + 8 (r % 2), columns 2t + 8 (r / 2) + {0, 1};
// B b[r]: rows 2t + 8 r + {0, 1}, column g; D d[i]: row g + 8 (i / 2), column 2t + i % 2),
// values exactly representable in both 16-bit formats, D = A B + C against a host product.
static uint32_t half_bits(float x, int f16) {  // x: a small integer / 8, exact in bf16 and fp16
    if (f16) {
        _Float16 h = (_Float16)x;
        uint16_t b;
        memcpy(&b, &h, 2);
        return b;
    }
    uint32_t u;
    memcpy(&u, &x, 4);
    return u >> 16;
}

__global__ void mma_kernel(float *d, const float *a, const float *b, const float *c, int f16) {
    const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
    uint32_t ar[4], br[2];
    float acc[4];
    for (int r = 0; r < 4; r++) {
        const int row = g + 8 * (r % 2), col = 2 * t + 8 * (r / 2);
        ar[r] = half_bits(a[row * 16 + col], f16) | half_bits(a[row * 16 + col + 1], f16) << 16;
    }
    for (int r = 0; r < 2; r++) {
        const int k = 2 * t + 8 * r;
        br[r] = half_bits(b[k * 8 + g], f16) | half_bits(b[(k + 1) * 8 + g], f16) << 16;
    }
    for (int i = 0; i < 4; i++) acc[i] = c[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2];
    cusim_mma_m16n8k16(f16, acc, ar, br, acc);
    for (int i = 0; i < 4; i++) d[(g + 8 * (i / 2)) * 8 + 2 * t + i % 2] = acc[i];
}

Test(cusim, mma_m16n8k16_in_the_ptx_fragment_layout) {
    float ha[256], hb[128], hc[128], want[128], got[128];
    for (int i = 0; i < 256; i++) ha[i] = (float)((i * 7) % 23 - 11) / 8.0f;
    for (int i = 0; i < 128; i++) hb[i] = (float)((i * 5) % 19 - 9) / 8.0f, hc[i] = (float)(i % 13) - 6.0f;
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 8; n++) {
            double s = hc[r * 8 + n];
            for (int k = 0; k < 16; k++) s += (double)ha[r * 16 + k] * hb[k * 8 + n];
            want[r * 8 + n] = (float)s;  // exact: few bits per product
        }
    float *a = dev_floats(256), *b = dev_floats(128), *c = dev_floats(128), *d = dev_floats(128);
    cudaMemcpy(a, ha, sizeof ha, cudaMemcpyHostToDevice);
    cudaMemcpy(b, hb, sizeof hb, cudaMemcpyHostToDevice);
    cudaMemcpy(c, hc, sizeof hc, cudaMemcpyHostToDevice);
    for (int f16 = 0; f16 < 2; f16++) {
        mma_kernel<<<1, 32>>>(d, a, b, c, f16);
        cr_assert_eq(cudaMemcpy(got, d, sizeof got, cudaMemcpyDeviceToHost), cudaSuccess);
        cr_expect_eq(memcmp(got, want, sizeof got), 0, "%s: D differs from A B + C", f16 ? "fp16" : "bf16");
    }
    mma_kernel<<<1, 16>>>(d, a, b, c, 0);  // half a warp: the collective names lanes that do not exist
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure, "mma with 16 lanes must fail the launch");
    cudaFree(a), cudaFree(b), cudaFree(c), cudaFree(d);
}

// ldmatrix (cuda/mma.h mm_ldsm_x4; its layout: test_cuda_fragments.cu, which runs on a GPU too):
// a row address off 16 bytes, or one in global memory, fails the launch.
__global__ void ldmatrix_kernel(unsigned *out, const uint16_t *global, int offset) {
    __shared__ __align__(16) uint16_t tile[16 * 24 + 8];
    for (int e = threadIdx.x; e < 16 * 24 + 8; e += 32) tile[e] = (uint16_t)e;
    __syncthreads();
    const int l = threadIdx.x;
    uint32_t r[4];
    mm_ldsm_x4<false>(r, global ? global : tile + (l % 8 + 8 * (l / 8 % 2)) * 24 + 8 * (l / 16) + offset);
    for (int i = 0; i < 4; i++) out[4 * l + i] = r[i];
}

Test(cusim, ldmatrix_rows_need_16_byte_alignment) {
    unsigned *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, 128 * sizeof(unsigned)), cudaSuccess);
    ldmatrix_kernel<<<1, 32>>>(d, nullptr, 0);
    cr_expect_eq(cudaDeviceSynchronize(), cudaSuccess, "aligned rows load");
    ldmatrix_kernel<<<1, 32>>>(d, nullptr, 4);  // rows 8 bytes off: 8-byte aligned, not 16
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure, "a row address off 16 bytes must fault");
    cudaFree(d);
}

// Bank conflicts counted: one x4 ldmatrix whose lane l addresses row (l % 8 + 8 (l / 8 % 2)) *
// stride + 8 (l / 16) of a 128-byte aligned tile, or (stride 0) all the same address.
__global__ void ldmatrix_stride_kernel(int stride) {
    __shared__ __align__(128) uint16_t tile[16 * 72];
    for (int e = threadIdx.x; e < 16 * 72; e += 32) tile[e] = (uint16_t)e;
    __syncthreads();
    const int l = threadIdx.x;
    uint32_t r[4];
    mm_ldsm_x4<false>(r, tile + (l % 8 + 8 * (l / 8 % 2)) * stride + 8 * (l / 16));
}

static unsigned long conflicts_of(int stride) {
    const unsigned long before = cusim_ldmatrix_conflicts();
    ldmatrix_stride_kernel<<<1, 32>>>(stride);
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
    return cusim_ldmatrix_conflicts() - before;
}

Test(cusim, ldmatrix_counts_bank_conflicts) {
    // rows of 64 values: every row of a matrix in the same 16-byte bank group, 8 wavefronts each
    cr_expect_eq(conflicts_of(64), 4ul * 7, "rows 128 bytes apart");
    cr_expect_eq(conflicts_of(32), 4ul * 3, "rows 64 bytes apart: 2 groups of 4");
    cr_expect_eq(conflicts_of(72), 0ul, "rows padded to 72 values: 8 groups");
    cr_expect_eq(conflicts_of(0), 0ul, "one address per matrix: read once");
}

Test(cusim, ldmatrix_reads_shared_memory_only) {
    unsigned *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, 128 * sizeof(unsigned)), cudaSuccess);
    ldmatrix_kernel<<<1, 32>>>(d, (const uint16_t *)d, 0);
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure, "ldmatrix from global memory must fail");
    cudaFree(d);
}

// cp.async (cuda/cp_async.h): a copy lands when its thread waits for its group, not before (the
// shared tile still holds the 0xFF fill); wait_group 1 lands all but the most recent group; a
// copy with `in` false writes zeros; a misaligned or global destination fails the launch.
#include "cuda/cp_async.h"
__global__ void cp_async_kernel(unsigned *out, const unsigned *src, int dst_offset) {
    __shared__ __align__(16) unsigned tile[16];
    const int t = threadIdx.x;  // 2 threads, 2 copies of 4 values each
    mm_cp_async16(tile + 4 * t + dst_offset, src + 4 * t, true);
    mm_cp_async_commit();
    mm_cp_async16(tile + 8 + 4 * t, src + 8 + 4 * t, t == 0);  // thread 1: zeros
    mm_cp_async_commit();
    out[4 * t] = tile[4 * t];  // nothing landed
    mm_cp_async_wait<1>();
    out[4 * t + 1] = tile[4 * t];      // the first group landed
    out[4 * t + 2] = tile[8 + 4 * t];  // the second not
    mm_cp_async_wait<0>();
    out[4 * t + 3] = tile[8 + 4 * t + 3];
}

Test(cusim, cp_async_lands_when_its_thread_waits) {
    unsigned *d = nullptr, *src = nullptr, h[8], hs[16];
    for (unsigned i = 0; i < 16; i++) hs[i] = 100 + i;
    cr_assert_eq(cudaMalloc(&d, sizeof h), cudaSuccess);
    cr_assert_eq(cudaMalloc(&src, sizeof hs), cudaSuccess);
    cudaMemcpy(src, hs, sizeof hs, cudaMemcpyHostToDevice);
    cp_async_kernel<<<1, 2>>>(d, src, 0);
    cr_assert_eq(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaSuccess);
    for (int t = 0; t < 2; t++) {
        cr_expect_eq(h[4 * t], 0xFFFFFFFFu, "thread %d: a copy landed before its wait", t);
        cr_expect_eq(h[4 * t + 1], 100u + 4 * t, "thread %d: wait_group 1 left the first group out", t);
        cr_expect_eq(h[4 * t + 2], 0xFFFFFFFFu, "thread %d: wait_group 1 landed the most recent group", t);
        cr_expect_eq(h[4 * t + 3], t == 0 ? 111u : 0u, "thread %d: the second copy (zeros when not in)", t);
    }
    cp_async_kernel<<<1, 2>>>(d, src, 2);  // 8 bytes off a 16-byte boundary
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure, "a misaligned cp.async must fault");
    cudaFree(d), cudaFree(src);
}

__global__ void cp_async_to_global_kernel(unsigned *dst, const unsigned *src) {
    mm_cp_async16(dst, src, true);
    mm_cp_async_commit();
    mm_cp_async_wait<0>();
}

Test(cusim, cp_async_writes_shared_memory_only) {
    unsigned *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, 32 * sizeof(unsigned)), cudaSuccess);
    cp_async_to_global_kernel<<<1, 1>>>(d, d + 16);
    cr_expect_eq(cudaDeviceSynchronize(), cudaErrorLaunchFailure, "cp.async into global memory must fail");
    cudaFree(d);
}

// ---- bf16 storage (the FFN block in bf16): bf16 A and B with CUBLAS_COMPUTE_32F into a bf16 C
// (cublasGemmEx) or fp32 C / D (cuBLASLt). The operands are multiples of 1/8 in [-8, 8] (exact in
// bf16, every product and sum exact in fp32), so the double reference is the exact result and its
// rounding to nearest even the only right bf16 C; most results need that rounding (up to 17
// significant bits).
static uint16_t bf16_exact(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    cr_assert_eq(u & 0xFFFFu, 0u, "%g is not a bf16 value", x);
    return (uint16_t)(u >> 16);
}
static float bf16_value(uint16_t b) {
    const uint32_t u = (uint32_t)b << 16;
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static uint16_t *dev_halves(size_t n) {
    uint16_t *p = nullptr;
    cr_assert_eq(cudaMalloc(&p, n * sizeof(uint16_t)), cudaSuccess);
    return p;
}
static float eighths(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (float)((int)((*s >> 33) % 129) - 64) / 8.0f;
}
// n random eighths as floats (f) and as bf16 bits (b).
static void eighths_fill(uint64_t *s, float *f, uint16_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) f[i] = eighths(s), b[i] = bf16_exact(f[i]);
}

// C (m, n) bf16 = op(A) op(B) + beta C, every operand bf16 with padded leading dimensions, against
// the rounded exact result bit for bit; the padding rows of C stay as they were.
static void gemm_bf16_c_case(cublasHandle_t h, int ta, int tb, float beta) {
    const int m = 13, n = 7, k = 29, lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldc = m + 2;
    const size_t na = (size_t)lda * (ta ? m : k), nb = (size_t)ldb * (tb ? k : n), nc = (size_t)ldc * n;
    std::vector<float> A(na), B(nb), C(nc);
    std::vector<uint16_t> hA(na), hB(nb), hC(nc), got(nc);
    uint64_t s = 0x9E3779B97F4A7C15ull + (uint64_t)(2 * ta + tb);
    eighths_fill(&s, A.data(), hA.data(), na);
    eighths_fill(&s, B.data(), hB.data(), nb);
    eighths_fill(&s, C.data(), hC.data(), nc);
    uint16_t *dA = dev_halves(na), *dB = dev_halves(nb), *dC = dev_halves(nc);  // exactly their sizes
    cudaMemcpy(dA, hA.data(), 2 * na, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, hB.data(), 2 * nb, cudaMemcpyHostToDevice);
    cudaMemcpy(dC, hC.data(), 2 * nc, cudaMemcpyHostToDevice);
    const float one = 1.0f;
    cr_assert_eq(cublasGemmEx(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k,
                              &one, dA, CUDA_R_16BF, lda, dB, CUDA_R_16BF, ldb, &beta, dC, CUDA_R_16BF, ldc,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 CUBLAS_STATUS_SUCCESS);
    cudaMemcpy(got.data(), dC, 2 * nc, cudaMemcpyDeviceToHost);
    std::vector<double> want((size_t)m * n);
    ref_gemm(ta, tb, m, n, k, A.data(), lda, B.data(), ldb, want.data(), keep);
    int wrong = 0, rounded = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < ldc; i++) {
            const size_t at = i + (size_t)j * ldc;
            if (i >= m) {
                wrong += got[at] != hC[at];
                continue;
            }
            const double exact = want[i + (size_t)j * m] + (double)beta * C[at];
            const float r = to_bf16((float)exact);  // (float)exact is exact: at most 17 bits
            rounded += (double)r != exact;
            if (got[at] != bf16_exact(r) && wrong++ < 3)
                cr_expect_fail("ta %d tb %d beta %g: C[%d,%d] = 0x%04x (%g), want 0x%04x (%g, exactly %.9g)",
                               ta, tb, beta, i, j, got[at], bf16_value(got[at]), bf16_exact(r), r, exact);
        }
    cr_expect_eq(wrong, 0, "ta %d tb %d beta %g: %d elements of C wrong", ta, tb, beta, wrong);
    cr_expect(rounded > m * n / 2, "only %d of %d results needed rounding: the case tests little", rounded,
              m * n);
    cudaFree(dA), cudaFree(dB), cudaFree(dC);
}

Test(cusim, cublas_bf16_c_rounds_to_nearest_even) {
    cublasHandle_t h;
    cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_bf16_c_case(h, ta, tb, 0.0f);  // C not read: its NaN-free values stay out of it
            gemm_bf16_c_case(h, ta, tb, 0.5f);
        }
    // ties: rows of A (5 x 3) times a column of ones; sums exact in fp32, one rounding each
    const float t8 = 1.0f / 256, t9 = 1.0f / 512, t12 = 1.0f / 4096, p7 = 1.0f + 1.0f / 128;
    const float rows[5][3] = {{1, t8, 0}, {p7, t8, 0}, {1, t8, t12}, {-p7, -t8, 0}, {1, -t9, 0}};
    const uint16_t want[5] = {0x3F80,   // 1 + 2^-8: halfway, to the even 1
                              0x3F82,   // 1 + 2^-7 + 2^-8: halfway, up to the even neighbour
                              0x3F81,   // above halfway: up
                              0xBF82,   // negative halfway: away from zero, to even
                              0x3F80};  // 1 - 2^-9: halfway below 1, up to the even 1
    uint16_t hA[15], hB[3], hC[5];
    for (int i = 0; i < 5; i++)
        for (int q = 0; q < 3; q++) hA[i + 5 * q] = bf16_exact(rows[i][q]);
    for (int q = 0; q < 3; q++) hB[q] = bf16_exact(1.0f);
    uint16_t *dA = dev_halves(15), *dB = dev_halves(3), *dC = dev_halves(5);
    cudaMemcpy(dA, hA, sizeof hA, cudaMemcpyHostToDevice);
    cudaMemcpy(dB, hB, sizeof hB, cudaMemcpyHostToDevice);
    const float one = 1.0f, zero = 0.0f;
    cr_assert_eq(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, 1, 3, &one, dA, CUDA_R_16BF, 5, dB, CUDA_R_16BF,
                              3, &zero, dC, CUDA_R_16BF, 5, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 CUBLAS_STATUS_SUCCESS);
    cudaMemcpy(hC, dC, sizeof hC, cudaMemcpyDeviceToHost);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(hC[i], want[i], "row %d: 0x%04x, want 0x%04x", i, hC[i], want[i]);
    // C's extent in 2-byte elements: 5 x 2 (ldc 5) needs 10 values, dC holds 5
    cr_expect_eq(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, 2, 3, &one, dA, CUDA_R_16BF, 5, dB, CUDA_R_16BF,
                              3, &zero, dC, CUDA_R_16BF, 5, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 CUBLAS_STATUS_INVALID_VALUE, "a bf16 C past its allocation");
    // cuBLAS's table: a bf16 C only with bf16 A and B and CUBLAS_COMPUTE_32F
    cr_expect_eq(
        cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, 1, 3, &one, dA, CUDA_R_16BF, 5, dB, CUDA_R_16BF, 3,
                     &zero, dC, CUDA_R_16BF, 5, CUBLAS_COMPUTE_32F_FAST_16BF, CUBLAS_GEMM_DEFAULT),
        CUBLAS_STATUS_NOT_SUPPORTED);
    cr_expect_eq(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 5, 1, 3, &one, dA, CUDA_R_16F, 5, dB, CUDA_R_16F,
                              3, &zero, dC, CUDA_R_16BF, 5, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 CUBLAS_STATUS_NOT_SUPPORTED);
    float *f = dev_floats(16);
    cr_expect_eq(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 1, 2, &one, f, CUDA_R_32F, 2, f, CUDA_R_32F, 2,
                              &zero, dC, CUDA_R_16BF, 2, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 CUBLAS_STATUS_NOT_SUPPORTED);
    cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(f);
    cublasDestroy(h);
}

// cuBLASLt with bf16 A and B (CUBLAS_COMPUTE_32F) and fp32 C, D distinct: D = op(A) op(B) + C
// exactly, C untouched; A and B checked against their allocations in 2-byte elements; bf16
// operands with a FAST compute type, or a bf16 C, are not supported.
static cublasStatus_t lt_plan(cublasLtHandle_t lt, cublasComputeType_t compute, int ta, int tb, int m, int n,
                              int k, int lda, int ldb, cudaDataType ab, cudaDataType ct,
                              cublasLtMatmulDesc_t *d, cublasLtMatrixLayout_t l[3],
                              cublasLtMatmulHeuristicResult_t *best) {
    const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cr_assert_eq(cublasLtMatmulDescCreate(d, compute, CUDA_R_32F), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatmulDescSetAttribute(*d, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof oa),
                 CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatmulDescSetAttribute(*d, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof ob),
                 CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatrixLayoutCreate(&l[0], ab, ta ? k : m, ta ? m : k, lda), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatrixLayoutCreate(&l[1], ab, tb ? n : k, tb ? k : n, ldb), CUBLAS_STATUS_SUCCESS);
    cr_assert_eq(cublasLtMatrixLayoutCreate(&l[2], ct, m, n, m), CUBLAS_STATUS_SUCCESS);
    cublasLtMatmulPreference_t pref;
    cr_assert_eq(cublasLtMatmulPreferenceCreate(&pref), CUBLAS_STATUS_SUCCESS);
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(lt, *d, l[0], l[1], l[2], l[2], pref, 1, best, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    return st;
}
static void lt_free(cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t l[3]) {
    cublasLtMatmulDescDestroy(d);
    for (int i = 0; i < 3; i++) cublasLtMatrixLayoutDestroy(l[i]);
}

Test(cusim, cublaslt_bf16_operands_with_fp32_c_and_d) {
    cublasLtHandle_t lt;
    cr_assert_eq(cublasLtCreate(&lt), CUBLAS_STATUS_SUCCESS);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            const int m = 13, n = 7, k = 29, lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1;
            const int arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
            const size_t na = (size_t)(acols - 1) * lda + arows, nb = (size_t)(bcols - 1) * ldb + brows;
            const size_t nc = (size_t)m * n;
            std::vector<float> A(na), B(nb), C(nc), D(nc), C2(nc);
            std::vector<uint16_t> hA(na), hB(nb);
            uint64_t s = 0x2545F4914F6CDD1Dull + (uint64_t)(2 * ta + tb);
            eighths_fill(&s, A.data(), hA.data(), na);
            eighths_fill(&s, B.data(), hB.data(), nb);
            for (size_t i = 0; i < nc; i++) C[i] = eighths(&s);
            uint16_t *dA = dev_halves(na), *dB = dev_halves(nb);  // exactly the extents: 2-byte elements
            float *dC = dev_floats(nc), *dD = dev_floats(nc);
            cudaMemcpy(dA, hA.data(), 2 * na, cudaMemcpyHostToDevice);
            cudaMemcpy(dB, hB.data(), 2 * nb, cudaMemcpyHostToDevice);
            cudaMemcpy(dC, C.data(), 4 * nc, cudaMemcpyHostToDevice);
            cublasLtMatmulDesc_t d;
            cublasLtMatrixLayout_t l[3];
            cublasLtMatmulHeuristicResult_t best;
            cr_assert_eq(lt_plan(lt, CUBLAS_COMPUTE_32F, ta, tb, m, n, k, lda, ldb, CUDA_R_16BF, CUDA_R_32F,
                                 &d, l, &best),
                         CUBLAS_STATUS_SUCCESS, "ta %d tb %d: bf16 A, B with fp32 C, D", ta, tb);
            const float one = 1.0f;
            cr_assert_eq(cublasLtMatmul(lt, d, &one, dA, l[0], dB, l[1], &one, dC, l[2], dD, l[2], &best.algo,
                                        nullptr, 0, 0),
                         CUBLAS_STATUS_SUCCESS);
            cudaMemcpy(D.data(), dD, 4 * nc, cudaMemcpyDeviceToHost);
            cudaMemcpy(C2.data(), dC, 4 * nc, cudaMemcpyDeviceToHost);
            std::vector<double> want(nc);
            ref_gemm(ta, tb, m, n, k, A.data(), lda, B.data(), ldb, want.data(), keep);
            int wrong = 0;
            for (size_t i = 0; i < nc; i++) wrong += (double)D[i] != want[i] + C[i];
            cr_expect_eq(wrong, 0, "ta %d tb %d: %d elements of D differ from op(A) op(B) + C", ta, tb,
                         wrong);
            cr_expect_eq(memcmp(C.data(), C2.data(), 4 * nc), 0, "C was written");
            if (ta == 0 && tb == 0) {  // an A one element short of its extent
                uint16_t *shortA = dev_halves(na - 1);
                cr_expect_eq(cublasLtMatmul(lt, d, &one, shortA, l[0], dB, l[1], &one, dC, l[2], dD, l[2],
                                            &best.algo, nullptr, 0, 0),
                             CUBLAS_STATUS_INVALID_VALUE, "A runs past its allocation");
                cudaFree(shortA);
            }
            lt_free(d, l);
            cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(dD);
        }
    cublasLtMatmulDesc_t d;
    cublasLtMatrixLayout_t l[3];
    cublasLtMatmulHeuristicResult_t best;
    cr_expect_eq(
        lt_plan(lt, CUBLAS_COMPUTE_32F_FAST_16BF, 0, 0, 4, 4, 4, 4, 4, CUDA_R_16BF, CUDA_R_32F, &d, l, &best),
        CUBLAS_STATUS_NOT_SUPPORTED, "bf16 operands with a FAST compute type");
    lt_free(d, l);
    cr_expect_eq(lt_plan(lt, CUBLAS_COMPUTE_32F, 0, 0, 4, 4, 4, 4, 4, CUDA_R_16BF, CUDA_R_16BF, &d, l, &best),
                 CUBLAS_STATUS_NOT_SUPPORTED, "a bf16 C");
    lt_free(d, l);
    cublasLtDestroy(lt);
}
