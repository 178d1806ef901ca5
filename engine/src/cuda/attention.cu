// Causal grouped-query attention, scale 1/sqrt(hs), two implementations:
//   flash (bf16 / fp16 where mm_cuda_flash_ok: attention_flash.cu) — FlashAttention-style
//     tensor-core kernels, no (B,H,Tq,Tk) scores in memory; att keeps their state instead.
//   gemm (fp32, other shapes, or MM_CUDA_ATTENTION=gemm) — each of the six per-(b, h) products is
//     one batched cuBLAS GEMM over all B*H (batch item, query head) members through pointer arrays
//     (attention_plan.h: the offsets, GQA, the row strides; compute type from the precision,
//     gemm.cu); the causal softmax and its backward are fused row kernels (one block per attention
//     row). Probabilities kept in att like the CPU kernel.
// The choice depends only on the shape, the precision and the environment, so the backward takes
// the forward's. No atomics: deterministic.
//   B batch, Tq queries, Tk keys (query i at position Tk-Tq+i sees keys 0..Tk-Tq+i), H query
//   heads, KV kv heads (query head h reads kv head h / (H/KV)), hs head size, C = H*hs
//   q (B,Tq,H*hs) stride ldq;  k, v (B,Tk,KV*hs) stride ldkv;  out (B,Tq,C);  att, datt (B,H,Tq,Tk)
//   gemm forward:  att = scale Q K^T (gemm), P = causal softmax of each row (kernel), O = P V (gemm)
//   gemm backward: dP = dO V^T (gemm, into datt), dS = P (dP - rowsum(P dP)) scale (kernel, in
//                  place), dQ = dS K, dKh = dS^T Q, dVh = P^T dO per query head (gemms)
//   both: dK, dV = the sums of dKh, dVh over each kv group's heads (kernel; direct when H == KV)
// Launches per call: gemm forward 4 (pointers, 2 gemms, softmax), backward 7 (pointers, 4 gemms,
// softmax backward, group sum); flash forward 1, backward 3 (dQ with the rowsum, dK/dV, group sum).
// The attention block in bf16 (backend.h; reference: engine/src/cpu/attention_bf16.c):
// attention_bf16(B, T, H, hs) is 1 in the bf16 precision where the flash path applies to
// (B, Tq = Tk = T, H, hs), unless MM_CUDA_ATTN=fp32. attention_forward_bf16 / _backward_bf16 run
// the flash kernels on bf16 q, k, v, dO, out (attention_flash.cu: same launches; the state keeps
// only lse; dq, and dk, dv when H == KV, written in bf16; with GQA the group sum stores bf16);
// elsewhere they launch nothing and record an error naming the op and the shape (`check`).
#include "attention_plan.h"
#include "cuda_common.h"

static int g_flash = 1;  // MM_CUDA_ATTENTION: 1 flash where it applies, 0 always the GEMM path
static int g_attn_bf16 = 1;  // MM_CUDA_ATTN=fp32: 0, the attention block stays fp32 in every precision

int mm_cuda_attention_configure(const char *env) {
    return mm_cuda_switch("MM_CUDA_ATTENTION", env, "flash", "gemm", &g_flash);
}

static int mm_att_flash(int B, int Tq, int Tk, int H, int hs) {
    return g_flash && mm_cuda_flash_ok(B, Tq, Tk, H, hs, mm_cuda_precision());
}

int mm_cuda_attn_configure(const char *env) {
    return mm_cuda_switch("MM_CUDA_ATTN", env, "bf16", "fp32", &g_attn_bf16);
}

// The bf16 ops run for (B, Tq, Tk, H, hs): the block on, the bf16 precision, the flash path.
static int mm_att_bf16(int B, int Tq, int Tk, int H, int hs) {
    return g_attn_bf16 && mm_cuda_precision() == MM_PRECISION_BF16 && mm_att_flash(B, Tq, Tk, H, hs);
}

int mm_cuda_attention_bf16(int B, int T, int H, int hs) { return mm_att_bf16(B, T, T, H, hs); }

// The bf16 ops keep the rows' log-sum-exp (B,H,Tq) in att (no copy of O: they read out) and D in datt.
size_t mm_cuda_attention_state_floats_bf16(int B, int Tq, int Tk, int H, int hs) {
    (void)Tk, (void)hs;
    return (size_t)B * H * Tq;
}

size_t mm_cuda_attention_state_floats(int B, int Tq, int Tk, int H, int hs) {
    const size_t rows = (size_t)B * H * Tq;
    return mm_att_flash(B, Tq, Tk, H, hs) ? rows * (1 + (size_t)hs) : rows * (size_t)Tk;
}

const char *mm_cuda_attention_implementation(int B, int Tq, int Tk, int H, int hs) {
    return mm_att_flash(B, Tq, Tk, H, hs) ? "flash" : "gemm";
}

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

// Up to four products of one direction: their pointer arrays are filled by one kernel.
enum { MM_ATT_MAX_JOBS = 4 };
typedef struct mm_att_jobs {
    int n;
    const float *a[MM_ATT_MAX_JOBS], *b[MM_ATT_MAX_JOBS];
    float *c[MM_ATT_MAX_JOBS];
    mm_att_product p[MM_ATT_MAX_JOBS];
} mm_att_jobs;

// ptrs: for job j, three arrays of M = B*H pointers (A, B, C of member i) at ptrs + (3j + 0/1/2) M.
__global__ static void mm_att_pointers_kernel(const float **ptrs, mm_att_jobs jobs, mm_att_shape s) {
    const int M = mm_att_members(&s), i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= M) return;
    for (int j = 0; j < jobs.n; j++) {
        const mm_att_product *p = &jobs.p[j];
        ptrs[(3 * j + 0) * M + i] = jobs.a[j] + mm_att_member_offset(&p->a, &s, i);
        ptrs[(3 * j + 1) * M + i] = jobs.b[j] + mm_att_member_offset(&p->b, &s, i);
        ptrs[(3 * j + 2) * M + i] = jobs.c[j] + mm_att_member_offset(&p->c, &s, i);
    }
}

// Job j of the next fill: product p reading A, B and writing C (their base pointers).
static void mm_att_add_job(mm_att_jobs *jobs, const mm_att_product *p, const float *A, const float *B, float *C) {
    const int j = jobs->n++;
    jobs->p[j] = *p, jobs->a[j] = A, jobs->b[j] = B, jobs->c[j] = C;
}

// Fills the pointer arrays of every job (one launch); NULL when the scratch could not be had.
static const float **mm_att_fill_pointers(const mm_att_jobs *jobs, const mm_att_shape *s) {
    const int M = mm_att_members(s);
    const float **ptrs = (const float **)mm_cuda_scratch(MM_SCRATCH_ATT_PTRS, sizeof(float *) * 3 * MM_ATT_MAX_JOBS * M);
    if (!ptrs) return NULL;
    mm_att_pointers_kernel<<<mm_cdiv(M, TPB), TPB>>>(ptrs, *jobs, *s);
    MM_CU_LAUNCHED();
    return ptrs;
}

// Job j's product: one batched call over the M members.
static void mm_att_run(const mm_att_jobs *jobs, const float **ptrs, int j, const mm_att_shape *s) {
    const mm_att_product *p = &jobs->p[j];
    const int M = mm_att_members(s);
    mm_cuda_gemm_batched(p->ta, p->tb, p->m, p->n, p->k, p->alpha, ptrs + (3 * j + 0) * M, p->lda,
                         ptrs + (3 * j + 1) * M, p->ldb, 0.0f, (float *const *)(ptrs + (3 * j + 2) * M), p->ldc, M);
}

// A group's sum from the per-head scratch: fp32 (the fp32 ops), or bf16 (the bf16 ops: each head's
// dK, dV as stored; attention_plan.h).
__device__ __forceinline__ float mm_att_group_of(const float *src, const mm_att_shape *s, long e,
                                                 size_t *at) {
    return mm_att_group_value(src, s, e, at);
}
__device__ __forceinline__ float mm_att_group_of(const mm_bf16 *src, const mm_att_shape *s, long e,
                                                 size_t *at) {
    return mm_att_group_value_bf16(src, s, e, at);
}

// dk, dv (float or mm_bf16: rounded as stored) = the group sums of the per-head scratch dkh, dvh
// (of type S: float or mm_bf16).
template <typename T, typename S>
__global__ static void mm_att_group_sum_kernel(T *dk, T *dv, const S *dkh, const S *dvh, mm_att_shape s) {
    const long n = (long)s.B * s.Tk * s.KV * s.hs;
    for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < n; e += (long)gridDim.x * blockDim.x) {
        size_t at;
        float x = mm_att_group_of(dkh, &s, e, &at);
        mm_st1(dk + at, x);
        x = mm_att_group_of(dvh, &s, e, &at);
        mm_st1(dv + at, x);
    }
}

// The per-query-head scratch for dK, dV (2 x mm_att_dkv_scratch_len values of type S): *dkh, *dvh;
// NULL when they go straight into dk, dv (H == KV). 0, or -1 when it could not be had (recorded).
template <typename S>
static int mm_att_dkv_scratch(const mm_att_shape *s, S **dkh, S **dvh) {
    const size_t nh = mm_att_dkv_scratch_len(s);
    *dkh = *dvh = NULL;
    if (!nh) return 0;
    *dkh = (S *)mm_cuda_scratch(MM_SCRATCH_ATT_DKV, 2 * nh * sizeof(S));
    if (!*dkh) return -1;
    *dvh = *dkh + nh;
    return 0;
}

// dk, dv (rows of stride ldkv, type T) = the group sums of dkh, dvh: one launch.
template <typename T, typename S>
static void mm_att_group_sums(T *dk, T *dv, const S *dkh, const S *dvh, const mm_att_shape *s) {
    const size_t n = (size_t)s->B * s->Tk * s->KV * s->hs;
    mm_att_group_sum_kernel<T, S><<<mm_cdiv(n, TPB), TPB>>>(dk, dv, dkh, dvh, *s);
    MM_CU_LAUNCHED();
}

static mm_att_shape mm_att_shape_of(int B, int Tq, int Tk, int H, int KV, int hs, int ldq, int ldkv) {
    mm_att_shape s = {B, Tq, Tk, H, KV, hs, ldq, ldkv};
    return s;
}

void mm_cuda_attention_forward(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                               int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    const unsigned rows = (unsigned)((long)B * H * Tq);
    if (!rows || Tk <= 0) return;
    if (mm_att_flash(B, Tq, Tk, H, hs)) {
        mm_cuda_flash_forward(out, att, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
        return;
    }
    const mm_att_shape s = mm_att_shape_of(B, Tq, Tk, H, KV, hs, ldq, ldkv);
    const mm_att_product scores = mm_att_scores_product(&s, 1.0f / sqrtf((float)hs)), pv = mm_att_pv_product(&s);
    mm_att_jobs jobs = {};
    mm_att_add_job(&jobs, &scores, k, q, att);
    mm_att_add_job(&jobs, &pv, v, att, out);
    const float **ptrs = mm_att_fill_pointers(&jobs, &s);
    if (!ptrs) return;
    mm_att_run(&jobs, ptrs, 0, &s);
    mm_att_softmax_kernel<<<rows, TPB>>>(att, H, Tq, Tk);
    MM_CU_LAUNCHED();
    mm_att_run(&jobs, ptrs, 1, &s);
}

void mm_cuda_attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                                const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                                int Tk, int H, int KV, int hs) {
    const unsigned rows = (unsigned)((long)B * H * Tq);
    if (!rows || Tk <= 0) return;
    const mm_att_shape s = mm_att_shape_of(B, Tq, Tk, H, KV, hs, ldq, ldkv);
    float *dkh, *dvh;
    if (mm_att_dkv_scratch(&s, &dkh, &dvh) != 0) return;
    float *dkd = dkh ? dkh : dk, *dvd = dkh ? dvh : dv;  // direct when H == KV
    if (mm_att_flash(B, Tq, Tk, H, hs)) {
        mm_cuda_flash_backward(dq, dkd, dvd, datt, att, dout, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
    } else {
        const mm_att_product dp = mm_att_dp_product(&s), dqp = mm_att_dq_product(&s);
        const mm_att_product dkp = mm_att_dk_product(&s), dvp = mm_att_dv_product(&s);
        mm_att_jobs jobs = {};
        mm_att_add_job(&jobs, &dp, v, dout, datt);
        mm_att_add_job(&jobs, &dqp, k, datt, dq);
        mm_att_add_job(&jobs, &dkp, q, datt, dkd);
        mm_att_add_job(&jobs, &dvp, dout, att, dvd);
        const float **ptrs = mm_att_fill_pointers(&jobs, &s);
        if (!ptrs) return;
        mm_att_run(&jobs, ptrs, 0, &s);
        mm_att_softmax_backward_kernel<<<rows, TPB>>>(datt, att, H, Tq, Tk, 1.0f / sqrtf((float)hs));
        MM_CU_LAUNCHED();
        for (int j = 1; j < 4; j++) mm_att_run(&jobs, ptrs, j, &s);
    }
    if (dkh) mm_att_group_sums(dk, dv, dkh, dvh, &s);
}

// 1 when the bf16 op `op` runs for the shape; else 0 and the backend's error (reported by `check`).
static int mm_att_bf16_ok(const char *op, int B, int Tq, int Tk, int H, int KV, int hs) {
    if (mm_att_bf16(B, Tq, Tk, H, hs)) return 1;
    mm_cuda_notef(
        "cuda: %s(B=%d, Tq=%d, Tk=%d, H=%d, KV=%d, hs=%d): no bf16 attention for this shape and "
        "precision (it needs the bf16 precision, MM_CUDA_ATTN on and the FlashAttention path: hs 16, 32 "
        "or 64, Tq <= Tk, Tk > hs, MM_CUDA_ATTENTION not gemm)",
        op, B, Tq, Tk, H, KV, hs);
    return 0;
}

void mm_cuda_attention_forward_bf16(mm_bf16 *out, float *att, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                    const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV,
                                    int hs) {
    if ((long)B * H * Tq == 0 || Tk <= 0) return;  // nothing to compute: launch nothing
    if (!mm_att_bf16_ok("attention_forward_bf16", B, Tq, Tk, H, KV, hs)) return;
    mm_cuda_flash_forward_bf16(out, att, q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
}

void mm_cuda_attention_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, float *datt, const mm_bf16 *dout,
                                     const mm_bf16 *out, const float *att, const mm_bf16 *q, int ldq,
                                     const mm_bf16 *k, const mm_bf16 *v, int ldkv, int B, int Tq, int Tk,
                                     int H, int KV, int hs) {
    if ((long)B * H * Tq == 0 || Tk <= 0) return;  // nothing to compute: launch nothing
    if (!mm_att_bf16_ok("attention_backward_bf16", B, Tq, Tk, H, KV, hs)) return;
    const mm_att_shape s = mm_att_shape_of(B, Tq, Tk, H, KV, hs, ldq, ldkv);
    mm_bf16 *dkh, *dvh;  // each head's dK, dV in bf16, as PyTorch's autocast stores them before the sum
    if (mm_att_dkv_scratch(&s, &dkh, &dvh) != 0) return;
    mm_cuda_flash_backward_bf16(dq, dk, dv, dkh, dvh, datt, att, dout, out, q, ldq, k, v, ldkv, B, Tq, Tk, H,
                                KV, hs);
    if (dkh) mm_att_group_sums(dk, dv, dkh, dvh, &s);
}
