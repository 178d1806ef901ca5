// `minimind demo-data`: determinism, the file formats (parsed with jansson), the consistency of the
// invented world, held-out eval prompts vs. learnable facts, and argument errors.
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/demo_data.h"
#include "minimind/error.h"
#include "test_util.h"

static const char *const demo_files[] = {
    "pretrain.jsonl", "sentence_trex_data.json", "eval_facts.jsonl", "eval.jsonl", "train_facts.jsonl",
    "valid.jsonl",    "unseen_facts.jsonl",      "manifest.json"};
#define N_DEMO_FILES 8

// Runs `minimind demo-data ARGS...` and returns the result (the caller frees it).
static mm_proc_result run_demo(const char *a1, const char *a2, const char *a3, const char *a4,
                               const char *a5, const char *a6) {
    const char *argv[] = {MM_MINIMIND_EXE, "demo-data", a1, a2, a3, a4, a5, a6, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0, "cannot start %s", MM_MINIMIND_EXE);
    return r;
}

static char *generate(const char *tag, const char *seed) {
    char *dir = mm_test_tmpdir(tag);
    mm_proc_result r = run_demo("--out", dir, "--seed", seed, NULL, NULL);
    cr_assert_eq(r.status, 0, "demo-data failed: %s", r.err);
    cr_assert(strstr(r.out, "pretrain.jsonl: ") != NULL, "no summary line: %s", r.out);
    mm_proc_result_free(&r);
    return dir;
}

static char *slurp(const char *dir, const char *name, size_t *len) {
    char *p = mm_test_path(dir, name);
    char *s = mm_read_file(p, len);
    cr_assert(s != NULL, "%s", mm_error_message());
    free(p);
    return s;
}

static int files_equal(const char *d1, const char *d2, const char *name) {
    size_t n1, n2;
    char *a = slurp(d1, name, &n1), *b = slurp(d2, name, &n2);
    int eq = n1 == n2 && memcmp(a, b, n1) == 0;
    free(a);
    free(b);
    return eq;
}

static json_t *load_json(const char *dir, const char *name) {
    char *p = mm_test_path(dir, name);
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    cr_assert(j != NULL, "%s:%d: %s", p, e.line, e.text);
    free(p);
    return j;
}

// Parses a JSON Lines file into an array of objects.
static json_t *load_jsonl(const char *dir, const char *name) {
    size_t len;
    char *s = slurp(dir, name, &len);
    json_t *arr = json_array();
    int line = 0;
    for (char *p = s; *p;) {
        char *nl = strchr(p, '\n');
        cr_assert(nl != NULL, "%s: last line not terminated", name);
        *nl = '\0';
        line++;
        json_error_t e;
        json_t *o = json_loads(p, 0, &e);
        cr_assert(o != NULL && json_is_object(o), "%s:%d: %s", name, line, e.text);
        json_array_append_new(arr, o);
        p = nl + 1;
    }
    free(s);
    return arr;
}

static const char *str_field(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "missing string field '%s'", key);
    return json_string_value(v);
}

// 1 when s holds a CJK Unified Ideograph (U+4E00..U+9FFF, 3-byte UTF-8 E4..E9).
static int has_cjk(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0xE4 && *p <= 0xE9 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80) return 1;
    return 0;
}

static int is_ascii(const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80) return 0;
    return 1;
}

// All pretraining texts joined with '\n' (no sentence contains '\n').
static char *pretrain_text(json_t *docs) {
    size_t total = 1, i;
    json_t *d;
    json_array_foreach(docs, i, d) total += strlen(str_field(d, "text")) + 1;
    char *all = malloc(total), *p = all;
    json_array_foreach(docs, i, d) {
        const char *t = str_field(d, "text");
        size_t n = strlen(t);
        memcpy(p, t, n);
        p += n;
        *p++ = '\n';
    }
    *p = '\0';
    return all;
}

Test(demo_data, same_seed_same_bytes_other_seed_differs_existing_dir_ok) {
    char *a = generate("demo_a", "7"), *b = generate("demo_b", "7"), *c = generate("demo_c", "8");
    for (int i = 0; i < N_DEMO_FILES; i++)
        cr_assert(files_equal(a, b, demo_files[i]), "%s differs between two runs with seed 7",
                  demo_files[i]);
    for (int i = 0; i < 4; i++)
        cr_assert(!files_equal(a, c, demo_files[i]), "%s is the same for seeds 7 and 8",
                  demo_files[i]);
    // Regenerating into an existing directory replaces the files (same bytes), leaves no temp
    // files.
    mm_proc_result r = run_demo("--out", a, "--seed", "7", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    for (int i = 0; i < N_DEMO_FILES; i++) cr_assert(files_equal(a, b, demo_files[i]));
    DIR *dir = opendir(a);
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        if (e->d_name[0] != '.') {
            n++;
            cr_assert(strstr(e->d_name, ".tmp") == NULL, "temporary file left: %s", e->d_name);
        }
    closedir(dir);
    cr_assert_eq(n, N_DEMO_FILES);
    // A nested output directory is created.
    char *nested = mm_test_path(c, "x/y");
    r = run_demo("--out", nested, "--seed", "7", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    cr_assert(files_equal(a, nested, "pretrain.jsonl"));
    free(nested);
    mm_test_rmtree(a);
    mm_test_rmtree(b);
    mm_test_rmtree(c);
    free(a);
    free(b);
    free(c);
}

static int uuid_ok(const char *u) {
    if (strlen(u) != 36) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (u[i] != '-') return 0;
        } else if (!strchr("0123456789abcdef", u[i])) {
            return 0;
        }
    }
    return u[14] == '4' && strchr("89ab", u[19]) != NULL;
}

// Index of the object of (subject, predicate) in a jansson object keyed "subject\tpredicate".
static const char *lookup(json_t *index, const char *subject, const char *predicate) {
    char key[512];
    snprintf(key, sizeof key, "%s\t%s", subject, predicate);
    json_t *v = json_object_get(index, key);
    return v ? json_string_value(v) : NULL;
}

// The unseen facts' ids (unseen_facts.jsonl) as a mask over the world's facts; their count.
static int unseen_mask(const char *dir, int n_facts, char *mask) {
    json_t *items = load_jsonl(dir, "unseen_facts.jsonl"), *item;
    size_t i;
    int n = 0;
    memset(mask, 0, (size_t)n_facts);
    json_array_foreach(items, i, item) {
        json_int_t id = json_integer_value(json_object_get(item, "fact_id"));
        cr_assert(id >= 0 && id < n_facts, "fact_id %lld", (long long)id);
        n += !mask[id];
        mask[id] = 1;
    }
    json_decref(items);
    return n;
}

Test(demo_data, formats_counts_consistency_and_held_out_prompts) {
    char *dir = generate("demo_fmt", "42");

    // --- sentence_trex_data.json: the TREx structure, distinct functional facts, unique uuids.
    json_t *trex = load_json(dir, "sentence_trex_data.json");
    cr_assert(json_is_array(trex));
    size_t n_facts = json_array_size(trex);
    cr_assert_geq(n_facts, 2000);
    json_t *index = json_object(), *uuids = json_object();
    size_t i;
    json_t *item;
    json_array_foreach(trex, i, item) {
        json_t *target = json_object_get(item, "target");
        cr_assert(json_is_array(target) && json_array_size(target) == 1, "item %zu: target", i);
        json_t *t = json_array_get(target, 0);
        cr_assert_eq(json_object_size(t), 5, "item %zu: target[0] has %zu keys", i,
                     json_object_size(t));
        const char *sentence = str_field(t, "sentence"), *uuid = str_field(t, "uuid");
        const char *s = str_field(t, "subject"), *p = str_field(t, "predicate"),
                   *o = str_field(t, "object");
        cr_assert(strstr(sentence, s) && strstr(sentence, o), "item %zu: '%s' lacks %s/%s", i,
                  sentence, s, o);
        cr_assert(is_ascii(sentence), "TREx sentences are English: %s", sentence);
        cr_assert(uuid_ok(uuid), "bad uuid '%s'", uuid);
        cr_assert_null(json_object_get(uuids, uuid), "duplicate uuid %s", uuid);
        json_object_set_new(uuids, uuid, json_true());
        cr_assert_null(lookup(index, s, p), "fact (%s, %s) stated twice", s, p);
        char key[512];
        snprintf(key, sizeof key, "%s\t%s", s, p);
        json_object_set_new(index, key, json_string(o));
    }
    cr_assert_eq(json_object_size(index), n_facts, "distinct facts");

    // --- the world is consistent: one capital per country, inside it; founders work at their
    // company, which they founded after they were born.
    json_t *capital_of_country = json_object();
    int n_capitals = 0, n_founders = 0;
    json_array_foreach(trex, i, item) {
        json_t *t = json_array_get(json_object_get(item, "target"), 0);
        const char *s = str_field(t, "subject"), *p = str_field(t, "predicate"),
                   *o = str_field(t, "object");
        if (!strcmp(p, "capital_of")) {
            n_capitals++;
            cr_assert_null(json_object_get(capital_of_country, o), "%s has two capitals", o);
            json_object_set_new(capital_of_country, o, json_string(s));
            const char *in = lookup(index, s, "located_in");
            if (in) cr_assert_str_eq(in, o, "capital %s of %s is located in %s", s, o, in);
        } else if (!strcmp(p, "founded_by")) {
            const char *works = lookup(index, o, "works_at");
            if (works) cr_assert_str_eq(works, s, "founder %s of %s works at %s", o, s, works);
            const char *founded = lookup(index, s, "founded_year"),
                       *born = lookup(index, o, "birth_year");
            if (founded && born) {
                cr_assert_gt(atoi(founded), atoi(born), "%s founded %s before being born", o, s);
                n_founders++;
            }
        }
    }
    cr_assert_gt(n_capitals, 10);
    cr_assert_gt(n_founders, 10);

    // --- pretrain.jsonl: {"text"} documents in both languages, 1-3 MB.
    json_t *docs = load_jsonl(dir, "pretrain.jsonl");
    int n_zh = 0, n_en = 0;
    json_t *d;
    json_array_foreach(docs, i, d) {
        cr_assert_eq(json_object_size(d), 1);
        const char *t = str_field(d, "text");
        if (has_cjk(t)) n_zh++;
        else if (is_ascii(t)) n_en++;
        else cr_assert_fail("document neither English nor Chinese: %s", t);
    }
    cr_assert_gt(n_zh, 1000);
    cr_assert_gt(n_en, 1000);
    size_t pre_len;
    free(slurp(dir, "pretrain.jsonl", &pre_len));
    cr_assert(pre_len >= 1000000 && pre_len <= 3000000, "pretrain.jsonl is %zu bytes", pre_len);
    char *all = pretrain_text(docs);
    // The subject of every fact but the unseen ones is mentioned in the pretraining text.
    char *unseen_ids = malloc(n_facts);
    unseen_mask(dir, (int)n_facts, unseen_ids);
    json_array_foreach(trex, i, item) {
        json_t *t = json_array_get(json_object_get(item, "target"), 0);
        if (!unseen_ids[i]) cr_assert(strstr(all, str_field(t, "subject")) != NULL);
    }
    free(unseen_ids);

    // --- eval_facts.jsonl: a few hundred items, both languages; answers learnable, prompts held
    // out.
    json_t *ev = load_jsonl(dir, "eval_facts.jsonl");
    size_t n_items = json_array_size(ev);
    cr_assert(n_items >= 200 && n_items <= 1000, "%zu eval items", n_items);
    json_t *ev_docs = load_jsonl(dir, "eval.jsonl");
    char *ev_all = pretrain_text(ev_docs);
    int per_lang[2] = {0, 0};
    json_array_foreach(ev, i, item) {
        const char *prompt = str_field(item, "prompt"), *answer = str_field(item, "answer");
        const char *lang = str_field(item, "lang"), *rel = str_field(item, "relation");
        json_t *fid = json_object_get(item, "fact_id");
        cr_assert(json_is_integer(fid));
        json_int_t id = json_integer_value(fid);
        cr_assert(id >= 0 && (size_t)id < n_facts);
        json_t *t = json_array_get(json_object_get(json_array_get(trex, (size_t)id), "target"), 0);
        cr_assert_str_eq(rel, str_field(t, "predicate"));
        if (!strcmp(lang, "en")) {
            per_lang[0]++;
            cr_assert(is_ascii(prompt));
            cr_assert_str_eq(answer, str_field(t, "object"), "en answer vs TREx object");
            cr_assert(strstr(prompt, str_field(t, "subject")) != NULL, "%s", prompt);
        } else {
            cr_assert_str_eq(lang, "zh");
            per_lang[1]++;
            cr_assert(has_cjk(prompt), "zh prompt without CJK: %s", prompt);
        }
        cr_assert(strstr(all, answer) != NULL, "answer '%s' never in pretrain.jsonl", answer);
        cr_assert(strstr(all, prompt) == NULL, "held-out prompt '%s' occurs in pretrain.jsonl",
                  prompt);
        // The held-out text states the same fact with the same wording; "suffix" ends the sentence.
        char want[1024];
        snprintf(want, sizeof want, "%s%s%s%s", prompt, !strcmp(lang, "en") ? " " : "", answer,
                 str_field(item, "suffix"));
        cr_assert(strstr(ev_all, want) != NULL, "eval.jsonl lacks '%s'", want);
    }
    cr_assert_eq(per_lang[0], per_lang[1]);
    cr_assert_gt(per_lang[0], 100);

    // --- train_facts.jsonl: the same facts, item by item, asked in a wording pretrain.jsonl has.
    json_t *seen = load_jsonl(dir, "train_facts.jsonl");
    cr_assert_eq(json_array_size(seen), n_items);
    json_array_foreach(seen, i, item) {
        json_t *held = json_array_get(ev, i);
        const char *prompt = str_field(item, "prompt"), *answer = str_field(item, "answer");
        const char *lang = str_field(item, "lang");
        cr_assert_eq(json_integer_value(json_object_get(item, "fact_id")),
                     json_integer_value(json_object_get(held, "fact_id")));
        cr_assert_str_eq(lang, str_field(held, "lang"));
        cr_assert_str_eq(answer, str_field(held, "answer"));
        cr_assert_str_eq(str_field(item, "relation"), str_field(held, "relation"));
        char want[1024];
        snprintf(want, sizeof want, "%s%s%s%s", prompt, !strcmp(lang, "en") ? " " : "", answer,
                 str_field(item, "suffix"));
        cr_assert(strstr(all, want) != NULL, "seen-wording sentence '%s' is not in pretrain.jsonl", want);
        json_t *t = json_array_get(json_object_get(json_array_get(trex, (size_t)json_integer_value(
                                                                           json_object_get(item, "fact_id"))),
                                                   "target"),
                                   0);
        if (!strcmp(lang, "en")) cr_assert(strstr(prompt, str_field(t, "subject")) != NULL, "%s", prompt);
    }
    json_decref(seen);

    // --- unseen facts: as many as the eval facts, none of them, asked in a train wording; their
    // sentences are in valid.jsonl and the TREx file (the bank's source), never in pretrain.jsonl.
    json_t *unseen = load_jsonl(dir, "unseen_facts.jsonl"), *valid_docs = load_jsonl(dir, "valid.jsonl");
    size_t n_unseen_items = json_array_size(unseen);
    cr_assert_eq(n_unseen_items, n_items);
    char *valid_all = pretrain_text(valid_docs);
    json_t *eval_ids = json_object();
    int n_canonical = 0;
    json_array_foreach(ev, i, item) {
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(item, "fact_id")));
        json_object_set_new(eval_ids, id, json_true());
    }
    json_array_foreach(unseen, i, item) {
        const char *prompt = str_field(item, "prompt"), *answer = str_field(item, "answer");
        const char *lang = str_field(item, "lang");
        json_int_t id = json_integer_value(json_object_get(item, "fact_id"));
        cr_assert(id >= 0 && (size_t)id < n_facts);
        char key[32], want[1024];
        snprintf(key, sizeof key, "%lld", (long long)id);
        cr_assert_null(json_object_get(eval_ids, key), "fact %s is both an eval and an unseen fact", key);
        json_t *t = json_array_get(json_object_get(json_array_get(trex, (size_t)id), "target"), 0);
        cr_assert_str_eq(str_field(item, "relation"), str_field(t, "predicate"));
        if (!strcmp(lang, "en")) cr_assert_str_eq(answer, str_field(t, "object"), "en answer vs TREx object");
        snprintf(want, sizeof want, "%s%s%s%s", prompt, !strcmp(lang, "en") ? " " : "", answer,
                 str_field(item, "suffix"));
        cr_assert(strstr(all, want) == NULL, "unseen fact's sentence '%s' is in pretrain.jsonl", want);
        cr_assert(strstr(valid_all, want) != NULL, "valid.jsonl lacks '%s'", want);
        if (!strcmp(lang, "en") && strcmp(str_field(t, "sentence"), want) == 0) n_canonical++;
    }
    cr_assert_gt(n_canonical, 0, "no unseen prompt in the canonical (TREx) wording");
    json_decref(eval_ids);
    json_decref(unseen);

    // --- manifest.json: seed, counts and sizes that match the files.
    json_t *m = load_json(dir, "manifest.json");
    cr_assert_eq(json_integer_value(json_object_get(m, "seed")), 42);
    cr_assert_eq((size_t)json_integer_value(json_object_get(m, "facts")), n_facts);
    cr_assert_eq((size_t)json_integer_value(json_object_get(m, "unseen_facts")), n_unseen_items / 2);
    json_t *files = json_object_get(m, "files");
    cr_assert_eq(json_array_size(files), 7);
    size_t expect_records[7] = {
        json_array_size(docs),       n_facts,       n_items, json_array_size(ev_docs), n_items,
        json_array_size(valid_docs), n_unseen_items};
    json_array_foreach(files, i, item) {
        size_t len;
        free(slurp(dir, str_field(item, "name"), &len));
        cr_assert_eq((size_t)json_integer_value(json_object_get(item, "bytes")), len, "%s bytes",
                     str_field(item, "name"));
        cr_assert_eq((size_t)json_integer_value(json_object_get(item, "records")),
                     expect_records[i]);
    }

    free(all);
    free(ev_all);
    free(valid_all);
    json_decref(valid_docs);
    json_decref(m);
    json_decref(ev);
    json_decref(ev_docs);
    json_decref(docs);
    json_decref(capital_of_country);
    json_decref(index);
    json_decref(uuids);
    json_decref(trex);
    mm_test_rmtree(dir);
    free(dir);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Splits a pretraining document into sentences (English: ". " separated; Chinese: after "。").
static void split_sentences(const char *doc, char ***out, size_t *n, size_t *cap) {
    int zh = !is_ascii(doc);
    const char *p = doc;
    while (*p) {
        const char *end = zh ? strstr(p, "。") : strstr(p, ". ");
        size_t len = end ? (size_t)(end - p) + (zh ? 3 : 1) : strlen(p);
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 4096;
            *out = realloc(*out, *cap * sizeof **out);
        }
        (*out)[(*n)++] = strndup(p, len);
        p += len;
        if (!zh && *p == ' ') p++;
    }
}

Test(demo_data, pretrain_states_every_seen_fact_with_every_train_template_in_both_languages) {
    char *dir = generate("demo_cover", "3");
    mm_demo_world w;
    cr_assert_eq(mm_demo_world_build(&w, 3, MM_DEMO_DEFAULT_FACTS), 0, "%s", mm_error_message());
    cr_assert_eq(w.n_facts, MM_DEMO_DEFAULT_FACTS);
    char *unseen = malloc((size_t)w.n_facts);
    int n_unseen = unseen_mask(dir, w.n_facts, unseen);
    cr_assert(n_unseen >= w.n_facts / 13 && n_unseen <= w.n_facts / 11, "%d unseen facts", n_unseen);
    // Expected multiset: each (seen fact, language, train template) MM_DEMO_PRETRAIN_REPEATS
    // times. Absent: every sentence of an unseen fact, and every held-out sentence.
    size_t n_exp =
        (size_t)(w.n_facts - n_unseen) * MM_DEMO_N_LANGS * MM_DEMO_TRAIN_TEMPLATES * MM_DEMO_PRETRAIN_REPEATS;
    size_t n_held = (size_t)w.n_facts * MM_DEMO_N_LANGS * MM_DEMO_TEMPLATES;
    char **exp = malloc(n_exp * sizeof *exp), **held = malloc(n_held * sizeof *held);
    size_t k = 0, h = 0;
    char buf[MM_DEMO_SENTENCE_CAP];
    for (int f = 0; f < w.n_facts; f++)
        for (int lang = 0; lang < MM_DEMO_N_LANGS; lang++)
            for (int t = 0; t < MM_DEMO_TEMPLATES; t++) {
                cr_assert_gt(mm_demo_render(&w, &w.facts[f], lang, t, buf, sizeof buf, NULL), 0);
                if (t == MM_DEMO_HELDOUT_TEMPLATE || unseen[f])
                    held[h++] = strdup(buf);
                else
                    for (int r = 0; r < MM_DEMO_PRETRAIN_REPEATS; r++) exp[k++] = strdup(buf);
            }
    cr_assert_eq(k, n_exp);
    json_t *docs = load_jsonl(dir, "pretrain.jsonl");
    char **got = NULL;
    size_t n_got = 0, cap = 0, i;
    json_t *d;
    json_array_foreach(docs, i, d) split_sentences(str_field(d, "text"), &got, &n_got, &cap);
    cr_assert_eq(n_got, n_exp, "pretrain has %zu sentences, expected %zu", n_got, n_exp);
    qsort(exp, n_exp, sizeof *exp, cmp_str);
    qsort(got, n_got, sizeof *got, cmp_str);
    for (i = 0; i < n_exp; i++) cr_assert_str_eq(got[i], exp[i]);
    // No held-out sentence, and no sentence of an unseen fact, is a pretraining sentence.
    for (i = 0; i < h; i++)
        cr_assert_null(bsearch(&held[i], got, n_got, sizeof *got, cmp_str),
                       "held-out or unseen sentence in pretrain: %s", held[i]);
    for (i = 0; i < n_exp; i++) {
        free(exp[i]);
        free(got[i]);
    }
    for (i = 0; i < h; i++) free(held[i]);
    free(unseen);
    free(exp);
    free(got);
    free(held);
    json_decref(docs);
    mm_demo_world_free(&w);
    mm_test_rmtree(dir);
    free(dir);
}

Test(demo_data, world_names_unique_exact_fact_counts_prompts_end_before_answer) {
    int sizes[] = {MM_DEMO_MIN_FACTS, 777, MM_DEMO_DEFAULT_FACTS, 5000};
    for (int s = 0; s < 4; s++) {
        mm_demo_world w;
        cr_assert_eq(mm_demo_world_build(&w, 99, sizes[s]), 0, "%s", mm_error_message());
        cr_assert_eq(w.n_facts, sizes[s]);
        // Names are unique across all entities, per language (sorted, neighbours differ).
        for (int lang = 0; lang < MM_DEMO_N_LANGS; lang++) {
            char **names = malloc((size_t)w.n_entities * sizeof *names);
            for (int e = 0; e < w.n_entities; e++) names[e] = w.entities[e].name[lang];
            qsort(names, (size_t)w.n_entities, sizeof *names, cmp_str);
            for (int e = 1; e < w.n_entities; e++)
                cr_assert_str_neq(names[e - 1], names[e], "duplicate name");
            free(names);
        }
        for (int e = 0; e < w.n_entities; e++) {
            cr_assert(is_ascii(w.entities[e].name[MM_DEMO_EN]));
            cr_assert(has_cjk(w.entities[e].name[MM_DEMO_ZH]), "%s",
                      w.entities[e].name[MM_DEMO_ZH]);
        }
        // The held-out prompt is exactly the text before the answer.
        char buf[MM_DEMO_SENTENCE_CAP];
        for (int f = 0; f < w.n_facts; f++)
            for (int lang = 0; lang < MM_DEMO_N_LANGS; lang++) {
                size_t pl;
                cr_assert_gt(mm_demo_render(&w, &w.facts[f], lang, MM_DEMO_HELDOUT_TEMPLATE, buf,
                                            sizeof buf, &pl),
                             0);
                const char *ans = mm_demo_object_text(&w, &w.facts[f], lang);
                const char *after = buf + pl + (lang == MM_DEMO_EN ? 1 : 0);
                cr_assert(pl > 0 && strncmp(after, ans, strlen(ans)) == 0, "'%s' / '%s'", buf, ans);
                cr_assert(strstr(buf, mm_demo_subject_text(&w, &w.facts[f], lang)) < buf + pl);
            }
        mm_demo_world_free(&w);
    }
    mm_demo_world w;
    cr_assert_eq(mm_demo_world_build(&w, 1, MM_DEMO_MIN_FACTS - 1), -1);
    cr_assert(strstr(mm_error_message(), "out of range") != NULL, "%s", mm_error_message());
}

Test(demo_data, rng_is_deterministic_and_uniform_enough) {
    mm_demo_rng a, b;
    mm_demo_rng_seed(&a, 5, 1);
    mm_demo_rng_seed(&b, 5, 1);
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        uint64_t x = mm_demo_rng_below(&a, 10);
        cr_assert_eq(x, mm_demo_rng_below(&b, 10));
        counts[x]++;
    }
    for (int i = 0; i < 10; i++)
        cr_assert(counts[i] > 9500 && counts[i] < 10500, "bucket %d: %d", i, counts[i]);
    mm_demo_rng_seed(&b, 5, 2);
    mm_demo_rng_seed(&a, 5, 1);
    cr_assert_neq(mm_demo_rng_next(&a), mm_demo_rng_next(&b), "streams must differ");
}

static void expect_usage_error(const char *a1, const char *a2, const char *a3, const char *a4,
                               int status, const char *what) {
    mm_proc_result r = run_demo(a1, a2, a3, a4, NULL, NULL);
    cr_assert_eq(r.status, status, "%s: status %d, stderr: %s", what, r.status, r.err);
    cr_assert(strncmp(r.err, "minimind: error: ", 17) == 0, "%s: stderr: %s", what, r.err);
    mm_proc_result_free(&r);
}

Test(demo_data, bad_arguments) {
    char *dir = mm_test_tmpdir("demo_bad");
    expect_usage_error("--seed", "1", NULL, NULL, 2, "missing --out");
    expect_usage_error("--out", dir, "--seed", "abc", 2, "non-numeric seed");
    expect_usage_error("--out", dir, "--seed", "-1", 2, "negative seed");
    expect_usage_error("--out", dir, "--seed", "18446744073709551616", 2, "seed overflow");
    expect_usage_error("--out", dir, "--seed", "", 2, "empty seed");
    expect_usage_error("--out", dir, "--facts", "10", 2, "too few facts");
    expect_usage_error("--out", dir, "--facts", "12x", 2, "bad fact count");
    expect_usage_error("--out", dir, "--bogus", NULL, 2, "unknown option");
    expect_usage_error("--out", NULL, NULL, NULL, 2, "--out without value");
    // An output path below a regular file: a run-time error naming the path.
    char *file = mm_test_path(dir, "plain");
    mm_test_write_file(file, "x", 1);
    char *below = mm_test_path(file, "sub");
    mm_proc_result r = run_demo("--out", below, NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strncmp(r.err, "minimind: error: ", 17) == 0 && strstr(r.err, file) != NULL, "%s",
              r.err);
    mm_proc_result_free(&r);
    // --help and the largest seed work.
    r = run_demo("--help", NULL, NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0);
    cr_assert(strstr(r.out, "--seed") != NULL);
    mm_proc_result_free(&r);
    r = run_demo("--out", dir, "--seed=18446744073709551615", "--facts=150", NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    json_t *m = load_json(dir, "manifest.json");
    cr_assert_str_eq(json_string_value(json_object_get(m, "seed")), "18446744073709551615");
    cr_assert_eq(json_integer_value(json_object_get(m, "facts")), 150);
    json_decref(m);
    free(below);
    free(file);
    mm_test_rmtree(dir);
    free(dir);
}
