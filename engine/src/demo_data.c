// The demo corpus writer (see minimind/demo_data.h): renders the world of demo_facts.c into
// pretrain.jsonl, sentence_trex_data.json, eval_facts.jsonl, eval.jsonl, train_facts.jsonl,
// valid.jsonl, unseen_facts.jsonl and manifest.json.
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/demo_data.h"
#include "minimind/error.h"

// PRNG streams (one per purpose, so changing one output never reshuffles another).
enum {
    MM_STREAM_PRETRAIN = 2,
    MM_STREAM_EVAL_PICK = 3,
    MM_STREAM_EVAL_DOCS = 4,
    MM_STREAM_UNSEEN_PICK = 5,
    MM_STREAM_VALID_DOCS = 6,
    MM_STREAM_UUID = 16
};

// Pretraining documents hold this many sentences (whole subject groups are kept together).
#define MM_DOC_MIN_SENTENCES 2
#define MM_DOC_MAX_SENTENCES 5
// About one fact in MM_EVAL_EVERY gets eval items (at most about MM_EVAL_MAX_FACTS); as many
// others are unseen facts (stated only in sentence_trex_data.json, valid.jsonl, unseen_facts.jsonl).
#define MM_EVAL_EVERY 12
#define MM_EVAL_MAX_FACTS 500

static const char *const mm_file_names[MM_DEMO_N_FILES] = {
    "pretrain.jsonl", "sentence_trex_data.json", "eval_facts.jsonl", "eval.jsonl", "train_facts.jsonl",
    "valid.jsonl",    "unseen_facts.jsonl",      "manifest.json"};

static const char *const mm_file_descriptions[MM_DEMO_N_FILES] = {
    "pretraining text: JSON Lines {\"text\": ...}, short paragraphs stating every fact but the "
    "unseen ones twice with each of the train templates, in English and in Chinese (documents "
    "shuffled)",
    "TREx-style fact records: a JSON list, one item per fact (list index = fact_id), "
    "{\"target\": [{\"sentence\", \"uuid\", \"subject\", \"predicate\", \"object\"}]} with the "
    "canonical English sentence",
    "held-out fact completion: JSON Lines {\"prompt\", \"answer\", \"fact_id\", \"lang\", "
    "\"relation\"}; the prompt wording (a held-out template) never occurs in pretrain.jsonl, the "
    "fact itself does in other wordings",
    "held-out evaluation text: JSON Lines {\"text\": ...}, the eval facts rendered with the "
    "held-out templates (usable with `minimind eval --data`)",
    "seen-wording fact completion (memorisation probe): the facts of eval_facts.jsonl, same fields, "
    "the prompt being the start of a sentence that pretrain.jsonl contains (a train template with "
    "the subject first, preferably ending with the object and not the start of another fact's "
    "sentence about the same subject)",
    "validation text: JSON Lines {\"text\": ...}, paragraphs like pretrain.jsonl's (train "
    "templates, once each, both languages) stating only the unseen facts: facts pretrain.jsonl never "
    "states and sentence_trex_data.json (hence the knowledge bank) does; the default eval_data_path "
    "of the demo runs",
    "unseen-fact completion (bank-only probe): JSON Lines like train_facts.jsonl (a train wording) "
    "for the unseen facts, whose answers only the knowledge bank holds",
    "this file"};

// ---------------------------------------------------------------------------------------------
// Small helpers: a growable string, a list of owned strings, a counting output file.

typedef struct mm_sbuf {
    char *p;
    size_t len, cap;
} mm_sbuf;

static int mm_sbuf_add(mm_sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = mm_realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

typedef struct mm_docs {
    char **text;
    int n, cap;
} mm_docs;

static int mm_docs_push(mm_docs *d, char *s) {  // takes ownership of s
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 1024;
        char **t = mm_realloc(d->text, (size_t)cap * sizeof *t);
        if (!t) {
            free(s);
            return -1;
        }
        d->text = t;
        d->cap = cap;
    }
    d->text[d->n++] = s;
    return 0;
}

static void mm_docs_free(mm_docs *d) {
    for (int i = 0; i < d->n; i++) free(d->text[i]);
    free(d->text);
    memset(d, 0, sizeof *d);
}

typedef struct mm_out {
    mm_atomic_file af;
    mm_demo_file_stat *st;
} mm_out;

static int mm_out_open(mm_out *o, const char *dir, int file, mm_demo_file_stat *st) {
    size_t n = strlen(dir) + strlen(mm_file_names[file]) + 2;
    char *path = mm_malloc(n);
    if (!path) return -1;
    snprintf(path, n, "%s/%s", dir, mm_file_names[file]);
    o->st = st;
    st->name = mm_file_names[file];
    st->records = st->bytes = 0;
    int rc = mm_atomic_open(&o->af, path);
    free(path);
    return rc;
}

static int mm_out_write(mm_out *o, const char *s, size_t n) {
    if (fwrite(s, 1, n, o->af.fp) != n) return mm_errorf_errno("%s: write failed", o->af.path);
    o->st->bytes += (long long)n;
    return 0;
}

// Writes obj compactly (UTF-8, not ASCII-escaped) followed by `end`; takes the reference.
static int mm_out_json(mm_out *o, json_t *obj, const char *end) {
    if (!obj) return mm_errorf("%s: out of memory building JSON", o->af.path);
    char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!s) return mm_errorf("%s: cannot serialize JSON", o->af.path);
    int rc = mm_out_write(o, s, strlen(s));
    free(s);
    if (rc == 0) rc = mm_out_write(o, end, strlen(end));
    return rc;
}

static int mm_out_commit(mm_out *o) { return mm_atomic_commit(&o->af); }
static void mm_out_abort(mm_out *o) { mm_atomic_abort(&o->af); }

static int mm_write_text_lines(mm_out *o, const mm_docs *docs) {
    for (int i = 0; i < docs->n; i++) {
        json_t *obj = json_object();
        if (obj && json_object_set_new(obj, "text", json_string(docs->text[i])) != 0) {
            json_decref(obj);
            obj = NULL;
        }
        if (mm_out_json(o, obj, "\n") != 0) return -1;
        o->st->records++;
    }
    return 0;
}

static int mm_mkdir_p(const char *dir) {
    char *p = mm_strdup(dir);
    if (!p) return -1;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = mm_errorf_errno("%s: cannot create directory", p);
            break;
        }
        *s = c;
        if (c == '\0') break;
    }
    free(p);
    struct stat sb;
    if (rc == 0 && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = mm_errorf("%s: not a directory", dir);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Documents: facts packed into short paragraphs.

// Packs `order` (fact indices; a document boundary may fall only where breakable[i] is set,
// i.e. before position i) into documents of MM_DOC_MIN..MAX sentences (more when a group is
// long). tmpl_for(fact) picks each sentence's template.
typedef struct mm_pack_spec {
    mm_demo_lang lang;
    int round;    // pretraining round: template = (rotation + round) % train templates
    int heldout;  // use the held-out template instead
} mm_pack_spec;

static int mm_pack_docs(const mm_demo_world *w, mm_demo_rng *rng, const int *order,
                        const char *breakable, int n, const mm_pack_spec *spec, mm_docs *out) {
    const char *sep = spec->lang == MM_DEMO_EN ? " " : "";
    char sentence[MM_DEMO_SENTENCE_CAP];
    mm_sbuf doc = {0};
    int in_doc = 0, target = 0;
    for (int i = 0; i <= n; i++) {
        if (in_doc > 0 && (i == n || (breakable[i] && in_doc >= target))) {
            if (mm_docs_push(out, doc.p) != 0) return -1;
            memset(&doc, 0, sizeof doc);
            in_doc = 0;
        }
        if (i == n) break;
        if (in_doc == 0)
            target = MM_DOC_MIN_SENTENCES +
                     (int)mm_demo_rng_below(rng, MM_DOC_MAX_SENTENCES - MM_DOC_MIN_SENTENCES + 1);
        const mm_demo_fact *f = &w->facts[order[i]];
        int tmpl = spec->heldout ? MM_DEMO_HELDOUT_TEMPLATE
                                 : (f->rotation + spec->round) % MM_DEMO_TRAIN_TEMPLATES;
        int len = mm_demo_render(w, f, spec->lang, tmpl, sentence, sizeof sentence, NULL);
        if (len < 0 || (in_doc > 0 && mm_sbuf_add(&doc, sep, strlen(sep)) != 0) ||
            mm_sbuf_add(&doc, sentence, (size_t)len) != 0) {
            free(doc.p);
            return -1;
        }
        in_doc++;
    }
    return 0;
}

static void mm_shuffle_docs(mm_demo_rng *rng, mm_docs *d) {
    for (int i = d->n - 1; i > 0; i--) {
        int j = (int)mm_demo_rng_below(rng, (uint64_t)i + 1);
        char *t = d->text[i];
        d->text[i] = d->text[j];
        d->text[j] = t;
    }
}

// Every fact not marked in `unseen` MM_DEMO_PRETRAIN_REPEATS times per (train template,
// language): one round per (repeat, template) and language, each round regrouping the subjects
// into different paragraphs.
static int mm_build_pretrain_docs(const mm_demo_world *w, uint64_t seed, const char *unseen, mm_docs *docs) {
    int n = 0, n_groups = 0;
    int *stated = mm_malloc(((size_t)w->n_facts + 1) * sizeof(int));  // [n] fact indices, by subject
    int *group_first = mm_malloc(((size_t)w->n_facts + 1) * sizeof(int));
    int *order = mm_malloc(((size_t)w->n_facts + 1) * sizeof(int));
    int *groups = mm_malloc(((size_t)w->n_facts + 1) * sizeof(int));
    char *breakable = mm_malloc((size_t)w->n_facts + 1);
    int rc = (stated && group_first && order && groups && breakable) ? 0 : -1;
    for (int i = 0; rc == 0 && i < w->n_facts; i++)
        if (!unseen[i]) stated[n++] = i;
    for (int i = 0; rc == 0 && i < n; i++)
        if (i == 0 || w->facts[stated[i]].subject != w->facts[stated[i - 1]].subject)
            group_first[n_groups++] = i;
    if (rc == 0) group_first[n_groups] = n;
    mm_demo_rng rng;
    mm_demo_rng_seed(&rng, seed, MM_STREAM_PRETRAIN);
    for (int round = 0; rc == 0 && round < MM_DEMO_TRAIN_TEMPLATES * MM_DEMO_PRETRAIN_REPEATS;
         round++) {
        for (int lang = 0; rc == 0 && lang < MM_DEMO_N_LANGS; lang++) {
            for (int g = 0; g < n_groups; g++) groups[g] = g;
            mm_demo_rng_shuffle(&rng, groups, n_groups);
            int k = 0;
            for (int g = 0; g < n_groups; g++) {
                int first = group_first[groups[g]], size = group_first[groups[g] + 1] - first;
                for (int j = 0; j < size; j++) {
                    order[k + j] = stated[first + j];
                    breakable[k + j] = j == 0;
                }
                mm_demo_rng_shuffle(&rng, order + k, size);  // sentence order within a subject
                k += size;
            }
            mm_pack_spec spec = {(mm_demo_lang)lang, round, 0};
            rc = mm_pack_docs(w, &rng, order, breakable, n, &spec, docs);
        }
    }
    if (rc == 0) mm_shuffle_docs(&rng, docs);
    free(stated);
    free(group_first);
    free(order);
    free(groups);
    free(breakable);
    return rc;
}

static int mm_cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

// Picks about one fact in MM_EVAL_EVERY (at most MM_EVAL_MAX_FACTS; sorted fact indices) from
// the facts not marked in `taken` (NULL: none), stratified so that every relation gets its share
// (at least one while one is left); `stream` is the PRNG stream of this pick. Returns the count or -1.
static int mm_pick_facts(const mm_demo_world *w, uint64_t seed, uint64_t stream, const char *taken,
                         int **out) {
    long long target = w->n_facts / MM_EVAL_EVERY;
    if (target > MM_EVAL_MAX_FACTS) target = MM_EVAL_MAX_FACTS;
    if (target < 1) target = 1;
    int per_rel[MM_DEMO_N_RELATIONS] = {0}, quota[MM_DEMO_N_RELATIONS];
    for (int i = 0; i < w->n_facts; i++) per_rel[w->facts[i].relation]++;
    for (int r = 0; r < MM_DEMO_N_RELATIONS; r++)
        quota[r] = (int)((per_rel[r] * target + w->n_facts - 1) / w->n_facts);  // ceil
    int *all = mm_malloc((size_t)w->n_facts * sizeof(int));
    if (!all) return -1;
    for (int i = 0; i < w->n_facts; i++) all[i] = i;
    mm_demo_rng rng;
    mm_demo_rng_seed(&rng, seed, stream);
    mm_demo_rng_shuffle(&rng, all, w->n_facts);
    int n = 0;
    for (int i = 0; i < w->n_facts; i++) {
        int r = w->facts[all[i]].relation;
        if (quota[r] > 0 && !(taken && taken[all[i]])) {
            quota[r]--;
            all[n++] = all[i];
        }
    }
    qsort(all, (size_t)n, sizeof(int), mm_cmp_int);
    *out = all;
    return n;
}

// Paragraphs of the facts `which[n]` in both languages: with heldout set, once in the held-out
// template (eval.jsonl); otherwise once in every train template (valid.jsonl). `stream`: the PRNG
// stream of these documents.
static int mm_build_fact_docs(const mm_demo_world *w, uint64_t seed, uint64_t stream, const int *which, int n,
                              int heldout, mm_docs *docs) {
    int *order = mm_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    char *breakable = mm_malloc((size_t)n + 1);
    int rc = (order && breakable) ? 0 : -1;
    const int rounds = heldout ? 1 : MM_DEMO_TRAIN_TEMPLATES;
    mm_demo_rng rng;
    mm_demo_rng_seed(&rng, seed, stream);
    for (int round = 0; rc == 0 && round < rounds; round++)
        for (int lang = 0; rc == 0 && lang < MM_DEMO_N_LANGS; lang++) {
            memcpy(order, which, (size_t)n * sizeof(int));
            memset(breakable, 1, (size_t)n + 1);
            mm_demo_rng_shuffle(&rng, order, n);
            mm_pack_spec spec = {(mm_demo_lang)lang, round, heldout};
            rc = mm_pack_docs(w, &rng, order, breakable, n, &spec, docs);
        }
    if (rc == 0) mm_shuffle_docs(&rng, docs);
    free(order);
    free(breakable);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// The files.

static int mm_write_docs_file(const char *dir, int file, const mm_docs *docs,
                              mm_demo_file_stat *st) {
    mm_out o;
    if (mm_out_open(&o, dir, file, st) != 0) return -1;
    if (mm_write_text_lines(&o, docs) != 0) {
        mm_out_abort(&o);
        return -1;
    }
    return mm_out_commit(&o);
}

// A version-4-style UUID derived from (seed, fact index).
static void mm_fact_uuid(uint64_t seed, int idx, char out[37]) {
    mm_demo_rng rng;
    mm_demo_rng_seed(&rng, seed, MM_STREAM_UUID + (uint64_t)idx);
    uint64_t hi = mm_demo_rng_next(&rng), lo = mm_demo_rng_next(&rng);
    hi = (hi & ~0xF000ull) | 0x4000ull;                                   // version 4
    lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;            // RFC 4122 variant
    snprintf(out, 37, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(hi >> 32),
             (unsigned long long)((hi >> 16) & 0xFFFF), (unsigned long long)(hi & 0xFFFF),
             (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xFFFFFFFFFFFFull));
}

static int mm_write_trex(const char *dir, const mm_demo_world *w, mm_demo_file_stat *st) {
    mm_out o;
    if (mm_out_open(&o, dir, MM_DEMO_FILE_TREX, st) != 0) return -1;
    int rc = mm_out_write(&o, "[\n", 2);
    char sentence[MM_DEMO_SENTENCE_CAP], uuid[37];
    for (int i = 0; rc == 0 && i < w->n_facts; i++) {
        const mm_demo_fact *f = &w->facts[i];
        if (mm_demo_render(w, f, MM_DEMO_EN, 0, sentence, sizeof sentence, NULL) < 0) {
            rc = -1;
            break;
        }
        mm_fact_uuid(w->seed, i, uuid);
        json_t *t = json_pack("{s:s, s:s, s:s, s:s, s:s}", "sentence", sentence, "uuid", uuid,
                              "subject", mm_demo_subject_text(w, f, MM_DEMO_EN), "predicate",
                              mm_demo_relation_name(f->relation), "object",
                              mm_demo_object_text(w, f, MM_DEMO_EN));
        json_t *item = t ? json_pack("{s:[o]}", "target", t) : NULL;
        rc = mm_out_json(&o, item, i + 1 < w->n_facts ? ",\n" : "\n");
        st->records++;
    }
    if (rc == 0) rc = mm_out_write(&o, "]\n", 2);
    if (rc != 0) {
        mm_out_abort(&o);
        return -1;
    }
    return mm_out_commit(&o);
}

// 1 when the prompt buf[0..plen) asks for f's object without ambiguity: the sentence ends with the
// object and its final punctuation, and the prompt is not the start of a train sentence of another
// fact about the same subject ("X was born in" would also begin "X was born in the year 1764.").
static int mm_seen_prompt_ok(const mm_demo_world *w, int fi, mm_demo_lang lang, const char *buf, size_t plen) {
    const mm_demo_fact *f = &w->facts[fi];
    const char *obj = mm_demo_object_text(w, f, lang), *at = buf + plen;
    while (*at == ' ') at++;
    size_t ol = strlen(obj);
    if (strncmp(at, obj, ol) != 0 || (strcmp(at + ol, ".") != 0 && strcmp(at + ol, "\xe3\x80\x82") != 0)) return 0;
    char other[MM_DEMO_SENTENCE_CAP];
    for (int d = -1; d <= 1; d += 2)
        for (int j = fi + d; j >= 0 && j < w->n_facts && w->facts[j].subject == f->subject; j += d)
            for (int t = 0; t < MM_DEMO_TRAIN_TEMPLATES; t++) {
                if (mm_demo_render(w, &w->facts[j], lang, t, other, sizeof other, NULL) < 0) return -1;
                if (!strncmp(other, buf, plen)) return 0;
            }
    return 1;
}

// A completion prompt for fact fi in a train template (a wording pretrain.jsonl contains), rendered
// into buf: the first template whose prompt contains the subject and asks without ambiguity
// (mm_seen_prompt_ok), else the first whose prompt contains the subject. -1 with the error set when
// no template has the subject before the object.
static int mm_render_seen_prompt(const mm_demo_world *w, int fi, mm_demo_lang lang, char *buf, size_t cap,
                                 size_t *prompt_len) {
    const mm_demo_fact *f = &w->facts[fi];
    const char *subject = mm_demo_subject_text(w, f, lang);
    int fallback = -1;
    for (int t = 0; t < MM_DEMO_TRAIN_TEMPLATES; t++) {
        if (mm_demo_render(w, f, lang, t, buf, cap, prompt_len) < 0) return -1;
        char c = buf[*prompt_len];
        buf[*prompt_len] = '\0';
        int has_subject = *prompt_len > 0 && strstr(buf, subject) != NULL;
        buf[*prompt_len] = c;
        if (!has_subject) continue;
        int ok = mm_seen_prompt_ok(w, fi, lang, buf, *prompt_len);
        if (ok < 0) return -1;
        if (ok) return 0;
        if (fallback < 0) fallback = t;
    }
    if (fallback >= 0) return mm_demo_render(w, f, lang, fallback, buf, cap, prompt_len) < 0 ? -1 : 0;
    return mm_errorf("demo-data: relation %s (%s) has no train template with the subject first",
                     mm_demo_relation_name(f->relation), mm_demo_lang_code(lang));
}

// Fact-completion items for the facts `eval[n_eval]` into `file`: with seen = 0 in the held-out
// template (eval_facts.jsonl), with seen = 1 in a train template (train_facts.jsonl,
// unseen_facts.jsonl).
static int mm_write_facts(const char *dir, int file, const mm_demo_world *w, const int *eval, int n_eval,
                          int seen, mm_demo_file_stat *st) {
    mm_out o;
    if (mm_out_open(&o, dir, file, st) != 0) return -1;
    char sentence[MM_DEMO_SENTENCE_CAP];
    int rc = 0;
    for (int i = 0; rc == 0 && i < n_eval; i++) {
        const mm_demo_fact *f = &w->facts[eval[i]];
        for (int lang = 0; rc == 0 && lang < MM_DEMO_N_LANGS; lang++) {
            size_t prompt_len;
            if (seen ? mm_render_seen_prompt(w, eval[i], (mm_demo_lang)lang, sentence, sizeof sentence, &prompt_len) < 0
                     : mm_demo_render(w, f, (mm_demo_lang)lang, MM_DEMO_HELDOUT_TEMPLATE, sentence,
                                      sizeof sentence, &prompt_len) < 0) {
                rc = -1;
                break;
            }
            const char *answer = mm_demo_object_text(w, f, (mm_demo_lang)lang), *after = sentence + prompt_len;
            while (*after == ' ') after++;
            after += strlen(answer);  // the rest of the sentence: "." or "上班。"
            json_t *obj = json_pack("{s:s%, s:s, s:s, s:i, s:s, s:s}", "prompt", sentence, prompt_len, "answer", answer,
                                    "suffix", after, "fact_id", eval[i], "lang", mm_demo_lang_code((mm_demo_lang)lang),
                                    "relation", mm_demo_relation_name(f->relation));
            rc = mm_out_json(&o, obj, "\n");
            st->records++;
        }
    }
    if (rc != 0) {
        mm_out_abort(&o);
        return -1;
    }
    return mm_out_commit(&o);
}

static json_t *mm_manifest_json(const mm_demo_world *w, const mm_demo_summary *sum) {
    json_t *m = json_object();
    if (!m) return NULL;
    int bad = 0;
    bad |= json_object_set_new(m, "generator", json_string("minimind demo-data"));
    bad |= json_object_set_new(m, "format_version", json_integer(2));
    if (w->seed <= (uint64_t)LLONG_MAX) {
        bad |= json_object_set_new(m, "seed", json_integer((json_int_t)w->seed));
    } else {
        char s[32];
        snprintf(s, sizeof s, "%llu", (unsigned long long)w->seed);
        bad |= json_object_set_new(m, "seed", json_string(s));
    }
    bad |= json_object_set_new(m, "facts", json_integer(w->n_facts));
    bad |= json_object_set_new(m, "eval_facts", json_integer(sum->n_eval_facts));
    bad |= json_object_set_new(m, "unseen_facts", json_integer(sum->n_unseen_facts));
    bad |= json_object_set_new(m, "languages", json_pack("[s, s]", "en", "zh"));
    bad |= json_object_set_new(m, "train_templates_per_relation_and_language",
                               json_integer(MM_DEMO_TRAIN_TEMPLATES));
    bad |= json_object_set_new(m, "pretrain_repeats_per_train_template",
                               json_integer(MM_DEMO_PRETRAIN_REPEATS));
    bad |= json_object_set_new(m, "held_out_templates_per_relation_and_language",
                               json_integer(MM_DEMO_TEMPLATES - MM_DEMO_TRAIN_TEMPLATES));
    json_t *ent = json_object();
    for (int t = 0; ent && t < MM_DEMO_N_TYPES; t++)
        bad |= json_object_set_new(ent, mm_demo_type_name((mm_demo_entity_type)t),
                                   json_integer(w->type_count[t]));
    bad |= json_object_set_new(m, "entities", ent);
    json_t *rels = json_array();
    for (int r = 0; rels && r < MM_DEMO_N_RELATIONS; r++) {
        int count = 0, subject_type = -1;
        for (int i = 0; i < w->n_facts; i++)
            if (w->facts[i].relation == (mm_demo_relation)r) {
                count++;
                subject_type = w->entities[w->facts[i].subject].type;
            }
        bad |= json_array_append_new(
            rels,
            json_pack("{s:s, s:s, s:i}", "predicate", mm_demo_relation_name((mm_demo_relation)r),
                      "subject",
                      subject_type < 0 ? "-" : mm_demo_type_name((mm_demo_entity_type)subject_type),
                      "facts", count));
    }
    bad |= json_object_set_new(m, "relations", rels);
    json_t *files = json_array();
    for (int i = 0; files && i < MM_DEMO_FILE_MANIFEST; i++)
        bad |= json_array_append_new(
            files, json_pack("{s:s, s:s, s:I, s:I}", "name", sum->files[i].name, "description",
                             mm_file_descriptions[i], "records", (json_int_t)sum->files[i].records,
                             "bytes", (json_int_t)sum->files[i].bytes));
    bad |= json_object_set_new(m, "files", files);
    if (bad) {
        json_decref(m);
        return NULL;
    }
    return m;
}

static int mm_write_manifest(const char *dir, const mm_demo_world *w, mm_demo_summary *sum) {
    mm_demo_file_stat *st = &sum->files[MM_DEMO_FILE_MANIFEST];
    mm_out o;
    if (mm_out_open(&o, dir, MM_DEMO_FILE_MANIFEST, st) != 0) return -1;
    json_t *m = mm_manifest_json(w, sum);
    char *s = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(m);
    int rc = s ? 0 : mm_errorf("%s: cannot build the manifest JSON", o.af.path);
    if (rc == 0) rc = mm_out_write(&o, s, strlen(s));
    if (rc == 0) rc = mm_out_write(&o, "\n", 1);
    free(s);
    st->records = 1;
    if (rc != 0) {
        mm_out_abort(&o);
        return -1;
    }
    return mm_out_commit(&o);
}

// The picks of one world: eval facts (eval_facts.jsonl, eval.jsonl, train_facts.jsonl) and,
// disjoint from them, unseen facts (valid.jsonl, unseen_facts.jsonl; absent from pretrain.jsonl).
typedef struct mm_demo_picks {
    int *eval, n_eval;
    int *unseen, n_unseen;
    char *is_unseen;  // [n_facts]
} mm_demo_picks;

static void mm_picks_free(mm_demo_picks *p) {
    free(p->eval);
    free(p->unseen);
    free(p->is_unseen);
}

static int mm_picks_make(const mm_demo_world *w, uint64_t seed, mm_demo_picks *p) {
    memset(p, 0, sizeof *p);
    char *is_eval = mm_calloc((size_t)w->n_facts, 1);
    p->is_unseen = mm_calloc((size_t)w->n_facts, 1);
    int rc = is_eval && p->is_unseen ? 0 : -1;
    if (rc == 0) p->n_eval = mm_pick_facts(w, seed, MM_STREAM_EVAL_PICK, NULL, &p->eval);
    rc = rc == 0 && p->n_eval >= 0 ? 0 : -1;
    for (int i = 0; rc == 0 && i < p->n_eval; i++) is_eval[p->eval[i]] = 1;
    if (rc == 0) p->n_unseen = mm_pick_facts(w, seed, MM_STREAM_UNSEEN_PICK, is_eval, &p->unseen);
    rc = rc == 0 && p->n_unseen >= 0 ? 0 : -1;
    for (int i = 0; rc == 0 && i < p->n_unseen; i++) p->is_unseen[p->unseen[i]] = 1;
    free(is_eval);
    if (rc != 0) mm_picks_free(p);
    return rc;
}

static int mm_write_fact_docs(const char *dir, int file, const mm_demo_world *w, uint64_t stream,
                              const int *which, int n, int heldout, mm_demo_summary *sum) {
    mm_docs docs = {0};
    int rc = mm_build_fact_docs(w, w->seed, stream, which, n, heldout, &docs);
    if (rc == 0) rc = mm_write_docs_file(dir, file, &docs, &sum->files[file]);
    mm_docs_free(&docs);
    return rc;
}

static int mm_demo_write_files(const char *dir, const mm_demo_world *w, const mm_demo_picks *p,
                               mm_demo_summary *sum) {
    mm_docs pretrain = {0};
    int rc = mm_build_pretrain_docs(w, w->seed, p->is_unseen, &pretrain);
    if (rc == 0)
        rc = mm_write_docs_file(dir, MM_DEMO_FILE_PRETRAIN, &pretrain, &sum->files[MM_DEMO_FILE_PRETRAIN]);
    mm_docs_free(&pretrain);
    mm_demo_file_stat *st = sum->files;
    if (rc == 0) rc = mm_write_trex(dir, w, &st[MM_DEMO_FILE_TREX]);
    if (rc == 0)
        rc = mm_write_facts(dir, MM_DEMO_FILE_EVAL_FACTS, w, p->eval, p->n_eval, 0,
                            &st[MM_DEMO_FILE_EVAL_FACTS]);
    if (rc == 0)
        rc = mm_write_facts(dir, MM_DEMO_FILE_TRAIN_FACTS, w, p->eval, p->n_eval, 1,
                            &st[MM_DEMO_FILE_TRAIN_FACTS]);
    if (rc == 0)
        rc = mm_write_fact_docs(dir, MM_DEMO_FILE_EVAL, w, MM_STREAM_EVAL_DOCS, p->eval, p->n_eval, 1, sum);
    if (rc == 0)
        rc = mm_write_fact_docs(dir, MM_DEMO_FILE_VALID, w, MM_STREAM_VALID_DOCS, p->unseen, p->n_unseen, 0,
                                sum);
    if (rc == 0)
        rc = mm_write_facts(dir, MM_DEMO_FILE_UNSEEN_FACTS, w, p->unseen, p->n_unseen, 1,
                            &st[MM_DEMO_FILE_UNSEEN_FACTS]);
    if (rc == 0) rc = mm_write_manifest(dir, w, sum);
    return rc;
}

int mm_demo_data_write(const char *out_dir, uint64_t seed, int n_facts, mm_demo_summary *summary) {
    mm_demo_summary local;
    mm_demo_summary *sum = summary ? summary : &local;
    memset(sum, 0, sizeof *sum);
    mm_demo_world w;
    if (mm_demo_world_build(&w, seed, n_facts) != 0) return -1;
    mm_demo_picks picks;
    int rc = mm_mkdir_p(out_dir);
    if (rc == 0) rc = mm_picks_make(&w, seed, &picks);
    if (rc == 0) {
        sum->n_facts = w.n_facts;
        sum->n_entities = w.n_entities;
        sum->n_eval_facts = picks.n_eval;
        sum->n_unseen_facts = picks.n_unseen;
        rc = mm_demo_write_files(out_dir, &w, &picks, sum);
        mm_picks_free(&picks);
    }
    mm_demo_world_free(&w);
    return rc;
}
