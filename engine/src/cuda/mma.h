// Tensor-core products for hand-written kernels (attention_flash.cu): one warp computes
// D (16 x 8, fp32) = A (16 x 16) B (16 x 8) + C with 16-bit inputs (bf16 or fp16), the PTX
// instruction mma.sync.aligned.m16n8k16.row.col.f32.{bf16|f16}.{bf16|f16}.f32 (sm_80 and later;
// on the simulator its collective, engine/cusim). All 32 lanes must call it together. C++ only
// (include after cuda_common.h).
//
// Fragments (PTX ISA "Matrix Fragments for mma.m16n8k16"), per lane: g = lane / 4, t = lane % 4;
// a 32-bit register holds two 16-bit values, the lower index in the low half:
//   A (row major)  a[0] (g, 2t..2t+1)   a[1] (g+8, 2t..2t+1)   a[2] (g, 2t+8..2t+9)   a[3] (g+8, 2t+8..2t+9)
//   B (k x n)      b[0] (k 2t..2t+1, n g)                      b[1] (k 2t+8..2t+9, n g)
//   C, D (fp32)    c[0], c[1] (g, 2t / 2t+1)                   c[2], c[3] (g+8, 2t / 2t+1)
// ldmatrix (mm_ldsm_x4) loads four such registers per lane in one instruction from a 16-bit tile
// in shared memory (smem_tile.h): A and B from tiles with the k index contiguous, B also from a
// tile with the n index contiguous (.trans: no transposed copy of V, K, Q or dO is staged). An
// accumulator pair (c[0..1] of n-tile 2s, 2s+1, ...) repacks into the A registers of the next
// product (mm_mma_a_from_acc): the FlashAttention register reuse.
#ifndef MM_CUDA_MMA_H
#define MM_CUDA_MMA_H

#include <stdint.h>
#include <string.h>

#include "ops_math.h"
#include "smem_tile.h"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "mma.sync m16n8k16 with bf16 inputs needs sm_80 or later (CMAKE_CUDA_ARCHITECTURES 80, 89, 90)"
#endif

#if defined(__CUDACC__) && !defined(CUSIM_SIMULATED)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#endif

// 16-bit input formats of the products.
enum { MM_MMA_BF16 = 0, MM_MMA_F16 = 1 };

// fp32 -> fp16 bits, round to nearest even (overflow to inf, subnormals kept).
MM_HD uint32_t mm_f16_bits(float x) {
#if defined(__CUDACC__) && !defined(CUSIM_SIMULATED)
    return ((__half_raw)__float2half_rn(x)).x;
#else
    const _Float16 h = (_Float16)x;
    uint16_t b;
    memcpy(&b, &h, 2);
    return b;
#endif
}

// Two values (lo at the lower index) as one register of format F.
// On the GPU one cvt.rn.{bf16x2|f16x2}.f32 (the same rounding as the two conversions).
template <int F> MM_HD uint32_t mm_pack2(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    uint32_t u;
    if (F == MM_MMA_F16) {
        const __half2 h = __floats2half2_rn(lo, hi);  // .x = lo: the low half
        memcpy(&u, &h, 4);
    } else {
        const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        memcpy(&u, &h, 4);
    }
    return u;
#else
    return F == MM_MMA_F16 ? mm_f16_bits(lo) | mm_f16_bits(hi) << 16 : mm_bf16_bits(lo) | mm_bf16_bits(hi) << 16;
#endif
}
template <int F> MM_HD uint16_t mm_to16(float x) {
    return (uint16_t)(F == MM_MMA_F16 ? mm_f16_bits(x) : mm_bf16_bits(x));
}

#if defined(__CUDACC__) || defined(CUSIM_SIMULATED)
// d = a b + d (see the fragments above).
template <int F> __device__ __forceinline__ void mm_mma(float d[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(CUSIM_SIMULATED)
    cusim_mma_m16n8k16(F == MM_MMA_F16, d, a, b, d);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if (F == MM_MMA_F16)
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    else
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                     "{%0,%1,%2,%3};"
                     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
#endif

#if defined(__CUDACC__) || defined(CUSIM_SIMULATED)
// ldmatrix.sync.aligned.m8n8.x4{.trans}.shared.b16: four 8 x 8 matrices of 16-bit values from
// shared memory, one register each per lane. Lane 8i + j gives the address of row j of matrix i
// (8 values, 16-byte aligned); lane l receives row l / 4, columns 2 (l % 4) + {0, 1} of each matrix
// — or, TRANS, column l / 4 of rows 2 (l % 4) + {0, 1}: a fragment register either way. All 32
// lanes must call it together.
template <bool TRANS> __device__ __forceinline__ void mm_ldsm_x4(uint32_t r[4], const uint16_t *row) {
#if defined(CUSIM_SIMULATED)
    cusim_ldmatrix(4, TRANS, r, row);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned at = (unsigned)__cvta_generic_to_shared(row);
    if (TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(at)
                     : "memory");
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                     : "r"(at)
                     : "memory");
#endif
}

// The tiles below are smem_tile.h's: 16-bit, `cols` values per row (16, 32 or 64), swizzled, so
// every ldmatrix here reads its 8 rows from 8 distinct chunk slots; they start 128-byte aligned.
// Lane l addresses row l % 8 of matrix m = l / 8: its address in the 16 x 16 block at the tile's
// origin (the same for every call) stepped to the block at rows r0, columns c0 (multiples of 16).
__device__ __forceinline__ const uint16_t *mm_ldsm_at(const uint16_t *tile, int cols, int lane_at, int r0,
                                                      int c0) {
    return (const uint16_t *)mm_tile_addr_step((uintptr_t)(tile + lane_at), cols, r0, c0);
}

// A registers of rows r0 .. r0+15, columns k0 .. k0+15: matrix m is rows r0 + 8 (m % 2),
// columns k0 + 8 (m / 2) — a[m].
__device__ __forceinline__ void mm_mma_ldsm_a(uint32_t a[4], const uint16_t *tile, int cols, int r0, int k0,
                                              int lane) {
    const int m = lane >> 3;
    mm_ldsm_x4<false>(
        a, mm_ldsm_at(tile, cols, mm_tile_at(cols, (lane & 7) + 8 * (m & 1), 8 * (m >> 1)), r0, k0));
}

// B registers of two n-tiles, columns n0 .. n0+7 (b[0..1]) and n0+8 .. n0+15 (b[2..3]), rows
// k0 .. k0+15, from a tile stored with one row per n and the k index contiguous: tile[n][k].
// Matrix m is rows (n) n0 + 8 (m / 2), columns (k) k0 + 8 (m % 2).
__device__ __forceinline__ void mm_mma_ldsm_b2(uint32_t b[4], const uint16_t *tile, int cols, int n0, int k0,
                                               int lane) {
    const int m = lane >> 3;
    mm_ldsm_x4<false>(
        b, mm_ldsm_at(tile, cols, mm_tile_at(cols, (lane & 7) + 8 * (m >> 1), 8 * (m & 1)), n0, k0));
}

// The same registers from a tile stored with one row per k: tile[k][n], transposed as it loads.
// Matrix m is rows (k) k0 + 8 (m % 2), columns (n) n0 + 8 (m / 2).
__device__ __forceinline__ void mm_mma_ldsm_b2_kn(uint32_t b[4], const uint16_t *tile, int cols, int k0,
                                                  int n0, int lane) {
    const int m = lane >> 3;
    mm_ldsm_x4<true>(
        b, mm_ldsm_at(tile, cols, mm_tile_at(cols, (lane & 7) + 8 * (m & 1), 8 * (m >> 1)), k0, n0));
}
#endif

// The A registers of k-step s (columns 16s .. 16s+15) from accumulators acc[n-tile][4] whose
// columns are the k index: n-tiles 2s and 2s+1.
template <int F> MM_HD void mm_mma_a_from_acc(uint32_t a[4], const float acc[][4], int s) {
    a[0] = mm_pack2<F>(acc[2 * s][0], acc[2 * s][1]);
    a[1] = mm_pack2<F>(acc[2 * s][2], acc[2 * s][3]);
    a[2] = mm_pack2<F>(acc[2 * s + 1][0], acc[2 * s + 1][1]);
    a[3] = mm_pack2<F>(acc[2 * s + 1][2], acc[2 * s + 1][3]);
}

// Row (within the 16-row tile) and column (within the 8-column n-tile) of accumulator element i.
MM_HD int mm_mma_c_row(int lane, int i) { return (lane >> 2) + 8 * (i >> 1); }
MM_HD int mm_mma_c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }

#endif
