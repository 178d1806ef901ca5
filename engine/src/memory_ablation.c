// Evaluating a memory model with another bank (`minimind eval --bank SPEC`, see
// minimind/memory_ablation.h): the ablations "empty", "empty@L" (one layer's) and "shuffle", or a
// bank file placed as the model's training placed its own. Dimension names: NUM entries, LK tokens
// per entry.
#include "minimind/memory_ablation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/json_text.h"
#include "minimind/knowledge.h"
#include "minimind/memory.h"
#include "minimind/splitmix.h"

#define MM_SHUFFLE_PREFIX "shuffle"

// "shuffle" or "shuffle:SEED" -> 1 with *seed set (default 0); 0 for another spec; -1 (error set)
// for a malformed seed.
static int mm_parse_shuffle(const char *spec, uint64_t *seed) {
    const size_t n = strlen(MM_SHUFFLE_PREFIX);
    if (strncmp(spec, MM_SHUFFLE_PREFIX, n) != 0 || (spec[n] != '\0' && spec[n] != ':')) return 0;
    *seed = 0;
    if (spec[n] == '\0') return 1;
    const char *s = spec + n + 1;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || *s == '-' || *s == '+')
        return mm_errorf("--bank %s: the seed must be an unsigned integer (shuffle:SEED)", spec);
    *seed = v;
    return 1;
}

// The spec as a JSON string: a bank file's name need not be UTF-8 (minimind/json_text.h).
static json_t *mm_spec_json(const char *spec) { return mm_json_text(spec, strlen(spec)); }

// "empty@L[,L...]" -> 1 with muted[l] = 1 for each layer listed (0-based, < L); 0 for another spec;
// -1 (error set) for a malformed list or a layer out of range.
static int mm_parse_mute(const char *spec, int L, unsigned char *muted) {
    const size_t n = strlen(MM_BANK_EMPTY_LAYERS);
    if (strncmp(spec, MM_BANK_EMPTY_LAYERS, n) != 0) return 0;
    const char *s = spec + n;
    do {
        char *end;
        long l = strtol(s, &end, 10);
        if (*s < '0' || *s > '9' || (*end && *end != ','))
            return mm_errorf("--bank %s: expected empty@LAYER[,LAYER...] with 0-based layer numbers", spec);
        if (l >= L)
            return mm_errorf("--bank %s: layer %ld does not exist (n_layers %d: 0..%d)", spec, l, L, L - 1);
        muted[l] = 1;
        s = *end ? end + 1 : end;
    } while (*s);
    if (s[-1] == ',')
        return mm_errorf("--bank %s: expected empty@LAYER[,LAYER...] with 0-based layer numbers", spec);
    return 1;
}

// bank (NUM, LK): the entries' rows permuted (Fisher-Yates; the keys stay, so each key reads
// another entry's text).
static void mm_shuffle_rows(uint16_t *bank, int num, int LK, uint64_t seed) {
    uint16_t *tmp = bank + (size_t)num * LK;  // one spare row past the bank (see the caller)
    uint64_t s = seed;
    for (int i = num - 1; i > 0; i--) {
        const int j = (int)(mm_splitmix64(&s) % (uint64_t)(i + 1));
        uint16_t *a = bank + (size_t)i * LK, *b = bank + (size_t)j * LK;
        memcpy(tmp, a, sizeof(uint16_t) * (size_t)LK);
        memcpy(a, b, sizeof(uint16_t) * (size_t)LK);
        memcpy(b, tmp, sizeof(uint16_t) * (size_t)LK);
    }
}

// out (NUM, LK) = the bank file's rows, placed by the cluster cache the model was trained with
// (perm[p] = the file row at entry p), or in file order without one.
static int mm_read_bank_file(const mm_model *m, const mm_run_config *cfg, const char *path, uint16_t *out) {
    const int num = m->ms.num, LK = m->ms.LK;
    mm_kbank kb;
    if (mm_kbank_open(&kb, path) != 0) return -1;
    int rc = 0;
    uint32_t *perm = NULL;
    const char *cache = cfg->knowledge.cluster_cache_path;
    if ((int)kb.num != num || (int)kb.length != LK)
        rc = mm_errorf("--bank %s: the bank holds %u entries of %u tokens, the model %d of %d", path, kb.num,
                       kb.length, num, LK);
    else if (cache[0] && mm_memory_cluster_read(cache, num, &perm) != 0)
        rc = mm_error_prefix(
            "--bank %s: the model was trained with [knowledge] cluster_cache_path %s, which places "
            "the bank's rows; it is needed to place this bank's",
            path, cache);
    for (int p = 0; rc == 0 && p < num; p++)
        memcpy(out + (size_t)p * LK, mm_kbank_row(&kb, perm ? perm[p] : (uint32_t)p),
               sizeof(uint16_t) * (size_t)LK);
    free(perm);
    mm_kbank_close(&kb);
    return rc;
}

static long mm_filled_entries(const uint16_t *bank, int num, int LK) {
    long n = 0;
    for (int e = 0; e < num; e++)
        for (int t = 0; t < LK; t++)
            if (bank[(size_t)e * LK + t] != MM_MEMORY_PAD) {
                n++;
                break;
            }
    return n;
}

// "empty@L[,L...]": the layers listed read an empty bank from now on (the others keep theirs);
// *desc {"spec", "kind": "empty_layers", "layers": [...]}. 1 when spec is such a list, 0 when it
// is not, -1 (error set, m unchanged) when it is malformed.
static int mm_mute_layers(mm_model *m, const char *spec, json_t **desc) {
    unsigned char *muted = mm_calloc((size_t)m->L, 1);
    if (!muted) return -1;
    int rc = mm_parse_mute(spec, m->L, muted);
    json_t *layers = rc > 0 ? json_array() : NULL;
    for (int l = 0; layers && l < m->L; l++)
        if (muted[l] && json_array_append_new(layers, json_integer(l)) != 0) break;
    if (rc > 0) {
        *desc = json_pack("{s:o, s:s, s:o}", "spec", mm_spec_json(spec), "kind", "empty_layers", "layers",
                          layers);
        if (!*desc) rc = mm_errorf("--bank %s: out of memory", spec);
    }
    for (int l = 0; rc > 0 && l < m->L; l++) m->mem_muted[l] |= muted[l];
    free(muted);
    return rc;
}

int mm_model_replace_bank(mm_model *m, const mm_run_config *cfg, const char *spec, json_t **desc) {
    *desc = NULL;
    if (!m->mem)
        return mm_errorf("--bank %s: model_type %s has no memory bank", spec,
                         mm_model_type_name(m->config.model_type));
    const int mute = mm_mute_layers(m, spec, desc);
    if (mute != 0) return mute < 0 ? -1 : 0;
    const int num = m->ms.num, LK = m->ms.LK;
    uint16_t *bank = mm_malloc(sizeof(uint16_t) * ((size_t)num + 1) * LK);  // + the shuffle's spare row
    if (!bank) return -1;
    uint64_t seed = 0;
    const int shuffle = mm_parse_shuffle(spec, &seed);
    int rc = shuffle < 0 ? -1 : 0;
    const char *kind = "file";
    if (rc == 0 && !strcmp(spec, "empty")) {
        kind = "empty";
        for (size_t i = 0; i < (size_t)num * LK; i++) bank[i] = MM_MEMORY_PAD;
    } else if (rc == 0 && shuffle) {
        kind = "shuffle";
        memcpy(bank, m->bank, sizeof(uint16_t) * (size_t)num * LK);
        mm_shuffle_rows(bank, num, LK, seed);
    } else if (rc == 0) {
        rc = mm_read_bank_file(m, cfg, spec, bank);
    }
    if (rc == 0) rc = mm_model_set_bank(m, bank, spec);
    if (rc == 0) {
        *desc = json_pack("{s:o, s:s, s:i, s:I}", "spec", mm_spec_json(spec), "kind", kind, "entries", num,
                          "filled_entries", (json_int_t)mm_filled_entries(bank, num, LK));
        if (*desc && shuffle) json_object_set_new(*desc, "seed", json_integer((json_int_t)seed));
        if (!*desc) rc = mm_errorf("--bank %s: out of memory", spec);
    }
    free(bank);
    return rc;
}
