// The model of a run configuration, with the memory bank from database_init_path and the key
// grid from cluster_cache_path (see mm_model_init_run in minimind/model.h). Dimension names: C
// model dim, D knowledge_dim, S keys per half, NUM entries, LK tokens per entry.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/error.h"
#include "minimind/knowledge.h"
#include "minimind/model.h"

static int mm_load_bank(mm_model *m, const char *path) {
    mm_kbank kb;
    if (mm_kbank_open(&kb, path) != 0) return -1;
    int rc = 0;
    if ((int)kb.num != m->ms.num || (int)kb.length != m->ms.LK)
        rc = mm_errorf("%s: the bank holds %u entries of %u tokens; [knowledge] knowledge_num = %d and "
                       "knowledge_length = %d must match (rebuild it with `minimind prep knowledge "
                       "--knowledge-num %d --knowledge-length %d`)",
                       path, kb.num, kb.length, m->ms.num, m->ms.LK, m->ms.num, m->ms.LK);
    else
        rc = mm_model_set_bank(m, kb.ids, path);
    mm_kbank_close(&kb);
    return rc;
}

int mm_model_init_run(mm_model *m, const mm_run_config *c, const mm_backend *be, uint64_t seed, int init_memory) {
    if (mm_model_init_memory(m, &c->model, c->knowledge.num_candidates, c->knowledge.memory_select, be, seed) != 0)
        return -1;
    if (!m->mem || !init_memory) return 0;
    const mm_knowledge_config *k = &c->knowledge;
    if (k->database_init_path[0] && mm_load_bank(m, k->database_init_path) != 0) goto fail;
    if (k->cluster_cache_path[0]) {
        if (access(k->cluster_cache_path, R_OK) != 0) {
            mm_errorf_errno("[knowledge] cluster_cache_path %s: cannot read (create it with `minimind memory "
                            "cluster`, or leave the key unset for random keys)",
                            k->cluster_cache_path);
            goto fail;
        }
        uint32_t *perm;
        if (mm_memory_cluster_read(k->cluster_cache_path, m->ms.num, &perm) != 0) goto fail;
        int rc = mm_model_apply_cluster(m, perm);
        free(perm);
        if (rc != 0) goto fail;
    }
    return 0;
fail:
    mm_model_free(m);
    return -1;
}

// v (C) = mean tied embedding (wte, host memory) of a bank row's non-padding tokens; returns the
// token count.
static int mm_entry_value(const mm_model *m, const float *wte, const uint16_t *row, float *v) {
    const int C = m->C;
    int cnt = 0;
    memset(v, 0, sizeof(float) * (size_t)C);
    for (int t = 0; t < m->ms.LK; t++) {
        if (row[t] == MM_MEMORY_PAD) continue;
        const float *e = wte + (size_t)row[t] * C;
        for (int i = 0; i < C; i++) v[i] += e[i];
        cnt++;
    }
    if (cnt)
        for (int i = 0; i < C; i++) v[i] /= (float)cnt;
    return cnt;
}

int mm_model_apply_cluster(mm_model *m, const uint32_t *perm) {
    int rc = -1;
    const int S = m->ms.S, NUM = m->ms.num, LK = m->ms.LK, C = m->C, D = m->ms.D, Dh = D / 2;
    uint16_t *nb = mm_malloc(sizeof(uint16_t) * (size_t)NUM * LK);
    double *rows = mm_calloc((size_t)2 * S * C, sizeof(double));  // (2, S, C): grid row / column sums
    float *v = mm_malloc(sizeof(float) * (size_t)C), *c = mm_malloc(sizeof(float) * (size_t)C);
    int *n = mm_calloc((size_t)2 * S, sizeof(int));
    // The parameters on the host (m->params itself on the CPU; a copy, uploaded at the end, otherwise).
    float *hp = nb && rows && v && c && n ? mm_model_params_to_host(m) : NULL;
    if (!hp) goto done;
    const float *wte = hp + (m->tok_embeddings - m->params);
    for (int p = 0; p < NUM; p++)
        memcpy(nb + (size_t)p * LK, m->bank + (size_t)perm[p] * LK, sizeof(uint16_t) * (size_t)LK);
    memcpy(m->bank, nb, sizeof(uint16_t) * (size_t)NUM * LK);
    for (int p = 0; p < NUM; p++) {
        if (!mm_entry_value(m, wte, m->bank + (size_t)p * LK, v)) continue;  // empty entries carry no direction
        int i = p / S, j = p % S;
        for (int k = 0; k < C; k++) rows[(size_t)i * C + k] += v[k], rows[((size_t)S + j) * C + k] += v[k];
        n[i]++, n[S + j]++;
    }
    for (int half = 0; half < 2; half++)
        for (int i = 0; i < S; i++) {
            // centroid, RMS-normalised as the layer's input z is
            double ss = 0;
            for (int k = 0; k < C; k++) {
                c[k] = n[half * S + i] ? (float)(rows[((size_t)half * S + i) * C + k] / n[half * S + i]) : 0.0f;
                ss += (double)c[k] * c[k];
            }
            float r = ss > 0 ? (float)(1.0 / sqrt(ss / C + m->config.norm_eps)) : 0.0f;
            for (int k = 0; k < C; k++) c[k] *= r;
            if (r == 0.0f) continue;  // no entry with text: keep the random key
            for (int l = 0; l < m->L; l++) {
                const float *wq = hp + (m->layers[l].mem_query - m->params);                          // (D, C)
                float *key = hp + (m->layers[l].mem_keys - m->params) + ((size_t)half * S + i) * Dh;  // (Dh)
                for (int d = 0; d < Dh; d++) {
                    const float *w = wq + (size_t)(half * Dh + d) * C;
                    double s = 0;
                    for (int k = 0; k < C; k++) s += (double)w[k] * c[k];
                    key[d] = (float)s;
                }
            }
        }
    rc = mm_model_params_from_host(m) == 0 && mm_model_sync_bank(m) == 0 ? 0 : -1;
done:
    free(nb), free(rows), free(v), free(c), free(n);
    return rc == 0 ? 0 : mm_error_prefix("memory: applying the cluster cache");
}
