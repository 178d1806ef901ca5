// `minimind memory`: instruments for the KnowledgeDataset memory (minimind/memory.h).
//   inspect  which entries each layer reads for each token of a prompt, decoded, with weights
//   dump     entries A-B of a checkpoint's bank as JSON Lines {"entry", "ids", "text"}
//   diff     the entries that differ between two checkpoints' banks, before and after
//   cluster  write a cluster cache (cluster_cache_path) for a run configuration
//   retrieval  for fact prompts, whether each layer reads the entry stating the fact
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/checkpoint.h"
#include "minimind/error.h"
#include "minimind/evaluate.h"
#include "minimind/inference.h"
#include "minimind/memory.h"
#include "minimind/memory_retrieval.h"
#include "minimind/model.h"
#include "minimind/progress.h"
#include "minimind/safetensors.h"
#include "minimind/tokenizer.h"
#include "options.h"

static const char mm_memory_usage[] =
    "usage: minimind memory inspect --model_path CKPT --prompt TEXT [--layer L] [--top K] [--tokenizer "
    "PATH]\n"
    "       minimind memory dump --model_path CKPT [--entries A-B] [--tokenizer PATH]\n"
    "       minimind memory diff --from CKPT1 --to CKPT2 [--max N] [--tokenizer PATH]\n"
    "       minimind memory cluster --config RUN.ini --out FILE [--model_path CKPT]\n"
    "       minimind memory retrieval --model_path CKPT --facts FILE.jsonl [--facts_max N] [--bank BANK]\n"
    "                                 [--json OUT] [--tokenizer PATH]\n"
    "       minimind memory bench [--knowledge_num 1048576] [--rows 2048] [--dim 512] [--knowledge_dim 128]\n"
    "                             [--knowledge_length 32] [--num_candidates 16] [--reps 5]\n"
    "\n"
    "inspect  for each token of <s> + PROMPT and each layer (or only --layer L), the --top K entries\n"
    "         read (default 4), best weight first: entry index, weight, entry text.\n"
    "dump     entries A..B (inclusive, default 0-9) of the checkpoint's memory bank as JSON Lines\n"
    "         {\"entry\", \"ids\", \"text\"} (padding ids 0 left out of ids and text).\n"
    "diff     entries whose ids differ between two checkpoints (same bank shape): '-' before, '+'\n"
    "         after, at most --max entries printed (default 50), then the count.\n"
    "cluster  assigns the bank rows of [knowledge] database_init_path to the sqrt(N) x sqrt(N) key\n"
    "         grid by their mean embeddings (the initial embeddings of [train] seed, or those of\n"
    "         --model_path) and writes FILE for [knowledge] cluster_cache_path.\n"
    "retrieval  does each layer's lookup find the entry that states a fact? For each {\"prompt\",\n"
    "         \"fact_id\"} line (the demo's fact files), the fact's entry is the row of BANK (default: the\n"
    "         model's database_init_path) whose BANK.mapping.jsonl line has \"index\" = fact_id; per\n"
    "         layer: facts whose answer position (the prompt's last token) reads an entry holding\n"
    "         that text, facts read anywhere in the prompt, and the mean weight at the answer.\n"
    "bench    times one memory layer (forward + backward, softmax) on random data: ms per call and\n"
    "         microseconds per token, the product-key part separately.\n"
    "The tokenizer defaults to the [data] tokenizer_path recorded in the checkpoint.\n";

// ---- helpers ----

// The text of a bank row (padding left out) as a JSON string (mm_decode_json: bytes that are not
// valid UTF-8 become U+FFFD, so such an entry prints as what it holds, never as an empty or a broken
// JSON line); ids_out (optional) gets the non-pad ids.
static json_t *mm_entry_json(const mm_tokenizer *tok, const uint16_t *row, int LK, json_t *ids_out) {
    int32_t ids[4096];
    int n = 0;
    for (int t = 0; t < LK && n < 4096; t++)
        if (row[t] != MM_MEMORY_PAD) {
            ids[n++] = row[t];
            if (ids_out) json_array_append_new(ids_out, json_integer(row[t]));
        }
    return mm_decode_json(tok, ids, (size_t)n);
}

// The JSON literal of a string value (taking it), malloc'd; NULL when j is NULL.
static char *mm_quote_take(json_t *j) {
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return q;
}

// A checkpoint's bank (U16 (num, LK)), its configuration and (optionally) its tokenizer.
typedef struct mm_ckpt_bank {
    mm_safetensors st;
    mm_run_config cfg;
    const uint16_t *ids;
    int num, LK;
} mm_ckpt_bank;

static int mm_ckpt_bank_open(mm_ckpt_bank *b, const char *path) {
    memset(b, 0, sizeof *b);
    if (mm_checkpoint_read_config(path, &b->cfg) != 0) return -1;
    if (b->cfg.model.model_type == MM_MODEL_ORIGINAL)
        return mm_errorf("%s: model_type model_original has no memory bank", path);
    if (mm_st_read(&b->st, path) != 0) return -1;
    const mm_st_tensor *t = mm_st_find(&b->st, MM_MEMORY_BANK_NAME);
    if (!t || t->dtype != MM_U16 || t->ndim != 2) {
        mm_st_free(&b->st);
        return mm_errorf("%s: no U16 (knowledge_num, knowledge_length) tensor '%s'", path, MM_MEMORY_BANK_NAME);
    }
    b->ids = t->data;
    b->num = (int)t->shape[0];
    b->LK = (int)t->shape[1];
    return 0;
}

static int mm_open_tokenizer(const char *given, const mm_run_config *cfg, const char *ckpt, mm_tokenizer **tok) {
    const char *tp = given && *given ? given : cfg->data.tokenizer_path;
    if (!*tp) return mm_errorf("%s: no tokenizer recorded in the checkpoint; pass --tokenizer", ckpt);
    return mm_tokenizer_load(tp, tok);
}

// "A-B" or "A" -> [a, b].
static int mm_parse_range(const char *s, int num, int *a, int *b) {
    char *end;
    long x = strtol(s, &end, 10), y = x;
    if (end == s || x < 0) return -1;
    if (*end == '-') {
        const char *s2 = end + 1;
        y = strtol(s2, &end, 10);
        if (end == s2) return -1;
    }
    if (*end != '\0' || y < x) return -1;
    if (x >= num) return -1;
    *a = (int)x;
    *b = (int)(y < num ? y : num - 1);
    return 0;
}

// ---- inspect ----

typedef struct {
    float w;
    int32_t e;
} mm_read;

static int mm_read_cmp(const void *a, const void *b) {
    const mm_read *x = a, *y = b;
    if (x->w != y->w) return x->w < y->w ? 1 : -1;
    return x->e < y->e ? -1 : x->e > y->e;
}

static int mm_memory_inspect(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *tokenizer = NULL;
    int layer = -1, top = 4;
    mm_opt opts[] = {mm_opt_required(mm_opt_str("--model_path CKPT", &model_path)),
                     mm_opt_required(mm_opt_str("--prompt TEXT", &prompt)), mm_opt_int("--layer", &layer, -1, 1 << 20),
                     mm_opt_int("--top", &top, 1, 1 << 20), mm_opt_str("--tokenizer PATH", &tokenizer)};
    int rc = mm_cli_parse("memory inspect", mm_memory_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_inference inf;
    if (mm_inference_open(&inf, model_path, tokenizer, NULL, 0) != 0) return mm_cli_fail();
    mm_model *m = &inf.model;
    mm_ids ids = {0};
    rc = 1;
    if (!m->mem) {
        mm_errorf("%s: model_type model_original has no memory layer", model_path);
        goto done;
    }
    if (layer >= m->L || (opts[2].seen && layer < 0)) {
        mm_errorf("memory inspect: --layer %d: the model has layers 0..%d", layer, m->L - 1);
        goto done;
    }
    if (mm_ids_push(&ids, MM_TOKEN_BOS) || mm_tokenizer_encode(inf.tok, prompt, strlen(prompt), &ids)) goto done;
    if (ids.len > (size_t)m->config.max_seq_len) ids.len = (size_t)m->config.max_seq_len;
    const int T = (int)ids.len, K = m->ms.K;
    if (mm_model_forward(m, ids.data, NULL, NULL, 1, T, NULL, NULL) != 0) goto done;
    if (top > K) top = K;
    printf("%s: %s, %d entries x %d tokens, %d candidates per read (%s)\n", model_path,
           mm_model_type_name(m->config.model_type), m->ms.num, m->ms.LK, K, mm_memory_select_name(m->ms.select));
    mm_read reads[MM_MEMORY_MAX_CANDIDATES];
    for (int t = 0; t < T; t++) {
        char *q = mm_quote_take(mm_decode_json(inf.tok, ids.data + t, 1));
        printf("token %d %s\n", t, q ? q : "?");
        free(q);
        for (int l = layer < 0 ? 0 : layer; l <= (layer < 0 ? m->L - 1 : layer); l++) {
            const size_t off = ((size_t)l * T + t) * K;
            for (int k = 0; k < K; k++) reads[k].w = m->a.mw[off + k], reads[k].e = m->a.midx[off + k];
            qsort(reads, (size_t)K, sizeof *reads, mm_read_cmp);
            for (int k = 0; k < top; k++) {
                char *qt = mm_quote_take(
                    mm_entry_json(inf.tok, m->bank + (size_t)reads[k].e * m->ms.LK, m->ms.LK, NULL));
                printf("  layer %d  entry %-8d w %.4f  %s\n", l, reads[k].e, reads[k].w, qt ? qt : "?");
                free(qt);
            }
        }
    }
    rc = 0;
done:
    if (rc) mm_cli_fail();
    mm_ids_free(&ids);
    mm_inference_close(&inf);
    return rc;
}

// ---- retrieval ----

static int mm_memory_retrieval_cmd(int argc, char **argv) {
    mm_retrieval_args a = {0};
    mm_opt opts[] = {mm_opt_required(mm_opt_str("--model_path CKPT", &a.model_path)),
                     mm_opt_required(mm_opt_str("--facts FILE", &a.facts_path)),
                     mm_opt_int("--facts_max", &a.facts_max, 0, 1 << 30),
                     mm_opt_str("--bank BANK", &a.bank_path),
                     mm_opt_str("--json OUT", &a.json_out),
                     mm_opt_str("--tokenizer PATH", &a.tokenizer_path)};
    int rc = mm_cli_parse("memory retrieval", mm_memory_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    return mm_memory_retrieval(&a) == 0 ? 0 : mm_cli_fail();
}

// ---- dump ----

static int mm_memory_dump(int argc, char **argv) {
    const char *model_path = NULL, *entries = "0-9", *tokenizer = NULL;
    mm_opt opts[] = {mm_opt_required(mm_opt_str("--model_path CKPT", &model_path)), mm_opt_str("--entries A-B", &entries),
                     mm_opt_str("--tokenizer PATH", &tokenizer)};
    int rc = mm_cli_parse("memory dump", mm_memory_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_ckpt_bank b;
    if (mm_ckpt_bank_open(&b, model_path) != 0) return mm_cli_fail();
    mm_tokenizer *tok = NULL;
    int a, z;
    rc = 1;
    if (mm_parse_range(entries, b.num, &a, &z) != 0) {
        mm_st_free(&b.st);
        return mm_cli_usage_error("memory dump: --entries '%s': expected A-B with 0 <= A <= B, A < %d", entries, b.num);
    }
    if (mm_open_tokenizer(tokenizer, &b.cfg, model_path, &tok) != 0) goto done;
    for (int e = a; e <= z; e++) {
        json_t *ids = json_array();
        json_t *text = mm_entry_json(tok, b.ids + (size_t)e * b.LK, b.LK, ids);
        if (!text) {
            json_decref(ids);
            goto done;
        }
        json_t *o = json_pack("{s:i,s:o,s:o}", "entry", e, "ids", ids, "text", text);
        char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!line) {
            mm_errorf("memory dump: entry %d: out of memory building its JSON line", e);
            goto done;
        }
        printf("%s\n", line);
        free(line);
    }
    rc = 0;
done:
    if (rc) mm_cli_fail();
    if (tok) mm_tokenizer_free(tok);
    mm_st_free(&b.st);
    return rc;
}

// ---- diff ----

static int mm_memory_diff(int argc, char **argv) {
    const char *from = NULL, *to = NULL, *tokenizer = NULL;
    int max = 50;
    mm_opt opts[] = {mm_opt_required(mm_opt_str("--from CKPT", &from)), mm_opt_required(mm_opt_str("--to CKPT", &to)),
                     mm_opt_int("--max", &max, 0, 1 << 30), mm_opt_str("--tokenizer PATH", &tokenizer)};
    int rc = mm_cli_parse("memory diff", mm_memory_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_ckpt_bank b1, b2;
    if (mm_ckpt_bank_open(&b1, from) != 0) return mm_cli_fail();
    if (mm_ckpt_bank_open(&b2, to) != 0) {
        mm_st_free(&b1.st);
        return mm_cli_fail();
    }
    mm_tokenizer *tok = NULL;
    rc = 1;
    if (b1.num != b2.num || b1.LK != b2.LK) {
        mm_errorf("%s has %d x %d entries, %s has %d x %d: not the same bank", from, b1.num, b1.LK, to, b2.num, b2.LK);
        goto done;
    }
    if (mm_open_tokenizer(tokenizer, &b2.cfg, to, &tok) != 0) goto done;
    long changed = 0;
    for (int e = 0; e < b1.num; e++) {
        const uint16_t *r1 = b1.ids + (size_t)e * b1.LK, *r2 = b2.ids + (size_t)e * b2.LK;
        if (!memcmp(r1, r2, sizeof(uint16_t) * (size_t)b1.LK)) continue;
        if (changed++ >= max) continue;
        char *q1 = mm_quote_take(mm_entry_json(tok, r1, b1.LK, NULL));
        char *q2 = mm_quote_take(mm_entry_json(tok, r2, b2.LK, NULL));
        printf("entry %d\n  - %s\n  + %s\n", e, q1 ? q1 : "?", q2 ? q2 : "?");
        free(q1), free(q2);
    }
    printf("memory diff: %ld of %d entries rewritten\n", changed, b1.num);
    rc = 0;
done:
    if (rc) mm_cli_fail();
    if (tok) mm_tokenizer_free(tok);
    mm_st_free(&b1.st);
    mm_st_free(&b2.st);
    return rc;
}

// ---- cluster ----

static int mm_memory_cluster(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *model_path = NULL;
    mm_opt opts[] = {mm_opt_required(mm_opt_str("--config FILE.ini", &config)), mm_opt_required(mm_opt_str("--out FILE", &out)),
                     mm_opt_str("--model_path CKPT", &model_path)};
    int rc = mm_cli_parse("memory cluster", mm_memory_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_run_config cfg;
    mm_config_default(&cfg);
    if (mm_config_load(&cfg, config, MM_CONFIG_CHECK_PATHS) != 0 || mm_config_finalize(&cfg, 0) != 0)
        return mm_cli_fail();
    if (cfg.model.model_type == MM_MODEL_ORIGINAL)
        return mm_cli_usage_error("memory cluster: %s: model_type model_original has no memory", config);
    if (!cfg.knowledge.database_init_path[0])
        return mm_cli_usage_error("memory cluster: %s: [knowledge] database_init_path is not set (nothing to cluster)",
                                  config);
    cfg.knowledge.cluster_cache_path[0] = '\0';  // the file being made
    mm_model m;
    if (mm_model_init_run(&m, &cfg, NULL, (uint64_t)cfg.train.seed, 1) != 0) return mm_cli_fail();
    uint32_t *perm = mm_malloc(sizeof(uint32_t) * (size_t)m.ms.num);
    rc = 1;
    if (!perm) goto done;
    if (model_path) {  // the trained embeddings of a checkpoint with the same vocabulary and dim
        const mm_param *e = mm_model_find_param(&m, "tok_embeddings.weight");
        mm_named_tensor nt = {e->name, 2, {e->shape[0], e->shape[1]}, e->data};
        mm_safetensors st;
        if (mm_st_read(&st, model_path) != 0) goto done;
        const mm_st_tensor *t = mm_st_find(&st, nt.name);
        if (!t || t->dtype != MM_F32 || t->nbytes != e->numel * sizeof(float)) {
            mm_errorf("%s: no F32 '%s' of shape [%lld, %lld]", model_path, nt.name, (long long)e->shape[0],
                      (long long)e->shape[1]);
            mm_st_free(&st);
            goto done;
        }
        memcpy(e->data, t->data, t->nbytes);
        mm_st_free(&st);
    }
    if (mm_memory_cluster_compute(m.bank, m.ms.num, m.ms.LK, m.tok_embeddings, m.C, perm) != 0) goto done;
    if (mm_memory_cluster_write(out, perm, m.ms.num) != 0) goto done;
    printf("memory cluster: %d entries of %s on a %d x %d key grid (embeddings: %s) -> %s\n", m.ms.num,
           cfg.knowledge.database_init_path, m.ms.S, m.ms.S, model_path ? model_path : "initial, [train] seed", out);
    rc = 0;
done:
    if (rc) mm_cli_fail();
    free(perm);
    mm_model_free(&m);
    return rc;
}

// ---- bench ----

static int mm_memory_bench(int argc, char **argv) {
    int num = 1 << 20, rows = 2048, C = 512, D = 128, LK = 32, K = 16, reps = 5, V = 6400;
    mm_opt opts[] = {mm_opt_int("--knowledge_num", &num, 1, 1 << 30),   mm_opt_int("--rows", &rows, 1, 1 << 30),
                     mm_opt_int("--dim", &C, 1, 1 << 20),                mm_opt_int("--knowledge_dim", &D, 1, 1 << 20),
                     mm_opt_int("--knowledge_length", &LK, 1, 1 << 20),  mm_opt_int("--num_candidates", &K, 1, 1 << 20),
                     mm_opt_int("--reps", &reps, 1, 1 << 20)};
    int rc = mm_cli_parse("memory bench", mm_memory_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_model_config cfg;
    mm_model_config_default(&cfg);
    cfg.dim = C, cfg.knowledge_num = num, cfg.knowledge_dim = D, cfg.knowledge_length = LK, cfg.vocab_size = V;
    mm_memory_shape ms;
    if (mm_memory_shape_init(&ms, &cfg, K, MM_MEMORY_SELECT_SOFTMAX) != 0) return mm_cli_fail();
    const size_t N = (size_t)rows, S = (size_t)ms.S;
    size_t nf = N * C * 4 + (size_t)D * C * 2 + S * D * 2 + (size_t)V * C * 2 + N * (D + 4 * (size_t)K) +
                mm_memory_scratch_floats(&ms, rows);
    float *buf = mm_malloc(nf * sizeof(float));
    uint16_t *bank = mm_malloc(sizeof(uint16_t) * (size_t)num * LK);
    if (!buf || !bank) {
        free(buf), free(bank);
        return mm_cli_fail();
    }
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < nf; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        buf[i] = (float)((double)(r >> 11) / 9007199254740992.0 - 0.5) * 0.2f;
    }
    for (size_t i = 0; i < (size_t)num * LK; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        bank[i] = (uint16_t)(1 + r % (uint64_t)(V - 1));
    }
    float *p = buf, *z = p, *m = z + N * C, *dm = m + N * C, *dz = dm + N * C;
    p = dz + N * C;
    mm_memory_weights w = {p, p + (size_t)D * C}, dw = {p + (size_t)D * C + S * D, p + 2 * (size_t)D * C + S * D};
    p += 2 * ((size_t)D * C + S * D);
    float *wte = p, *dwte = p + (size_t)V * C;
    p += 2 * (size_t)V * C;
    mm_memory_acts a = {p, (int32_t *)(p + N * D), p + N * (D + K), p + N * (D + 2 * (size_t)K),
                        p + N * (D + 3 * (size_t)K)};
    float *scratch = p + N * (D + 4 * (size_t)K);
    const mm_backend *be = mm_backend_cpu();
    double t_total = 0, t_topk = 0;
    for (int rep = 0; rep <= reps; rep++) {  // rep 0 warms up
        double t0 = mm_now_s();
        mm_memory_forward(be, &ms, &w, bank, wte, z, NULL, rows, &a, m, scratch);
        mm_memory_backward(be, &ms, &w, &dw, bank, wte, dwte, z, &a, dm, rows, dz, scratch);
        double t1 = mm_now_s();
        be->memory_topk(a.idx, a.score, a.q, w.keys, rows, D, ms.S, K, scratch);
        double t2 = mm_now_s();
        if (rep > 0) t_total += t1 - t0, t_topk += t2 - t1;
    }
    t_total /= reps, t_topk /= reps;
    printf("{\"knowledge_num\": %d, \"keys_per_half\": %d, \"rows\": %d, \"dim\": %d, \"knowledge_dim\": %d, "
           "\"knowledge_length\": %d, \"num_candidates\": %d, \"ms_per_call\": %.4f, \"us_per_token\": %.4f, "
           "\"topk_us_per_token\": %.4f, \"bruteforce_mac_per_token\": %.0f, \"productkey_mac_per_token\": %.0f}\n",
           num, ms.S, rows, C, D, LK, K, t_total * 1e3, t_total / rows * 1e6, t_topk / rows * 1e6, (double)num * D,
           (double)ms.S * D);
    free(buf), free(bank);
    return 0;
}

int mm_cmd_memory(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(mm_memory_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "inspect")) return mm_memory_inspect(argc - 1, argv + 1);
    if (!strcmp(argv[1], "retrieval")) return mm_memory_retrieval_cmd(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dump")) return mm_memory_dump(argc - 1, argv + 1);
    if (!strcmp(argv[1], "diff")) return mm_memory_diff(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cluster")) return mm_memory_cluster(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return mm_memory_bench(argc - 1, argv + 1);
    return mm_cli_usage_error(
        "memory: unknown subcommand '%s' (inspect, dump, diff, cluster, retrieval, bench)", argv[1]);
}
