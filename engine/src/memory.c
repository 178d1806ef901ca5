// The KnowledgeDataset memory layer: forward and backward of one layer through the backend ops
// (see minimind/memory.h). Dimension names: N rows, C model dim, D knowledge_dim, S keys per half,
// K candidates.
#include "minimind/memory.h"

#include <math.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/splitmix.h"

int mm_memory_shape_init(mm_memory_shape *s, const mm_model_config *cfg, int num_candidates,
                         mm_memory_select select) {
    memset(s, 0, sizeof *s);
    long num = cfg->knowledge_num;
    long r = (long)floor(sqrt((double)num) + 0.5);
    if (num <= 0 || r * r != num) {
        long lo = (long)floor(sqrt(num > 0 ? (double)num : 1.0));
        return mm_errorf("[knowledge] knowledge_num = %ld is not a perfect square (product keys need "
                         "sqrt(knowledge_num) keys per half; e.g. %ld or %ld)",
                         num, lo * lo, (lo + 1) * (lo + 1));
    }
    if (cfg->knowledge_dim <= 0 || cfg->knowledge_dim % 2 != 0)
        return mm_errorf("[knowledge] knowledge_dim = %d must be a positive even number (two halves)",
                         cfg->knowledge_dim);
    if (cfg->knowledge_length <= 0)
        return mm_errorf("[knowledge] knowledge_length = %d must be positive", cfg->knowledge_length);
    int kmax = num < MM_MEMORY_MAX_CANDIDATES ? (int)num : MM_MEMORY_MAX_CANDIDATES;
    if (num_candidates < 1 || num_candidates > kmax)
        return mm_errorf("[knowledge] num_candidates = %d must be in [1, %d] (at most knowledge_num and %d)",
                         num_candidates, kmax, MM_MEMORY_MAX_CANDIDATES);
    s->C = cfg->dim;
    s->D = cfg->knowledge_dim;
    s->S = (int)r;
    s->num = (int)num;
    s->LK = cfg->knowledge_length;
    s->K = num_candidates;
    s->V = cfg->vocab_size;
    s->select = select;
    return 0;
}

size_t mm_memory_scratch_floats(const mm_memory_shape *s, int N) {
    size_t rows = N < MM_MEMORY_TOPK_ROWS ? (size_t)N : MM_MEMORY_TOPK_ROWS;
    size_t fwd = 2 * rows * (size_t)s->S;
    size_t bwd = (size_t)N * (2 * (size_t)s->K + (size_t)s->D);  // dw, dscore (N, K); dq (N, D)
    return fwd > bwd ? fwd : bwd;
}

void mm_memory_forward(const mm_backend *be, const mm_memory_shape *s, const mm_memory_weights *w,
                       const uint16_t *bank, const float *wte, const float *z, const float *noise, int N,
                       mm_memory_acts *a, float *m, float *scratch) {
    be->matmul_forward(a->q, z, w->wq, N, s->C, s->D, 0);                           // (N, D)
    be->memory_topk(a->idx, a->score, a->q, w->keys, N, s->D, s->S, s->K, scratch);  // (N, K)
    be->memory_weights_forward(a->w, a->ysoft, a->score, noise, N, s->K, s->select == MM_MEMORY_SELECT_GUMBEL);
    be->memory_read_forward(m, a->idx, a->w, bank, s->LK, wte, N, s->K, s->C, s->V);  // (N, C)
}

void mm_memory_backward(const mm_backend *be, const mm_memory_shape *s, const mm_memory_weights *w,
                        const mm_memory_weights *dw, const uint16_t *bank, const float *wte, float *dwte,
                        const float *z, const mm_memory_acts *a, const float *dm, int N, float *dz, float *scratch) {
    const size_t NK = (size_t)N * s->K;
    float *dwt = scratch, *dscore = scratch + NK, *dq = scratch + 2 * NK;  // (N, K), (N, K), (N, D)
    be->memory_read_backward(dwt, dwte, dm, a->idx, a->w, bank, s->LK, wte, N, s->K, s->C, s->V);
    be->memory_weights_backward(dscore, dwt, a->ysoft, N, s->K);
    be->zero(dq, sizeof(float) * (size_t)N * s->D);
    be->memory_topk_backward(dq, dw->keys, dscore, a->idx, a->q, w->keys, N, s->D, s->S, s->K);
    // q = z W_q^T: dz += dq W_q, dW_q += dq^T z
    be->matmul_backward(dz, dw->wq, dq, z, w->wq, N, s->C, s->D, 1);
}

void mm_memory_gumbel_noise(float *noise, size_t n, uint64_t seed, uint64_t counter) {
    uint64_t base = mm_mix64(seed * 0x9E3779B97F4A7C15ull + mm_mix64(counter + 0x632BE59BD9B4E019ull));
    for (size_t i = 0; i < n; i++) {
        uint64_t r = mm_mix64(base + (uint64_t)i * 0x9E3779B97F4A7C15ull);
        double u = ((double)(r >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // (0, 1)
        noise[i] = (float)-log(-log(u));
    }
}
