// The memory variants through the `minimind` command, on a tiny demo corpus (demo-data ->
// tokenizer -> token file + bank): training of all three model types and their evaluation with
// --facts; the metrics' memory fields; EMA keeps frozen entries and ids < V and `memory diff` counts
// what changed (checked against the two checkpoints' banks read here); `eval --facts` against
// `minimind generate` as the oracle; `memory inspect` / `dump` against the bank's mapping file;
// `memory cluster` and cluster_cache_path; `eval --bank` (the model's own bank file gives the same
// numbers, with and without a cluster cache; empty and shuffled banks; one layer's bank empty and
// the per-layer sweep; errors).
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/evaluate.h"
#include "minimind/inference.h"
#include "minimind/knowledge.h"
#include "minimind/memory.h"
#include "minimind/memory_ablation.h"
#include "minimind/safetensors.h"
#include "minimind/stats.h"
#include "test_util.h"

enum { NUM = 64, LK = 48, VOCAB = 300 };

static void run_ok(const char *const *argv, mm_proc_result *r) {
    cr_assert_eq(mm_test_run(argv, NULL, r), 0, "cannot start %s", argv[0]);
    cr_assert_eq(r->status, 0, "%s %s failed (%d):\n%s\n%s", argv[1], argv[2] ? argv[2] : "", r->status, r->out, r->err);
}

static void run_quiet(const char *const *argv) {
    mm_proc_result r;
    run_ok(argv, &r);
    mm_proc_result_free(&r);
}

// demo corpus, tokenizer, token file, bank under dir.
static void build_fixture(const char *dir) {
    char *data = mm_test_path(dir, "data"), *tok = mm_test_path(dir, "tok"), *ptok = mm_test_path(dir, "p.tok");
    char *bank = mm_test_path(dir, "k.bank");
    char *pre = mm_test_path(data, "pretrain.jsonl"), *trex = mm_test_path(data, "sentence_trex_data.json");
    const char *a1[] = {MM_MINIMIND_EXE, "demo-data", "--out", data, "--seed", "3", "--facts", "100", NULL};
    run_quiet(a1);
    const char *a2[] = {MM_MINIMIND_EXE, "tokenizer", "train", "--data", pre, "--out", tok, "--vocab-size", "300", NULL};
    run_quiet(a2);
    const char *a3[] = {MM_MINIMIND_EXE, "prep", "pretrain", "--tokenizer", tok, "--data", pre, "--out", ptok,
                        "--max-seq-len", "32", NULL};
    run_quiet(a3);
    const char *a4[] = {MM_MINIMIND_EXE, "prep", "knowledge", "--tokenizer", tok, "--data", trex, "--out", bank,
                        "--knowledge-num", "64", "--knowledge-length", "48", NULL};
    run_quiet(a4);
    free(data), free(tok), free(ptok), free(bank), free(pre), free(trex);
}

// Writes DIR/NAME.ini for a model type with extra [knowledge] lines; returns its path.
static char *write_ini(const char *dir, const char *name, const char *type, const char *knowledge, int steps) {
    char text[4096], file[128];
    snprintf(text, sizeof text,
             "[model]\nmodel_type = %s\ndim = 32\nn_layers = 2\nn_heads = 2\nn_kv_heads = 1\nvocab_size = 300\n"
             "max_seq_len = 32\n\n[data]\ndata_path = %s/p.tok\ntokenizer_path = %s/tok\n\n"
             "[knowledge]\nknowledge_num = 64\nknowledge_length = 48\nknowledge_dim = 8\nnum_candidates = 4\n"
             "database_init_path = %s/k.bank\n%s\n"
             "[train]\nbatch_size = 4\naccumulation_steps = 1\nlearning_rate = 1e-2\nlog_interval = 2\n"
             "save_interval = 1000\nmax_steps = %d\nthreads = 1\n",
             type, dir, dir, dir, knowledge, steps);
    snprintf(file, sizeof file, "%s.ini", name);
    char *path = mm_test_path(dir, file);
    mm_test_write_file(path, text, strlen(text));
    return path;
}

static char *train(const char *dir, const char *name, const char *type, const char *knowledge, int steps) {
    char *ini = write_ini(dir, name, type, knowledge, steps), *out = mm_test_path(dir, name);
    const char *argv[] = {MM_MINIMIND_EXE, "train", "--config", ini, "--out", out, NULL};
    run_quiet(argv);
    char *ckpt = mm_test_path(out, "pretrain_32.safetensors");
    cr_assert_eq(access(ckpt, R_OK), 0, "no checkpoint %s", ckpt);
    free(ini), free(out);
    return ckpt;
}

static json_t *load_json(const char *path) {
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    cr_assert_not_null(j, "%s: %s", path, e.text);
    return j;
}

// The U16 bank of a checkpoint (malloc'd NUM*LK ids).
static uint16_t *ckpt_bank(const char *ckpt) {
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, ckpt), 0, "%s", mm_error_message());
    const mm_st_tensor *t = mm_st_find(&st, "memory_bank");
    cr_assert(t && t->dtype == MM_U16 && t->ndim == 2 && t->shape[0] == NUM && t->shape[1] == LK,
              "%s: memory_bank missing or misshapen", ckpt);
    uint16_t *ids = malloc(t->nbytes);
    memcpy(ids, t->data, t->nbytes);
    mm_st_free(&st);
    return ids;
}

Test(memory_cli, every_model_type_trains_and_evaluates_facts, .timeout = 300) {
    char *dir = mm_test_tmpdir("memcli");
    build_fixture(dir);
    const char *types[3] = {"model_original", "model", "model_no_feed"};
    const char *know[3] = {"", "", "memory_select = gumbel\n"};
    char *facts = mm_test_path(dir, "data/eval_facts.jsonl");
    for (int i = 0; i < 3; i++) {
        char *ckpt = train(dir, types[i], types[i], know[i], 4);
        char *json = mm_test_path(dir, "eval.json");
        const char *argv[] = {MM_MINIMIND_EXE, "eval", "--model_path", ckpt, "--facts", facts, "--facts_max", "6",
                              "--facts_new_tokens", "6", "--json", json, "--quiet", NULL};
        mm_proc_result r;
        run_ok(argv, &r);
        cr_assert(strstr(r.out, "facts: "), "%s", r.out);
        mm_proc_result_free(&r);
        json_t *ev = load_json(json);
        cr_assert_str_eq(json_string_value(json_object_get(ev, "model_type")), types[i]);
        if (i == 0) {  // text samples whose prompt/reference split falls inside Chinese characters
            char *evd = mm_test_path(dir, "data/eval.jsonl");
            const char *a2[] = {MM_MINIMIND_EXE, "eval", "--model_path", ckpt, "--data", evd, "--num_samples", "12",
                                "--prompt_tokens", "7", "--max_new_tokens", "5", "--json", json, "--quiet", NULL};
            run_quiet(a2);
            json_t *e2 = load_json(json);
            cr_assert_eq(json_array_size(json_object_get(e2, "samples")), 12);
            json_decref(e2);
            free(evd);
        }
        json_t *f = json_object_get(ev, "facts");
        cr_assert_eq(json_integer_value(json_object_get(f, "total")), 6);
        // the inference device paths ("cpu-staged": the CPU kernels behind host_resident = 0) give
        // the same completions
        char *json_s = mm_test_path(dir, "eval_staged.json");
        const char *as[] = {MM_MINIMIND_EXE, "eval", "--model_path", ckpt, "--facts", facts, "--facts_max", "6",
                            "--facts_new_tokens", "6", "--json", json_s, "--quiet", "--device", "cpu-staged", NULL};
        run_quiet(as);
        json_t *evs = load_json(json_s);
        cr_assert(json_equal(json_object_get(json_object_get(evs, "facts"), "items"), json_object_get(f, "items")),
                  "%s: cpu-staged completions differ from the CPU's", types[i]);
        json_decref(evs);
        free(json_s);
        cr_assert_eq(json_array_size(json_object_get(f, "items")), 6);
        json_t *en = json_object_get(json_object_get(f, "by_lang"), "en");
        cr_assert(en && json_integer_value(json_object_get(en, "total")) == 3, "by_lang en");
        json_decref(ev);
        free(ckpt), free(json);
    }
    // the memory types log the memory fields; the baseline does not
    char *m1 = mm_test_path(dir, "model/metrics.jsonl"), *m0 = mm_test_path(dir, "model_original/metrics.jsonl");
    size_t len;
    char *t1 = mm_read_file(m1, &len), *t0 = mm_read_file(m0, &len);
    cr_assert(strstr(t1, "\"memory_used_fraction\"") && strstr(t1, "\"memory_kl_uniform\""), "%s", t1);
    cr_assert_null(strstr(t0, "memory_"), "%s", t0);
    free(t1), free(t0), free(m1), free(m0), free(facts);
    mm_test_rmtree(dir);
    free(dir);
}

Test(memory_cli, ema_keeps_frozen_entries_and_diff_counts_rewrites, .timeout = 300) {
    char *dir = mm_test_tmpdir("memema");
    build_fixture(dir);
    char *before = train(dir, "frozen", "model", "memory_update = frozen\n", 2);
    char *after = train(dir, "ema", "model",
                        "memory_update = ema\nema_update_freq = 1\nema_decay = 0.0\nfreeze_ratio = 0.5\n", 6);
    uint16_t *b0 = ckpt_bank(before), *b1 = ckpt_bank(after);
    // the frozen run's bank is the prep'd bank itself
    char *bankf = mm_test_path(dir, "k.bank");
    size_t blen;
    char *raw = mm_read_file(bankf, &blen);
    cr_assert_eq(blen, 64 + (size_t)NUM * LK * 2);
    cr_assert_eq(memcmp(raw + 64, b0, (size_t)NUM * LK * 2), 0, "a frozen bank must not change");
    long changed = 0;
    for (int e = 0; e < NUM; e++) {
        int diff = memcmp(b0 + e * LK, b1 + e * LK, LK * 2) != 0;
        if (e < NUM / 2) cr_assert(!diff, "entry %d is below freeze_ratio * N but changed", e);
        changed += diff;
        for (int p = 0; p < LK; p++) cr_assert_lt(b1[e * LK + p], VOCAB);
    }
    cr_assert_gt(changed, 0, "EMA with decay 0 rewrote nothing");
    // metrics: rewritten entries per log row add up to at least the entries that differ
    char *mp = mm_test_path(dir, "ema/metrics.jsonl");
    FILE *fp = fopen(mp, "r");
    char line[4096];
    long logged = 0, rows = 0;
    while (fgets(line, sizeof line, fp)) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o);
        double used = json_real_value(json_object_get(o, "memory_used_fraction"));
        double H = json_real_value(json_object_get(o, "memory_usage_entropy"));
        double kl = json_real_value(json_object_get(o, "memory_kl_uniform"));
        cr_assert(used > 0 && used <= 1, "used %g", used);
        cr_assert(H >= 0 && H <= log(NUM) + 1e-9, "entropy %g", H);
        cr_assert_float_eq(kl, log(NUM) - H, 1e-9);
        logged += json_integer_value(json_object_get(o, "memory_entries_rewritten"));
        rows++;
        json_decref(o);
    }
    fclose(fp);
    cr_assert_geq(rows, 3);
    cr_assert_geq(logged, changed, "logged %ld rewrites, %ld entries differ", logged, changed);
    const char *argv[] = {MM_MINIMIND_EXE, "memory", "diff", "--from", before, "--to", after, "--max", "3", NULL};
    mm_proc_result r;
    run_ok(argv, &r);
    char want[128];
    snprintf(want, sizeof want, "memory diff: %ld of %d entries rewritten", changed, NUM);
    cr_assert(strstr(r.out, want), "want '%s' in:\n%s", want, r.out);
    cr_assert(strstr(r.out, "  - \"") && strstr(r.out, "  + \""), "%s", r.out);
    mm_proc_result_free(&r);
    free(b0), free(b1), free(before), free(after), free(bankf), free(raw), free(mp);
    mm_test_rmtree(dir);
    free(dir);
}

// Reads the greedy continuation of `prompt` from `minimind generate` (prompt + continuation + "\n").
static char *generate(const char *ckpt, const char *prompt, const char *n) {
    const char *argv[] = {MM_MINIMIND_EXE, "generate", "--model_path", ckpt, "--prompt", prompt, "--max_new_tokens",
                          n, NULL};
    mm_proc_result r;
    run_ok(argv, &r);
    size_t pl = strlen(prompt), ol = strlen(r.out);
    cr_assert(ol > pl && !strncmp(r.out, prompt, pl) && r.out[ol - 1] == '\n', "%s", r.out);
    char *c = strndup(r.out + pl, ol - pl - 1);
    mm_proc_result_free(&r);
    return c;
}

Test(memory_cli, facts_accuracy_against_generate_and_instruments, .timeout = 300) {
    char *dir = mm_test_tmpdir("memfacts");
    build_fixture(dir);
    // one epoch (78 steps): after a few steps the model completes every prompt with spaces only
    char *ckpt = train(dir, "m", "model", "", 80);
    // a facts file whose answers are the model's own greedy completions (lines 0, 2) or not (1, 3)
    const char *prompts[4] = {"The hometown of", "Visitors to the head office of", "Kosu", "Most residents of"};
    json_t *lines = json_array();
    for (int i = 0; i < 4; i++) {
        char *c = generate(ckpt, prompts[i], "5");
        char *s = c;
        while (*s == ' ') s++;
        char answer[512];
        snprintf(answer, sizeof answer, "%s%s", i % 2 ? "zz" : "", *s ? s : "x");
        if (!*s) cr_log_warn("empty completion for '%s'", prompts[i]);
        json_t *ja = json_string(answer);  // NULL for a completion that is not valid UTF-8
        if (!ja) ja = json_string("x");
        json_array_append_new(lines, json_pack("{s:s,s:o,s:s}", "prompt", prompts[i], "answer", ja, "lang", "en"));
        free(c);
    }
    char *facts = mm_test_path(dir, "facts.jsonl");
    FILE *fp = fopen(facts, "w");
    for (size_t i = 0; i < 4; i++) {
        char *l = json_dumps(json_array_get(lines, i), JSON_COMPACT);
        fprintf(fp, "%s\n", l);
        free(l);
    }
    fclose(fp);
    char *json = mm_test_path(dir, "eval.json");
    const char *argv[] = {MM_MINIMIND_EXE, "eval", "--model_path", ckpt, "--facts", facts, "--facts_new_tokens", "5",
                          "--json", json, "--quiet", NULL};
    run_quiet(argv);
    json_t *ev = load_json(json), *f = json_object_get(ev, "facts");
    json_t *items = json_object_get(f, "items");
    int n_want = 0;
    for (int i = 0; i < 4; i++) {
        const char *ans = json_string_value(json_object_get(json_array_get(lines, i), "answer"));
        int want = i % 2 == 0 && strcmp(ans, "x") != 0;
        cr_assert_eq(json_is_true(json_object_get(json_array_get(items, i), "correct")), want, "fact %d ('%s')", i, ans);
        n_want += want;
    }
    cr_assert_gt(n_want, 0, "the model completed no prompt");
    cr_assert_float_eq(json_real_value(json_object_get(f, "accuracy")), n_want / 4.0, 1e-12);
    json_decref(ev);

    // dump: rows decode to the sentences prep knowledge recorded (untruncated ones)
    const char *dump[] = {MM_MINIMIND_EXE, "memory", "dump", "--model_path", ckpt, "--entries", "0-63", NULL};
    mm_proc_result r;
    run_ok(dump, &r);
    char *map = mm_test_path(dir, "k.bank.mapping.jsonl");
    FILE *mf = fopen(map, "r");
    char line[8192];
    const char *p = r.out;
    int checked = 0;
    for (int e = 0; e < NUM && fgets(line, sizeof line, mf); e++) {
        json_t *m = json_loads(line, 0, NULL);
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "dump printed fewer than %d lines:\n%s", NUM, r.out);
        json_t *d = json_loadb(p, (size_t)(nl - p), 0, NULL);
        cr_assert_not_null(d, "dump line is not JSON: %.*s", (int)(nl - p), p);
        cr_assert_eq(json_integer_value(json_object_get(d, "entry")), e);
        if (!json_is_true(json_object_get(m, "truncated"))) {
            cr_assert_str_eq(json_string_value(json_object_get(d, "text")),
                             json_string_value(json_object_get(m, "sentence")));
            checked++;
        }
        json_decref(m), json_decref(d);
        p = nl + 1;
    }
    fclose(mf);
    cr_assert_gt(checked, 0);
    mm_proc_result_free(&r);

    // inspect: every token, each of the 2 layers, --top 3 reads with weights in [0, 1]
    const char *ins[] = {MM_MINIMIND_EXE, "memory", "inspect", "--model_path", ckpt, "--prompt", "The hometown of",
                         "--top", "3", NULL};
    run_ok(ins, &r);
    int tokens = 0, reads = 0;
    for (const char *q = r.out; (q = strchr(q, '\n')); q++) {
        if (!strncmp(q + 1, "token ", 6)) tokens++;
        if (!strncmp(q + 1, "  layer ", 8)) {
            int l, e;
            double w;
            cr_assert_eq(sscanf(q + 1, "  layer %d  entry %d w %lf", &l, &e, &w), 3, "%.60s", q + 1);
            cr_assert(l >= 0 && l < 2 && e >= 0 && e < NUM && w >= 0 && w <= 1);
            reads++;
        }
    }
    cr_assert_gt(tokens, 1);
    cr_assert_eq(reads, tokens * 2 * 3, "%d tokens, %d reads:\n%s", tokens, reads, r.out);
    mm_proc_result_free(&r);
    const char *bad[] = {MM_MINIMIND_EXE, "memory", "inspect", "--model_path", ckpt, "--prompt", "x", "--layer", "5",
                         NULL};
    cr_assert_eq(mm_test_run(bad, NULL, &r), 0);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "minimind: error: memory inspect: --layer 5: the model has layers 0..1"), "%s", r.err);
    mm_proc_result_free(&r);

    json_decref(lines);
    free(ckpt), free(facts), free(json), free(map);
    mm_test_rmtree(dir);
    free(dir);
}

// "Zed " and 20 x U+9F98 (a character the fixture's corpus lacks: three byte tokens each): cut at
// LK = 48 tokens, the entry ends inside a character (2 of its 3 bytes).
#define BAD_SENTENCE                                                                           \
    "Zed \xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98" \
    "\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98"     \
    "\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98"
// what the memory commands print for it: 14 whole characters, then one U+FFFD for the cut one
// (as Python's bytes.decode("utf-8", "replace"))
#define BAD_SHOWN                                                                              \
    "Zed \xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98" \
    "\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98\xe9\xbe\x98"     \
    "\xef\xbf\xbd"

Test(memory_cli, entries_that_are_not_valid_utf8_print_with_replacement_characters, .timeout = 300) {
    char *dir = mm_test_tmpdir("memutf8");
    build_fixture(dir);
    char *good = train(dir, "good", "model", "", 1);
    // the bank again, its entry 0 now the cut sentence
    char *trex = mm_test_path(dir, "bad.json"), *bank = mm_test_path(dir, "k.bank"),
         *tok = mm_test_path(dir, "tok");
    const char *text = "[{\"target\":[{\"sentence\":\"" BAD_SENTENCE
                       "\",\"uuid\":\"u\",\"subject\":\"Zed\","
                       "\"predicate\":\"p\",\"object\":\"o\"}]}]\n";
    mm_test_write_file(trex, text, strlen(text));
    const char *prep[] = {
        MM_MINIMIND_EXE,   "prep", "knowledge",          "--tokenizer", tok, "--data", trex, "--out", bank,
        "--knowledge-num", "64",   "--knowledge-length", "48",          NULL};
    run_quiet(prep);
    char *bad = train(dir, "bad", "model", "", 1);
    mm_proc_result r;
    // dump: a whole JSON line, entry, ids and the text with U+FFFD (it printed "{}")
    const char *dump[] = {MM_MINIMIND_EXE, "memory", "dump", "--model_path", bad, "--entries", "0-0", NULL};
    run_ok(dump, &r);
    json_t *d = json_loads(r.out, 0, NULL);
    cr_assert_not_null(d, "%s", r.out);
    cr_assert_eq(json_integer_value(json_object_get(d, "entry")), 0);
    cr_assert_eq(json_array_size(json_object_get(d, "ids")), 48);
    cr_assert_str_eq(json_string_value(json_object_get(d, "text")), BAD_SHOWN);
    json_decref(d);
    mm_proc_result_free(&r);
    // diff: the new text is shown (it printed an empty "+" line)
    const char *diff[] = {MM_MINIMIND_EXE, "memory", "diff", "--from", good, "--to", bad, "--max", "1", NULL};
    run_ok(diff, &r);
    cr_assert(strstr(r.out, "  + \"" BAD_SHOWN "\"\n"), "%s", r.out);
    mm_proc_result_free(&r);
    // inspect: a prompt token that is one byte of a character prints as U+FFFD (it printed "?"),
    // and every read entry as a quoted text
    const char *ins[] = {
        MM_MINIMIND_EXE, "memory", "inspect", "--model_path", bad, "--prompt", "\xe9\xbe\x98",
        "--top",         "4",      NULL};
    run_ok(ins, &r);
    cr_assert(strstr(r.out, "token 1 \"\xef\xbf\xbd\"\n"), "%s", r.out);
    int reads = 0;
    for (const char *q = r.out; (q = strstr(q, "\n  layer ")); q++, reads++) {
        const char *nl = strchr(q + 1, '\n'), *quote = strchr(q + 1, '"');
        cr_assert(quote && (!nl || quote < nl), "a read without its text: %.80s", q + 1);
    }
    cr_assert_eq(reads, 4 * 2 * 4, "%s", r.out);
    mm_proc_result_free(&r);
    free(good), free(bad), free(trex), free(bank), free(tok);
    mm_test_rmtree(dir);
    free(dir);
}

Test(memory_cli, cluster_cache_written_and_used, .timeout = 300) {
    char *dir = mm_test_tmpdir("memclu");
    build_fixture(dir);
    char *cache = mm_test_path(dir, "grid.cluster");
    char know[4200];
    snprintf(know, sizeof know, "cluster_cache_path = %s\n", cache);
    // missing file: a clear error
    char *ini = write_ini(dir, "c", "model_no_feed", know, 2), *out = mm_test_path(dir, "c");
    const char *tr[] = {MM_MINIMIND_EXE, "train", "--config", ini, "--out", out, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(tr, NULL, &r), 0);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "cluster_cache_path") && strstr(r.err, "minimind memory cluster"), "%s", r.err);
    mm_proc_result_free(&r);
    // write it with `memory cluster` (from a config without the key), then train with it
    char *ini0 = write_ini(dir, "c0", "model_no_feed", "", 2);
    const char *cl[] = {MM_MINIMIND_EXE, "memory", "cluster", "--config", ini0, "--out", cache, NULL};
    run_ok(cl, &r);
    cr_assert(strstr(r.out, "8 x 8 key grid"), "%s", r.out);
    mm_proc_result_free(&r);
    uint32_t *perm;
    cr_assert_eq(mm_memory_cluster_read(cache, NUM, &perm), 0, "%s", mm_error_message());
    free(perm);
    cr_assert_eq(mm_memory_cluster_read(cache, 49, &perm), -1);
    cr_assert(strstr(mm_error_message(), "for knowledge_num = 64"), "%s", mm_error_message());
    run_ok(tr, &r);
    mm_proc_result_free(&r);
    free(cache), free(ini), free(ini0), free(out);
    mm_test_rmtree(dir);
    free(dir);
}

Test(memory_cli, fact_matching_rule) {
#define M(c, a) mm_fact_match(c, strlen(c), a, strlen(a), NULL, 0)
#define MS(c, a, sfx) mm_fact_match(c, strlen(c), a, strlen(a), sfx, strlen(sfx))
    cr_assert(M(" Vove.", "Vove"));
    cr_assert(M("Vove", "Vove"));
    cr_assert(M("  Daso Group is big", "Daso Group"));
    cr_assert(!M(" Voveland", "Vove"));
    cr_assert(!M(" Vov", "Vove"));
    cr_assert(!M(" vove", "Vove"));
    cr_assert(M("2010年。", "2010"));
    cr_assert(!M(" 20105", "2010"));
    cr_assert(M(" 1947, in", "1947"));
    cr_assert(M("沃维。", "沃维"));
    cr_assert(M("沃维，", "沃维"));
    cr_assert(!M("沃维尔", "沃维"));
    cr_assert(!M("", "x"));
    cr_assert(!M("anything", ""));
    // the sentence goes on after the answer: its first character also ends the answer
    cr_assert(!M("达索集团上班。", "达索集团"));
    cr_assert(MS("达索集团上班。", "达索集团", "上班。"));
    cr_assert(!MS("达索集团公司上班。", "达索集团", "上班。"), "a longer name is still a miss");
    cr_assert(MS("红的。", "红", "的。"));
    cr_assert(MS(" Vove.", "Vove", "."));
    cr_assert(!MS(" Voveland", "Vove", " land"), "an English suffix starts with its space");
#undef MS
#undef M
}

// `eval --data DIR/data/valid.jsonl` of ckpt with FLAG SPEC (flag NULL: none) and, with facts, fact
// recall on that file; returns eval.json.
static json_t *eval_facts_with(const char *dir, const char *ckpt, const char *facts, const char *flag,
                               const char *spec) {
    char *data = mm_test_path(dir, "data/valid.jsonl"), *json = mm_test_path(dir, "bank_eval.json");
    const char *argv[20] = {MM_MINIMIND_EXE, "eval", "--model_path",     ckpt, "--data", data,
                            "--num_samples", "4",    "--max_new_tokens", "3",  "--json", json,
                            "--quiet"};
    int n = 13;
    if (facts) argv[n++] = "--facts", argv[n++] = facts, argv[n++] = "--facts_new_tokens", argv[n++] = "6";
    if (flag) argv[n++] = flag, argv[n++] = spec;
    run_quiet(argv);
    json_t *j = load_json(json);
    free(data), free(json);
    return j;
}

static json_t *eval_with(const char *dir, const char *ckpt, const char *flag, const char *spec) {
    return eval_facts_with(dir, ckpt, NULL, flag, spec);
}

static json_t *eval_with_bank(const char *dir, const char *ckpt, const char *spec) {
    return eval_with(dir, ckpt, spec ? "--bank" : NULL, spec);
}

static double mean_loss(json_t *ev) {
    return json_real_value(json_object_get(json_object_get(ev, "summary"), "mean_loss"));
}

// The samples (losses and continuations) of two evaluations are the same, bit for bit.
static void expect_same_samples(json_t *a, json_t *b, const char *what) {
    cr_assert(json_equal(json_object_get(a, "samples"), json_object_get(b, "samples")), "%s: samples differ",
              what);
}

static void expect_eval_fails(const char *dir, const char *ckpt, const char *flag, const char *spec,
                              const char *want) {
    char *data = mm_test_path(dir, "data/valid.jsonl");
    const char *argv[] = {MM_MINIMIND_EXE, "eval", "--model_path", ckpt, "--data", data,
                          "--num_samples", "1",    flag,           spec, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    free(data);
    cr_assert_eq(r.status, 1, "%s %s: status %d\n%s", flag, spec, r.status, r.err);
    cr_assert(strstr(r.err, "minimind: error: ") && strstr(r.err, want), "%s %s: want '%s' in:\n%s", flag,
              spec, want, r.err);
    mm_proc_result_free(&r);
}

// --bank empty@L and --bank_ablation layers (the fixture's 2 layers): each layer alone against
// --bank empty@L; both layers muted is the empty bank; the sweep ends with the whole bank empty.
static void expect_layer_ablations(const char *dir, const char *ckpt, json_t *own, json_t *empty) {
    json_t *both = eval_with(dir, ckpt, "--bank", "empty@1,0");
    cr_assert(json_equal(json_object_get(both, "samples"), json_object_get(empty, "samples")),
              "--bank empty@1,0 differs from --bank empty");
    json_t *bd = json_object_get(both, "bank");
    cr_assert_str_eq(json_string_value(json_object_get(bd, "kind")), "empty_layers");
    cr_assert_eq(json_array_size(json_object_get(bd, "layers")), 2);
    json_t *sweep = eval_with(dir, ckpt, "--bank_ablation", "layers"),
           *ab = json_object_get(sweep, "bank_ablation");
    expect_same_samples(own, sweep, "the first pass of --bank_ablation layers");
    cr_assert_str_eq(json_string_value(json_object_get(ab, "spec")), "layers");
    cr_assert(json_equal(json_object_get(ab, "summary"), json_object_get(empty, "summary")),
              "--bank_ablation layers: the whole-bank pass is not --bank empty");
    json_t *layers = json_object_get(ab, "layers");
    cr_assert_eq(json_array_size(layers), 2);
    for (int l = 0; l < 2; l++) {
        char spec[16];
        snprintf(spec, sizeof spec, "empty@%d", l);
        json_t *one = eval_with(dir, ckpt, "--bank", spec), *entry = json_array_get(layers, (size_t)l);
        cr_assert_eq(json_integer_value(json_object_get(entry, "layer")), l);
        cr_assert(json_equal(json_object_get(entry, "summary"), json_object_get(one, "summary")),
                  "--bank_ablation layers: layer %d's pass is not --bank %s", l, spec);
        cr_assert(mean_loss(one) != mean_loss(own) && mean_loss(one) != mean_loss(empty),
                  "%s: the loss of the own bank or of the empty one (%.17g)", spec, mean_loss(one));
        json_decref(one);
    }
    json_decref(both), json_decref(sweep);
}

Test(memory_cli, eval_bank_replacements, .timeout = 300) {
    char *dir = mm_test_tmpdir("membank");
    build_fixture(dir);
    char *ckpt = train(dir, "m", "model", "", 4), *bank = mm_test_path(dir, "k.bank");
    json_t *own = eval_with_bank(dir, ckpt, NULL);
    cr_assert_null(json_object_get(own, "bank"));
    // the bank file the model was trained with (frozen): the same numbers
    json_t *file = eval_with_bank(dir, ckpt, bank);
    expect_same_samples(own, file, "--bank k.bank");
    json_t *fd = json_object_get(file, "bank");
    cr_assert_str_eq(json_string_value(json_object_get(fd, "kind")), "file");
    cr_assert_eq(json_integer_value(json_object_get(fd, "entries")), NUM);
    const long filled = (long)json_integer_value(json_object_get(fd, "filled_entries"));
    cr_assert(filled > 0 && filled <= NUM, "%ld filled", filled);
    // empty: nothing to read, another loss
    json_t *empty = eval_with_bank(dir, ckpt, "empty");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(empty, "bank"), "filled_entries")), 0);
    cr_assert(mean_loss(empty) != mean_loss(own), "an empty bank changes nothing (%.17g)", mean_loss(own));
    // shuffle: deterministic per seed, the same entries filled, another loss
    json_t *s3 = eval_with_bank(dir, ckpt, "shuffle:3"), *s3b = eval_with_bank(dir, ckpt, "shuffle:3");
    expect_same_samples(s3, s3b, "shuffle:3 twice");
    json_t *sd = json_object_get(s3, "bank");
    cr_assert_eq(json_integer_value(json_object_get(sd, "seed")), 3);
    cr_assert_eq((long)json_integer_value(json_object_get(sd, "filled_entries")), filled);
    cr_assert(mean_loss(s3) != mean_loss(own), "a shuffled bank changes nothing");
    // --bank_ablation: the first pass as without it, the second as --bank empty
    json_t *ab = eval_with(dir, ckpt, "--bank_ablation", "empty"),
           *abl = json_object_get(ab, "bank_ablation");
    expect_same_samples(own, ab, "the first pass of --bank_ablation");
    cr_assert(json_equal(json_object_get(abl, "summary"), json_object_get(empty, "summary")),
              "--bank_ablation empty: its summary is not --bank empty's");
    cr_assert(json_equal(json_object_get(abl, "bank"), json_object_get(empty, "bank")));
    json_decref(ab);
    expect_layer_ablations(dir, ckpt, own, empty);
    json_decref(own), json_decref(file), json_decref(empty), json_decref(s3), json_decref(s3b);

    // errors: a bad seed, a bank of another shape, a model without memory
    expect_eval_fails(dir, ckpt, "--bank", "shuffle:x",
                      "--bank shuffle:x: the seed must be an unsigned integer");
    expect_eval_fails(dir, ckpt, "--bank", "empty@2",
                      "--bank empty@2: layer 2 does not exist (n_layers 2: 0..1)");
    expect_eval_fails(dir, ckpt, "--bank", "empty@0,", "--bank empty@0,: expected empty@LAYER[,LAYER...]");
    expect_eval_fails(dir, ckpt, "--bank", "empty@-1", "--bank empty@-1: expected empty@LAYER[,LAYER...]");
    expect_eval_fails(dir, ckpt, "--bank", "layers",
                      "--bank layers: the per-layer sweep is a --bank_ablation spec");
    char *small = mm_test_path(dir, "small.bank"), *trex = mm_test_path(dir, "data/sentence_trex_data.json"),
         *tok = mm_test_path(dir, "tok");
    const char *prep[] = {
        MM_MINIMIND_EXE,   "prep", "knowledge",          "--tokenizer", tok, "--data", trex, "--out", small,
        "--knowledge-num", "49",   "--knowledge-length", "48",          NULL};
    run_quiet(prep);
    expect_eval_fails(dir, ckpt, "--bank", small,
                      "the bank holds 49 entries of 48 tokens, the model 64 of 48");
    char *orig = train(dir, "o", "model_original", "", 1);
    expect_eval_fails(dir, orig, "--bank", "empty",
                      "--bank empty: model_type model_original has no memory bank");
    expect_eval_fails(dir, orig, "--bank_ablation", "empty",
                      "--bank_ablation empty: model_type model_original has no memory bank");

    // with a cluster cache the model's rows were placed by it: the file is placed the same way
    char *cache = mm_test_path(dir, "grid.cluster");
    char *ini0 = write_ini(dir, "c0", "model", "", 1);
    const char *cl[] = {MM_MINIMIND_EXE, "memory", "cluster", "--config", ini0, "--out", cache, NULL};
    run_quiet(cl);
    char know[4200];
    snprintf(know, sizeof know, "cluster_cache_path = %s\n", cache);
    char *clustered = train(dir, "c", "model", know, 2);
    json_t *cown = eval_with_bank(dir, clustered, NULL), *cfile = eval_with_bank(dir, clustered, bank);
    expect_same_samples(cown, cfile, "--bank k.bank on a model trained with a cluster cache");
    json_decref(cown), json_decref(cfile);
    free(small), free(trex), free(tok), free(orig), free(cache), free(ini0), free(clustered);
    free(ckpt), free(bank);
    mm_test_rmtree(dir);
    free(dir);
}

// The sample standard error of x[0..n), computed here as the textbook formula.
static double stderr_of(const double *x, int n) {
    double m = 0, ss = 0;
    for (int i = 0; i < n; i++) m += x[i] / n;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    return sqrt(ss / (n - 1)) / sqrt(n);
}

// Writes the facts file `path`: for each item of a facts evaluation, the prompt twice, answered by
// the completion of `a` and by that of `b` (leading spaces removed; prompts where either is empty
// are left out). Returns the number of prompts whose two completions differ.
static int write_two_answer_facts(const char *path, const json_t *a, const json_t *b) {
    const json_t *ia = json_object_get(json_object_get(a, "facts"), "items"),
                 *ib = json_object_get(json_object_get(b, "facts"), "items");
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp);
    int differ = 0;
    for (size_t i = 0; i < json_array_size(ia); i++) {
        const char *prompt = json_string_value(json_object_get(json_array_get(ia, i), "prompt"));
        const char *ca = json_string_value(json_object_get(json_array_get(ia, i), "completion"));
        const char *cb = json_string_value(json_object_get(json_array_get(ib, i), "completion"));
        while (*ca == ' ') ca++;
        while (*cb == ' ') cb++;
        if (!*ca || !*cb) continue;
        differ += strcmp(ca, cb) != 0;
        for (int k = 0; k < 2; k++) {
            json_t *line = json_pack("{s:s,s:s}", "prompt", prompt, "answer", k ? cb : ca);
            char *text = json_dumps(line, JSON_COMPACT);
            fprintf(fp, "%s\n", text);
            free(text), json_decref(line);
        }
    }
    fclose(fp);
    return differ;
}

// --bank_ablation compares the two passes sample by sample and fact by fact: the paired loss change
// and its standard error, the facts lost and gained and McNemar's exact p (minimind/stats.h) equal
// what the test computes from two separate evaluations (own bank, --bank empty); the fact recall's
// Wilson interval is the one of its counts.
Test(memory_cli, ablation_compares_sample_by_sample, .timeout = 300) {
    char *dir = mm_test_tmpdir("mempaired");
    build_fixture(dir);
    char *ckpt = train(dir, "m", "model_no_feed", "", 1), *facts = mm_test_path(dir, "data/eval_facts.jsonl"),
         *two = mm_test_path(dir, "two.jsonl");
    // facts whose answers are the completions with the own bank and with an empty one (after one
    // step of model_no_feed, before it learns to answer with spaces: its read-out goes straight
    // into the residual)
    json_t *own0 = eval_facts_with(dir, ckpt, facts, NULL, NULL),
           *empty0 = eval_facts_with(dir, ckpt, facts, "--bank", "empty");
    const int differ = write_two_answer_facts(two, own0, empty0);
    cr_assert(differ > 0, "the empty bank changes no completion: no discordant facts to count");
    json_t *own = eval_facts_with(dir, ckpt, two, NULL, NULL),
           *empty = eval_facts_with(dir, ckpt, two, "--bank", "empty");
    json_t *ab = eval_facts_with(dir, ckpt, two, "--bank_ablation", "empty"),
           *abl = json_object_get(ab, "bank_ablation");
    expect_same_samples(own, ab, "the first pass of --bank_ablation");
    // the losses, pair by pair
    const json_t *so = json_object_get(own, "samples"), *se = json_object_get(empty, "samples");
    double d[4], l[4];
    for (int i = 0; i < 4; i++) {
        l[i] = json_real_value(json_object_get(json_array_get(so, (size_t)i), "loss"));
        d[i] = json_real_value(json_object_get(json_array_get(se, (size_t)i), "loss")) - l[i];
    }
    const double se_own = json_real_value(json_object_get(json_object_get(own, "summary"), "loss_stderr"));
    cr_assert(fabs(se_own - stderr_of(l, 4)) <= 1e-12, "loss_stderr %.17g, by hand %.17g", se_own,
              stderr_of(l, 4));
    const json_t *lc = json_object_get(abl, "loss_change");
    const double mean_d = (d[0] + d[1] + d[2] + d[3]) / 4;
    cr_assert_eq(json_integer_value(json_object_get(lc, "samples")), 4);
    cr_assert(fabs(json_real_value(json_object_get(lc, "mean")) - mean_d) <= 1e-12, "loss_change.mean");
    cr_assert(fabs(json_real_value(json_object_get(lc, "stderr")) - stderr_of(d, 4)) <= 1e-12,
              "loss_change.stderr %.17g, by hand %.17g", json_real_value(json_object_get(lc, "stderr")),
              stderr_of(d, 4));
    // the facts, item by item
    const json_t *io = json_object_get(json_object_get(own, "facts"), "items"),
                 *ie = json_object_get(json_object_get(empty, "facts"), "items");
    long lost = 0, gained = 0, correct = 0;
    for (size_t i = 0; i < json_array_size(io); i++) {
        const int was = json_is_true(json_object_get(json_array_get(io, i), "correct"));
        const int is = json_is_true(json_object_get(json_array_get(ie, i), "correct"));
        lost += was && !is, gained += !was && is, correct += was;
    }
    cr_assert(lost > 0 && gained > 0, "by construction both: lost %ld, gained %ld", lost, gained);
    const json_t *af = json_object_get(abl, "facts");
    cr_assert_eq(json_integer_value(json_object_get(af, "lost")), lost);
    cr_assert_eq(json_integer_value(json_object_get(af, "gained")), gained);
    cr_assert_float_eq(json_real_value(json_object_get(af, "mcnemar_p")), mm_mcnemar_exact_p(lost, gained),
                       1e-15);
    const json_t *ci = json_object_get(json_object_get(own, "facts"), "accuracy_ci95");
    double lo, hi;
    mm_wilson_interval(correct, (long)json_array_size(io), MM_Z95, &lo, &hi);
    cr_assert(json_real_value(json_array_get(ci, 0)) == lo && json_real_value(json_array_get(ci, 1)) == hi,
              "accuracy_ci95 of %ld/%zu", correct, json_array_size(io));
    cr_assert(json_equal(json_object_get(af, "accuracy_ci95"),
                         json_object_get(json_object_get(empty, "facts"), "accuracy_ci95")));
    json_decref(own0), json_decref(empty0), json_decref(own), json_decref(empty), json_decref(ab);
    free(ckpt), free(facts), free(two);
    mm_test_rmtree(dir);
    free(dir);
}

// The replacements in the model itself: a shuffle permutes the rows (the same multiset, another
// order; another seed, another order), empty is all padding, and a failed replacement leaves the
// bank as it was.
static int cmp_row(const void *a, const void *b) { return memcmp(a, b, LK * sizeof(uint16_t)); }

Test(memory_cli, bank_shuffle_permutes_rows) {
    char *dir = mm_test_tmpdir("memshuf");
    build_fixture(dir);
    char *ckpt = train(dir, "m", "model", "", 1);
    mm_inference inf;
    cr_assert_eq(mm_inference_open(&inf, ckpt, NULL, NULL, 0), 0, "%s", mm_error_message());
    const size_t n = (size_t)NUM * LK;
    uint16_t *orig = malloc(n * sizeof(uint16_t)), *s1 = malloc(n * sizeof(uint16_t));
    memcpy(orig, inf.model.bank, n * sizeof(uint16_t));
    json_t *d;
    cr_assert_eq(mm_model_replace_bank(&inf.model, &inf.cfg, "shuffle:1", &d), 0, "%s", mm_error_message());
    json_decref(d);
    memcpy(s1, inf.model.bank, n * sizeof(uint16_t));
    cr_assert(memcmp(s1, orig, n * sizeof(uint16_t)) != 0, "shuffle:1 kept the order");
    cr_assert_eq(mm_model_replace_bank(&inf.model, &inf.cfg, "no/such.bank", &d), -1);
    cr_assert(strstr(mm_error_message(), "no/such.bank"), "%s", mm_error_message());
    cr_assert_null(d);
    cr_assert_eq(memcmp(inf.model.bank, s1, n * sizeof(uint16_t)), 0,
                 "a failed replacement changed the bank");
    memcpy(inf.model.bank, orig, n * sizeof(uint16_t));
    cr_assert_eq(mm_model_replace_bank(&inf.model, &inf.cfg, "shuffle:2", &d), 0);
    json_decref(d);
    cr_assert(memcmp(inf.model.bank, s1, n * sizeof(uint16_t)) != 0,
              "shuffle:1 and shuffle:2 give the same order");
    qsort(s1, NUM, LK * sizeof(uint16_t), cmp_row);
    qsort(orig, NUM, LK * sizeof(uint16_t), cmp_row);
    cr_assert_eq(memcmp(s1, orig, n * sizeof(uint16_t)), 0, "shuffle:1 is not a permutation of the rows");
    cr_assert_eq(mm_model_replace_bank(&inf.model, &inf.cfg, "empty", &d), 0);
    json_decref(d);
    for (size_t i = 0; i < n; i++) cr_assert_eq(inf.model.bank[i], MM_MEMORY_PAD);
    mm_inference_close(&inf);
    free(orig), free(s1), free(ckpt);
    mm_test_rmtree(dir);
    free(dir);
}

// ---- memory retrieval ----

// A copy of checkpoint src at dst whose bank entries e with e % every == 0 hold `row` (LK ids), the
// others all padding (empty).
static void ckpt_with_bank_of(const char *src, const char *dst, const uint16_t *row, int every) {
    mm_safetensors in, out;
    cr_assert_eq(mm_st_read(&in, src), 0, "%s", mm_error_message());
    mm_st_init(&out);
    uint16_t *bank = calloc((size_t)NUM * LK, sizeof(uint16_t));  // MM_MEMORY_PAD is 0
    for (int e = 0; e < NUM; e += every) memcpy(bank + (size_t)e * LK, row, sizeof(uint16_t) * LK);
    for (int i = 0; i < in.n_tensors; i++) {
        const mm_st_tensor *t = &in.tensors[i];
        const void *data = strcmp(t->name, "memory_bank") ? t->data : bank;
        cr_assert_eq(mm_st_add(&out, t->name, t->dtype, t->ndim, t->shape, data), 0);
    }
    for (int i = 0; i < in.n_meta; i++)
        cr_assert_eq(mm_st_set_meta(&out, in.meta[i].key, in.meta[i].value), 0);
    cr_assert_eq(mm_st_write(&out, dst), 0, "%s", mm_error_message());
    mm_st_free(&out);
    mm_st_free(&in);
    free(bank);
}

// `memory retrieval --json` of ckpt on the first 20 facts of train_facts.jsonl (extra: one more
// flag and value, or NULL).
static json_t *retrieval(const char *dir, const char *ckpt, const char *flag, const char *value) {
    char *facts = mm_test_path(dir, "data/train_facts.jsonl"), *json = mm_test_path(dir, "retrieval.json");
    const char *argv[] = {MM_MINIMIND_EXE, "memory", "retrieval", "--model_path", ckpt, "--facts", facts,
                          "--facts_max",   "20",     "--json",    json,           flag, value,     NULL};
    run_quiet(argv);
    json_t *j = load_json(json);
    free(facts), free(json);
    return j;
}

static long jint(const json_t *o, const char *k) { return (long)json_integer_value(json_object_get(o, k)); }

// The per-layer totals are the items' sums, and found at the answer <= found in the prompt <= in the
// bank; returns in_bank.
static long expect_consistent_totals(const json_t *r) {
    const json_t *layers = json_object_get(r, "layers"), *items = json_object_get(r, "items");
    const long in_bank = jint(r, "in_bank");
    long counted = 0;
    for (size_t i = 0; i < json_array_size(items); i++)
        counted += json_is_true(json_object_get(json_array_get(items, i), "in_bank"));
    cr_assert_eq(counted, in_bank);
    for (size_t l = 0; l < json_array_size(layers); l++) {
        const json_t *L = json_array_get(layers, l);
        long at = 0, any = 0;
        for (size_t i = 0; i < json_array_size(items); i++) {
            const json_t *x = json_array_get(json_object_get(json_array_get(items, i), "layers"), l);
            at += x && json_is_true(json_object_get(x, "found_at_answer"));
            any += x && json_is_true(json_object_get(x, "found_in_prompt"));
        }
        cr_assert(jint(L, "found_at_answer") == at && jint(L, "found_in_prompt") == any, "layer %zu totals",
                  l);
        cr_assert(at <= any && any <= in_bank,
                  "layer %zu: %ld at the answer, %ld in the prompt, %ld in the bank", l, at, any, in_bank);
    }
    return in_bank;
}

// The facts among the first n lines of FILE whose fact_id is below `below`; *first_id: line 1's.
static long facts_below(const char *file, int n, long below, long *first_id) {
    FILE *fp = fopen(file, "r");
    cr_assert_not_null(fp);
    char line[4096];
    long count = 0;
    for (int i = 0; i < n && fgets(line, sizeof line, fp); i++) {
        json_t *o = json_loads(line, 0, NULL);
        long id = jint(o, "fact_id");
        if (i == 0) *first_id = id;
        count += id < below;
        json_decref(o);
    }
    fclose(fp);
    return count;
}

// Item `it` (a fact_id x prompt) of `memory retrieval` against `memory inspect --top K` of ckpt:
// per layer, the weight the prompt's last token puts on entries stating x (the even entries, see
// ckpt_with_bank_of) and on the empty ones (the odd), and whether it reads one stating x.
static void expect_answer_reads_as_inspect(const char *ckpt, const json_t *it, long x) {
    cr_assert_eq(jint(it, "fact_id"), x);
    const char *prompt = json_string_value(json_object_get(it, "prompt"));
    const char *argv[] = {MM_MINIMIND_EXE, "memory", "inspect", "--model_path", ckpt, "--prompt", prompt,
                          "--top",         "4",      NULL};
    mm_proc_result r;
    run_ok(argv, &r);
    const char *last = r.out, *p;
    while ((p = strstr(last + 1, "\ntoken "))) last = p;  // the last token's block
    double w[2] = {0, 0}, empty[2] = {0, 0};
    int reads[2] = {0, 0};
    for (p = strstr(last, "\n  layer "); p; p = strstr(p + 1, "\n  layer ")) {
        int l, e;
        float wt;
        cr_assert_eq(sscanf(p, "\n  layer %d  entry %d w %f", &l, &e, &wt), 3, "%.80s", p);
        if (e % 2 == 0)
            w[l] += wt, reads[l] = 1;
        else
            empty[l] += wt;
    }
    for (int l = 0; l < 2; l++) {
        const json_t *L = json_array_get(json_object_get(it, "layers"), (size_t)l);
        const double got = json_real_value(json_object_get(L, "weight_at_answer"));
        cr_assert_eq(json_is_true(json_object_get(L, "found_at_answer")), reads[l], "layer %d", l);
        cr_assert(fabs(got - w[l]) < 4 * 5e-5, "layer %d: weight at the answer %.5f, inspect %.4f", l, got,
                  w[l]);
        const double ge = json_real_value(json_object_get(L, "empty_weight_at_answer"));
        cr_assert(fabs(ge - empty[l]) < 4 * 5e-5, "layer %d: weight on empty entries %.5f, inspect %.4f", l,
                  ge, empty[l]);
    }
    cr_assert((reads[0] || reads[1]) && empty[0] + empty[1] > 0,
              "the half bank's entries stating x or its empty ones are not read: a vacuous check");
    mm_proc_result_free(&r);
}

// The fixture bank holds the first NUM facts of the demo world (mapping line r: "index" r), so a
// fact is in the model's bank when fact_id < NUM. On a bank whose every entry states fact X, each
// layer's answer position reads X with all its weight, for both of X's items (en, zh), and every
// other fact is in no entry. Errors: items without fact_id, model_original, a bank without mapping.
Test(memory_cli, retrieval_finds_the_entry_stating_the_fact, .timeout = 300) {
    char *dir = mm_test_tmpdir("memret");
    build_fixture(dir);
    char *ckpt = train(dir, "m", "model", "", 4), *facts = mm_test_path(dir, "data/train_facts.jsonl");
    long x = -1;
    const long in_bank = facts_below(facts, 20, NUM, &x);
    json_t *r = retrieval(dir, ckpt, NULL, NULL);
    cr_assert_eq(jint(r, "facts"), 20);
    cr_assert_eq(expect_consistent_totals(r), in_bank);
    cr_assert_eq(json_array_size(json_object_get(r, "layers")), 2);
    // eval --retrieval: the same summary in eval.json, on the CPU and behind the device memory model
    char *ej = mm_test_path(dir, "eval_retrieval.json");
    for (int staged = 0; staged < 2; staged++) {
        const char *argv[] = {MM_MINIMIND_EXE,
                              "eval",
                              "--model_path",
                              ckpt,
                              "--facts",
                              facts,
                              "--facts_max",
                              "20",
                              "--num_samples",
                              "0",
                              "--retrieval",
                              "--quiet",
                              "--json",
                              ej,
                              "--device",
                              staged ? "cpu-staged" : "cpu",
                              NULL};
        run_quiet(argv);
        json_t *ev = load_json(ej), *er = json_object_get(ev, "retrieval");
        cr_assert(json_equal(json_object_get(er, "layers"), json_object_get(r, "layers")) &&
                      json_equal(json_object_get(er, "chance"), json_object_get(r, "chance")),
                  "eval --retrieval (%s) differs from memory retrieval", staged ? "cpu-staged" : "cpu");
        cr_assert_null(json_object_get(er, "items"), "eval.json keeps the summary only");
        json_decref(ev);
    }
    // a muted layer reads nothing; a fact without fact_id further down: the evaluation goes on, its
    // "retrieval" holds the reason
    char *bad_ids = mm_test_path(dir, "bad_ids.jsonl");
    const char *bad_text =
        "{\"prompt\":\"a\",\"answer\":\"b\",\"fact_id\":1}\n{\"prompt\":\"c\",\"answer\":\"d\"}\n";
    mm_test_write_file(bad_ids, bad_text, strlen(bad_text));
    for (int k = 0; k < 2; k++) {
        const char *argv[] = {
            MM_MINIMIND_EXE, "eval", "--model_path",  ckpt,      "--facts",     k ? bad_ids : facts,
            "--facts_max",   "20",   "--num_samples", "0",       "--retrieval", "--quiet",
            "--json",        ej,     "--bank",        "empty@1", NULL};
        run_quiet(argv);
        json_t *ev = load_json(ej), *er = json_object_get(ev, "retrieval");
        if (k == 0) {
            const json_t *l1 = json_array_get(json_object_get(er, "layers"), 1);
            cr_assert(json_is_true(json_object_get(l1, "muted")) && jint(l1, "found_in_prompt") == 0 &&
                          json_real_value(json_object_get(l1, "mean_empty_weight_at_answer")) == 1.0,
                      "a muted layer: muted, nothing found, all its weight on nothing");
            cr_assert(
                json_is_false(json_object_get(json_array_get(json_object_get(er, "layers"), 0), "muted")));
        } else {
            const char *err = json_string_value(json_object_get(er, "error"));
            cr_assert(err && strstr(err, "bad_ids.jsonl:2: missing integer field 'fact_id'"), "%s",
                      err ? err : "retrieval error not recorded");
            cr_assert_not_null(json_object_get(ev, "facts"), "the facts pass is kept");
        }
        json_decref(ev);
    }
    free(bad_ids);
    const char *noflag[] = {MM_MINIMIND_EXE, "eval", "--model_path", ckpt, "--retrieval", NULL};
    mm_proc_result pr0;
    cr_assert_eq(mm_test_run(noflag, NULL, &pr0), 0);
    cr_assert(pr0.status == 2 && strstr(pr0.err, "--retrieval needs --facts"), "%d %s", pr0.status, pr0.err);
    mm_proc_result_free(&pr0);
    free(ej);
    json_decref(r);

    // every entry states fact x (bank row x of k.bank: the mapping's line x has index x)
    char *bank = mm_test_path(dir, "k.bank"), *one = mm_test_path(dir, "one.safetensors");
    mm_kbank kb;
    cr_assert_eq(mm_kbank_open(&kb, bank), 0, "%s", mm_error_message());
    cr_assert(x < NUM, "the first fact (%ld) is not in the fixture bank", x);
    ckpt_with_bank_of(ckpt, one, mm_kbank_row(&kb, (uint32_t)x), 1);
    r = retrieval(dir, one, "--bank", bank);
    json_t *items = json_object_get(r, "items");
    long found = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);
        const int is_x = jint(it, "fact_id") == x;
        cr_assert_eq(json_is_true(json_object_get(it, "in_bank")), is_x, "item %zu (fact %ld)", i,
                     jint(it, "fact_id"));
        for (size_t l = 0; is_x && l < 2; l++) {
            const json_t *L = json_array_get(json_object_get(it, "layers"), l);
            cr_assert(json_is_true(json_object_get(L, "found_at_answer")));
            cr_assert(json_is_true(json_object_get(L, "found_in_prompt")));
            const double w = json_real_value(json_object_get(L, "weight_at_answer"));
            cr_assert(fabs(w - 1.0) < 1e-5, "layer %zu: weight on the fact %.7f, not all of it", l, w);
        }
        found += is_x;
    }
    cr_assert_eq(found, 2, "fact %ld: %ld items (en and zh)", x, found);
    cr_assert_eq(jint(r, "empty_entries"), 0);
    cr_assert_eq(json_real_value(json_object_get(json_array_get(json_object_get(r, "layers"), 0),
                                                 "mean_empty_weight_at_answer")),
                 0.0);
    cr_assert_eq(expect_consistent_totals(r), 2);
    cr_assert_eq(jint(json_array_get(json_object_get(r, "layers"), 1), "found_at_answer"), 2);
    json_decref(r);

    // the even entries state fact x, the odd are empty: what the answer position reads, against
    // `memory inspect` of the same prompt (its last token's reads)
    char *half = mm_test_path(dir, "half.safetensors");
    ckpt_with_bank_of(ckpt, half, mm_kbank_row(&kb, (uint32_t)x), 2);
    mm_kbank_close(&kb);
    r = retrieval(dir, half, "--bank", bank);
    cr_assert_eq(jint(r, "empty_entries"), NUM / 2);
    expect_answer_reads_as_inspect(half, json_array_get(json_object_get(r, "items"), 0), x);
    json_decref(r);
    free(half);

    // errors
    char *nofid = mm_test_path(dir, "nofid.jsonl"), *orig = train(dir, "o", "model_original", "", 1);
    const char *nofid_text = "{\"prompt\":\"Koti Lanir is a native of\",\"answer\":\"Vove\"}\n";
    mm_test_write_file(nofid, nofid_text, strlen(nofid_text));
    const char *bad[][2] = {{nofid, "nofid.jsonl:1: missing integer field 'fact_id'"}};
    const char *a1[] = {MM_MINIMIND_EXE, "memory",  "retrieval", "--model_path", ckpt,
                        "--facts",       bad[0][0], NULL};
    const char *a2[] = {MM_MINIMIND_EXE, "memory", "retrieval", "--model_path", orig, "--facts", facts, NULL};
    char *copy = mm_test_path(dir, "copy.bank");
    size_t n;
    char *bytes = mm_read_file(bank, &n);
    mm_test_write_file(copy, bytes, n);
    const char *a3[] = {MM_MINIMIND_EXE, "memory", "retrieval", "--model_path", ckpt,
                        "--facts",       facts,    "--bank",    copy,           NULL};
    // eval --retrieval on a model without memory: refused before the evaluation's first pass
    const char *a4[] = {MM_MINIMIND_EXE, "eval", "--model_path", orig, "--facts", facts, "--retrieval", NULL};
    const char *const *cases[] = {a1, a2, a3, a4};
    const char *want[] = {bad[0][1], "model_type model_original has no memory layer",
                          "copy.bank.mapping.jsonl",
                          "--retrieval: retrieval: model_type model_original has no memory layer"};
    for (int i = 0; i < 4; i++) {
        mm_proc_result pr;
        cr_assert_eq(mm_test_run(cases[i], NULL, &pr), 0);
        cr_assert_eq(pr.status, 1, "case %d: status %d", i, pr.status);
        cr_assert(strstr(pr.err, "minimind: error: ") && strstr(pr.err, want[i]), "case %d: want '%s' in %s",
                  i, want[i], pr.err);
        mm_proc_result_free(&pr);
    }
    free(bytes), free(copy), free(nofid), free(orig), free(bank), free(one), free(ckpt), free(facts);
    mm_test_rmtree(dir);
    free(dir);
}
