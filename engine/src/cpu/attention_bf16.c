// The reference of the bf16 attention ops (minimind/backend.h, "the attention block in bf16"):
// each op widens its bf16 inputs to fp32, computes what the fp32 op computes (the same CPU
// kernels: rope.c, attention.c), and rounds what it stores to bf16 (bf16_ref.h). Not in the CPU
// backend's table (the CPU stores fp32 in every precision); the CUDA parity tests compare the GPU
// ops with these, and a table built from the CPU one plus these runs the model's bf16 attention
// path on the CPU. Clarity over speed: every op allocates its fp32 copies. With GQA the backward
// also rounds each query head's dK, dV before a kv group's sum, as the CUDA op's bf16 scratch does.
//   B batch, Tq queries, Tk keys, H query heads, KV kv heads, hs head size, C = H*hs
//   x (B*T rows of stride ld, NH*hs used); q (B*Tq rows, stride ldq); k, v (B*Tk rows, stride
//   ldkv); out, dout (B,Tq,C); att: the fp32 op's probabilities (B,H,Tq,Tk)
// The strided tensors are widened over their span (rows-1)*ld + width, so a view into a packed
// qkv row reads no value past its last row; stores go row by row, width values each (the
// columns between belong to the other views).
#include <stdlib.h>
#include <string.h>

#include "bf16_ref.h"
#include "cpu_ops.h"

static void mm_ref_rope(mm_bf16 *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                        int pos0, int backward) {
    const size_t rows = (size_t)B * T, width = (size_t)NH * hs;
    float *f = mm_ref_widen(x, mm_ref_span(rows, (size_t)ld, width));
    if (backward)
        mm_cpu_rope_backward(f, ld, cos, sin, B, T, NH, hs, pos0);
    else
        mm_cpu_rope_forward(f, ld, cos, sin, B, T, NH, hs, pos0);
    mm_ref_narrow_rows(x, f, rows, (size_t)ld, width);
}

void mm_cpu_rope_forward_bf16(mm_bf16 *x, int ld, const float *cos, const float *sin, int B, int T, int NH,
                              int hs, int pos0) {
    mm_ref_rope(x, ld, cos, sin, B, T, NH, hs, pos0, 0);
}

void mm_cpu_rope_backward_bf16(mm_bf16 *dx, int ld, const float *cos, const float *sin, int B, int T, int NH,
                               int hs, int pos0) {
    mm_ref_rope(dx, ld, cos, sin, B, T, NH, hs, pos0, 1);
}

// fp32 copies of q (B*Tq rows of ldq, C wide) and k, v (B*Tk rows of ldkv, KV*hs wide).
typedef struct mm_ref_qkv {
    float *q, *k, *v;
} mm_ref_qkv;

static mm_ref_qkv mm_ref_widen_qkv(const mm_bf16 *q, int ldq, const mm_bf16 *k, const mm_bf16 *v, int ldkv,
                                   int B, int Tq, int Tk, int H, int KV, int hs) {
    const size_t nq = mm_ref_span((size_t)B * Tq, (size_t)ldq, (size_t)H * hs);
    const size_t nkv = mm_ref_span((size_t)B * Tk, (size_t)ldkv, (size_t)KV * hs);
    mm_ref_qkv f = {mm_ref_widen(q, nq), mm_ref_widen(k, nkv), mm_ref_widen(v, nkv)};
    return f;
}

static void mm_ref_free_qkv(mm_ref_qkv *f) { free(f->q), free(f->k), free(f->v); }

void mm_cpu_attention_forward_bf16(mm_bf16 *out, float *att, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                   const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV, int hs) {
    mm_ref_qkv f = mm_ref_widen_qkv(q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
    const size_t n = (size_t)B * Tq * H * hs;
    float *o = mm_ref_floats(n);  // (B, Tq, C)
    mm_cpu_attention_forward(o, att, f.q, ldq, f.k, f.v, ldkv, B, Tq, Tk, H, KV, hs);
    mm_ref_free_qkv(&f);
    mm_ref_narrow(out, o, n);
}

// K or V (rows of ldkv, KV heads) with each kv head repeated for its H / KV query heads: rows of
// H*hs, on which the fp32 op shares nothing between heads and gives each head's own dK, dV.
static float *mm_ref_repeat_kv(const float *x, int ldkv, size_t rows, int H, int KV, int hs) {
    float *r = mm_ref_floats(rows * H * hs);
    for (size_t t = 0; t < rows; t++)
        for (int h = 0; h < H; h++)
            memcpy(r + (t * H + h) * hs, x + t * ldkv + (size_t)(h / (H / KV)) * hs, sizeof(float) * hs);
    return r;
}

// dst (rows of ldkv, KV*hs) = bf16 of each kv group's sum, in head order, of its query heads'
// gradients rounded to bf16 (heads: rows of H*hs; freed): the CUDA op's bf16 scratch and group sum
// (attention_plan.h mm_att_group_value_bf16), as PyTorch's autocast rounds repeat_kv's gradients.
static void mm_ref_group_sums(mm_bf16 *dst, int ldkv, float *heads, size_t rows, int H, int KV, int hs) {
    const int rep = H / KV;
    mm_ref_round(heads, rows * H * hs);
    float *sum = mm_ref_floats(mm_ref_span(rows, (size_t)ldkv, (size_t)KV * hs));
    for (size_t t = 0; t < rows; t++)
        for (int g = 0; g < KV; g++)
            for (int d = 0; d < hs; d++) {
                float acc = 0.0f;
                for (int r = 0; r < rep; r++) acc += heads[(t * H + (size_t)g * rep + r) * hs + d];
                sum[t * ldkv + (size_t)g * hs + d] = acc;
            }
    free(heads);
    mm_ref_narrow_rows(dst, sum, rows, (size_t)ldkv, (size_t)KV * hs);
}

void mm_cpu_attention_backward_bf16(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, float *datt, const mm_bf16 *dout,
                                    const mm_bf16 *out, const float *att, const mm_bf16 *q, int ldq,
                                    const mm_bf16 *k, const mm_bf16 *v, int ldkv, int B, int Tq, int Tk,
                                    int H, int KV, int hs) {
    (void)out;  // the fp32 op's state (att) holds the probabilities; no need for the output
    mm_ref_qkv f = mm_ref_widen_qkv(q, ldq, k, v, ldkv, B, Tq, Tk, H, KV, hs);
    const size_t rq = (size_t)B * Tq, rkv = (size_t)B * Tk, C = (size_t)H * hs, KVd = (size_t)KV * hs;
    float *dO = mm_ref_widen(dout, rq * C);
    float *fdq = mm_ref_floats(mm_ref_span(rq, (size_t)ldq, C));
    if (H == KV) {  // no sharing: dK, dV rounded once, as stored
        float *fdk = mm_ref_floats(mm_ref_span(rkv, (size_t)ldkv, KVd)),
              *fdv = mm_ref_floats(mm_ref_span(rkv, (size_t)ldkv, KVd));
        mm_cpu_attention_backward(fdq, fdk, fdv, datt, dO, att, f.q, ldq, f.k, f.v, ldkv, B, Tq, Tk, H, KV,
                                  hs);
        mm_ref_narrow_rows(dk, fdk, rkv, (size_t)ldkv, KVd);
        mm_ref_narrow_rows(dv, fdv, rkv, (size_t)ldkv, KVd);
    } else {  // GQA: per query head, rounded, then the group sums
        float *kr = mm_ref_repeat_kv(f.k, ldkv, rkv, H, KV, hs),
              *vr = mm_ref_repeat_kv(f.v, ldkv, rkv, H, KV, hs);
        float *dkh = mm_ref_floats(rkv * C), *dvh = mm_ref_floats(rkv * C);
        mm_cpu_attention_backward(fdq, dkh, dvh, datt, dO, att, f.q, ldq, kr, vr, (int)C, B, Tq, Tk, H, H,
                                  hs);
        free(kr), free(vr);
        mm_ref_group_sums(dk, ldkv, dkh, rkv, H, KV, hs);
        mm_ref_group_sums(dv, ldkv, dvh, rkv, H, KV, hs);
    }
    mm_ref_free_qkv(&f);
    free(dO);
    mm_ref_narrow_rows(dq, fdq, rq, (size_t)ldq, C);
}
