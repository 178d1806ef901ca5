// Causal GQA attention on the tensor cores without the (B,H,Tq,Tk) scores in memory
// (FlashAttention-2's algorithm), for mixed_precision bf16 / fp16: Q, K, V, P, dO and dS enter the
// products rounded to the precision's 16-bit format (what the cuBLAS path's compute types do),
// every sum is fp32 (mma.h). Tiles of 64 queries x 64 keys; 4 warps of 16 rows per block.
//   B batch, Tq queries, Tk keys (query i at position Tk-Tq+i sees keys 0..Tk-Tq+i), H query
//   heads, KV kv heads (query head h reads kv head h / (H/KV)), hs head size (16, 32 or 64), C = H*hs
//   q (B,Tq,H*hs) stride ldq;  k, v (B,Tk,KV*hs) stride ldkv;  out (B,Tq,C)
//   state: the op's att buffer ((B,H,Tq,Tk) floats, Tk >= hs + 1) keeps what the backward needs:
//     lse (B,H,Tq) = the rows' log-sum-exp, then (fp32 storage) O (B,Tq,C) = a copy of out;
//   the backward's datt buffer holds D (B,H,Tq) = rowsum(dO o O)
// Storage T of q, k, v, dO, out, dQ (and of dK, dV when written straight into them): float (the
// fp32 activations: each value rounded to F as it is staged) or mm_bf16 (the attention block in
// bf16, F = bf16 only: the values staged as they are, the results rounded to nearest even as they
// are stored; the state keeps only lse, the backward reads O from the forward's bf16 out).
// Every tile in shared memory is row-major with the head dimension contiguous (as in memory);
// ldmatrix reads it as A, as B, or transposed as B (V in P V, K in dS K, dO in P^T dO, Q in dS^T Q).
// The streamed tiles are double-buffered: the next one is in flight (cp.async for bf16 rows)
// while the warps compute on the current one.
// Forward, per (query tile, b*H + h): the K/V tiles of the visible keys stream through shared
// memory; S = scale Q K^T, online softmax (running max m and sum l per row), O += P V.
// Backward: dQ per (query tile, b, h) — first its rows' D = rowsum(dO o O) (one warp per row, also
// written for the dK/dV kernel) — recomputing P and dP = dO V^T over the key tiles, dQ += dS K; dK, dV per
// (key tile, b, h) over the query tiles that see the keys, dV += P^T dO, dK += dS^T Q, written where
// attention_plan.h's mm_att_dkv_operand says: straight into dk, dv when H == KV, else per query head into the
// scratch that attention.cu then sums per kv group (one block per head, not per group: 4x the blocks and no
// serial loop over the group's heads, so a step's work spreads over the SMs). No atomics: deterministic.
#include <type_traits>

#include "attention_plan.h"
#include "cp_async.h"
#include "cuda_common.h"
#include "mma.h"
#include "smem_tile.h"

// 16-bit tiles in shared memory: FA_TILE rows of HS values in smem_tile.h's swizzled layout
// (unpadded; 128-byte aligned), so ldmatrix's rows, the cp.async copies and the 8-byte stores
// each take one wavefront per phase.
enum { FA_TILE = 64, FA_THREADS = 128 };

// An RTX 4090 (sm_89) has 100 KB of shared memory per SM and reserves 1 KB per block: 3 blocks of
// the forward or dQ kernel (four 16-bit tiles each, dQ also its rows' D) fit only in 33.3 KB each.
constexpr int mm_fa_sm89_block_bytes = 100 * 1024 / 3 - 1024;
static_assert(4 * FA_TILE * 64 * 2 + FA_TILE * 4 <= mm_fa_sm89_block_bytes,
              "the forward and dQ kernels at head size 64 no longer fit 3 blocks per SM on an RTX 4090");

__device__ __forceinline__ int mm_fa_min(int a, int b) { return a < b ? a : b; }

// The grids are (B*H, tiles): a GPU starts blocks in index order, x fastest, so tile index y of
// every head starts before index y + 1 of any, and the heaviest tiles come first (longest
// processing time first: the light ones fill the last wave). The forward's and dQ's query tile q0
// sees q0 / 64 + 1 key tiles: blockIdx.y counts from the last query tile down. dK/dV's key tile k0
// is seen by the query tiles from k0 on: blockIdx.y counts from the first key tile up.
__device__ __forceinline__ int mm_fa_query_tile(void) { return (int)(gridDim.y - 1 - blockIdx.y) * FA_TILE; }

// Where the state's copy of O starts (floats), after lse (fp32 storage only).
static size_t mm_fa_o_offset(int B, int Tq, int H) { return (size_t)B * H * Tq; }

// bf16 storage: values staged as they are, no copy of O in the state.
template <typename T>
constexpr bool mm_fa_bf16 = std::is_same<T, mm_bf16>::value;

// The value at p (read only when `in`; else 0) as format F: an fp32 value rounded, a bf16 one as it is.
template <int F>
__device__ __forceinline__ uint16_t mm_fa_16(const float *p, bool in) {
    return mm_to16<F>(in ? *p : 0.0f);
}
template <int F>
__device__ __forceinline__ uint16_t mm_fa_16(const mm_bf16 *p, bool in) {
    return in ? *p : (uint16_t)0;
}
// The 4 values at p (p 4 * sizeof(T)-byte aligned: one 16 or 8-byte load, only when `in`; else
// zeros) as two packed registers of format F: fp32 converted as two pairs, bf16 as they are.
template <int F>
__device__ __forceinline__ uint2 mm_fa_16x4(const float *p, bool in) {
    float4 x;
    if (in)
        x = mm_ldv<float4>(p);
    else
        x.x = x.y = x.z = x.w = 0.0f;
    uint2 pair;
    pair.x = mm_pack2<F>(x.x, x.y), pair.y = mm_pack2<F>(x.z, x.w);
    return pair;
}
template <int F>
__device__ __forceinline__ uint2 mm_fa_16x4(const mm_bf16 *p, bool in) {
    uint2 pair;
    if (in)
        pair = mm_ldv<uint2>(p);
    else
        pair.x = pair.y = 0u;
    return pair;
}

int mm_cuda_flash_ok(int B, int Tq, int Tk, int H, int hs, mm_precision p) {
    const int hs_ok = hs == 16 || hs == 32 || hs == 64;
    return (p == MM_PRECISION_BF16 || p == MM_PRECISION_FP16) && hs_ok && Tq >= 1 && Tq <= Tk &&
           Tk >= hs + 1 && mm_cdiv(Tk, FA_TILE) <= 65535;
}

// 64 rows of HS values of type T (row r at src + r*ld; zeros for r >= valid) into a 16-bit tile
// tile[r][c] (smem_tile.h: value (r, c) at mm_tile_at(HS, r, c), c .. c+7 together for c % 8 ==
// 0). bf16 rows aligned to 8 values (ld a multiple of 8, src 16-byte aligned: the model's q, k, v
// and dO) are copied asynchronously, 8 values per thread and copy: the tile has landed after this
// thread's mm_cp_async_wait for their group and a barrier.
// Every other tile is in shared memory after the barrier: when the rows are aligned to 4 values
// (ld a multiple of 4, src 16 (fp32) or 8 (bf16)-byte aligned), 4 values per thread in one 16
// (8)-byte load, fp32 converted as two pairs, and stored as 8 bytes (each half-warp's 16 stores
// fill one 128-byte line); else a warp reads 32 consecutive values of a row.
template <int F, int HS, typename T>
__device__ void mm_fa_stage(uint16_t *tile, const T *src, size_t ld, int valid) {
    static_assert(!mm_fa_bf16<T> || F == MM_MMA_BF16, "bf16 values enter bf16 products only");
    if (mm_fa_bf16<T> && ld % 8 == 0 && mm_aligned(src, 16)) {
#if !defined(CUSIM_SIMULATED)
#pragma unroll 1  // unrolled, the kernels take 10-40 more registers (nvcc -Xptxas -v)
#endif
        for (int e = threadIdx.x; e < FA_TILE * HS / 8; e += FA_THREADS) {
            const int r = e / (HS / 8), c = 8 * (e % (HS / 8));
            mm_cp_async16(tile + mm_tile_at(HS, r, c), src + (size_t)(r < valid ? r : 0) * ld + c, r < valid);
        }
        return;
    }
    if (ld % 4 == 0 && mm_aligned(src, 4 * sizeof(T))) {
#if !defined(CUSIM_SIMULATED)
#pragma unroll 2  // fully unrolled, 8 loads in flight spill at hs 64 (nvcc -Xptxas -v)
#endif
        for (int e = threadIdx.x; e < FA_TILE * HS / 4; e += FA_THREADS) {
            const int r = e / (HS / 4), c = 4 * (e % (HS / 4));
            const uint2 pair = mm_fa_16x4<F>(src + (size_t)r * ld + c, r < valid);  // one 8-byte store
            mm_stv<uint2>(tile + mm_tile_at(HS, r, c), pair);
        }
        return;
    }
    for (int e = threadIdx.x; e < FA_TILE * HS; e += FA_THREADS) {
        const int r = e / HS, c = e % HS;
        tile[mm_tile_at(HS, r, c)] = mm_fa_16<F>(src + (size_t)r * ld + c, r < valid);
    }
}

// The tile pipeline of the three kernels. The streamed tiles (K and V, or Q and dO) alternate
// between two buffers: while the warps compute on one, the next tile's copies are in flight into
// the other. Each step stages the next tile (if any) and then calls this: the group of copies
// staged before it — the current tile's — has landed, and after the barrier every thread sees it.
// The block's own rows (Q, or K and V) go first, through the second buffer, as A registers.
__device__ __forceinline__ void mm_fa_landed_but_the_next(void) {
    mm_cp_async_commit();
    mm_cp_async_wait<1>();
    __syncthreads();
}

// Key tile k0 (K and V rows of batch item b, kv head g; zeros past Tk) into the tiles kt, vt.
template <int F, int HS, typename T>
__device__ __forceinline__ void mm_fa_stage_kv(uint16_t *kt, uint16_t *vt, const T *k, const T *v, int ldkv,
                                               int b, int g, int Tk, int k0) {
    const size_t row0 = ((size_t)b * Tk + k0) * ldkv + g * HS;
    mm_fa_stage<F, HS>(kt, k + row0, ldkv, mm_fa_min(FA_TILE, Tk - k0));
    mm_fa_stage<F, HS>(vt, v + row0, ldkv, mm_fa_min(FA_TILE, Tk - k0));
}

// This warp's 16 rows (r0 ..) of a staged tile as the A registers of the HS / 16 k-steps.
template <int HS>
__device__ __forceinline__ void mm_fa_as_a(uint32_t a[][4], const uint16_t *tile, int r0, int lane) {
    for (int s = 0; s < HS / 16; s++) mm_mma_ldsm_a(a[s], tile, HS, r0, 16 * s, lane);
}

// acc[j] (16 rows x 8 columns, j = 0 .. 7) += A (16 x HS, registers) times the transposed rows of
// a 64 x HS tile (tile[n][k]): Q K^T, dO V^T and their transposes.
template <int F, int HS>
__device__ __forceinline__ void mm_fa_rows_times(float acc[][4], const uint32_t a[][4], const uint16_t *tile,
                                                 int lane) {
    for (int s = 0; s < HS / 16; s++)  // per k-step one swizzled column, the rows a constant apart
        for (int j = 0; j < FA_TILE / 8; j += 2) {
            uint32_t b[4];  // n-tiles j and j + 1
            mm_mma_ldsm_b2(b, tile, HS, 8 * j, 16 * s, lane);
            mm_mma<F>(acc[j], a[s], b);
            mm_mma<F>(acc[j + 1], a[s], b + 2);
        }
}

// acc[jd] (16 x HS) += P (16 x 64, the accumulators p) times a 64 x HS tile (tile[key][d]): P V,
// dS K, P^T dO, dS^T Q.
template <int F, int HS>
__device__ __forceinline__ void mm_fa_acc_times(float acc[][4], const float p[][4], const uint16_t *tile, int lane) {
    uint32_t a[FA_TILE / 16][4];  // P as A, all k-steps (p's registers die here)
    for (int s = 0; s < FA_TILE / 16; s++) mm_mma_a_from_acc<F>(a[s], p, s);
    for (int jd = 0; jd < HS / 8; jd += 2)  // per d-tile pair one swizzled column, the rows a constant apart
        for (int s = 0; s < FA_TILE / 16; s++) {
            uint32_t b[4];  // d-tiles jd and jd + 1
            mm_mma_ldsm_b2_kn(b, tile, HS, 16 * s, 8 * jd, lane);
            mm_mma<F>(acc[jd], a[s], b);
            mm_mma<F>(acc[jd + 1], a[s], b + 2);
        }
}

// The quad of lanes holding one row (lanes 4g .. 4g+3) combine their values.
__device__ __forceinline__ float mm_fa_quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
    return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float mm_fa_quad_sum(float x) {
    x += __shfl_xor_sync(0xffffffffu, x, 1);
    return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// One key tile of the online softmax: scores s (this lane's 2 rows x 16 keys) become
// probabilities relative to the new running max; m, l are updated and alpha[r] is the factor the
// row's output accumulated so far must be scaled by. lim[r]: the row's last visible key.
__device__ void mm_fa_softmax_tile(float s[][4], int k0, const int lim[2], float scale, float m[2], float l[2],
                                   float alpha[2], int lane) {
    float mx[2] = {-INFINITY, -INFINITY};
    for (int j = 0; j < FA_TILE / 8; j++)
        for (int i = 0; i < 4; i++) {
            const int r = i >> 1, key = k0 + 8 * j + mm_mma_c_col(lane, i);
            s[j][i] = key <= lim[r] ? s[j][i] * scale : -INFINITY;
            mx[r] = fmaxf(mx[r], s[j][i]);
        }
    for (int r = 0; r < 2; r++) {
        const float mn = fmaxf(m[r], mm_fa_quad_max(mx[r]));  // finite: key 0 is in the first tile
        alpha[r] = expf(m[r] - mn);
        m[r] = mn;
        l[r] *= alpha[r];
    }
    for (int j = 0; j < FA_TILE / 8; j++)
        for (int i = 0; i < 4; i++) {
            s[j][i] = expf(s[j][i] - m[i >> 1]);
            l[i >> 1] += s[j][i];
        }
}

template <int F, int HS, typename T>
__global__ void __launch_bounds__(FA_THREADS)
    mm_fa_forward_kernel(T *out, float *state, const T *q, int ldq, const T *k, const T *v, int ldkv, int B,
                         int Tq, int Tk, int H, int KV, float scale) {
    __shared__ __align__(128) uint16_t ks[2][FA_TILE * HS];
    __shared__ __align__(128) uint16_t vs[2][FA_TILE * HS];
    const int bh = blockIdx.x, b = bh / H, h = bh % H, g = h / (H / KV), q0 = mm_fa_query_tile();
    const int lane = threadIdx.x & 31, r0 = (threadIdx.x >> 5) * 16, C = H * HS;
    mm_fa_stage<F, HS>(ks[1], q + ((size_t)b * Tq + q0) * ldq + h * HS, ldq, mm_fa_min(FA_TILE, Tq - q0));
    mm_cp_async_commit();
    mm_fa_stage_kv<F, HS>(ks[0], vs[0], k, v, ldkv, b, g, Tk, 0);
    mm_fa_landed_but_the_next();
    uint32_t qa[HS / 16][4];  // Q rows r0 .. r0+15 as A
    mm_fa_as_a<HS>(qa, ks[1], r0, lane);
    int lim[2];  // rows past Tq (the last tile's padding) compute as the last row; never stored
    for (int r = 0; r < 2; r++) lim[r] = Tk - Tq + mm_fa_min(q0 + r0 + (lane >> 2) + 8 * r, Tq - 1);
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[HS / 8][4] = {};
    const int last = Tk - Tq + mm_fa_min(q0 + FA_TILE - 1, Tq - 1);  // the tile's last visible key
    for (int k0 = 0, buf = 0; k0 <= last; k0 += FA_TILE, buf ^= 1) {
        __syncthreads();  // the other buffer is consumed (Q's registers, the previous tile)
        if (k0 + FA_TILE <= last)
            mm_fa_stage_kv<F, HS>(ks[buf ^ 1], vs[buf ^ 1], k, v, ldkv, b, g, Tk, k0 + FA_TILE);
        mm_fa_landed_but_the_next();
        float s[FA_TILE / 8][4] = {}, alpha[2];
        mm_fa_rows_times<F, HS>(s, qa, ks[buf], lane);  // Q K^T
        mm_fa_softmax_tile(s, k0, lim, scale, m, l, alpha, lane);
        for (int jd = 0; jd < HS / 8; jd++)
            for (int i = 0; i < 4; i++) o[jd][i] *= alpha[i >> 1];
        mm_fa_acc_times<F, HS>(o, s, vs[buf], lane);  // O += P V
    }
    float *lse = state, *ocopy = state + (size_t)B * H * Tq;
    for (int r = 0; r < 2; r++) l[r] = mm_fa_quad_sum(l[r]);
    for (int jd = 0; jd < HS / 8; jd++)
        for (int i = 0; i < 4; i++) {
            const int row = q0 + r0 + mm_mma_c_row(lane, i);
            if (row >= Tq) continue;
            const size_t at = ((size_t)b * Tq + row) * C + h * HS + 8 * jd + mm_mma_c_col(lane, i);
            const float y = o[jd][i] / l[i >> 1];
            mm_st1(out + at, y);
            if constexpr (!mm_fa_bf16<T>) ocopy[at] = y;
        }
    for (int r = 0; r < 2; r++) {
        const int row = q0 + r0 + (lane >> 2) + 8 * r;
        if ((lane & 3) == 0 && row < Tq) lse[(size_t)bh * Tq + row] = m[r] + logf(l[r]);
    }
}

// D = rowsum(dO o O) of the query tile's rows q0 .. q0+63 (b, h): one warp per row (lanes over
// the head dimension, then a shuffle sum), into D (B,H,Tq) for the dK/dV kernel and into d_rows
// (64; 0 past Tq) for the caller. dO, O (B,Tq,H*HS) of type T.
template <int HS, typename T>
__device__ void mm_fa_delta_rows(float *D, float *d_rows, const T *dout, const T *o, int b, int h, int H,
                                 int Tq, int q0) {
    const int lane = threadIdx.x & 31;
    for (int r = threadIdx.x >> 5; r < FA_TILE; r += FA_THREADS / 32) {  // whole warps
        const int row = q0 + r;
        const size_t at = ((size_t)b * Tq + row) * H * HS + (size_t)h * HS;
        float acc = 0.0f;
        if (row < Tq)
            for (int d = lane; d < HS; d += 32) acc += mm_ld1(dout + at + d) * mm_ld1(o + at + d);
        acc = mm_warp_sum(acc);
        if (lane == 0) {
            d_rows[r] = acc;
            if (row < Tq) D[((size_t)b * H + h) * Tq + row] = acc;
        }
    }
}

// 3 blocks per SM (at most 168 registers): left to itself nvcc gives it 172-218 registers on
// sm_89 and sm_90 (2 blocks per SM) for no spill; bounded it spills 16-36 bytes (nvcc -Xptxas -v).
template <int F, int HS, typename T>
__global__ void __launch_bounds__(FA_THREADS, 3)
    mm_fa_dq_kernel(T *dq, float *D, const float *lse, const T *dout, const T *o, const T *q, int ldq,
                    const T *k, const T *v, int ldkv, int B, int Tq, int Tk, int H, int KV, float scale) {
    __shared__ __align__(128) uint16_t ks[2][FA_TILE * HS];
    __shared__ __align__(128) uint16_t vs[2][FA_TILE * HS];
    __shared__ float d_rows[FA_TILE];
    const int bh = blockIdx.x, b = bh / H, h = bh % H, g = h / (H / KV), q0 = mm_fa_query_tile();
    const int lane = threadIdx.x & 31, r0 = (threadIdx.x >> 5) * 16, C = H * HS,
              nq = mm_fa_min(FA_TILE, Tq - q0);
    mm_fa_stage<F, HS>(ks[1], q + ((size_t)b * Tq + q0) * ldq + h * HS, ldq, nq);
    mm_fa_stage<F, HS>(vs[1], dout + ((size_t)b * Tq + q0) * C + h * HS, C, nq);
    mm_cp_async_commit();
    mm_fa_stage_kv<F, HS>(ks[0], vs[0], k, v, ldkv, b, g, Tk, 0);
    mm_fa_delta_rows<HS>(D, d_rows, dout, o, b, h, H, Tq, q0);  // while the copies are in flight
    mm_fa_landed_but_the_next();
    uint32_t qa[HS / 16][4], da[HS / 16][4];  // Q and dO rows r0 .. r0+15 as A
    mm_fa_as_a<HS>(qa, ks[1], r0, lane);
    mm_fa_as_a<HS>(da, vs[1], r0, lane);
    int lim[2];
    float lrow[2], drow[2];
    for (int r = 0; r < 2; r++) {
        const int row = q0 + r0 + (lane >> 2) + 8 * r;
        lim[r] = Tk - Tq + mm_fa_min(row, Tq - 1);
        lrow[r] = row < Tq ? lse[(size_t)bh * Tq + row] : 0.0f;
        drow[r] = d_rows[row - q0];
    }
    float acc[HS / 8][4] = {};
    const int last = Tk - Tq + mm_fa_min(q0 + FA_TILE - 1, Tq - 1);
    for (int k0 = 0, buf = 0; k0 <= last; k0 += FA_TILE, buf ^= 1) {
        __syncthreads();  // the other buffer is consumed (Q's and dO's registers, the previous tile)
        if (k0 + FA_TILE <= last)
            mm_fa_stage_kv<F, HS>(ks[buf ^ 1], vs[buf ^ 1], k, v, ldkv, b, g, Tk, k0 + FA_TILE);
        mm_fa_landed_but_the_next();
        float s[FA_TILE / 8][4] = {}, dp[FA_TILE / 8][4] = {};
        mm_fa_rows_times<F, HS>(s, qa, ks[buf], lane);   // Q K^T
        mm_fa_rows_times<F, HS>(dp, da, vs[buf], lane);  // dO V^T
        for (int j = 0; j < FA_TILE / 8; j++)
            for (int i = 0; i < 4; i++) {
                const int r = i >> 1, key = k0 + 8 * j + mm_mma_c_col(lane, i);
                const float p = key <= lim[r] ? expf(s[j][i] * scale - lrow[r]) : 0.0f;
                s[j][i] = mm_att_dscore(p, dp[j][i], drow[r], scale);  // dS
            }
        mm_fa_acc_times<F, HS>(acc, s, ks[buf], lane);  // dQ += dS K
    }
    for (int jd = 0; jd < HS / 8; jd++)
        for (int i = 0; i < 4; i++) {
            const int row = q0 + r0 + mm_mma_c_row(lane, i);
            if (row < Tq)
                mm_st1(dq + ((size_t)b * Tq + row) * ldq + h * HS + 8 * jd + mm_mma_c_col(lane, i),
                       acc[jd][i]);
        }
}

// dK, dV (type T, as stored) straight into dk, dv (H == KV), or into the per-head scratch: in bf16
// storage each head's gradient is rounded there before the group sum, as PyTorch's autocast stores
// the repeated heads' gradients before repeat_kv's backward sums them.
template <int F, int HS, typename T>
__global__ void __launch_bounds__(FA_THREADS)
    mm_fa_dkv_kernel(T *dk, T *dv, mm_att_operand o, int ldo, const float *lse, const float *D, const T *dout,
                     const T *q, int ldq, const T *k, const T *v, int ldkv, int B, int Tq, int Tk, int H,
                     int KV, float scale) {
    __shared__ __align__(128) uint16_t qs[2][FA_TILE * HS];
    __shared__ __align__(128) uint16_t dos[2][FA_TILE * HS];
    __shared__ float lse_s[2][FA_TILE];
    __shared__ float d_s[2][FA_TILE];
    const int bh = blockIdx.x, b = bh / H, h = bh % H, g = h / (H / KV), k0 = blockIdx.y * FA_TILE;
    const int lane = threadIdx.x & 31, r0 = (threadIdx.x >> 5) * 16, C = H * HS;
    auto stage_qdo = [&](int buf, int i0) {  // query tile i0 (Q, dO, lse, D) into buffer buf
        const int nq = mm_fa_min(FA_TILE, Tq - i0);
        mm_fa_stage<F, HS>(qs[buf], q + ((size_t)b * Tq + i0) * ldq + h * HS, ldq, nq);
        mm_fa_stage<F, HS>(dos[buf], dout + ((size_t)b * Tq + i0) * C + h * HS, C, nq);
        for (int t = threadIdx.x; t < FA_TILE; t += FA_THREADS) {
            lse_s[buf][t] = t < nq ? lse[(size_t)bh * Tq + i0 + t] : 0.0f;
            d_s[buf][t] = t < nq ? D[(size_t)bh * Tq + i0 + t] : 0.0f;
        }
    };
    // this block's K and V rows as A, staged through the second buffer
    const size_t row0 = ((size_t)b * Tk + k0) * ldkv + g * HS;
    mm_fa_stage<F, HS>(qs[1], k + row0, ldkv, mm_fa_min(FA_TILE, Tk - k0));
    mm_fa_stage<F, HS>(dos[1], v + row0, ldkv, mm_fa_min(FA_TILE, Tk - k0));
    mm_cp_async_commit();
    const int first = k0 - (Tk - Tq) > 0 ? (k0 - (Tk - Tq)) / FA_TILE * FA_TILE : 0;  // first query tile seeing k0
    stage_qdo(0, first);
    mm_fa_landed_but_the_next();
    uint32_t ka[HS / 16][4], va[HS / 16][4];
    mm_fa_as_a<HS>(ka, qs[1], r0, lane);
    mm_fa_as_a<HS>(va, dos[1], r0, lane);
    int key[2];
    for (int r = 0; r < 2; r++) key[r] = k0 + r0 + (lane >> 2) + 8 * r;
    float dka[HS / 8][4] = {}, dva[HS / 8][4] = {};
    for (int i0 = first, buf = 0; i0 < Tq; i0 += FA_TILE, buf ^= 1) {
        __syncthreads();  // the other buffer is consumed (K's and V's registers, the previous tile)
        if (i0 + FA_TILE < Tq) stage_qdo(buf ^ 1, i0 + FA_TILE);
        mm_fa_landed_but_the_next();
        float p[FA_TILE / 8][4] = {}, ds[FA_TILE / 8][4] = {};
        mm_fa_rows_times<F, HS>(p, ka, qs[buf], lane);    // S^T = K Q^T
        mm_fa_rows_times<F, HS>(ds, va, dos[buf], lane);  // dP^T = V dO^T
        for (int j = 0; j < FA_TILE / 8; j++)
            for (int i = 0; i < 4; i++) {
                const int t = 8 * j + mm_mma_c_col(lane, i), query = i0 + t;
                const bool seen = query < Tq && key[i >> 1] <= Tk - Tq + query;
                p[j][i] = seen ? expf(p[j][i] * scale - lse_s[buf][t]) : 0.0f;
                ds[j][i] = mm_att_dscore(p[j][i], ds[j][i], d_s[buf][t], scale);
            }
        mm_fa_acc_times<F, HS>(dva, p, dos[buf], lane);  // dV += P^T dO
        mm_fa_acc_times<F, HS>(dka, ds, qs[buf], lane);  // dK += dS^T Q
    }
    const size_t base = (size_t)b * o.batch_stride + (size_t)(o.per_kv ? g : h) * o.head_stride;
    for (int jd = 0; jd < HS / 8; jd++)
        for (int i = 0; i < 4; i++) {
            const int kr = key[i >> 1];
            if (kr >= Tk) continue;
            const size_t at = base + (size_t)kr * ldo + 8 * jd + mm_mma_c_col(lane, i);
            mm_st1(dk + at, dka[jd][i]);
            mm_st1(dv + at, dva[jd][i]);
        }
}

// ---- host side: the kernels for the precision's format F, the storage T and the head size

template <int F, int HS, typename T>
static void mm_fa_forward_launch(T *out, float *state, const T *q, int ldq, const T *k, const T *v, int ldkv,
                                 int B, int Tq, int Tk, int H, int KV) {
    const dim3 grid((unsigned)(B * H), mm_cdiv(Tq, FA_TILE));
    mm_fa_forward_kernel<F, HS, T>
        <<<grid, FA_THREADS>>>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, 1.0f / sqrtf((float)HS));
    MM_CU_LAUNCHED();
}

// dk, dv where mm_att_dkv_operand says (straight into them when H == KV); D (B,H,Tq): scratch,
// written by the dQ kernel (rowsum(dO o O), O = o) and read by the dK/dV kernel.
template <int F, int HS, typename T>
static void mm_fa_backward_launch(T *dq, T *dk, T *dv, const float *lse, float *D, const T *dout, const T *o,
                                  const T *q, int ldq, const T *k, const T *v, int ldkv, int B, int Tq,
                                  int Tk, int H, int KV) {
    const float scale = 1.0f / sqrtf((float)HS);
    const dim3 qgrid((unsigned)(B * H), mm_cdiv(Tq, FA_TILE)), kgrid((unsigned)(B * H), mm_cdiv(Tk, FA_TILE));
    const mm_att_shape s = {B, Tq, Tk, H, KV, HS, ldq, ldkv};
    mm_fa_dq_kernel<F, HS, T>
        <<<qgrid, FA_THREADS>>>(dq, D, lse, dout, o, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, scale);
    MM_CU_LAUNCHED();
    mm_fa_dkv_kernel<F, HS, T><<<kgrid, FA_THREADS>>>(dk, dv, mm_att_dkv_operand(&s), mm_att_dkv_ld(&s), lse,
                                                      D, dout, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, scale);
    MM_CU_LAUNCHED();
}

template <int F, typename T>
static void mm_fa_forward_f(T *out, float *state, const T *q, int ldq, const T *k, const T *v, int ldkv,
                            int B, int Tq, int Tk, int H, int KV, int hs) {
    if (hs == 16) mm_fa_forward_launch<F, 16>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV);
    else if (hs == 32) mm_fa_forward_launch<F, 32>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV);
    else mm_fa_forward_launch<F, 64>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV);
}

template <int F, typename T>
static void mm_fa_backward_f(T *dq, T *dk, T *dv, const float *lse, float *D, const T *dout, const T *o,
                             const T *q, int ldq, const T *k, const T *v, int ldkv, int B, int Tq, int Tk,
                             int H, int KV, int hs) {
    if (hs == 16)
        mm_fa_backward_launch<F, 16>(dq, dk, dv, lse, D, dout, o, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV);
    else if (hs == 32)
        mm_fa_backward_launch<F, 32>(dq, dk, dv, lse, D, dout, o, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV);
    else
        mm_fa_backward_launch<F, 64>(dq, dk, dv, lse, D, dout, o, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV);
}

void mm_cuda_flash_forward(float *out, float *state, const float *q, int ldq, const float *k, const float *v,
                           int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    if (mm_cuda_precision() == MM_PRECISION_FP16)
        mm_fa_forward_f<MM_MMA_F16>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
    else
        mm_fa_forward_f<MM_MMA_BF16>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
}

void mm_cuda_flash_backward(float *dq, float *dk, float *dv, float *work, const float *state, const float *dout,
                            const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq, int Tk,
                            int H, int KV, int hs) {
    const float *o = state + mm_fa_o_offset(B, Tq, H);
    if (mm_cuda_precision() == MM_PRECISION_FP16)
        mm_fa_backward_f<MM_MMA_F16>(dq, dk, dv, state, work, dout, o, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV,
                                     hs);
    else
        mm_fa_backward_f<MM_MMA_BF16>(dq, dk, dv, state, work, dout, o, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV,
                                      hs);
}

void mm_cuda_flash_forward_bf16(mm_bf16 *out, float *state, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    mm_fa_forward_f<MM_MMA_BF16>(out, state, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
}

void mm_cuda_flash_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, mm_bf16 *dkh, mm_bf16 *dvh,
                                 float *work, const float *state, const mm_bf16 *dout, const mm_bf16 *out,
                                 const mm_bf16 *q, int ldq, const mm_bf16 *k, const mm_bf16 *v, int ldkv,
                                 int B, int Tq, int Tk, int H, int KV, int hs) {
    const int direct = H == KV;  // mm_att_dkv_direct: no scratch
    mm_fa_backward_f<MM_MMA_BF16>(dq, direct ? dk : dkh, direct ? dv : dvh, state, work, dout, out, q, ldq, k,
                                  v, ldkv, B, Tq, Tk, H, KV, hs);
}
