// The compute backend: ONE table of op function pointers. The model (engine/src/model.c) calls
// only these ops, so another backend (CUDA) provides the same table and the model runs unchanged.
// The CPU table (engine/src/cpu/*.c, one file per op) uses OpenBLAS sgemm + OpenMP loops.
//
// Dimension names used throughout:
//   B  batch            T  sequence length (Tq queries, Tk keys when they differ)
//   C  model dim        H  query heads      KV key/value heads (GQA)     hs head size = C / H
//   F  SwiGLU hidden    V  vocabulary       N  rows (usually B*T)
// Tensors are row-major float32; shapes are written (outer, ..., inner).
// Memory: every buffer an op reads or writes lives where the backend computes (host memory for the
// CPU backend, device memory for CUDA). The model and optimizer allocate and move their buffers
// with the memory hooks at the end of the table; the host reaches device buffers only through
// copy_d2h / copy_h2d (host_resident == 0). Ops that return a value (loss, norm) return it on the host.
// Conventions: "dw +=" ops ACCUMULATE into parameter gradients (so micro-batches accumulate);
// an `accumulate` flag chooses between `out =` (0) and `out +=` (1) for activations.
#ifndef MINIMIND_BACKEND_H
#define MINIMIND_BACKEND_H

#include <stddef.h>
#include <stdint.h>

// [train] mixed_precision: the arithmetic of the matmuls (linear layers, attention products, the
// logits). Storage is always fp32: activations, master weights, gradients and optimizer state.
//   MM_PRECISION_FP32  fp32 products
//   MM_PRECISION_BF16  products on tensor cores with bf16-rounded inputs, fp32 accumulation
//   MM_PRECISION_FP16  the same with fp16-rounded inputs; the trainer adds dynamic loss scaling
//                      (minimind/loss_scale.h) against fp16 gradient underflow
typedef enum mm_precision { MM_PRECISION_FP32, MM_PRECISION_BF16, MM_PRECISION_FP16 } mm_precision;

// A bfloat16 value as its bits (the top half of an fp32). Every op that stores one rounds to
// nearest even; NaN stays NaN.
typedef uint16_t mm_bf16;
typedef enum mm_storage { MM_STORE_F32, MM_STORE_BF16 } mm_storage;

typedef struct mm_backend {
    const char *name;  // "cpu"

    // Threads used by the op implementations (OpenMP loops and BLAS); n <= 0 keeps the default.
    void (*set_threads)(int n);
    // Matmul precision for the ops issued after the call (default fp32). Returns 0, or -1 with
    // the message set when the backend cannot compute in p. The CPU backend accepts every value
    // and always computes in fp32.
    int (*set_precision)(mm_precision p);

    // --- matmul: a Linear layer without bias, PyTorch weight layout (out_features, in_features).
    // out (M,N) [+]= inp (M,K) @ w^T, w (N,K)
    void (*matmul_forward)(float *out, const float *inp, const float *w, int M, int K, int N, int accumulate);
    // dinp (M,K) [+]= dout (M,N) @ w (skipped when dinp == NULL); dw (N,K) += dout^T @ inp
    void (*matmul_backward)(float *dinp, float *dw, const float *dout, const float *inp, const float *w, int M,
                            int K, int N, int accumulate_dinp);
    // out (M,N) = res (M,N) + inp (M,K) @ w^T, out and res distinct: a residual branch added without
    // copying the residual first. NULL: the caller copies res into out and accumulates (the same
    // numbers; the CPU). CUDA: one cuBLASLt matmul reading res as C and writing out as D.
    void (*matmul_forward_residual)(float *out, const float *res, const float *inp, const float *w, int M,
                                    int K, int N);

    // --- embedding: out (N,C) = wte[tokens] (wte (V,C)); dwte[tokens] += dout. Tokens are checked by the caller.
    void (*embedding_forward)(float *out, const int32_t *tokens, const float *wte, int N, int C);
    void (*embedding_backward)(float *dwte, const float *dout, const int32_t *tokens, int N, int C);

    // --- RMSNorm (MiniMind): out = x * rsqrt(mean(x^2) + eps) * w; rstd (N) saved for the backward.
    void (*rmsnorm_forward)(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps);
    // dinp (N,C) += ...; dw (C) += ...
    void (*rmsnorm_backward)(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                             const float *rstd, int N, int C);

    // --- RoPE on interleaved pairs (x[2i], x[2i+1]), IN PLACE on NH heads of size hs that start each
    // row of x (rows have stride ld floats; row (b,t) is at x + (b*T+t)*ld). Row t has position pos0+t.
    // cos/sin (max_pos, hs/2) are the model's tables. The backward applies the inverse rotation in place.
    void (*rope_forward)(float *x, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                         int pos0);
    void (*rope_backward)(float *dx, int ld, const float *cos, const float *sin, int B, int T, int NH, int hs,
                          int pos0);

    // --- causal grouped-query attention, scale 1/sqrt(hs). Query head h reads kv head h / (H/KV).
    // q: (B,Tq,H*hs) rows of stride ldq; k, v: (B,Tk,KV*hs) rows of stride ldkv; query i sits at
    // position Tk-Tq+i and attends keys 0..Tk-Tq+i. out (B,Tq,H*hs) contiguous.
    // att (B,H,Tq,Tk floats): what the backward needs, written by the forward. With fp32 matmuls
    // (every backend) the softmax probabilities (entries above the diagonal not meaningful); the
    // CUDA backend in bf16 / fp16 may keep its own state there instead (FlashAttention: the rows'
    // log-sum-exp and a copy of out), so only the backward reads it.
    void (*attention_forward)(float *out, float *att, const float *q, int ldq, const float *k, const float *v,
                              int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
    // dq (stride ldq), dk, dv (stride ldkv) are OVERWRITTEN; datt (B,H,Tq,Tk) is scratch.
    void (*attention_backward)(float *dq, float *dk, float *dv, float *datt, const float *dout, const float *att,
                               const float *q, int ldq, const float *k, const float *v, int ldkv, int B, int Tq,
                               int Tk, int H, int KV, int hs);
    // Floats att and datt need for this shape in the current precision, at most B*H*Tq*Tk (smaller
    // when the backend keeps less than the probabilities: CUDA's FlashAttention, (B,H,Tq)*(1+hs)).
    // NULL: B*H*Tq*Tk. Buffers of B*H*Tq*Tk floats are always enough.
    size_t (*attention_state_floats)(int B, int Tq, int Tk, int H, int hs);
    // Which computation this shape takes in the current precision, as runs record it (the numbers
    // differ in the last bits): the CUDA backend's "flash" (FlashAttention kernels) or "gemm"
    // (cuBLAS products and row kernels). NULL: the backend has one way only (the CPU).
    const char *(*attention_implementation)(int B, int Tq, int Tk, int H, int hs);

    // --- SwiGLU gate: h13 (N, 2F) holds [w1 x | w3 x] per row; g (N,F) = silu(w1 x) * (w3 x).
    void (*swiglu_forward)(float *g, const float *h13, int N, int F);
    // dh13 (N,2F) is OVERWRITTEN from dg (N,F).
    void (*swiglu_backward)(float *dh13, const float *dg, const float *h13, int N, int F);

    // --- masked cross-entropy with the tied head: logits (N,V) = x (N,C) @ wte^T; per row
    // lse = logsumexp(logits), loss = lse - logits[target]. Returns sum(loss*mask)/sum(mask)
    // (0 when sum(mask) == 0; mask NULL = all ones). lse (N) is kept for the backward.
    float (*crossentropy_forward)(float *logits, float *lse, const float *x, const float *wte,
                                  const int32_t *targets, const float *mask, int N, int C, int V);
    // dloss: gradient of the returned mean. logits (N,V) is OVERWRITTEN with dlogits;
    // dx (N,C) is OVERWRITTEN; dwte (V,C) +=.
    void (*crossentropy_backward)(float *dx, float *dwte, float *logits, const float *lse, const float *x,
                                  const float *wte, const int32_t *targets, const float *mask, float dloss, int N,
                                  int C, int V);

    // --- AdamW, torch.optim.AdamW semantics (decoupled decay p -= lr*wd*p, bias correction) for n
    // parameters; step is 1-based.
    void (*adamw_update)(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                         float eps, float weight_decay, long step);

    // --- global gradient norm sqrt(sum g^2) of n values; when max_norm > 0 the gradients are scaled
    // by min(1, max_norm / (norm + 1e-6)) as torch.nn.utils.clip_grad_norm_ does. Returns the norm
    // before clipping.
    float (*gradnorm_clip)(float *g, size_t n, float max_norm);
    // x (n) *= s (the fp16 loss scaler unscales the gradients with s = 1/scale).
    void (*scale)(float *x, size_t n, float s);

    // --- memory layer (minimind/memory.h; S keys per half, D = knowledge_dim, K candidates, LK
    // tokens per entry, entry e = i*S + j). keys (2, S, D/2) = K1 | K2; q (N, D) = q1 | q2.
    // Product-key top-K: idx (N, K) and score (N, K) = q1.K1[i] + q2.K2[j] of the K best entries,
    // best first (equal scores: lower entry first). scratch: 2 * MM_MEMORY_TOPK_ROWS * S floats.
    void (*memory_topk)(int32_t *idx, float *score, const float *q, const float *keys, int N, int D, int S, int K,
                        float *scratch);
    // dq (N, D) +=, dkeys (2, S, D/2) += from dscore (N, K).
    void (*memory_topk_backward)(float *dq, float *dkeys, const float *dscore, const int32_t *idx, const float *q,
                                 const float *keys, int N, int D, int S, int K);
    // ysoft (N, K) = softmax(score + noise) per row (noise NULL = 0); w (N, K) = ysoft, or with
    // hard = 1 the one-hot of its argmax (first on ties).
    void (*memory_weights_forward)(float *w, float *ysoft, const float *score, const float *noise, int N, int K,
                                   int hard);
    // dscore (N, K) OVERWRITTEN = ysoft * (dw - sum_k ysoft*dw) (softmax and straight-through Gumbel).
    void (*memory_weights_backward)(float *dscore, const float *dw, const float *ysoft, int N, int K);
    // m (N, C) = sum_k w[n,k] * v_e, v_e = mean of wte[t] over the tokens t != 0 of bank row e (0 if none);
    // wte (V, C).
    void (*memory_read_forward)(float *m, const int32_t *idx, const float *w, const uint16_t *bank, int LK,
                                const float *wte, int N, int K, int C, int V);
    // dw (N, K) OVERWRITTEN = dm . v_e; dwte (V, C) += w * dm / count at each token of each candidate.
    void (*memory_read_backward)(float *dw, float *dwte, const float *dm, const int32_t *idx, const float *w,
                                 const uint16_t *bank, int LK, const float *wte, int N, int K, int C, int V);

    // --- the feed-forward block in bf16 (optional: NULL = the backend has none). When ffn_bf16()
    // returns 1 in the current precision (CUDA in bf16), the model keeps the SwiGLU block's
    // activations and their gradients (ln2, h13, g, dg, dh13, dln2; `model`'s fusion MLP: its input
    // [z | m] instead of ln2) in bf16 — half their memory traffic,
    // as PyTorch's autocast stores them — and multiplies them by bf16 copies of w13 and w2 (cuBLAS
    // multiplies bf16 by bf16 only), with fp32 sums. The residual stream and its gradient (of which
    // the norm backward above the block writes a bf16 copy for its products), the norms' sums,
    // master weights, gradients and optimizer state stay fp32. The CPU reference
    // (engine/src/cpu/ffn_bf16.c) computes each op in fp32 from the stored values and rounds what
    // it stores.
    int (*ffn_bf16)(void);
    // dst (n) = bf16(src)
    void (*to_bf16)(mm_bf16 *dst, const float *src, size_t n);
    // dst (rows, cols; rows ldd apart) = bf16(src (rows, cols; rows lds apart)); the values between
    // dst's rows are left alone (`model` builds its fusion MLP's input [z | m] in bf16 this way)
    void (*to_bf16_rows)(mm_bf16 *dst, int ldd, const float *src, int lds, int rows, int cols);
    // rmsnorm_forward with a bf16 out
    void (*rmsnorm_forward_bf16)(mm_bf16 *out, float *rstd, const float *inp, const float *w, int N, int C,
                                 float eps);
    // rmsnorm_backward with dout (N,C) stored as dout_type (float or mm_bf16: a bf16 block's input
    // gradient) and, when dinp16 != NULL, the updated dinp (N,C) also stored in bf16 there (the
    // residual gradient's copy the next bf16 block reads, without a to_bf16 pass)
    void (*rmsnorm_backward_bf16)(float *dinp, mm_bf16 *dinp16, float *dw, const void *dout,
                                  mm_storage dout_type, const float *inp, const float *w, const float *rstd,
                                  int N, int C);
    // swiglu_forward / swiglu_backward on bf16 (dh13 OVERWRITTEN)
    void (*swiglu_forward_bf16)(mm_bf16 *g, const mm_bf16 *h13, int N, int F);
    void (*swiglu_backward_bf16)(mm_bf16 *dh13, const mm_bf16 *dg, const mm_bf16 *h13, int N, int F);
    // out (M,N) = inp (M,K) @ w^T, w (N,K), stored in bf16
    void (*matmul_forward_bf16)(mm_bf16 *out, const mm_bf16 *inp, const mm_bf16 *w, int M, int K, int N);
    // out (M,N) fp32 = res (M,N) + inp (M,K) @ w^T; out and res distinct
    void (*matmul_forward_residual_bf16)(float *out, const float *res, const mm_bf16 *inp, const mm_bf16 *w, int M,
                                         int K, int N);
    // dinp (M,K) = dout (M,N) @ w, OVERWRITTEN, stored as dinp_type (float or mm_bf16; skipped when
    // dinp == NULL); dw (N,K) fp32 += dout^T @ inp
    void (*matmul_backward_bf16)(void *dinp, mm_storage dinp_type, float *dw, const mm_bf16 *dout, const mm_bf16 *inp,
                                 const mm_bf16 *w, int M, int K, int N);

    // --- the attention block in bf16 (optional: NULL = the backend has none). When
    // attention_bf16(B, T, H, hs) returns 1 for the training shape in the current precision (CUDA
    // in bf16 on its FlashAttention path), the model keeps ln1, qkv (q, k after RoPE, v), the
    // attention output and their gradients (datty, dqkv, dln1) in bf16, and multiplies them by
    // bf16 copies of wqkv and wo, with the ops of the feed-forward block above (to_bf16,
    // rmsnorm_forward_bf16, rmsnorm_backward_bf16, the three products) and these. The residual
    // stream and its gradient, rstd1, the attention state and all sums stay fp32. The CPU reference
    // (engine/src/cpu/attention_bf16.c) computes each op in fp32 from the stored values and rounds
    // what it stores.
    int (*attention_bf16)(int B, int T, int H, int hs);
    // rope_forward / rope_backward on bf16 rows (IN PLACE; the rotation in fp32, the result rounded)
    void (*rope_forward_bf16)(mm_bf16 *x, int ld, const float *cos, const float *sin, int B, int T, int NH,
                              int hs, int pos0);
    void (*rope_backward_bf16)(mm_bf16 *dx, int ld, const float *cos, const float *sin, int B, int T, int NH,
                               int hs, int pos0);
    // attention_forward on bf16 q, k, v (strides ldq, ldkv as above), out (B,Tq,H*hs) bf16; att
    // (attention_state_floats_bf16) keeps what the backward needs (it may keep less than the fp32 op:
    // the backward also reads out).
    void (*attention_forward_bf16)(mm_bf16 *out, float *att, const mm_bf16 *q, int ldq, const mm_bf16 *k,
                                   const mm_bf16 *v, int ldkv, int B, int Tq, int Tk, int H, int KV, int hs);
    // attention_backward in bf16: dq (stride ldq), dk, dv (stride ldkv) OVERWRITTEN in bf16, from
    // dout and out (B,Tq,H*hs) bf16 (the forward's out, unchanged); datt is fp32 scratch.
    void (*attention_backward_bf16)(mm_bf16 *dq, mm_bf16 *dk, mm_bf16 *dv, float *datt, const mm_bf16 *dout,
                                    const mm_bf16 *out, const float *att, const mm_bf16 *q, int ldq,
                                    const mm_bf16 *k, const mm_bf16 *v, int ldkv, int B, int Tq, int Tk,
                                    int H, int KV, int hs);
    // Floats att and datt need for the bf16 ops at this shape (CUDA: (B,H,Tq): the rows'
    // log-sum-exp in att, D in datt). NULL: attention_state_floats.
    size_t (*attention_state_floats_bf16)(int B, int Tq, int Tk, int H, int hs);

    // --- the head in bf16 (optional: NULL = the backend has none). When head_bf16() returns 1 in
    // the current precision (CUDA in bf16), the model keeps the final norm's output and the logits
    // (then dlogits) in bf16 — as PyTorch's autocast stores the output projection's result — and
    // multiplies them by a bf16 copy of the tied embeddings (to_bf16 at every forward). The
    // log-sum-exp, the loss and dlogits are computed in fp32 from the stored logits; dx and dwte are
    // fp32. The CPU reference (engine/src/cpu/crossentropy_bf16.c) rounds what it stores likewise.
    int (*head_bf16)(void);
    // crossentropy_forward with x (N,C) and wte (V,C) in bf16: logits (N,V) = x wte^T stored in bf16;
    // lse (N) and the returned masked mean loss from the stored logits.
    float (*crossentropy_forward_bf16)(mm_bf16 *logits, float *lse, const mm_bf16 *x, const mm_bf16 *wte,
                                       const int32_t *targets, const float *mask, int N, int C, int V);
    // crossentropy_backward from those: dlogits (fp32 math) stored in bf16 OVER logits; dx (N,C)
    // OVERWRITTEN and dwte (V,C) += in fp32, from the bf16 dlogits, x and wte.
    void (*crossentropy_backward_bf16)(float *dx, float *dwte, mm_bf16 *logits, const float *lse,
                                       const mm_bf16 *x, const mm_bf16 *wte, const int32_t *targets,
                                       const float *mask, float dloss, int N, int C, int V);

    // --- row-block copy: dst (rows, cols) [+]= src (rows, cols), rows ldd / lds floats apart
    // (accumulate 0: =, 1: +=). The memory variants build [z | m] rows, split their gradient and
    // add m to the residual with it.
    void (*copy_rows)(float *dst, int ldd, const float *src, int lds, int rows, int cols, int accumulate);

    // --- EMA sums of the memory layer's reads, grouped by slot (the tracker, memory_update.c): for
    // each segment s < nseg, hsum[slot[s]] (C floats) += ws[j] * h[rows[j]] (C floats) for
    // j = start[s] .. start[s+1]-1, one after the other in that order. The segments' slots are
    // distinct. hsum (slots, C), h (rows, C), slot (nseg), start (nseg + 1), rows, ws: backend memory.
    void (*memory_ema_accumulate)(float *hsum, const int32_t *slot, const int32_t *start, int nseg,
                                  const int32_t *rows, const float *ws, const float *h, int C);

    // --- memory hooks (sizes in bytes). alloc returns NULL with the error message set; the
    // contents of a new buffer are undefined (use zero). Copies and zero are ordered after the
    // ops issued before them (a copy_d2h sees their results).
    int host_resident;  // 1: buffers are plain host memory (the CPU backend)
    void *(*alloc)(size_t bytes);
    void (*free)(void *p);
    // host -> backend; src may be reused as soon as it returns (the copy may still be queued:
    // the CUDA backend stages small copies in pinned memory instead of waiting for the device)
    void (*copy_h2d)(void *dst, const void *src, size_t bytes);
    void (*copy_d2h)(void *dst, const void *src, size_t bytes);  // backend -> host
    void (*copy_d2d)(void *dst, const void *src, size_t bytes);  // within the backend
    void (*zero)(void *p, size_t bytes);
    // Reports (0, or -1 with the message set) the first failure of an asynchronous op since the
    // last call; NULL when ops cannot fail (CPU).
    int (*check)(void);
    // Device memory in use (everything allocated on the device, this process's buffers, scratch and
    // library workspaces included) and its total, in bytes; 0 or -1 (message set). NULL: the
    // backend has no device memory (CPU).
    int (*memory_info)(size_t *used, size_t *total);
    // Device-side timing (`bench --profile`): timer_mark(slot) records the device's clock in
    // stream order, after the ops issued before it, without waiting (slot < MM_TIMER_SLOTS);
    // timer_elapsed_ms(from, to) waits until mark `to` is reached and returns the milliseconds
    // between two marks (negative with the message set on failure). NULL: no device clock (the
    // CPU: the profile times ops with the host's).
    void (*timer_mark)(int slot);
    double (*timer_elapsed_ms)(int from, int to);
} mm_backend;

enum { MM_TIMER_SLOTS = 2048 };

// The CPU backend (always built).
const mm_backend *mm_backend_cpu(void);

// The CPU kernels behind a device memory model (host_resident = 0, new buffers poisoned with NaN):
// device "cpu-staged", which runs the engine's device code paths without a GPU, giving the same
// numbers as the CPU (engine/src/cpu/backend_staged.c).
const mm_backend *mm_backend_cpu_staged(void);

// The CUDA backend on device `device` (fp32).
// NULL with the error message set when the binary was built without CUDA or the device is not
// usable (no driver, no such device). One device per process.
const mm_backend *mm_backend_cuda(int device);

#endif
