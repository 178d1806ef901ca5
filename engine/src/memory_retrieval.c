// `minimind memory retrieval` (minimind/memory_retrieval.h): for fact prompts, does each layer's
// product-key lookup read the entry that states the fact? Dimension names: L layers, T prompt
// tokens, K candidates per read, NUM entries, LK tokens per entry.
#include "minimind/memory_retrieval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/inference.h"
#include "minimind/json_text.h"
#include "minimind/jsonl.h"
#include "minimind/knowledge.h"
#include "minimind/memory.h"
#include "minimind/progress.h"

// ---- the facts and their bank rows ----

typedef struct mm_rfact {
    char *prompt;
    size_t plen;
    long fact_id;
    long row;             // bank file row stating it (-1: the mapping has none)
    const uint16_t *ids;  // (LK) that row's ids (in the mapped bank file)
    int in_bank;          // some entry of the model's bank holds those ids
} mm_rfact;

typedef struct mm_rfacts {
    mm_rfact *v;
    int n, cap;
} mm_rfacts;

static void mm_rfacts_free(mm_rfacts *f) {
    for (int i = 0; i < f->n; i++) free(f->v[i].prompt);
    free(f->v);
    memset(f, 0, sizeof *f);
}

// One item: "prompt" (string) and "fact_id" (integer); -1 with "PATH:LINE: ..." otherwise.
static int mm_rfact_parse(const mm_jsonl_reader *r, json_t *obj, mm_rfact *f) {
    memset(f, 0, sizeof *f);
    const char *p;
    if (mm_jsonl_string_field(r, obj, "prompt", &p, &f->plen) != 0) return -1;
    json_t *id = json_object_get(obj, "fact_id");
    if (!json_is_integer(id))
        return mm_errorf(
            "%s:%ld: missing integer field 'fact_id' (the bank row stating the fact: the "
            "demo's fact files carry it)",
            r->path, r->line_no);
    f->fact_id = (long)json_integer_value(id);
    f->prompt = mm_malloc(f->plen + 1);
    if (!f->prompt) return -1;
    memcpy(f->prompt, p, f->plen);
    f->prompt[f->plen] = '\0';
    f->row = -1;
    return 0;
}

static int mm_rfacts_read(const char *path, int max, mm_rfacts *out) {
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, path) != 0) return -1;
    int rc = 0;
    while (rc == 0 && (max <= 0 || out->n < max)) {
        json_t *obj;
        int got = mm_jsonl_next(&r, &obj);
        if (got == 0) break;
        if (got < 0) {
            rc = -1;
            break;
        }
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 64;
            mm_rfact *v = realloc(out->v, sizeof *v * (size_t)cap);
            if (!v)
                rc = mm_errorf("%s: out of memory", path);
            else
                out->v = v, out->cap = cap;
        }
        if (rc == 0 && mm_rfact_parse(&r, obj, &out->v[out->n]) == 0)
            out->n++;
        else
            rc = -1;
        json_decref(obj);
    }
    mm_jsonl_close(&r);
    if (rc == 0 && out->n == 0) rc = mm_errorf("%s: no facts", path);
    return rc;
}

typedef struct mm_index_row {
    long index, row;
} mm_index_row;

static int mm_index_row_cmp(const void *a, const void *b) {
    const mm_index_row *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

// Sets each fact's row from the bank's mapping file (line r = bank row r; its "index" is the
// source item, the fact_id of the demo's facts).
static int mm_rfacts_rows(mm_rfacts *f, const char *mapping_path, const mm_kbank *kb) {
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, mapping_path) != 0)
        return mm_error_prefix("the bank's mapping file (written by `minimind prep knowledge` beside it)");
    mm_index_row *m = mm_malloc(sizeof *m * ((size_t)kb->num + 1));
    long n = 0;
    int rc = m ? 0 : -1;
    json_t *obj;
    int got;
    while (rc == 0 && n < (long)kb->num && (got = mm_jsonl_next(&r, &obj)) != 0) {
        json_t *ix = got > 0 ? json_object_get(obj, "index") : NULL;
        if (got < 0 || !json_is_integer(ix))
            rc = got < 0 ? -1 : mm_errorf("%s:%ld: missing integer field 'index'", mapping_path, r.line_no);
        else
            m[n] = (mm_index_row){(long)json_integer_value(ix), n}, n++;
        if (got > 0) json_decref(obj);
    }
    mm_jsonl_close(&r);
    if (rc == 0) qsort(m, (size_t)n, sizeof *m, mm_index_row_cmp);
    for (int i = 0; rc == 0 && i < f->n; i++) {
        mm_index_row key = {f->v[i].fact_id, 0},
                     *hit = bsearch(&key, m, (size_t)n, sizeof *m, mm_index_row_cmp);
        if (hit) f->v[i].row = hit->row, f->v[i].ids = mm_kbank_row(kb, (uint32_t)hit->row);
    }
    free(m);
    return rc;
}

// ---- which facts' texts the model's bank holds (one pass over NUM entries) ----

static uint64_t mm_row_hash(const uint16_t *ids, int LK) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the ids' bytes
    for (int t = 0; t < LK; t++) {
        h = (h ^ (ids[t] & 0xffu)) * 1099511628211ull;
        h = (h ^ (ids[t] >> 8)) * 1099511628211ull;
    }
    return h;
}

static int mm_rfacts_in_bank(mm_rfacts *f, const uint16_t *bank, int num, int LK) {
    size_t cap = 16;
    while (cap < 2 * (size_t)f->n) cap <<= 1;
    int *slot = mm_malloc(sizeof *slot * cap);
    if (!slot) return -1;
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (int i = 0; i < f->n; i++) {  // facts by their row's hash (equal rows chain in the probe)
        if (!f->v[i].ids) continue;
        size_t h = (size_t)mm_row_hash(f->v[i].ids, LK) & (cap - 1);
        while (slot[h] >= 0) h = (h + 1) & (cap - 1);
        slot[h] = i;
    }
    for (int e = 0; e < num; e++) {
        const uint16_t *row = bank + (size_t)e * LK;
        for (size_t h = (size_t)mm_row_hash(row, LK) & (cap - 1); slot[h] >= 0; h = (h + 1) & (cap - 1))
            if (!memcmp(f->v[slot[h]].ids, row, sizeof(uint16_t) * (size_t)LK)) f->v[slot[h]].in_bank = 1;
    }
    free(slot);
    return 0;
}

// ---- the probe ----

typedef struct mm_rlayer {
    int found_at_answer, found_in_prompt;
    double weight_at_answer;        // summed over the facts in the bank
    double empty_weight_at_answer;  // on empty entries, summed likewise
} mm_rlayer;

// What reads of K uniformly random entries of NUM would find, summed over the facts in the bank
// (one entry per fact): K/NUM at the answer position, 1 - (1 - K/NUM)^T anywhere in the prompt.
typedef struct mm_rchance {
    double at_answer, in_prompt;
} mm_rchance;

// What one fact's prompt reads, per layer: whether the answer position reads an entry holding the
// fact's text (at[l]) and with what summed weight (w[l]); whether any position does (any[l]); the
// answer position's weight on empty (all-padding) entries, which read nothing (empty[l]).
typedef struct mm_rreads {
    double *w, *empty;
    int *at, *any;
    int T;  // positions read (<s> + prompt, cut at max_seq_len)
} mm_rreads;

// The forward's reads, idx and w (n each, (L, T, K) at batch 1), where the host can read them: the
// activations themselves on a host-resident backend, copies (free both) on a device.
static int mm_reads_on_host(const mm_model *m, size_t n, const int32_t **idx, const float **w) {
    *idx = m->a.midx, *w = m->a.mw;
    if (m->be->host_resident) return 0;
    int32_t *hi = mm_malloc(sizeof *hi * n);
    float *hw = mm_malloc(sizeof *hw * n);
    if (!hi || !hw) {
        free(hi), free(hw);
        return -1;
    }
    m->be->copy_d2h(hi, m->a.midx, sizeof *hi * n);
    m->be->copy_d2h(hw, m->a.mw, sizeof *hw * n);
    if (m->be->check && m->be->check() != 0) {
        free(hi), free(hw);
        return mm_error_prefix("retrieval: reading the reads from %s", m->be->name);
    }
    *idx = hi, *w = hw;
    return 0;
}

static int mm_entry_empty(const uint16_t *entry, int LK) {
    for (int t = 0; t < LK; t++)
        if (entry[t] != MM_MEMORY_PAD) return 0;
    return 1;
}

static int mm_rfact_probe(mm_inference *inf, const mm_rfact *f, mm_rreads *r) {
    mm_model *m = &inf->model;
    mm_ids ids = {0};
    int rc = -1;
    if (mm_ids_push(&ids, MM_TOKEN_BOS) || mm_tokenizer_encode(inf->tok, f->prompt, f->plen, &ids)) goto done;
    if (ids.len > (size_t)m->config.max_seq_len) ids.len = (size_t)m->config.max_seq_len;
    const int T = (int)ids.len, K = m->ms.K, LK = m->ms.LK;
    r->T = T;
    if (mm_model_forward(m, ids.data, NULL, NULL, 1, T, NULL, NULL) != 0) goto done;
    const int32_t *idx;
    const float *w;
    if (mm_reads_on_host(m, (size_t)m->L * T * K, &idx, &w) != 0) goto done;
    for (int l = 0; l < m->L; l++) {
        r->w[l] = r->empty[l] = 0.0, r->at[l] = r->any[l] = 0;
        if (m->mem_muted[l]) {  // `--bank empty@l`: its reads return nothing, as empty entries do
            r->empty[l] = 1.0;
            continue;
        }
        for (int t = 0; t < T; t++)
            for (int k = 0; k < K; k++) {
                const size_t i = ((size_t)l * T + t) * K + k;  // (L, T, K) reads, batch 1
                const uint16_t *entry = m->bank + (size_t)idx[i] * LK;
                if (t == T - 1 && mm_entry_empty(entry, LK)) r->empty[l] += w[i];
                if (memcmp(entry, f->ids, sizeof(uint16_t) * (size_t)LK)) continue;
                r->any[l] = 1;
                if (t == T - 1) r->at[l] = 1, r->w[l] += w[i];
            }
    }
    if (idx != m->a.midx) free((void *)idx), free((void *)w);
    rc = 0;
done:
    mm_ids_free(&ids);
    return rc;
}

static json_t *mm_rfact_json(const mm_rfact *f, const mm_rreads *r, int L) {
    json_t *layers = json_array();
    for (int l = 0; layers && l < L && f->in_bank; l++)
        json_array_append_new(layers, json_pack("{s:i, s:b, s:f, s:b, s:f}", "layer", l, "found_at_answer",
                                                r->at[l], "weight_at_answer", r->w[l], "found_in_prompt",
                                                r->any[l], "empty_weight_at_answer", r->empty[l]));
    return json_pack("{s:I, s:o, s:I, s:b, s:o}", "fact_id", (json_int_t)f->fact_id, "prompt",
                     mm_json_text(f->prompt, f->plen), "bank_row", (json_int_t)f->row, "in_bank", f->in_bank,
                     "layers", layers ? layers : json_null());
}

// Every fact in the bank through the model; per-layer totals and the items (JSON).
static int mm_retrieval_run(mm_inference *inf, const mm_rfacts *f, mm_rlayer *per, mm_rchance *chance,
                            json_t *items) {
    const int L = inf->model.L;
    const double p = (double)inf->model.ms.K / inf->model.ms.num;
    mm_rreads r = {mm_calloc((size_t)L, sizeof(double)), mm_calloc((size_t)L, sizeof(double)),
                   mm_calloc((size_t)L, sizeof(int)), mm_calloc((size_t)L, sizeof(int)), 0};
    int rc = r.w && r.empty && r.at && r.any ? 0 : -1;
    mm_progress bar;
    mm_progress_begin(&bar, "retrieval", f->n, "facts", 1.0);
    for (int i = 0; rc == 0 && i < f->n; i++) {
        const mm_rfact *x = &f->v[i];
        if (x->in_bank && mm_rfact_probe(inf, x, &r) != 0) rc = -1;
        if (rc == 0 && x->in_bank) chance->at_answer += p, chance->in_prompt += 1.0 - pow(1.0 - p, r.T);
        for (int l = 0; rc == 0 && x->in_bank && l < L; l++) {
            per[l].found_at_answer += r.at[l];
            per[l].found_in_prompt += r.any[l];
            per[l].weight_at_answer += r.w[l];
            per[l].empty_weight_at_answer += r.empty[l];
        }
        if (rc == 0 && json_array_append_new(items, mm_rfact_json(x, &r, L)) != 0)
            rc = mm_errorf("retrieval: out of memory");
        mm_progress_update(&bar, i + 1, NULL);
    }
    mm_progress_end(&bar, f->n, NULL);
    free(r.w), free(r.empty), free(r.at), free(r.any);
    return rc;
}

// ---- the command ----

// The summary {"facts", "in_bank", "num", "candidates", "chance", "layers"} (+ "items").
static json_t *mm_retrieval_summary(const mm_inference *inf, const mm_rfacts *f, const mm_rlayer *per,
                                    const mm_rchance *chance, json_t *items) {
    const mm_model *m = &inf->model;
    int in_bank = 0;
    for (int i = 0; i < f->n; i++) in_bank += f->v[i].in_bank;
    const double d = in_bank ? in_bank : 1;
    json_t *layers = json_array();
    for (int l = 0; layers && l < m->L; l++)
        json_array_append_new(layers, json_pack("{s:i, s:i, s:i, s:f, s:f, s:b}", "layer", l,
                                                "found_at_answer", per[l].found_at_answer, "found_in_prompt",
                                                per[l].found_in_prompt, "mean_weight_at_answer",
                                                per[l].weight_at_answer / d, "mean_empty_weight_at_answer",
                                                per[l].empty_weight_at_answer / d, "muted", m->mem_muted[l]));
    long empty = 0;
    for (int e = 0; e < m->ms.num; e++) empty += mm_entry_empty(m->bank + (size_t)e * m->ms.LK, m->ms.LK);
    json_t *root = json_pack("{s:i, s:i, s:i, s:I, s:i, s:{s:f, s:f}, s:o}", "facts", f->n, "in_bank",
                             in_bank, "num", m->ms.num, "empty_entries", (json_int_t)empty, "candidates",
                             m->ms.K, "chance", "found_at_answer", chance->at_answer, "found_in_prompt",
                             chance->in_prompt, "layers", layers);
    if (root && items) json_object_set(root, "items", items);
    if (!root) mm_errorf("retrieval: out of memory");
    return root;
}

void mm_retrieval_print(const json_t *r) {
    const long n = (long)json_integer_value(json_object_get(r, "in_bank"));
    const long long empty = (long long)json_integer_value(json_object_get(r, "empty_entries"));
    const long long num = (long long)json_integer_value(json_object_get(r, "num"));
    const json_t *chance = json_object_get(r, "chance"), *layers = json_object_get(r, "layers");
    printf(
        "memory retrieval: %lld facts, %ld of them stated by an entry of the model's bank; %lld candidates "
        "of "
        "%lld entries per read: uniform reads would find %.1f at the answer position and %.1f anywhere in "
        "the "
        "prompt\n",
        (long long)json_integer_value(json_object_get(r, "facts")), n,
        (long long)json_integer_value(json_object_get(r, "candidates")),
        (long long)json_integer_value(json_object_get(r, "num")),
        json_real_value(json_object_get(chance, "found_at_answer")),
        json_real_value(json_object_get(chance, "found_in_prompt")));
    const double d = n ? (double)n : 1.0;
    for (size_t l = 0; l < json_array_size(layers); l++) {
        const json_t *x = json_array_get(layers, l);
        const long at = (long)json_integer_value(json_object_get(x, "found_at_answer"));
        const long any = (long)json_integer_value(json_object_get(x, "found_in_prompt"));
        if (json_is_true(json_object_get(x, "muted"))) {
            printf("  layer %zu: muted (reads an empty bank: --bank empty@%zu)\n", l, l);
            continue;
        }
        printf(
            "  layer %zu: found at the answer position %ld/%ld (%.1f %%), anywhere in the prompt %ld/%ld "
            "(%.1f %%), mean weight at the answer %.4f (on empty entries %.4f)\n",
            l, at, n, 100.0 * at / d, any, n, 100.0 * any / d,
            json_real_value(json_object_get(x, "mean_weight_at_answer")),
            json_real_value(json_object_get(x, "mean_empty_weight_at_answer")));
    }
    printf("  (empty entries, which read nothing, are %lld of the %lld: %.1f %%)\n", empty, num,
           100.0 * (double)empty / (double)(num ? num : 1));
}

// The bank file the facts' rows come from: bank_path, else the one the model was trained from.
static int mm_retrieval_bank(const mm_inference *inf, const char *bank_path, mm_kbank *kb, char **mapping) {
    const char *path = bank_path && *bank_path ? bank_path : inf->cfg.knowledge.database_init_path;
    if (!*path)
        return mm_errorf(
            "retrieval: the checkpoint records no [knowledge] database_init_path: pass the bank");
    if (mm_kbank_open(kb, path) != 0) return -1;
    if ((int)kb->length != inf->model.ms.LK) {
        mm_kbank_close(kb);
        return mm_errorf("%s: entries of %u tokens, the model's of %d", path, kb->length, inf->model.ms.LK);
    }
    *mapping = mm_kbank_mapping_path(path);
    if (!*mapping) mm_kbank_close(kb);
    return *mapping ? 0 : -1;
}

int mm_retrieval_check(const mm_inference *inf, const char *bank_path) {
    if (!inf->model.mem) return mm_errorf("retrieval: model_type model_original has no memory layer");
    mm_kbank kb;
    char *mapping = NULL;
    if (mm_retrieval_bank(inf, bank_path, &kb, &mapping) != 0) return -1;
    FILE *fp = fopen(mapping, "rb");
    int rc = fp ? 0
                : mm_errorf_errno(
                      "%s: cannot open the bank's mapping file (written by `minimind prep knowledge` "
                      "beside it)",
                      mapping);
    if (fp) fclose(fp);
    mm_kbank_close(&kb);
    free(mapping);
    return rc;
}

int mm_retrieval_measure(mm_inference *inf, const char *facts_path, const char *bank_path, int facts_max,
                         int with_items, json_t **out) {
    *out = NULL;
    if (!inf->model.mem) return mm_errorf("retrieval: model_type model_original has no memory layer");
    mm_rfacts f = {0};
    mm_kbank kb;
    char *mapping = NULL;
    if (mm_retrieval_bank(inf, bank_path, &kb, &mapping) != 0) return -1;
    mm_rlayer *per = mm_calloc((size_t)inf->model.L, sizeof *per);
    json_t *items = json_array();
    mm_rchance chance = {0, 0};
    int rc = -1;
    if (!items) mm_errorf("retrieval: out of memory");
    if (per && items && mm_rfacts_read(facts_path, facts_max, &f) == 0 &&
        mm_rfacts_rows(&f, mapping, &kb) == 0 &&
        mm_rfacts_in_bank(&f, inf->model.bank, inf->model.ms.num, inf->model.ms.LK) == 0 &&
        mm_retrieval_run(inf, &f, per, &chance, items) == 0) {
        *out = mm_retrieval_summary(inf, &f, per, &chance, with_items ? items : NULL);
        rc = *out ? 0 : -1;
    }
    mm_kbank_close(&kb);
    json_decref(items);
    free(per), free(mapping);
    mm_rfacts_free(&f);
    return rc;
}

int mm_memory_retrieval(const mm_retrieval_args *a) {
    mm_inference inf;
    if (mm_inference_open(&inf, a->model_path, a->tokenizer_path, NULL, 0) != 0) return -1;
    json_t *r;
    int rc = mm_retrieval_measure(&inf, a->facts_path, a->bank_path, a->facts_max, 1, &r);
    if (rc != 0) mm_error_prefix("%s", a->model_path);
    if (rc == 0) mm_retrieval_print(r);
    if (rc == 0 && a->json_out) {
        json_object_set_new(r, "model_path", mm_json_text(a->model_path, strlen(a->model_path)));
        char *text = json_dumps(r, JSON_INDENT(2));
        rc = text ? mm_write_file_atomic(a->json_out, text, strlen(text))
                  : mm_errorf("retrieval: out of memory");
        if (rc == 0) printf("memory retrieval: wrote %s\n", a->json_out);
        free(text);
    }
    json_decref(r);
    mm_inference_close(&inf);
    return rc;
}
