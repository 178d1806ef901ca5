// Causal grouped-query attention, scale 1/sqrt(hs) — straightforward, correctness first: one
// thread block per attention row, probabilities kept in att like the CPU kernel. No atomics.
//   B batch, Tq queries, Tk keys (query i at position Tk-Tq+i sees keys 0..Tk-Tq+i), H query
//   heads, KV kv heads (query head h reads kv head h / (H/KV)), hs head size, C = H*hs
//   q (B,Tq,H*hs) stride ldq;  k, v (B,Tk,KV*hs) stride ldkv;  out (B,Tq,C);  att, datt (B,H,Tq,Tk)
//   forward:  S = scale Q K^T, P = softmax(S masked), O = P V            (block per (b,h,i))
//   backward: dP = dO V^T, dS = P (dP - rowsum(P dP)) scale, dQ = dS K    (block per (b,h,i))
//             dK = dS^T Q, dV = P^T dO summed over the group's query heads (block per (b,kv,j))
#include "cuda_common.h"

enum { TPB = 128 };

__global__ static void mm_attention_forward_kernel(float *out, float *att, const float *q, int ldq, const float *k,
                                                   const float *v, int ldkv, int Tq, int Tk, int H, int KV, int hs,
                                                   float scale) {
    int b, h, i;
    mm_att_row_index(blockIdx.x, H, Tq, &b, &h, &i);
    const int kvh = mm_gqa_kv_head(h, H, KV), n = mm_att_nkeys(i, Tq, Tk);
    const float *qr = q + mm_head_offset(b, i, Tq, ldq, h, hs);
    float *a = att + (size_t)blockIdx.x * Tk;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float *kr = k + mm_head_offset(b, j, Tk, ldkv, kvh, hs);
        float s = 0.0f;
        for (int d = 0; d < hs; d++) s += qr[d] * kr[d];
        s *= scale;
        a[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = mm_block_max(mx);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float e = expf(a[j] - mx);
        a[j] = e;
        sum += e;
    }
    sum = mm_block_sum(sum);
    const float inv = 1.0f / sum;
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) a[j] = j < n ? a[j] * inv : 0.0f;
    __syncthreads();  // the row of P is complete (global writes of this block are visible after the barrier)
    float *o = out + mm_head_offset(b, i, Tq, H * hs, h, hs);
    for (int d = threadIdx.x; d < hs; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < n; j++) acc += a[j] * v[mm_head_offset(b, j, Tk, ldkv, kvh, hs) + d];
        o[d] = acc;
    }
}

// dS row (written over datt) and dQ of row (b, h, i).
__global__ static void mm_attention_dq_kernel(float *dq, float *datt, const float *dout, const float *att, int ldq,
                                              const float *k, const float *v, int ldkv, int Tq, int Tk, int H, int KV,
                                              int hs, float scale) {
    int b, h, i;
    mm_att_row_index(blockIdx.x, H, Tq, &b, &h, &i);
    const int kvh = mm_gqa_kv_head(h, H, KV), n = mm_att_nkeys(i, Tq, Tk);
    const float *dor = dout + mm_head_offset(b, i, Tq, H * hs, h, hs);
    const float *p = att + (size_t)blockIdx.x * Tk;
    float *d = datt + (size_t)blockIdx.x * Tk;
    float dot = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const float *vr = v + mm_head_offset(b, j, Tk, ldkv, kvh, hs);
        float dp = 0.0f;
        for (int e = 0; e < hs; e++) dp += dor[e] * vr[e];
        d[j] = dp;
        dot += p[j] * dp;
    }
    dot = mm_block_sum(dot);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) d[j] = j < n ? p[j] * (d[j] - dot) * scale : 0.0f;
    __syncthreads();
    float *dqr = dq + mm_head_offset(b, i, Tq, ldq, h, hs);
    for (int e = threadIdx.x; e < hs; e += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < n; j++) acc += d[j] * k[mm_head_offset(b, j, Tk, ldkv, kvh, hs) + e];
        dqr[e] = acc;
    }
}

// dK, dV of key row (b, kvh, j): sums over the group's query heads and the queries that see j.
__global__ static void mm_attention_dkv_kernel(float *dk, float *dv, const float *datt, const float *att,
                                               const float *dout, const float *q, int ldq, int ldkv, int Tq, int Tk,
                                               int H, int KV, int hs) {
    const int j = blockIdx.x % Tk, kvh = (blockIdx.x / Tk) % KV, b = blockIdx.x / (Tk * KV);
    const int rep = H / KV, i0 = mm_att_first_query(j, Tq, Tk);
    for (int e = threadIdx.x; e < hs; e += blockDim.x) {
        float dka = 0.0f, dva = 0.0f;
        for (int r = 0; r < rep; r++) {
            const int h = kvh * rep + r;
            const size_t arow = ((size_t)b * H + h) * Tq;
            for (int i = i0; i < Tq; i++) {
                const size_t ai = (arow + i) * Tk + j;
                dka += datt[ai] * q[mm_head_offset(b, i, Tq, ldq, h, hs) + e];
                dva += att[ai] * dout[mm_head_offset(b, i, Tq, H * hs, h, hs) + e];
            }
        }
        dk[mm_head_offset(b, j, Tk, ldkv, kvh, hs) + e] = dka;
        dv[mm_head_offset(b, j, Tk, ldkv, kvh, hs) + e] = dva;
    }
}

void mm_cuda_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                               int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    const unsigned rows = (unsigned)((long)B * H * Tq);
    if (!rows) return;
    mm_attention_forward_kernel<<<rows, TPB>>>(out, att, q, ldq, k, v, ldkv, Tq, Tk, H, KV, hs,
                                               1.0f / sqrtf((float)hs));
    MM_CU_LAUNCHED();
}

void mm_cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                                const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                                int Tk, int H, int KV, int hs) {
    const unsigned rows = (unsigned)((long)B * H * Tq), keys = (unsigned)((long)B * KV * Tk);
    if (!rows) return;
    mm_attention_dq_kernel<<<rows, TPB>>>(dq, datt, dout, att, ldq, k, v, ldkv, Tq, Tk, H, KV, hs,
                                          1.0f / sqrtf((float)hs));
    MM_CU_LAUNCHED();
    mm_attention_dkv_kernel<<<keys, hs < TPB ? ((hs + 31) / 32) * 32 : TPB>>>(dk, dv, datt, att, dout, q, ldq, ldkv,
                                                                            Tq, Tk, H, KV, hs);
    MM_CU_LAUNCHED();
}
