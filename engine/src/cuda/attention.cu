// Causal grouped-query attention, scale 1/sqrt(hs): the four products per (b, h) are cuBLAS
// strided-batched GEMMs (attention_plan.h: which calls, GQA and the row strides; compute type from
// the precision, gemm.cu); the causal softmax and its backward are fused row kernels (one block
// per attention row). Probabilities kept in att like the CPU kernel. No atomics: deterministic.
//   B batch, Tq queries, Tk keys (query i at position Tk-Tq+i sees keys 0..Tk-Tq+i), H query
//   heads, KV kv heads (query head h reads kv head h / (H/KV)), hs head size, C = H*hs
//   q (B,Tq,H*hs) stride ldq;  k, v (B,Tk,KV*hs) stride ldkv;  out (B,Tq,C);  att, datt (B,H,Tq,Tk)
//   forward:  att = scale Q K^T (gemm), P = causal softmax of each row (kernel), O = P V (gemm)
//   backward: dP = dO V^T (gemm, into datt), dS = P (dP - rowsum(P dP)) scale (kernel, in place),
//             dQ = dS K, dK = sum_group dS^T Q, dV = sum_group P^T dO (gemms)
#include "attention_plan.h"
#include "cuda_common.h"

enum { TPB = 256 };

// Row (b, h, i) of att: scores in, probabilities out; 0 above the diagonal.
__global__ static void mm_att_softmax_kernel(float *att, int H, int Tq, int Tk) {
    int b, h, i;
    mm_att_row_index(blockIdx.x, H, Tq, &b, &h, &i);
    const int n = mm_att_nkeys(i, Tq, Tk);
    float *a = att + (size_t)blockIdx.x * Tk;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, a[j]);
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
}

// Row (b, h, i) of datt: dP in, dS out (0 above the diagonal).
__global__ static void mm_att_softmax_backward_kernel(float *datt, const float *att, int H, int Tq, int Tk,
                                                      float scale) {
    int b, h, i;
    mm_att_row_index(blockIdx.x, H, Tq, &b, &h, &i);
    const int n = mm_att_nkeys(i, Tq, Tk);
    const float *p = att + (size_t)blockIdx.x * Tk;
    float *d = datt + (size_t)blockIdx.x * Tk;
    float dot = 0.0f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) dot += p[j] * d[j];
    dot = mm_block_sum(dot);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) d[j] = j < n ? mm_att_dscore(p[j], d[j], dot, scale) : 0.0f;
}

// Every call of product p: A, B, C are the base pointers of its three tensors.
static void mm_att_run(const mm_att_product *p, const mm_att_shape *s, const float *A, const float *B, float *C) {
    const int mode = mm_att_plan_mode(s), ncalls = mm_att_plan_ncalls(s, mode);
    for (int idx = 0; idx < ncalls; idx++) {
        mm_gemm_call c = mm_att_plan_call(p, s, mode, idx);
        mm_cuda_gemm_strided(c.ta, c.tb, c.m, c.n, c.k, c.alpha, A + c.a_off, c.lda, c.sa, B + c.b_off, c.ldb, c.sb,
                             c.beta, C + c.c_off, c.ldc, c.sc, c.batch);
    }
}

static mm_att_shape mm_att_shape_of(int B, int Tq, int Tk, int H, int KV, int hs, int ldq, int ldkv) {
    mm_att_shape s = {B, Tq, Tk, H, KV, hs, ldq, ldkv};
    return s;
}

void mm_cuda_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                               int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    const unsigned rows = (unsigned)((long)B * H * Tq);
    if (!rows || Tk <= 0) return;
    const mm_att_shape s = mm_att_shape_of(B, Tq, Tk, H, KV, hs, ldq, ldkv);
    const mm_att_product scores = mm_att_scores_product(&s, 1.0f / sqrtf((float)hs)), pv = mm_att_pv_product(&s);
    mm_att_run(&scores, &s, k, q, att);
    mm_att_softmax_kernel<<<rows, TPB>>>(att, H, Tq, Tk);
    MM_CU_LAUNCHED();
    mm_att_run(&pv, &s, v, att, out);
}

void mm_cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                                const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                                int Tk, int H, int KV, int hs) {
    const unsigned rows = (unsigned)((long)B * H * Tq);
    if (!rows || Tk <= 0) return;
    const mm_att_shape s = mm_att_shape_of(B, Tq, Tk, H, KV, hs, ldq, ldkv);
    const mm_att_product dp = mm_att_dp_product(&s), dqp = mm_att_dq_product(&s);
    const mm_att_product dkp = mm_att_dk_product(&s), dvp = mm_att_dv_product(&s);
    mm_att_run(&dp, &s, v, dout, datt);
    mm_att_softmax_backward_kernel<<<rows, TPB>>>(datt, att, H, Tq, Tk, 1.0f / sqrtf((float)hs));
    MM_CU_LAUNCHED();
    mm_att_run(&dqp, &s, k, datt, dq);
    mm_att_run(&dkp, &s, q, datt, dk);
    mm_att_run(&dvp, &s, dout, att, dv);
}
