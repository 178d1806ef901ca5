// The cluster cache of the memory layer: which bank row sits at which cell of the S x S product-key
// grid (see minimind/memory.h). Dimension names: NUM entries, S = sqrt(NUM), LK tokens per entry,
// C model dim.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/memory.h"

// Power iteration for the leading eigenvector of the covariance of X (n, C) (rows centred by mean),
// orthogonal to `ortho` (C) when given. Deterministic start.
static void mm_principal_dir(const float *X, int n, int C, const double *mean, const double *ortho, double *dir) {
    double *tmp = calloc((size_t)C, sizeof(double));
    if (!tmp) return;
    for (int k = 0; k < C; k++) dir[k] = 1.0 / sqrt((double)C) * ((k % 3) - 1 + 0.5);
    for (int it = 0; it < 50; it++) {
        memset(tmp, 0, sizeof(double) * (size_t)C);
        for (int e = 0; e < n; e++) {
            const float *x = X + (size_t)e * C;
            double p = 0;
            for (int k = 0; k < C; k++) p += (x[k] - mean[k]) * dir[k];
            for (int k = 0; k < C; k++) tmp[k] += p * (x[k] - mean[k]);
        }
        if (ortho) {
            double p = 0;
            for (int k = 0; k < C; k++) p += tmp[k] * ortho[k];
            for (int k = 0; k < C; k++) tmp[k] -= p * ortho[k];
        }
        double nn = 0;
        for (int k = 0; k < C; k++) nn += tmp[k] * tmp[k];
        if (!(nn > 0)) break;  // degenerate (all entries alike): keep the start direction
        nn = sqrt(nn);
        for (int k = 0; k < C; k++) dir[k] = tmp[k] / nn;
    }
    free(tmp);
}

typedef struct {
    double key;
    uint32_t e;
} mm_keyed;

static int mm_keyed_cmp(const void *a, const void *b) {
    const mm_keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->e < y->e ? -1 : x->e > y->e;
}

int mm_memory_cluster_compute(const uint16_t *bank, int num, int LK, const float *wte, int C, uint32_t *perm) {
    const int S = (int)floor(sqrt((double)num) + 0.5);
    if (S * S != num) return mm_errorf("memory cluster: knowledge_num %d is not a perfect square", num);
    float *X = mm_calloc((size_t)num * C, sizeof(float));  // (NUM, C) entry values
    double *mean = mm_calloc((size_t)3 * C, sizeof(double)), *d1 = mean + C, *d2 = mean + 2 * C;
    mm_keyed *kv = mm_malloc(sizeof(mm_keyed) * (size_t)num);
    int rc = -1;
    if (!X || !mean || !kv) goto done;
    for (int e = 0; e < num; e++) {
        float *x = X + (size_t)e * C;
        int cnt = 0;
        for (int t = 0; t < LK; t++) {
            uint16_t id = bank[(size_t)e * LK + t];
            if (id == MM_MEMORY_PAD) continue;
            for (int k = 0; k < C; k++) x[k] += wte[(size_t)id * C + k];
            cnt++;
        }
        for (int k = 0; k < C && cnt; k++) x[k] /= (float)cnt;
        for (int k = 0; k < C; k++) mean[k] += x[k] / num;
    }
    mm_principal_dir(X, num, C, mean, NULL, d1);
    mm_principal_dir(X, num, C, mean, d1, d2);
    for (int pass = 0; pass < 2; pass++) {
        const double *dir = pass ? d2 : d1;
        // pass 0: all entries by PC1 -> grid rows; pass 1: each grid row by PC2 -> columns
        for (int r = 0; r < (pass ? S : 1); r++) {
            int n0 = pass ? r * S : 0, n = pass ? S : num;
            for (int i = 0; i < n; i++) {
                uint32_t e = pass ? perm[n0 + i] : (uint32_t)i;
                const float *x = X + (size_t)e * C;
                double p = 0;
                for (int k = 0; k < C; k++) p += (x[k] - mean[k]) * dir[k];
                kv[i].key = p, kv[i].e = e;
            }
            qsort(kv, (size_t)n, sizeof *kv, mm_keyed_cmp);
            for (int i = 0; i < n; i++) perm[n0 + i] = kv[i].e;
        }
    }
    rc = 0;
done:
    free(X), free(mean), free(kv);
    return rc == 0 ? 0 : mm_error_prefix("memory cluster: %d entries", num);
}

static void mm_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t mm_get_u32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int mm_memory_cluster_write(const char *path, const uint32_t *perm, int num) {
    size_t len = 24 + 4 * (size_t)num;
    unsigned char *b = mm_malloc(len);
    if (!b) return -1;
    memcpy(b, MM_KCLUSTER_MAGIC, 8);
    mm_put_u32(b + 8, MM_KCLUSTER_VERSION);
    mm_put_u32(b + 12, (uint32_t)num);
    mm_put_u32(b + 16, (uint32_t)floor(sqrt((double)num) + 0.5));
    mm_put_u32(b + 20, 0);
    for (int i = 0; i < num; i++) mm_put_u32(b + 24 + 4 * (size_t)i, perm[i]);
    int rc = mm_write_file_atomic(path, b, len);
    free(b);
    return rc;
}

int mm_memory_cluster_read(const char *path, int num, uint32_t **perm_out) {
    size_t len;
    unsigned char *b = (unsigned char *)mm_read_file(path, &len);
    if (!b) return -1;
    uint32_t *perm = NULL;
    unsigned char *seen = NULL;
    int rc = -1;
    if (len < 24 || memcmp(b, MM_KCLUSTER_MAGIC, 8) != 0) {
        mm_errorf("%s: not a cluster cache (magic 'MMKCLUST' missing; write one with `minimind memory cluster`)", path);
        goto done;
    }
    uint32_t version = mm_get_u32le(b + 8), n = mm_get_u32le(b + 12);
    if (version != MM_KCLUSTER_VERSION) {
        mm_errorf("%s: cluster cache version %u, this build reads version %u", path, version, MM_KCLUSTER_VERSION);
        goto done;
    }
    if (n != (uint32_t)num) {
        mm_errorf("%s: the cluster cache is for knowledge_num = %u, the model has %d (recompute it)", path, n, num);
        goto done;
    }
    if (len != 24 + 4 * (size_t)n) {
        mm_errorf("%s: %zu bytes, expected %zu for %u entries (truncated or corrupt)", path, len, 24 + 4 * (size_t)n, n);
        goto done;
    }
    perm = mm_malloc(sizeof(uint32_t) * (size_t)n);
    seen = mm_calloc((size_t)n, 1);
    if (!perm || !seen) goto done;
    for (uint32_t i = 0; i < n; i++) {
        perm[i] = mm_get_u32le(b + 24 + 4 * (size_t)i);
        if (perm[i] >= n || seen[perm[i]]) {
            mm_errorf("%s: entry %u: bank row %u is %s (not a permutation)", path, i, perm[i],
                      perm[i] >= n ? "out of range" : "assigned twice");
            goto done;
        }
        seen[perm[i]] = 1;
    }
    *perm_out = perm;
    perm = NULL;
    rc = 0;
done:
    free(b), free(perm), free(seen);
    return rc;
}
