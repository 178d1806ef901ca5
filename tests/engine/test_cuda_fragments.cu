// The FlashAttention kernels' device primitives (engine/src/cuda/mma.h, cp_async.h) on the device
// itself, against the PTX ISA's tables written out here: ldmatrix's layout (plain and .trans),
// the fragment helpers' registers through tensor-core products (A from a tile, B from tile[n][k]
// and from tile[k][n], in smem_tile.h's swizzled layout, A repacked from accumulators), the
// 16-bit packing's rounding against the host's, cp.async groups. Built twice: with nvcc for a GPU
// (engine_test_cuda_fragments: without a device it skips with a printed "no CUDA device" line,
// and fails with MM_REQUIRE_GPU=1 as scripts/gpu_check.sh sets — the first thing it runs, so a
// layout the simulator got wrong shows here by name before the attention tests fail), and
// rewritten by cu2cpp for the simulator (engine_test_cuda_fragments_sim, in CI). Values are small
// multiples of 1/8 and 1/32: every product and every sum is exact in fp32, so the results do not
// depend on the order of the sums.
#include <criterion/criterion.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/cp_async.h"
#include "cuda/mma.h"
#include "cuda/smem_tile.h"

// The device, or skip (fail with MM_REQUIRE_GPU=1) naming the reason.
static void need_device(void) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaSuccess && n > 0) return;
    const char *why = e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount found none";
    const char *req = getenv("MM_REQUIRE_GPU");
    if (req && strcmp(req, "1") == 0) cr_assert_fail("no CUDA device: %s (MM_REQUIRE_GPU=1)", why);
    fprintf(stderr, "test_cuda_fragments: no CUDA device: %s — skipped\n", why);
    cr_skip_test("no CUDA device: %s", why);
}

template <typename T>
static T *to_device(const T *h, size_t n) {
    T *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, n * sizeof(T)), cudaSuccess);
    cr_assert_eq(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
    return d;
}
template <typename T>
static void from_device(T *h, const T *d, size_t n) {
    cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess, "the kernel failed");
    cr_assert_eq(cudaMemcpy(h, d, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
}

// A 16-bit value of format f16 (0: bf16) as a float.
static float widen16(uint16_t h, int f16) {
    if (!f16) {
        const uint32_t u = (uint32_t)h << 16;
        float x;
        memcpy(&x, &u, 4);
        return x;
    }
#if defined(__CUDACC__) && !defined(CUSIM_SIMULATED)
    __half_raw r;
    r.x = h;
    return __half2float(__half(r));
#else
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
#endif
}
static uint16_t round16(float x, int f16) { return f16 ? mm_to16<MM_MMA_F16>(x) : mm_to16<MM_MMA_BF16>(x); }

// ---- ldmatrix: a 16 x 16 tile (value r * 16 + c + 1 at row r, column c; rows of LD values, 48
// bytes); lane l addresses row l % 8 of matrix l / 8 (rows 8 (m % 2), columns 8 (m / 2)).
enum { LD = 24 };
__global__ void ldmatrix_kernel(unsigned *out) {
    __shared__ __align__(16) uint16_t tile[16 * LD];
    for (int e = threadIdx.x; e < 16 * LD; e += 32) tile[e] = (uint16_t)((e / LD) * 16 + e % LD + 1);
    __syncthreads();
    const int l = threadIdx.x, m = l / 8;
    const uint16_t *row = tile + (l % 8 + 8 * (m % 2)) * LD + 8 * (m / 2);
    uint32_t r[4];
    mm_ldsm_x4<false>(r, row);
    for (int i = 0; i < 4; i++) out[4 * l + i] = r[i];
    mm_ldsm_x4<true>(r, row);
    for (int i = 0; i < 4; i++) out[128 + 4 * l + i] = r[i];
}

static unsigned tile_pair(int r0, int c0, int r1, int c1) {
    return (unsigned)(r0 * 16 + c0 + 1) | (unsigned)(r1 * 16 + c1 + 1) << 16;
}

// Register m of lane l: row l / 4, columns 2 (l % 4) + {0, 1} of matrix m; with .trans column
// l / 4 of rows 2 (l % 4) + {0, 1} (the first in the low half).
Test(cuda_fragments, ldmatrix_in_the_ptx_layout) {
    need_device();
    unsigned h[256], *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, sizeof h), cudaSuccess);
    ldmatrix_kernel<<<1, 32>>>(d);
    from_device(h, d, 256);
    int wrong[2] = {0, 0};
    for (int l = 0; l < 32; l++)
        for (int m = 0; m < 4; m++) {
            const int R = 8 * (m % 2), C = 8 * (m / 2), a = l / 4, b = 2 * (l % 4);
            wrong[0] += h[4 * l + m] != tile_pair(R + a, C + b, R + a, C + b + 1);
            wrong[1] += h[128 + 4 * l + m] != tile_pair(R + b, C + a, R + b + 1, C + a);
        }
    cr_expect_eq(wrong[0], 0, "plain: %d of 128 registers differ from the PTX layout", wrong[0]);
    cr_expect_eq(wrong[1], 0, ".trans: %d of 128 registers differ from the PTX layout", wrong[1]);
    cudaFree(d);
}

// ---- products through the helpers: D (16 x 16: two n-tiles) = A B with A from a row-major tile
// and B from tile[n][k] (kn 0) or tile[k][n] (kn 1); then E (16 x 16) = D, rounded to the format,
// repacked as A from the accumulators, times B2 (tile[n][k]): the flash kernels' P V. Each operand
// is the 16 x 16 block at rows r0, columns c0 of a swizzled 32 x 64 tile (smem_tile.h, as the
// flash kernels keep theirs) whose other values are NaN: a block read from a wrong place gives NaN.
enum { TR = 32, TC = 64 };
template <int F>
__global__ void products_kernel(float *d, float *e, const uint16_t *a, const uint16_t *b, const uint16_t *b2,
                                int kn, int r0, int c0) {
    __shared__ __align__(128) uint16_t ta[TR * TC];
    __shared__ __align__(128) uint16_t tb[TR * TC];
    __shared__ __align__(128) uint16_t tb2[TR * TC];
    const int l = threadIdx.x;
    for (int i = l; i < TR * TC; i += 32) ta[i] = tb[i] = tb2[i] = 0x7fc0u;  // NaN in both formats
    __syncthreads();
    for (int i = l; i < 256; i += 32) {
        const int at = mm_tile_at(TC, r0 + i / 16, c0 + i % 16);
        ta[at] = a[i], tb[at] = b[i], tb2[at] = b2[i];
    }
    __syncthreads();
    uint32_t ar[4], br[4];
    mm_mma_ldsm_a(ar, ta, TC, r0, c0, l);
    if (kn)
        mm_mma_ldsm_b2_kn(br, tb, TC, r0, c0, l);
    else
        mm_mma_ldsm_b2(br, tb, TC, r0, c0, l);
    float acc[2][4] = {}, out[2][4] = {};
    mm_mma<F>(acc[0], ar, br);
    mm_mma<F>(acc[1], ar, br + 2);
    uint32_t pa[4];
    mm_mma_a_from_acc<F>(pa, acc, 0);
    mm_mma_ldsm_b2(br, tb2, TC, r0, c0, l);
    mm_mma<F>(out[0], pa, br);
    mm_mma<F>(out[1], pa, br + 2);
    for (int j = 0; j < 2; j++)
        for (int i = 0; i < 4; i++) {
            const int at = mm_mma_c_row(l, i) * 16 + 8 * j + mm_mma_c_col(l, i);
            d[at] = acc[j][i], e[at] = out[j][i];
        }
}

static void products_case(int f16, int kn, int r0, int c0) {
    uint16_t a[256], b[256], b2[256];
    float fa[256], fb[256], fb2[256];
    uint64_t s = 0x2545F4914F6CDD1Dull + (uint64_t)(2 * f16 + kn);
    for (int i = 0; i < 256; i++) {
        float *f[3] = {fa + i, fb + i, fb2 + i};
        uint16_t *h[3] = {a + i, b + i, b2 + i};
        for (int t = 0; t < 3; t++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            // A in eighths within [-8, 8], B in 32nds and B2 in eighths within [-2, 2]: exact in
            // both formats; A B then has up to 15 significant bits (its rounding to either format
            // is exercised) and every sum of (A B) B2 stays within 24 bits
            const int k = (int)(s >> 40);
            *f[t] = t == 0   ? (float)(k % 129 - 64) / 8.0f
                    : t == 1 ? (float)(k % 129 - 64) / 32.0f
                             : (float)(k % 33 - 16) / 8.0f;
            *h[t] = round16(*f[t], f16);
        }
    }
    float *dd = nullptr, *de = nullptr, d[256], e[256];
    cr_assert_eq(cudaMalloc(&dd, sizeof d), cudaSuccess);
    cr_assert_eq(cudaMalloc(&de, sizeof e), cudaSuccess);
    uint16_t *da = to_device(a, 256), *db = to_device(b, 256), *db2 = to_device(b2, 256);
    if (f16)
        products_kernel<MM_MMA_F16><<<1, 32>>>(dd, de, da, db, db2, kn, r0, c0);
    else
        products_kernel<MM_MMA_BF16><<<1, 32>>>(dd, de, da, db, db2, kn, r0, c0);
    from_device(d, dd, 256);
    from_device(e, de, 256);
    int wrong_d = 0, wrong_e = 0, rounded = 0;
    float want_d[256];
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++) {
            double sum = 0.0;  // B[k][n]: tile[n][k] = b[n * 16 + k], or tile[k][n] = b[k * 16 + n]
            for (int k = 0; k < 16; k++) sum += (double)fa[r * 16 + k] * fb[kn ? k * 16 + n : n * 16 + k];
            want_d[r * 16 + n] = (float)sum;
            wrong_d += d[r * 16 + n] != (float)sum;
        }
    for (int r = 0; r < 16; r++)
        for (int n = 0; n < 16; n++) {
            double sum = 0.0;
            for (int k = 0; k < 16; k++) {
                const float p = widen16(round16(want_d[r * 16 + k], f16), f16);
                rounded += n == 0 && p != want_d[r * 16 + k];
                sum += (double)p * fb2[n * 16 + k];
            }
            wrong_e += e[r * 16 + n] != (float)sum;
        }
    const char *fmt = f16 ? "fp16" : "bf16", *bt = kn ? "tile[k][n]" : "tile[n][k]";
    cr_expect_eq(wrong_d, 0, "%s, B from %s, block (%d, %d): %d of 256 values of A B wrong", fmt, bt, r0, c0,
                 wrong_d);
    cr_expect_eq(wrong_e, 0,
                 "%s, block (%d, %d): %d of 256 values of (A B) B2 wrong (A from the accumulators)", fmt, r0,
                 c0, wrong_e);
    fprintf(stderr, "test_cuda_fragments: %s, B from %s: %d of 256 accumulators rounded\n", fmt, bt, rounded);
    cr_expect(rounded > 64, "%s: only %d of 256 accumulators needed rounding: the repacking tests little",
              fmt, rounded);
    cudaFree(dd), cudaFree(de), cudaFree(da), cudaFree(db), cudaFree(db2);
}

Test(cuda_fragments, products_through_the_fragment_helpers) {
    need_device();
    for (int f16 = 0; f16 < 2; f16++)
        for (int kn = 0; kn < 2; kn++) {
            products_case(f16, kn, 0, 0);
            products_case(f16, kn, 16, 48);  // the swizzle's steps: rows + 16 * 64, columns ^ 48
        }
}

// ---- mm_pack2 on the device (cvt.rn.{bf16x2|f16x2}.f32 on a GPU) against the host's integer
// rounding, which is what the simulator and the CPU reference run: ties to even, carries into the
// exponent, overflow to inf, subnormals, signed zeros.
static const float pack_cases[] = {
    1.00390625f, 1.01171875f,   -1.00390625f, 1.0f + 1.0f / 512, 3.99999f, 65519.0f, 65520.0f,
    3.4e38f,     -3.4e38f,      1e-40f,       -1e-40f,           5.96e-8f, 2.98e-8f, 0.0f,
    -0.0f,       1.0009765625f, 0.33333334f,  -7.1234567f,       1e30f,    6.1e-5f};
enum { NPACK = sizeof pack_cases / sizeof pack_cases[0] };

template <int F>
__global__ void pack_kernel(uint32_t *out, const float *x, int n) {
    for (int i = threadIdx.x; i + 1 < n; i += blockDim.x) out[i] = mm_pack2<F>(x[i], x[i + 1]);
}

Test(cuda_fragments, packing_rounds_as_the_host_does) {
    need_device();
    float *dx = to_device(pack_cases, NPACK);
    uint32_t *dout = nullptr, got[NPACK];
    cr_assert_eq(cudaMalloc(&dout, sizeof got), cudaSuccess);
    for (int f16 = 0; f16 < 2; f16++) {
        if (f16)
            pack_kernel<MM_MMA_F16><<<1, 32>>>(dout, dx, NPACK);
        else
            pack_kernel<MM_MMA_BF16><<<1, 32>>>(dout, dx, NPACK);
        from_device(got, dout, NPACK - 1);
        for (int i = 0; i + 1 < NPACK; i++) {
            const uint32_t want = f16 ? mm_pack2<MM_MMA_F16>(pack_cases[i], pack_cases[i + 1])
                                      : mm_pack2<MM_MMA_BF16>(pack_cases[i], pack_cases[i + 1]);
            cr_expect_eq(got[i], want, "%s: (%.9g, %.9g) packs to 0x%08x on the device, 0x%08x on the host",
                         f16 ? "fp16" : "bf16", (double)pack_cases[i], (double)pack_cases[i + 1], got[i],
                         want);
        }
    }
    cudaFree(dx), cudaFree(dout);
}

// ---- cp.async: two groups per thread (the second writes zeros for odd threads); after
// wait_group 1 and a barrier every thread sees every thread's first group, after wait_group 0
// everything.
__global__ void cp_async_kernel(unsigned *out, const unsigned *src) {
    __shared__ __align__(16) unsigned tile[64];
    const int t = threadIdx.x;  // 8 threads
    mm_cp_async16(tile + 4 * t, src + 4 * t, true);
    mm_cp_async_commit();
    mm_cp_async16(tile + 32 + 4 * t, src + 32 + 4 * t, t % 2 == 0);
    mm_cp_async_commit();
    mm_cp_async_wait<1>();
    __syncthreads();
    for (int i = 0; i < 4; i++) out[4 * t + i] = tile[(4 * t + 4 * 3 + i) % 32];  // another thread's copy
    mm_cp_async_wait<0>();
    __syncthreads();
    for (int i = t; i < 64; i += 8) out[32 + i] = tile[i];
}

Test(cuda_fragments, cp_async_groups) {
    need_device();
    unsigned hs[64], got[96];
    for (int i = 0; i < 64; i++) hs[i] = 1000u + (unsigned)i;
    unsigned *src = to_device(hs, 64), *d = nullptr;
    cr_assert_eq(cudaMalloc(&d, sizeof got), cudaSuccess);
    cp_async_kernel<<<1, 8>>>(d, src);
    from_device(got, d, 96);
    for (int i = 0; i < 32; i++) cr_expect_eq(got[i], hs[(i + 12) % 32], "word %d after wait_group 1", i);
    for (int i = 0; i < 64; i++) {
        const unsigned want = i < 32 || ((i - 32) / 4) % 2 == 0 ? hs[i] : 0u;
        cr_expect_eq(got[32 + i], want, "word %d after wait_group 0", i);
    }
    cudaFree(src), cudaFree(d);
}
