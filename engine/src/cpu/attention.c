// Causal grouped-query attention, scale 1/sqrt(hs); query head h reads kv head h / (H/KV).
//   B batch, Tq queries, Tk keys (query i sits at position Tk-Tq+i), H query heads, KV kv heads,
//   hs head size, C = H*hs
//   q (B,Tq,H*hs) stride ldq;  k, v (B,Tk,KV*hs) stride ldkv;  out (B,Tq,C);  att, datt (B,H,Tq,Tk)
// Every product is an sgemm per (batch, head, block of TB query rows); a block only multiplies the
// keys it can see (causal), which skips ~3/8 of the work at T=512. The three phases (scores for all
// heads, one OpenMP softmax pass over all rows, then values) keep BLAS calls outside OpenMP regions.
//   forward:  S = scale Q K^T, P = softmax(S masked), O = P V
//   backward: dP = dO V^T, dS = P (dP - rowsum(P dP)) scale, dQ = dS K, dK = dS^T Q, dV = P^T dO
#include <cblas.h>

#include "cpu_ops.h"

enum { TB = 128 };  // query rows per sgemm block

// Number of keys visible to the last query of the block starting at row r0 (rows r0..r0+rows-1).
static inline int mm_block_keys(int r0, int rows, int Tq, int Tk) {
    int kn = r0 + rows + (Tk - Tq);
    return kn < Tk ? kn : Tk;
}

// The block key count for query row i: entries j in [i+off+1, kn) must hold zeros.
static inline int mm_row_keys(int i, int Tq, int Tk) {
    int r0 = i - i % TB, rows = Tq - r0 < TB ? Tq - r0 : TB;
    return mm_block_keys(r0, rows, Tq, Tk);
}

void mm_cpu_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                              int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    const int C = H * hs, rep = H / KV, off = Tk - Tq;
    const float scale = 1.0f / sqrtf((float)hs);
    // Phase 1: scores S (rows, kn) = scale * Q_blk K^T.
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *Q = q + (size_t)b * Tq * ldq + (size_t)h * hs;
            const float *K = k + (size_t)b * Tk * ldkv + (size_t)(h / rep) * hs;
            float *A = att + ((size_t)b * H + h) * Tq * Tk;
            for (int r0 = 0; r0 < Tq; r0 += TB) {
                int rows = Tq - r0 < TB ? Tq - r0 : TB, kn = mm_block_keys(r0, rows, Tq, Tk);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kn, hs, scale, Q + (size_t)r0 * ldq,
                            ldq, K, ldkv, 0.0f, A + (size_t)r0 * Tk, Tk);
            }
        }
    // Phase 2: causal softmax per row; zeros up to the block's key count (read by phase 3).
    const long nrows = (long)B * H * Tq;
#pragma omp parallel for schedule(static)
    for (long row = 0; row < nrows; row++) {
        int i = (int)(row % Tq);
        float *a = att + (size_t)row * Tk;
        int n = i + off + 1, kn = mm_row_keys(i, Tq, Tk);
        float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < n; j++) mx = a[j] > mx ? a[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            float e = mm_fast_expf(a[j] - mx);
            a[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) a[j] *= inv;
        for (int j = n; j < kn; j++) a[j] = 0.0f;
    }
    // Phase 3: O_blk (rows, hs) = P_blk (rows, kn) V (kn, hs).
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *V = v + (size_t)b * Tk * ldkv + (size_t)(h / rep) * hs;
            const float *A = att + ((size_t)b * H + h) * Tq * Tk;
            float *O = out + (size_t)b * Tq * C + (size_t)h * hs;
            for (int r0 = 0; r0 < Tq; r0 += TB) {
                int rows = Tq - r0 < TB ? Tq - r0 : TB, kn = mm_block_keys(r0, rows, Tq, Tk);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, kn, 1.0f, A + (size_t)r0 * Tk, Tk,
                            V, ldkv, 0.0f, O + (size_t)r0 * C, C);
            }
        }
}

void mm_cpu_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                               const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                               int Tk, int H, int KV, int hs) {
    const int C = H * hs, rep = H / KV, off = Tk - Tq;
    const float scale = 1.0f / sqrtf((float)hs);
    // Phase 1: dP_blk (rows, kn) = dO_blk V^T.
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *V = v + (size_t)b * Tk * ldkv + (size_t)(h / rep) * hs;
            const float *dO = dout + (size_t)b * Tq * C + (size_t)h * hs;
            float *dA = datt + ((size_t)b * H + h) * Tq * Tk;
            for (int r0 = 0; r0 < Tq; r0 += TB) {
                int rows = Tq - r0 < TB ? Tq - r0 : TB, kn = mm_block_keys(r0, rows, Tq, Tk);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kn, hs, 1.0f, dO + (size_t)r0 * C, C, V,
                            ldkv, 0.0f, dA + (size_t)r0 * Tk, Tk);
            }
        }
    // Phase 2: dS = P (dP - sum_j P dP) * scale, zero where masked.
    const long nrows = (long)B * H * Tq;
#pragma omp parallel for schedule(static)
    for (long row = 0; row < nrows; row++) {
        int i = (int)(row % Tq);
        const float *p = att + (size_t)row * Tk;
        float *d = datt + (size_t)row * Tk;
        int n = i + off + 1, kn = mm_row_keys(i, Tq, Tk);
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < n; j++) dot += p[j] * d[j];
        for (int j = 0; j < n; j++) d[j] = p[j] * (d[j] - dot) * scale;
        for (int j = n; j < kn; j++) d[j] = 0.0f;
    }
    // Phase 3: dV, dQ, dK. dk/dv rows are shared by the `rep` query heads of a group: zero, then +=.
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tk; t++) {
            memset(dk + ((size_t)b * Tk + t) * ldkv, 0, sizeof(float) * (size_t)KV * hs);
            memset(dv + ((size_t)b * Tk + t) * ldkv, 0, sizeof(float) * (size_t)KV * hs);
        }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            size_t kvo = (size_t)b * Tk * ldkv + (size_t)(h / rep) * hs;
            const float *K = k + kvo, *Q = q + (size_t)b * Tq * ldq + (size_t)h * hs;
            const float *dO = dout + (size_t)b * Tq * C + (size_t)h * hs;
            const float *A = att + ((size_t)b * H + h) * Tq * Tk, *dA = datt + ((size_t)b * H + h) * Tq * Tk;
            float *dK = dk + kvo, *dV = dv + kvo, *dQ = dq + (size_t)b * Tq * ldq + (size_t)h * hs;
            for (int r0 = 0; r0 < Tq; r0 += TB) {
                int rows = Tq - r0 < TB ? Tq - r0 : TB, kn = mm_block_keys(r0, rows, Tq, Tk);
                // dV (kn, hs) += P_blk^T (kn, rows) dO_blk (rows, hs)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, hs, rows, 1.0f, A + (size_t)r0 * Tk, Tk,
                            dO + (size_t)r0 * C, C, 1.0f, dV, ldkv);
                // dQ_blk (rows, hs) = dS_blk (rows, kn) K (kn, hs)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hs, kn, 1.0f, dA + (size_t)r0 * Tk, Tk,
                            K, ldkv, 0.0f, dQ + (size_t)r0 * ldq, ldq);
                // dK (kn, hs) += dS_blk^T (kn, rows) Q_blk (rows, hs)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kn, hs, rows, 1.0f, dA + (size_t)r0 * Tk, Tk,
                            Q + (size_t)r0 * ldq, ldq, 1.0f, dK, ldkv);
            }
        }
}
