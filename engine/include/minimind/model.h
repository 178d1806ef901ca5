// The MiniMind models (DESIGN.md §3): token embedding (tied to the output head), n_layers x
// [h = x + Attn(RMSNorm(x)); out = h + SECOND(RMSNorm(h))], final RMSNorm, head, where SECOND is
//   model_original  SwiGLU(z) = w2(silu(w1 z) * w3 z)
//   model           the memory layer's read-out m (minimind/memory.h) fused with z by a gated MLP:
//                   w2(silu(w1 [z; m]) * w3 [z; m]), hidden F = the fusion width (see mm_model_init)
//   model_no_feed   m itself (no feed-forward parameters)
// The memory variants share one bank of knowledge_num x knowledge_length token ids (m->bank).
// Computation goes through a backend op table (minimind/backend.h).
//
// Memory, one allocation per category (as llm.c's train_gpt2.c):
//   params   all parameters, contiguous (the tied embedding/head stored once)
//   grads    same layout as params
//   acts     training activations, sized for the last (B, T) given to mm_model_forward
//   gacts    activation gradients (scratch for the backward)
//   infer    KV cache + scratch of mm_model_forward_cached (allocated on first use)
// Within a layer, wq|wk|wv are stored back to back (one (C+2*KV*hs, C) matrix, one sgemm) and so
// are w1|w3 ((2F, C)); the named-parameter table points into them with PyTorch's state-dict names.
#ifndef MINIMIND_MODEL_H
#define MINIMIND_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "minimind/backend.h"
#include "minimind/config.h"
#include "minimind/memory.h"
#include "minimind/model_config.h"

// Name of the memory bank (U16, (knowledge_num, knowledge_length)) in a checkpoint.
#define MM_MEMORY_BANK_NAME "memory_bank"

// One named parameter, as PyTorch's state_dict lists it. `output.weight` is listed too (tied: same
// data/grad pointers as `tok_embeddings.weight`, tied == 1) so a checkpoint carries both names.
typedef struct mm_param {
    char name[64];    // e.g. "layers.3.attention.wq.weight"
    float *data;      // into mm_model.params
    float *grad;      // into mm_model.grads
    int ndim;         // 1, 2 or 3 (memory keys)
    int64_t shape[3]; // PyTorch shape: Linear (out_features, in_features), norm (C), keys (2, S, D/2)
    size_t numel;
    int tied;         // 1: alias of an earlier entry (do not count/update twice)
} mm_param;

// Views of one layer's weights (or their gradients).
typedef struct mm_layer_weights {
    float *attention_norm;  // (C)
    float *wqkv;            // (C + 2*KV*hs, C): wq (C,C) | wk (KV*hs,C) | wv (KV*hs,C)
    float *wo;              // (C, C)
    float *ffn_norm;        // (C)
    float *w13;             // (2F, CF): w1 (F,CF) | w3 (F,CF); CF = C (FFN) or 2C (`model` fusion); NULL in model_no_feed
    float *w2;              // (C, F); NULL in model_no_feed
    float *mem_query;       // (D, C)       memory variants: layers.{i}.memory.query.weight
    float *mem_keys;        // (2, S, D/2)  memory variants: layers.{i}.memory.keys
} mm_layer_weights;

// Training activations for (B, T); N = B*T, QKV = C + 2*KV*hs. Per-layer arrays are [L][...].
typedef struct mm_activations {
    float *res;     // (L+1, N, C) residual stream entering each layer; res[L] enters the final norm
    float *hres;    // (L, N, C)   residual after the attention block
    float *ln1;     // (L, N, C)
    float *rstd1;   // (L, N)
    float *qkv;     // (L, N, QKV) q|k after RoPE, v
    float *att;     // (L, B, H, T, T) attention probabilities
    float *atty;    // (L, N, C)   attention output before wo
    float *ln2;     // (L, N, C)
    float *rstd2;   // (L, N)
    float *h13;     // (L, N, 2F)  [w1 x | w3 x]
    float *g;       // (L, N, F)   silu(w1 x) * w3 x
    // the feed-forward block in bf16 (m->ffn_bf16; h13, g above are then NULL, and ln2 too in
    // model_original): the same tensors stored as bf16, and the bf16 copies of each layer's
    // [w13 | w2] (backend.h). `model`: the fusion MLP over zm = [z | m] (CF = 2C wide; zm16 below)
    mm_bf16 *ln2_16;  // (L, N, C) model_original
    mm_bf16 *h13_16;  // (L, N, 2F)
    mm_bf16 *g_16;    // (L, N, F)
    mm_bf16 *w_16;    // (L, (2 CF + C) F): w13 (2F, CF) | w2 (C, F), refreshed at every forward
    // the attention block in bf16 (m->att_bf16; ln1, qkv, atty above are then NULL): the same
    // tensors stored as bf16, and the bf16 copies of each layer's [wqkv | wo] (backend.h)
    mm_bf16 *ln1_16;   // (L, N, C)
    mm_bf16 *qkv_16;   // (L, N, QKV) q|k after RoPE, v
    mm_bf16 *atty_16;  // (L, N, C)
    mm_bf16 *wa_16;    // (L, (QKV + C) C): wqkv (QKV, C) | wo (C, C), refreshed at every forward
    float *lnf;     // (N, C)
    float *rstdf;   // (N)
    float *logits;  // (N, V) — overwritten with dlogits by the backward
    float *lse;     // (N)
    // the head in bf16 (m->head_bf16; lnf and logits above are then NULL): the same tensors stored
    // as bf16, and the bf16 copy of the tied embeddings, refreshed at every forward (backend.h)
    mm_bf16 *lnf16;     // (N, C)
    mm_bf16 *logits16;  // (N, V) — overwritten with dlogits by the backward
    mm_bf16 *wte16;     // (V, C)
    // memory variants (a separate allocation, m->macts): per layer [L][...]
    float *mq;        // (L, N, D)
    int32_t *midx;    // (L, N, K)
    float *mscore;    // (L, N, K)
    float *mw;        // (L, N, K)
    float *mysoft;    // (L, N, K)
    float *zm;        // (L, N, 2C) [z | m] (`model`); NULL with m->ffn_bf16 (zm16 instead)
    mm_bf16 *zm16;    // (L, N, 2C) [z | m] in bf16 (`model` with m->ffn_bf16)
    float *mout;      // (N, C)     the read-out m of the current layer
    float *mnoise;    // (N, K)     Gumbel noise (training with memory_select = gumbel)
    float *mscratch;  // mm_memory_scratch_floats(N)
} mm_activations;

typedef struct mm_grad_activations {
    float *dres;  // (N, C)
    float *dln;   // (N, C)
    float *datty; // (N, C)
    float *dqkv;  // (N, QKV)
    float *dh13;  // (N, 2F)
    float *dg;    // (N, F)
    mm_bf16 *dres_16,
        *dln_16;  // (N, C): m->ffn_bf16 or m->att_bf16 (dres's bf16 copy, a norm's input gradient)
    mm_bf16 *dg_16, *dh13_16;     // (N, F), (N, 2F): m->ffn_bf16 (dh13, dg NULL)
    mm_bf16 *datty_16, *dqkv_16;  // (N, C), (N, QKV): m->att_bf16 (datty, dqkv NULL)
    float *datt;  // (B, H, T, T)
    float *dzm;   // (N, 2C) memory variants
    float *dm;    // (N, C)  memory variants
} mm_grad_activations;

typedef struct mm_model {
    mm_model_config config;  // validated (hidden_dim resolved)
    const mm_backend *be;
    int C, L, H, KV, hs, F, V, QKV;  // QKV = C + 2*KV*hs; F = hidden of the FFN / fusion (0: model_no_feed)
    int CF;                          // input width of w13: C (model_original), 2C (model), 0
    int mem;                         // 1 for model / model_no_feed
    mm_memory_shape ms;              // memory variants: the layer's shape
    uint16_t *bank;                  // (knowledge_num, knowledge_length) shared by every layer (host memory)
    uint16_t *dbank;                 // the bank where the backend computes (== bank on a host-resident
                                     // backend; a device copy otherwise, see mm_model_sync_bank)
    unsigned char *mem_muted;        // (L) memory variants: 1 = layer l reads an empty bank (its read-out
                                     // m is 0, as with an all-padding bank; no gradient reaches its
                                     // memory); set by `eval --bank empty@L` (mm_model_replace_bank)
    int training;                    // 1: Gumbel noise on (set by the trainer)
    uint64_t noise_seed, noise_step; // Gumbel noise of forward f: seed, (noise_step, layer)
    mm_memory_tracker *tracker;      // when set (and training): every forward adds its reads
    float *macts, *mgacts;           // memory activations / their gradients
    size_t macts_cap, mgacts_cap;
    float *minfer;                   // memory scratch of the cached forward
    float *mhost;                    // device backends: host staging of the Gumbel noise and of the
    size_t mhost_cap;                // reads the tracker adds (idx, w, h)

    size_t num_params;  // unique parameters (25,829,888 at defaults)
    float *params, *grads;
    mm_param *table;  // named parameters in state_dict order, `output.weight` last
    int n_table;
    float *tok_embeddings, *norm;    // (V, C), (C) views into params
    float *dtok_embeddings, *dnorm;  // views into grads
    mm_layer_weights *layers, *dlayers;
    float *rope_cos, *rope_sin;  // (max_seq_len, hs/2)

    // Training state of the last mm_model_forward.
    int B, T;
    size_t att_state;  // floats of one layer's att (and of datt) for (B, T): backend.h attention_state_floats
    int ffn_bf16;      // the training buffers keep the feed-forward block in bf16 (backend.h ffn_bf16)
    int att_bf16;      // ... and the attention block (backend.h attention_bf16, for (B, T))
    int head_bf16;     // ... and the head (backend.h head_bf16)
    size_t acts_cap, gacts_cap;
    float *acts, *gacts;
    mm_activations a;
    mm_grad_activations ga;
    int32_t *inputs, *targets;  // (B*T) copies (backend memory: one buffer X | Y | mask)
    float *mask;                // (B*T) copy (all ones when no mask was given)
    int32_t *hinputs;           // host staging of X | Y | mask (== inputs on a host-resident backend)
    size_t inputs_cap;          // bytes of inputs
    float *host_params;         // device backends: host copy of params (mm_model_params_to_host)
    int have_targets, backward_ready;

    // Inference (mm_model_forward_cached): KV cache (L, 2, max_seq_len, KV*hs) + scratch.
    float *infer;
    float *kcache, *vcache;  // layer l: kcache + l*max_seq_len*KV*hs
} mm_model;

// Validates the configuration, allocates parameters and gradients, and initialises as PyTorch would
// (Linear and tied embedding U(±1/sqrt(fan_in)), norm weights 1; memory keys U(±1/sqrt(D/2)))
// from a deterministic generator seeded with `seed` (the tied embedding is drawn first, the same
// for every model type). be == NULL selects the CPU backend. The memory variants use
// num_candidates 16 and softmax selection here (mm_model_init_memory chooses), an all-padding bank,
// and for `model` a fusion MLP of hidden F = multiple_of * ceil(3 * hidden_dim / (5 * multiple_of)),
// so that w1, w3 (F, 2C) and w2 (C, F) hold about as many parameters (5CF) as the FFN they
// replace (3 C hidden_dim).
int mm_model_init(mm_model *m, const mm_model_config *cfg, const mm_backend *be, uint64_t seed);
// Same, with the memory layer's candidate count and selection.
int mm_model_init_memory(mm_model *m, const mm_model_config *cfg, int num_candidates, mm_memory_select select,
                         const mm_backend *be, uint64_t seed);
// The model of a run configuration (engine/src/memory_init.c): mm_model_init_memory with [knowledge]
// num_candidates and memory_select; with init_memory, the memory variants also load the bank from
// database_init_path (when set; its knowledge_num / knowledge_length must match) and apply the
// cluster cache (when cluster_cache_path is set; the file must exist): the bank rows are placed on
// the key grid as the cache says and each layer's keys start at the centroids of their entries
// (K1[i] = first half of W_q c_i, c_i the RMS-normalised mean value of grid row i; K2[j] from grid
// column j, second half).
int mm_model_init_run(mm_model *m, const mm_run_config *c, const mm_backend *be, uint64_t seed, int init_memory);
// Places the bank rows as perm says (perm[p] = old row of new entry p) and starts the keys at the
// centroids (see mm_model_init_run).
int mm_model_apply_cluster(mm_model *m, const uint32_t *perm);
// Copies a bank (knowledge_num x knowledge_length ids) into the model; every id must be < vocab_size.
// `what` names the source in errors. Error for model_original.
int mm_model_set_bank(mm_model *m, const uint16_t *ids, const char *what);
// After m->bank was written in place (a checkpoint load, an EMA update, a test): uploads it to the
// backend's copy m->dbank (no-op on a host-resident backend, where they are the same array).
int mm_model_sync_bank(mm_model *m);
void mm_model_free(mm_model *m);

// Host access to the parameters (params, grads and the table's pointers are backend memory: device
// pointers on a backend that is not host_resident). mm_model_params_to_host copies the parameters
// into a host array in the layout of m->params and returns it (m->params itself on the CPU; NULL
// on error); entry p of the table is at host + (p->data - m->params). mm_model_host_params returns
// that array without copying (to be filled, e.g. from a checkpoint), mm_model_params_from_host
// uploads it (no-op on the CPU).
float *mm_model_params_to_host(mm_model *m);
float *mm_model_host_params(mm_model *m);
int mm_model_params_from_host(mm_model *m);

// The named-parameter table entry called `name` (NULL when absent).
const mm_param *mm_model_find_param(const mm_model *m, const char *name);

// Training forward on X (B,T) token ids. With targets Y (B,T) it returns in *loss the mean masked
// loss sum(CE*mask)/sum(mask) (mask (B,T) may be NULL = all ones; 0 when the mask is all zero) and
// prepares the backward; Y == NULL computes logits only (loss may be NULL). logits_out (B,T,V) may
// be NULL. Token ids must lie in [0, V) and T <= max_seq_len (errors otherwise).
int mm_model_forward(mm_model *m, const int32_t *X, const int32_t *Y, const float *mask, int B, int T, float *loss,
                     float *logits_out);
// Backward of the last forward: grads += d(loss_scale * loss)/d(params) (grads ACCUMULATE; use
// loss_scale = 1/accumulation_steps for gradient accumulation). Consumes the forward's state.
int mm_model_backward(mm_model *m, float loss_scale);
void mm_model_zero_grad(mm_model *m);
// Global gradient norm; clips to max_norm when max_norm > 0 (torch clip_grad_norm_). Pre-clip norm.
float mm_model_clip_grad_norm(mm_model *m, float max_norm);

// Inference with a KV cache (batch 1): feeds n >= 1 new tokens at positions pos..pos+n-1 (pos = 0
// starts a new sequence; positions < pos must come from earlier calls) and writes the logits (V)
// of the last of them. Requires pos + n <= max_seq_len.
int mm_model_forward_cached(mm_model *m, const int32_t *tokens, int n, int pos, float *logits);

// Floating-point operations of one training step (forward + backward) over B sequences of T
// tokens: every matmul exactly (2*M*N*K), attention counted on its causal half (T(T+1)/2 pairs).
double mm_model_train_flops(const mm_model *m, int B, int T);
// The attention computation a (B, T) training step takes on the model's backend in its current
// precision (backend.h attention_implementation: "flash" / "gemm"); NULL when the backend has one.
const char *mm_model_attention_implementation(const mm_model *m, int B, int T);
// "bf16" when the training buffers keep the feed-forward block in bf16 in the backend's current
// precision (backend.h ffn_bf16: CUDA in bf16; model_original's FFN and `model`'s fusion MLP, not
// model_no_feed), as runs record it; NULL (fp32) otherwise.
const char *mm_model_ffn_storage(const mm_model *m);
// "bf16" when a (B, T) training step keeps the attention block in bf16 in the backend's current
// precision (backend.h attention_bf16: CUDA in bf16 on the flash path; every variant), as runs
// record it; NULL (fp32) otherwise.
const char *mm_model_attention_storage(const mm_model *m, int B, int T);
// "bf16" when the training buffers keep the head (the final norm's output, the logits and dlogits)
// in bf16 in the backend's current precision (backend.h head_bf16: CUDA in bf16; every variant),
// as runs record it; NULL (fp32) otherwise.
const char *mm_model_head_storage(const mm_model *m);

#endif
