// The KnowledgeDataset memory layer (DESIGN.md §3, docs/memory.md): a bank of NUM human-readable
// token sequences (NUM = knowledge_num, each knowledge_length token ids, shared by every layer),
// looked up per token with product keys. For one row (token) with input z = RMSNorm(h) (C):
//
//   q = W_q z                                   (D)      D = knowledge_dim, q = [q1 | q2] (D/2 each)
//   s1[i] = q1 . K1[i], s2[j] = q2 . K2[j]      (S)      S = sqrt(NUM), keys (2, S, D/2): K1 | K2
//   the k best of s1 and of s2 (k = min(K, S)); the K best of the sums s1[i] + s2[j]; entry i*S + j
//   value v_e = mean of the tied embeddings of entry e's non-padding tokens (0 for an empty entry)
//   weights w = softmax(scores)                               (memory_select = softmax)
//         or  w = onehot(argmax(scores + g)) with the gradient of softmax(scores + g)
//             (straight-through Gumbel, g ~ Gumbel(0,1) while training; no noise at inference)
//   m = sum_k w_k v_{e_k}                       (C)
//
// Gradients reach W_q, the keys (through the selected scores) and the embeddings (through the
// values). The model (minimind/model.h) adds m to the residual (`model_no_feed`) or fuses it with z
// through a gated MLP (`model`). Computation goes through the backend op table (memory_* ops).
//
// Dimension names: N rows (B*T), C model dim, D knowledge_dim, S keys per half, NUM entries,
// LK tokens per entry, K candidates per row, V vocabulary.
#ifndef MINIMIND_MEMORY_H
#define MINIMIND_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "minimind/backend.h"
#include "minimind/config.h"
#include "minimind/model_config.h"

// The padding token of the bank (<unk> = 0): not part of an entry's text or value.
#define MM_MEMORY_PAD 0

// Upper bound on num_candidates (the per-row candidate lists live on the stack of the kernels).
#define MM_MEMORY_MAX_CANDIDATES 256

// Rows per chunk of the product-key scoring (scratch: 2 * MM_MEMORY_TOPK_ROWS * S floats).
#define MM_MEMORY_TOPK_ROWS 256

typedef struct mm_memory_shape {
    int C;       // model dim
    int D;       // knowledge_dim (even)
    int S;       // keys per half = sqrt(NUM)
    int num;     // knowledge_num = S * S
    int LK;      // knowledge_length
    int K;       // num_candidates (<= NUM, <= MM_MEMORY_MAX_CANDIDATES)
    int V;       // vocabulary
    mm_memory_select select;
} mm_memory_shape;

// Validates and fills the shape: knowledge_num must be a perfect square, knowledge_dim even,
// num_candidates in [1, min(knowledge_num, MM_MEMORY_MAX_CANDIDATES)]. Errors name the key.
int mm_memory_shape_init(mm_memory_shape *s, const mm_model_config *cfg, int num_candidates,
                         mm_memory_select select);

// Floats of scratch mm_memory_forward / mm_memory_backward need for N rows.
size_t mm_memory_scratch_floats(const mm_memory_shape *s, int N);

// What one layer's forward keeps for its backward (caller-owned buffers).
typedef struct mm_memory_acts {
    float *q;        // (N, D)
    int32_t *idx;    // (N, K)  entries, best score first
    float *score;    // (N, K)  s1 + s2 of each candidate
    float *w;        // (N, K)  read-out weights
    float *ysoft;    // (N, K)  softmax(score [+ noise]): what the weights' gradient flows through
} mm_memory_acts;

// One layer's parameters (or their gradients).
typedef struct mm_memory_weights {
    float *wq;    // (D, C)     layers.{i}.memory.query.weight
    float *keys;  // (2, S, D/2) layers.{i}.memory.keys
} mm_memory_weights;

// Forward for N rows: m (N, C) from z (N, C). bank (NUM, LK) token ids (every id < V), wte (V, C)
// the tied embedding. noise (N, K) is added to the candidate scores before the softmax (NULL = none;
// only meaningful with gumbel). scratch: mm_memory_scratch_floats floats.
void mm_memory_forward(const mm_backend *be, const mm_memory_shape *s, const mm_memory_weights *w,
                       const uint16_t *bank, const float *wte, const float *z, const float *noise, int N,
                       mm_memory_acts *a, float *m, float *scratch);

// Backward: given dm (N, C): dz (N, C) +=, dw->wq +=, dw->keys +=, dwte (V, C) +=.
void mm_memory_backward(const mm_backend *be, const mm_memory_shape *s, const mm_memory_weights *w,
                        const mm_memory_weights *dw, const uint16_t *bank, const float *wte, float *dwte,
                        const float *z, const mm_memory_acts *a, const float *dm, int N, float *dz, float *scratch);

// Standard Gumbel(0,1) noise (N, K) from a counter-based generator: the same (seed, counter) gives
// the same noise (so a resumed run draws what the uninterrupted run drew).
void mm_memory_gumbel_noise(float *noise, size_t n, uint64_t seed, uint64_t counter);

// ---------------------------------------------------------------------------------------------
// Usage tracking and EMA updates (memory_update = ema), engine/src/memory_update.c.

// Per-window statistics of which entries the layers read. usage[e] accumulates the read-out weight
// of entry e over every row and layer of the log window; with EMA, each used entry also accumulates
// sum_rows w * h (the hidden state entering the memory layer) in a slot (slots grow as entries are
// first used, so memory follows the entries used, not NUM).
// The EMA sums are kept at two levels so that the state at an optimizer-step boundary is exact
// (a checkpoint taken when a run is stopped in the middle of a gradient accumulation must not
// contain the reads of the micro-steps after the boundary, which the resumed run redoes):
//   `step`   the reads since the last optimizer step (mm_memory_tracker_add writes here);
//   `window` the EMA window: the `step` sums are merged into it at each optimizer step
//            (mm_memory_tracker_commit), in slot order, so the result does not depend on where a
//            run was interrupted. It is what EMA updates read and what checkpoints store.
// The slot bookkeeping and the weight sums live on the host; the hidden-state sums hsum live in
// the tracker's backend (on a GPU: the hidden states never leave the device; the host groups a
// layer's reads by slot and the backend op memory_ema_accumulate adds them, in read order).
typedef struct mm_memory_ema_sums {
    int32_t *slot;        // (NUM) slot of an entry, -1 when the entry has no slot
    float *hsum;          // (cap, C) sum w * h per slot — backend memory
    double *wsum;         // (cap)    sum w per slot
    int32_t *slot_entry;  // (cap)    entry of each slot
    int n_slots, cap;
} mm_memory_ema_sums;

// One layer's reads grouped by slot for memory_ema_accumulate (host arrays; on a device backend
// uploaded into the d* copies). Capacities grow as needed.
typedef struct mm_memory_ema_groups {
    int32_t *count;                // (slots cap) reads per slot while grouping, 0 otherwise
    int32_t *seg_slot, *seg_start;  // (reads + 1) slot and first read of each segment
    int32_t *rows;                  // (reads) row of each read, grouped by slot, in read order
    float *ws;                      // (reads) its weight (for merging `step` into `window`: 1)
    int count_cap, cap;
    int32_t *dslot, *dstart, *drows;  // backend copies (device backends)
    float *dws;
    int dcap;
} mm_memory_ema_groups;

typedef struct mm_memory_tracker {
    const mm_backend *be;       // where hsum lives and is summed
    int num, C;
    int ema;                    // 1: accumulate hidden states for EMA
    double *usage;              // (NUM) weight mass of the log window
    mm_memory_ema_sums step;    // EMA sums of the reads since the last optimizer step
    mm_memory_ema_sums window;  // EMA sums of the window (committed steps)
    mm_memory_ema_groups groups;
    long rewritten;             // entries rewritten by EMA updates since the last stats reset
    long updates;               // EMA updates since the last stats reset
} mm_memory_tracker;

// be: the model's backend (hsum lives there and h is read there).
int mm_memory_tracker_init(mm_memory_tracker *t, const mm_backend *be, int num, int C, int ema);
void mm_memory_tracker_free(mm_memory_tracker *t);
// Adds one layer's reads: idx/w (N, K) on the host, h (N, C) in the backend (only used with ema),
// to the usage and to the `step` sums. Returns 0 or -1 (out of memory).
int mm_memory_tracker_add(mm_memory_tracker *t, const int32_t *idx, const float *w, const float *h, int N, int K);
// Copies the hsum of `level` (t->step or t->window) to the host: (n_slots, C) floats, malloc'd
// (NULL with an error set when out of memory; NULL without one when there are no slots).
float *mm_memory_tracker_hsum_to_host(const mm_memory_tracker *t, const mm_memory_ema_sums *level);
// At an optimizer step: merges the `step` sums into the EMA window and clears them. 0 or -1.
int mm_memory_tracker_commit(mm_memory_tracker *t);
// Drops the `step` sums (the micro-steps after the last optimizer step).
void mm_memory_tracker_drop_step(mm_memory_tracker *t);

// The EMA window as bytes for a checkpoint (the resume state's "memory_ema" blob), little-endian:
//   u32 version (1), u32 knowledge_num, u32 C, u32 n_slots, then per slot in slot order:
//   i32 entry, f64 wsum, C x f32 hsum.
// *buf is malloc'd (NULL and *len = 0 when the window is empty). Returns 0 or -1.
int mm_memory_tracker_save_window(const mm_memory_tracker *t, uint8_t **buf, size_t *len);
// Replaces the EMA window with the one in buf (len 0: an empty window) and clears the `step`
// sums. Validates everything; errors are prefixed with `what` (the file), e.g.
// "ckpt.state.safetensors: memory_ema: entry 70000 is out of range (knowledge_num 65536)".
int mm_memory_tracker_load_window(mm_memory_tracker *t, const uint8_t *buf, size_t len, const char *what);

typedef struct mm_memory_stats {
    double used_fraction;  // entries with usage > 0 / NUM
    double entropy;        // -sum p log p of p = usage / sum(usage) (nats)
    double kl_uniform;     // KL(p || uniform) = log(NUM) - entropy
    long rewritten;        // entries rewritten since the last reset
    long updates;          // EMA updates since the last reset
} mm_memory_stats;

// Statistics of the window since the last reset; reset = 1 starts a new window.
void mm_memory_stats_take(mm_memory_tracker *t, mm_memory_stats *st, int reset);

// One EMA update over the EMA window accumulated in t (committing the `step` sums first; the window
// is cleared afterwards): for each used entry
// e with e >= frozen_below, with hbar = hsum/wsum and E the tied embedding (V, C), each position p
// of the entry moves to x_p = decay * E[bank[e][p]] + (1 - decay) * hbar and is re-tokenized as
// argmax_v (x_p * norm_w) . E[v] (the output head as the model applies it: final RMSNorm weight,
// tied embedding; the norm's 1/rms factor does not change the argmax). Padding positions take part
// too, so a padded entry can grow text; a position whose argmax is <unk> stays padding. Returns the
// number of entries whose tokens changed (-1 on error); every id written is < V. wte and norm_w are
// backend memory (copied to the host on a device backend), the bank host memory (a model's device
// copy is refreshed with mm_model_sync_bank afterwards).
long mm_memory_ema_update(const mm_backend *be, mm_memory_tracker *t, uint16_t *bank, int LK, const float *wte, const float *norm_w, int V,
                          int C, float decay, int frozen_below);
// Clears the EMA window and the `step` sums without updating.
void mm_memory_tracker_clear_ema(mm_memory_tracker *t);
// "frozen" / "ema" (mm_memory_update is declared in minimind/config.h).
const char *mm_memory_update_name(mm_memory_update u);

// ---------------------------------------------------------------------------------------------
// Cluster cache (cluster_cache_path, `minimind memory cluster`), engine/src/memory_cluster.c.
// Little-endian: magic "MMKCLUST", u32 version (1), u32 knowledge_num, u32 S, u32 reserved (0),
// then knowledge_num u32: perm[p] = the bank row placed at entry p, i.e. at cell (p / S, p % S) of
// the S x S key grid. perm is a permutation of 0..knowledge_num-1.
#define MM_KCLUSTER_MAGIC "MMKCLUST"
#define MM_KCLUSTER_VERSION 1u

// Assigns the NUM = S*S bank rows to the grid so that rows of the grid hold entries with similar
// embeddings: v_e = mean tied embedding of entry e (0 for an empty entry); entries sorted by their
// projection on the first principal direction of the v_e are cut into S grid rows of S; each grid
// row is sorted by the projection on the second principal direction (columns). Deterministic.
int mm_memory_cluster_compute(const uint16_t *bank, int num, int LK, const float *wte, int C, uint32_t *perm);
int mm_memory_cluster_write(const char *path, const uint32_t *perm, int num);
// Reads and validates (magic, version, knowledge_num == num, a permutation). *perm is malloc'd.
int mm_memory_cluster_read(const char *path, int num, uint32_t **perm);

#endif
