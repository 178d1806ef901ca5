// Fact recall (`minimind eval --facts FILE`): exact-match accuracy of greedy completions on a
// fact-completion file (the demo's eval_facts.jsonl: {"prompt", "answer", ...}); see
// minimind/evaluate.h for the matching rule.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/evaluate.h"
#include "minimind/inference.h"
#include "minimind/json_text.h"
#include "minimind/jsonl.h"
#include "minimind/progress.h"
#include "minimind/sampler.h"
#include "minimind/stats.h"

// The code point starting at s (n bytes available) and its length; invalid UTF-8 reads as one byte.
static unsigned mm_utf8_at(const unsigned char *s, size_t n, size_t *len) {
    if (n >= 3 && (s[0] & 0xF0) == 0xE0) return *len = 3, (unsigned)(s[0] & 0x0F) << 12 | (unsigned)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    if (n >= 2 && (s[0] & 0xE0) == 0xC0) return *len = 2, (unsigned)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
    if (n >= 4 && (s[0] & 0xF8) == 0xF0)
        return *len = 4, (unsigned)(s[0] & 0x07) << 18 | (unsigned)(s[1] & 0x3F) << 12 | (unsigned)(s[2] & 0x3F) << 6 |
                         (s[3] & 0x3F);
    return *len = 1, s[0];
}

// Punctuation or space: ASCII, CJK symbols and punctuation (U+3000-U+303F), fullwidth forms
// (U+FF00-U+FF0F, U+FF1A-U+FF20, U+FF3B-U+FF40, U+FF5B-U+FF65), general punctuation (U+2000-U+206F).
static int mm_is_boundary(unsigned c) {
    if (c < 128) return isspace((int)c) || ispunct((int)c);
    return (c >= 0x3000 && c <= 0x303F) || (c >= 0x2000 && c <= 0x206F) || (c >= 0xFF00 && c <= 0xFF0F) ||
           (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65);
}

int mm_fact_match(const char *completion, size_t clen, const char *answer, size_t alen, const char *suffix,
                  size_t slen) {
    const unsigned char *c = (const unsigned char *)completion;
    while (clen > 0 && isspace(*c)) c++, clen--;
    while (alen > 0 && isspace((unsigned char)answer[alen - 1])) alen--;
    while (alen > 0 && isspace((unsigned char)*answer)) answer++, alen--;
    if (alen == 0 || clen < alen || memcmp(c, answer, alen) != 0) return 0;
    if (clen == alen) return 1;
    size_t l;
    unsigned next = mm_utf8_at(c + alen, clen - alen, &l);
    if (mm_is_boundary(next)) return 1;
    // the sentence goes on as the item says (its first character after the answer)
    size_t sl;
    if (slen > 0 && next == mm_utf8_at((const unsigned char *)suffix, slen, &sl) && l == sl) return 1;
    // a number may be followed by its unit or a word ("2010年"), not by another digit
    return isdigit((unsigned char)answer[alen - 1]) && !(next < 128 && isdigit((int)next));
}

static void mm_tally(json_t *by, const char *key, int ok) {
    if (!key) return;
    json_t *t = json_object_get(by, key);
    if (!t) json_object_set_new(by, key, t = json_pack("[ii]", 0, 0));
    json_array_set_new(t, 0, json_integer(json_integer_value(json_array_get(t, 0)) + ok));
    json_array_set_new(t, 1, json_integer(json_integer_value(json_array_get(t, 1)) + 1));
}

// {"name": {"correct", "total", "accuracy"}} from the tallies.
static json_t *mm_tally_json(json_t *by) {
    json_t *o = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(by, k, v) {
        json_int_t c = json_integer_value(json_array_get(v, 0)), n = json_integer_value(json_array_get(v, 1));
        json_object_set_new(o, k, json_pack("{s:I,s:I,s:f}", "correct", c, "total", n, "accuracy", n ? (double)c / n : 0.0));
    }
    return o;
}

static int mm_fact_one(mm_inference *inf, const char *prompt, size_t plen, int new_tokens, mm_sampler *greedy,
                       char **completion, size_t *clen) {
    mm_ids ids = {0}, gen = {0};
    int rc = -1;
    *completion = NULL;
    if (mm_ids_push(&ids, MM_TOKEN_BOS) || mm_tokenizer_encode(inf->tok, prompt, plen, &ids)) goto done;
    int max_prompt = inf->cfg.model.max_seq_len - 1;
    const int32_t *p = ids.data;
    int np = (int)ids.len;
    if (np > max_prompt) p += np - max_prompt, np = max_prompt;  // keep the end of a long prompt
    if (mm_generate(inf, p, np, new_tokens, greedy, &gen, NULL, NULL) != 0) goto done;
    *completion = mm_tokenizer_decode(inf->tok, gen.data, gen.len, clen);
    rc = *completion ? 0 : -1;
done:
    mm_ids_free(&ids);
    mm_ids_free(&gen);
    return rc;
}

// Non-blank lines of a JSON Lines file (the progress total); 0 when it cannot be read (the main
// pass reports the error).
static int64_t mm_count_items(const char *path) {
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, path) != 0) return 0;
    int64_t n = 0;
    while (mm_jsonl_next_raw(&r) == 1) n++;
    mm_jsonl_close(&r);
    return n;
}

int mm_eval_facts(mm_inference *inf, const char *path, int max_items, int new_tokens, int quiet, json_t **out) {
    mm_jsonl_reader r;
    mm_sampler greedy;
    if (mm_jsonl_open(&r, path) != 0) return -1;
    if (mm_sampler_init(&greedy, inf->cfg.model.vocab_size, 0.0f, 1.0f, 1) != 0) {
        mm_jsonl_close(&r);
        return -1;
    }
    json_t *items = json_array(), *by_lang = json_object(), *by_rel = json_object();
    int n = 0, correct = 0, rc = 0;
    mm_progress bar;
    int64_t total = mm_count_items(path);
    if (max_items > 0 && max_items < total) total = max_items;
    mm_progress_begin(&bar, "facts", total, "facts", 1.0);
    json_t *obj;
    while (max_items <= 0 || n < max_items) {
        int got = mm_jsonl_next(&r, &obj);
        if (got == 0) break;
        const char *prompt, *answer;
        size_t plen, alen;
        if (got < 0 || mm_jsonl_string_field(&r, obj, "prompt", &prompt, &plen) != 0 ||
            mm_jsonl_string_field(&r, obj, "answer", &answer, &alen) != 0) {
            if (got == 1) json_decref(obj);
            rc = -1;
            break;
        }
        char *completion;
        size_t clen;
        if (mm_fact_one(inf, prompt, plen, new_tokens, &greedy, &completion, &clen) != 0) {
            json_decref(obj);
            rc = mm_error_prefix("%s:%ld", path, r.line_no);
            break;
        }
        const char *suffix = NULL;
        size_t slen = 0;
        json_t *sj = json_object_get(obj, "suffix");
        if (json_is_string(sj)) suffix = json_string_value(sj), slen = json_string_length(sj);
        int ok = mm_fact_match(completion, clen, answer, alen, suffix, slen);
        json_t *completion_json = mm_json_text(completion, clen);
        if (!completion_json) {
            free(completion);
            json_decref(obj);
            rc = mm_error_prefix("%s:%ld", path, r.line_no);
            break;
        }
        correct += ok;
        n++;
        const char *lang = json_string_value(json_object_get(obj, "lang"));
        const char *rel = json_string_value(json_object_get(obj, "relation"));
        mm_tally(by_lang, lang, ok);
        mm_tally(by_rel, rel, ok);
        json_t *it = json_object();
        json_object_set_new(it, "line", json_integer(r.line_no));
        json_object_set_new(it, "prompt", json_stringn_nocheck(prompt, plen));
        json_object_set_new(it, "answer", json_stringn_nocheck(answer, alen));
        json_object_set_new(it, "completion", completion_json);
        json_object_set_new(it, "correct", json_boolean(ok));
        if (lang) json_object_set_new(it, "lang", json_string(lang));
        if (rel) json_object_set_new(it, "relation", json_string(rel));
        json_array_append_new(items, it);
        if (!quiet) printf("[fact %d] %s %s|%s  (answer: %s)\n", n, ok ? "OK  " : "MISS", prompt, completion, answer);
        free(completion);
        json_decref(obj);
        if (quiet) mm_progress_update(&bar, n, NULL);
    }
    if (quiet && rc == 0) mm_progress_end(&bar, n, NULL);
    if (rc == 0 && n == 0) rc = mm_errorf("%s: no facts to evaluate (empty file)", path);
    if (rc == 0) {
        json_t *res = json_object();
        json_object_set_new(res, "path", mm_json_text(path, strlen(path)));
        json_object_set_new(res, "matching", json_string("greedy completion, leading spaces removed, begins with the answer "
                                                         "followed by the end, a space, punctuation or the first character of the item's suffix "
                                                         "(numbers: any non-digit)"));
        json_object_set_new(res, "max_new_tokens", json_integer(new_tokens));
        json_object_set_new(res, "total", json_integer(n));
        json_object_set_new(res, "correct", json_integer(correct));
        json_object_set_new(res, "accuracy", json_real((double)correct / n));
        double lo, hi;
        mm_wilson_interval(correct, n, MM_Z95, &lo, &hi);
        json_object_set_new(res, "accuracy_ci95", json_pack("[f,f]", lo, hi));
        json_object_set_new(res, "by_lang", mm_tally_json(by_lang));
        json_object_set_new(res, "by_relation", mm_tally_json(by_rel));
        json_object_set(res, "items", items);
        *out = res;
        char langs[256] = "";
        size_t off = 0;
        const char *k;
        json_t *v;
        json_object_foreach(by_lang, k, v) {
            int w = snprintf(langs + off, sizeof langs - off, "; %s %lld/%lld", k,
                             (long long)json_integer_value(json_array_get(v, 0)),
                             (long long)json_integer_value(json_array_get(v, 1)));
            if (w < 0 || (size_t)w >= sizeof langs - off) break;
            off += (size_t)w;
        }
        printf("facts: %d/%d correct (accuracy %.4f, 95 %% interval %.4f-%.4f%s) on %s\n", correct, n,
               (double)correct / n, lo, hi, langs, path);
    }
    json_decref(items);
    json_decref(by_lang);
    json_decref(by_rel);
    mm_sampler_free(&greedy);
    mm_jsonl_close(&r);
    return rc;
}
