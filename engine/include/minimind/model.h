// The MiniMind baseline model (`model_original`, DESIGN.md §3): token embedding (tied to the
// output head), n_layers x [x + Attn(RMSNorm(x)); h + SwiGLU(RMSNorm(h))], final RMSNorm, head.
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
#include "minimind/model_config.h"

// One named parameter, as PyTorch's state_dict lists it. `output.weight` is listed too (tied: same
// data/grad pointers as `tok_embeddings.weight`, tied == 1) so a checkpoint carries both names.
typedef struct mm_param {
    char name[64];    // e.g. "layers.3.attention.wq.weight"
    float *data;      // into mm_model.params
    float *grad;      // into mm_model.grads
    int ndim;         // 1 or 2
    int64_t shape[2]; // PyTorch shape: Linear (out_features, in_features), norm (C)
    size_t numel;
    int tied;         // 1: alias of an earlier entry (do not count/update twice)
} mm_param;

// Views of one layer's weights (or their gradients).
typedef struct mm_layer_weights {
    float *attention_norm;  // (C)
    float *wqkv;            // (C + 2*KV*hs, C): wq (C,C) | wk (KV*hs,C) | wv (KV*hs,C)
    float *wo;              // (C, C)
    float *ffn_norm;        // (C)
    float *w13;             // (2F, C): w1 (F,C) | w3 (F,C)
    float *w2;              // (C, F)
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
    float *lnf;     // (N, C)
    float *rstdf;   // (N)
    float *logits;  // (N, V) — overwritten with dlogits by the backward
    float *lse;     // (N)
} mm_activations;

typedef struct mm_grad_activations {
    float *dres;  // (N, C)
    float *dln;   // (N, C)
    float *datty; // (N, C)
    float *dqkv;  // (N, QKV)
    float *dh13;  // (N, 2F)
    float *dg;    // (N, F)
    float *datt;  // (B, H, T, T)
} mm_grad_activations;

typedef struct mm_model {
    mm_model_config config;  // validated (hidden_dim resolved)
    const mm_backend *be;
    int C, L, H, KV, hs, F, V, QKV;  // QKV = C + 2*KV*hs

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
    size_t acts_cap, gacts_cap;
    float *acts, *gacts;
    mm_activations a;
    mm_grad_activations ga;
    int32_t *inputs, *targets;  // (B*T) copies
    float *mask;                // (B*T) copy (all ones when no mask was given)
    int have_targets, backward_ready;

    // Inference (mm_model_forward_cached): KV cache (L, 2, max_seq_len, KV*hs) + scratch.
    float *infer;
    float *kcache, *vcache;  // layer l: kcache + l*max_seq_len*KV*hs
} mm_model;

// Validates the configuration (only `model_original` is supported here), allocates parameters and
// gradients, and initialises as PyTorch would (Linear and tied embedding U(±1/sqrt(fan_in)), norm
// weights 1) from a deterministic generator seeded with `seed`. be == NULL selects the CPU backend.
int mm_model_init(mm_model *m, const mm_model_config *cfg, const mm_backend *be, uint64_t seed);
void mm_model_free(mm_model *m);

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

#endif
