// Byte-level BPE tokenizer: parity with the shared MiniMind fixtures and with Hugging Face
// `tokenizers` on generated texts, malformed tokenizer.json errors, invalid UTF-8, the two BPE
// merge strategies, thread safety, and the CLI.
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/error.h"
#include "minimind/jsonl.h"
#include "minimind/tokenizer.h"
#include "test_util.h"
#include "tokenizer_internal.h"

// ---- helpers ----

static mm_tokenizer *load_shared(void) {
    char *path;
    MM_NEED_SHARED(path, "minimind_tokenizer/tokenizer.json");
    mm_tokenizer *tok = NULL;
    cr_assert_eq(mm_tokenizer_load(path, &tok), 0, "%s", mm_error_message());
    free(path);
    return tok;
}

static void encode_ok(const mm_tokenizer *tok, const char *s, size_t n, mm_ids *ids) {
    ids->len = 0;
    cr_assert_eq(mm_tokenizer_encode(tok, s, n, ids), 0, "%s", mm_error_message());
}

// Prints a string with non-printable bytes escaped (for failure messages).
static const char *esc(const char *s, size_t n) {
    static _Thread_local char buf[2048];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < sizeof buf; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\') buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, sizeof buf - o, "\\x%02x", c);
    }
    buf[o] = '\0';
    return buf;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint32_t rnd(void) {  // xorshift64*
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

// Fragments mixed into generated texts: Chinese and English, digits of several kinds,
// punctuation, whitespace runs, emoji, contractions, literal specials, combining marks, letters
// of categories Lt/Lm/Lo, characters assigned after Unicode 14 (Todhri U+105C0, Garay U+10D40).
static const char *const fragments[] = {
    "Hello", "world", "the", " the", "I'll", "don't", "we're", "they've", "I'm", "he'd", "it's", "'S", "''",
    "O'Neil", "'ll", "'re", "'ve", "'t", "'d", "'m", "'x", "你好", "世界", "人工智能", "马克思主义基本原理",
    "，", "。", "？", "！", "“引号”", "（全角）", "ＡＢＣ", "123", "3.14", "2024年", "１２３", "٣٤", "Ⅻ", "½", "²",
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\xe3\x80\x80", "\xc2\xa0", "\xe2\x80\x89", "\xc2\x85",
    "\x0b", "\x0c", "\x1c", "\x1f", "😀", "🚀", "👍🏽", "👨‍👩‍👧", "!", "?!", "...", "—", "«»", "<", ">", "</",
    "<s", "s>", "<s>", "</s>", "<unk>", "<<s>>", "</s</s>>", "<s><s>", "e\xcc\x81", "a\xcc\x88",
    "\xe0\xa4\x95\xe0\xa4\xbf", "\xe0\xb8\x81\xe0\xb8\xb1", "café", "naïve", "Ελληνικά", "русский", "العربية",
    "한국어", "日本語のテキスト", "ｶﾀｶﾅ", "\xe2\x80\x8b", "\xef\xbb\xbf", "ǅ", "ʰ", "𝔘𝔫𝔦", "𐍈",
    "\xf0\x90\x97\x80", "\xf0\x90\xb5\x80", "def f(x):", "    return", "x**2", "{\"a\": 1}", "\\", "#", "$100",
    "e-mail", "U.S.A.", "\x01", "\x7f", "~~~", "¿Qué?", "ﬁ", "Ⓐ", "㊀", "🇨🇳",
};
#define N_FRAGMENTS (sizeof fragments / sizeof fragments[0])

// A generated text (malloc'd, NUL-terminated, valid UTF-8).
static char *gen_text(size_t *len) {
    size_t cap = 4096, n = 0;
    char *s = malloc(cap);
    int k = 1 + (int)(rnd() % 12);
    for (int i = 0; i < k; i++) {
        const char *f;
        int rep = 1;
        uint32_t r = rnd() % 100;
        if (r < 3) {  // a long piece: exercises the heap merge and the uncached path
            f = rnd() % 2 ? "的人工智能模型训练数据" : " ";
            rep = 20 + (int)(rnd() % 60);
        } else {
            f = fragments[rnd() % N_FRAGMENTS];
        }
        for (int j = 0; j < rep; j++) {
            size_t fl = strlen(f);
            if (n + fl + 2 > cap) s = realloc(s, cap = 2 * (n + fl + 2));
            memcpy(s + n, f, fl);
            n += fl;
        }
        if (rnd() % 3 == 0) s[n++] = rnd() % 4 ? ' ' : '\n';
    }
    s[n] = '\0';
    *len = n;
    return s;
}

// ---- shared fixtures ----

Test(tokenizer, shared_fixtures_parity) {
    char *enc_path;
    MM_NEED_SHARED(enc_path, "minimind_tokenizer/encodings.jsonl");
    mm_tokenizer *tok = load_shared();
    cr_assert_eq(mm_tokenizer_vocab_size(tok), 6400);
    mm_jsonl_reader r;
    cr_assert_eq(mm_jsonl_open(&r, enc_path), 0);
    json_t *o;
    int rc, n = 0;
    mm_ids ids = {0};
    while ((rc = mm_jsonl_next(&r, &o)) == 1) {
        const char *text, *decoded;
        size_t tl, dl;
        cr_assert_eq(mm_jsonl_string_field(&r, o, "text", &text, &tl), 0);
        cr_assert_eq(mm_jsonl_string_field(&r, o, "decoded", &decoded, &dl), 0);
        json_t *want = json_object_get(o, "ids");
        encode_ok(tok, text, tl, &ids);
        cr_assert_eq(ids.len, json_array_size(want), "line %ld '%s': %zu ids, want %zu", r.line_no, text, ids.len,
                     json_array_size(want));
        for (size_t i = 0; i < ids.len; i++)
            cr_assert_eq(ids.data[i], json_integer_value(json_array_get(want, i)), "line %ld '%s': id[%zu]", r.line_no,
                         text, i);
        size_t got_len;
        char *got = mm_tokenizer_decode(tok, ids.data, ids.len, &got_len);
        cr_assert_not_null(got, "%s", mm_error_message());
        cr_assert_eq(got_len, dl);
        cr_assert(memcmp(got, decoded, dl) == 0, "decoded '%s', want '%s'", got, decoded);
        free(got);
        json_decref(o);
        n++;
    }
    cr_assert_eq(rc, 0);
    cr_assert_gt(n, 10);
    mm_jsonl_close(&r);
    mm_ids_free(&ids);
    mm_tokenizer_free(tok);
    free(enc_path);
}

Test(tokenizer, token_bytes_and_bad_ids) {
    mm_tokenizer *tok = load_shared();
    size_t n;
    const char *b = mm_tokenizer_token_bytes(tok, 223, &n);  // "Ġ" = a space
    cr_assert(b && n == 1 && b[0] == ' ');
    b = mm_tokenizer_token_bytes(tok, 1, &n);
    cr_assert(b && n == 3 && !memcmp(b, "<s>", 3));
    cr_assert_null(mm_tokenizer_token_bytes(tok, 6400, &n));
    cr_assert_null(mm_tokenizer_token_bytes(tok, -1, &n));
    int32_t bad[] = {42, 6400};
    cr_assert_null(mm_tokenizer_decode(tok, bad, 2, &n));
    cr_assert(strstr(mm_error_message(), "token id 6400") != NULL, "%s", mm_error_message());
    mm_tokenizer_free(tok);
}

// ---- parity with Hugging Face tokenizers on generated texts ----

// Encodes texts with the peer; returns its output path (in dir).
static char *hf_encode(const char *dir, const char *tok_json, char **texts, size_t *lens, int n) {
    char *in = mm_test_path(dir, "texts.jsonl"), *out = mm_test_path(dir, "hf.jsonl");
    FILE *fp = fopen(in, "wb");
    cr_assert_not_null(fp);
    for (int i = 0; i < n; i++) {
        json_t *o = json_pack("{s:s%}", "text", texts[i], lens[i]);
        char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        fprintf(fp, "%s\n", line);
        free(line);
        json_decref(o);
    }
    fclose(fp);
    const char *script = MM_SOURCE_DIR "/tests/reference/hf_tokenizer.py";
    const char *argv[] = {mm_test_python(), script, "encode", tok_json, in, out, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "peer failed: %s", r.err);
    mm_proc_result_free(&r);
    free(in);
    return out;
}

// Compares our ids and decoding with the peer's, text by text.
static void compare_with_hf(const mm_tokenizer *tok, const char *hf_out, char **texts, size_t *lens, int n) {
    mm_jsonl_reader r;
    cr_assert_eq(mm_jsonl_open(&r, hf_out), 0);
    mm_ids ids = {0};
    for (int i = 0; i < n; i++) {
        json_t *o;
        cr_assert_eq(mm_jsonl_next(&r, &o), 1, "peer output ends early at %d", i);
        json_t *want = json_object_get(o, "ids");
        encode_ok(tok, texts[i], lens[i], &ids);
        int same = ids.len == json_array_size(want);
        for (size_t k = 0; same && k < ids.len; k++) same = ids.data[k] == json_integer_value(json_array_get(want, k));
        if (!same) {
            char *mine = malloc(ids.len * 12 + 1);
            size_t o2 = 0;
            for (size_t k = 0; k < ids.len; k++) o2 += (size_t)sprintf(mine + o2, "%d,", ids.data[k]);
            mine[o2] = '\0';
            char *theirs = json_dumps(want, JSON_COMPACT);
            cr_assert_fail("text %d '%s': ids differ\n ours %s\n hf   %s", i, esc(texts[i], lens[i]), mine, theirs);
        }
        const char *dec;
        size_t dl;
        cr_assert_eq(mm_jsonl_string_field(&r, o, "decoded", &dec, &dl), 0);
        size_t gl;
        char *got = mm_tokenizer_decode(tok, ids.data, ids.len, &gl);
        cr_assert_not_null(got);
        cr_assert(gl == dl && memcmp(got, dec, dl) == 0, "text %d: decoded '%s' differs from HF", i, esc(got, gl));
        cr_assert(gl == lens[i] && memcmp(got, texts[i], gl) == 0, "text %d: decode(encode(t)) != t", i);
        free(got);
        json_decref(o);
    }
    mm_jsonl_close(&r);
    mm_ids_free(&ids);
}

Test(tokenizer, hf_parity_generated_texts) {
    MM_NEED_PYTHON("tokenizers");
    char *tok_json;
    MM_NEED_SHARED(tok_json, "minimind_tokenizer/tokenizer.json");
    mm_tokenizer *tok = load_shared();
    enum { N = 400 };
    char *texts[N + 8];
    size_t lens[N + 8];
    rng_state = 0x243F6A8885A308D3ull;
    for (int i = 0; i < N; i++) texts[i] = gen_text(&lens[i]);
    // Each fragment alone too, so every class boundary case is seen in isolation.
    int n = N;
    char *dir = mm_test_tmpdir("tokhf");
    char *out = hf_encode(dir, tok_json, texts, lens, n);
    compare_with_hf(tok, out, texts, lens, n);
    for (int i = 0; i < n; i++) free(texts[i]);
    free(out);

    char *single[N_FRAGMENTS];
    size_t single_len[N_FRAGMENTS];
    for (size_t i = 0; i < N_FRAGMENTS; i++) {
        single[i] = strdup(fragments[i]);
        single_len[i] = strlen(fragments[i]);
    }
    out = hf_encode(dir, tok_json, single, single_len, (int)N_FRAGMENTS);
    compare_with_hf(tok, out, single, single_len, (int)N_FRAGMENTS);
    for (size_t i = 0; i < N_FRAGMENTS; i++) free(single[i]);
    free(out);
    mm_test_rmtree(dir);
    free(dir);
    free(tok_json);
    mm_tokenizer_free(tok);
}

// The options a tokenizer.json may set that MiniMind's does not: add_prefix_space (a space is
// prepended to every text span between added tokens) and ignore_merges (a piece that is itself
// in the vocabulary is one token).
Test(tokenizer, hf_parity_prefix_space_and_ignore_merges) {
    MM_NEED_PYTHON("tokenizers");
    char *tok_json;
    MM_NEED_SHARED(tok_json, "minimind_tokenizer/tokenizer.json");
    char *dir = mm_test_tmpdir("tokvar");
    enum { N = 200 };
    char *texts[N];
    size_t lens[N];
    rng_state = 2718;
    for (int i = 0; i < N; i++) texts[i] = gen_text(&lens[i]);
    for (int variant = 0; variant < 2; variant++) {
        json_t *root = json_load_file(tok_json, 0, NULL);
        cr_assert_not_null(root);
        if (variant == 0)
            json_object_set_new(json_object_get(root, "pre_tokenizer"), "add_prefix_space", json_true());
        else
            json_object_set_new(json_object_get(root, "model"), "ignore_merges", json_true());
        char *path = mm_test_path(dir, variant == 0 ? "prefix.json" : "ignore.json");
        cr_assert_eq(json_dump_file(root, path, 0), 0);
        json_decref(root);
        mm_tokenizer *tok;
        cr_assert_eq(mm_tokenizer_load(path, &tok), 0, "%s", mm_error_message());
        char *out = hf_encode(dir, path, texts, lens, N);
        if (variant == 0) {  // decoding keeps the added spaces, so only compare ids
            mm_jsonl_reader r;
            cr_assert_eq(mm_jsonl_open(&r, out), 0);
            mm_ids ids = {0};
            for (int i = 0; i < N; i++) {
                json_t *o;
                cr_assert_eq(mm_jsonl_next(&r, &o), 1);
                json_t *want = json_object_get(o, "ids");
                encode_ok(tok, texts[i], lens[i], &ids);
                cr_assert_eq(ids.len, json_array_size(want), "text %d '%s'", i, esc(texts[i], lens[i]));
                for (size_t k = 0; k < ids.len; k++)
                    cr_assert_eq(ids.data[k], json_integer_value(json_array_get(want, k)), "text %d id %zu", i, k);
                json_decref(o);
            }
            mm_jsonl_close(&r);
            mm_ids_free(&ids);
        } else {
            compare_with_hf(tok, out, texts, lens, N);
        }
        free(out);
        free(path);
        mm_tokenizer_free(tok);
    }
    for (int i = 0; i < N; i++) free(texts[i]);
    mm_test_rmtree(dir);
    free(dir);
    free(tok_json);
}

// Code points between letters, digits, punctuation and spaces: our Unicode class table against
// Oniguruma's, through the whole encoder. Every code point of the BMP outside the CJK ideograph
// blocks, every 16th elsewhere, and both sides of every class boundary of our table (the full
// sweep, ~15 s, is done by `gen_tokenizer_unicode.py --hf-supplement` at generation time).
static int cp_wanted(const uint8_t *boundary, uint32_t cp) {
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x3400 || (cp >= 0xA000 && cp < 0x10000)) return 1;
    return cp % 16 == 0 || boundary[cp];
}

static size_t put_utf8(char *s, uint32_t cp) {
    if (cp < 0x80) return s[0] = (char)cp, 1;
    if (cp < 0x800) return s[0] = (char)(0xC0 | (cp >> 6)), s[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return s[0] = (char)(0xE0 | (cp >> 12)), s[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
               s[2] = (char)(0x80 | (cp & 0x3F)), 3;
    return s[0] = (char)(0xF0 | (cp >> 18)), s[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
           s[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), s[3] = (char)(0x80 | (cp & 0x3F)), 4;
}

Test(tokenizer, hf_parity_code_point_classes) {
    MM_NEED_PYTHON("tokenizers");
    char *tok_json;
    MM_NEED_SHARED(tok_json, "minimind_tokenizer/tokenizer.json");
    mm_tokenizer *tok = load_shared();
    mm_pretok_init();
    int cap = 4096, n = 0, in_text = 0;
    char **texts = calloc((size_t)cap, sizeof *texts);
    size_t *lens = calloc((size_t)cap, sizeof *lens);
    static const char ctx[] = {'a', '1', '!', ' '};
    uint8_t *boundary = calloc(0x110002, 1);
    for (int r = 0; r < mm_unicode_n_ranges; r++) {
        uint32_t lo = mm_unicode_ranges[r].lo, hi = mm_unicode_ranges[r].hi;
        boundary[lo] = boundary[hi] = boundary[hi + 1] = 1;
        if (lo > 0) boundary[lo - 1] = 1;
    }
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (!cp_wanted(boundary, cp)) continue;
        if (in_text == 0) {
            cr_assert_lt(n, cap);
            texts[n] = malloc(256 * 6 + 1);
            lens[n++] = 0;
        }
        char *s = texts[n - 1];
        size_t o = lens[n - 1];
        s[o++] = ctx[cp % 4];
        o += put_utf8(s + o, cp);
        s[o++] = ctx[(cp / 4) % 4];
        s[o] = '\0';
        lens[n - 1] = o;
        in_text = (in_text + 1) % 256;
    }
    free(boundary);
    char *dir = mm_test_tmpdir("tokcp");
    char *out = hf_encode(dir, tok_json, texts, lens, n);
    compare_with_hf(tok, out, texts, lens, n);
    for (int b = 0; b < n; b++) free(texts[b]);
    free(texts);
    free(lens);
    free(out);
    mm_test_rmtree(dir);
    free(dir);
    free(tok_json);
    mm_tokenizer_free(tok);
}

// ---- invalid UTF-8 and arbitrary bytes ----

Test(tokenizer, any_bytes_encode_and_roundtrip) {
    mm_tokenizer *tok = load_shared();
    mm_ids ids = {0};
    rng_state = 12345;
    for (int t = 0; t < 3000; t++) {
        size_t n = rnd() % 200;
        char *s = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            uint32_t r = rnd() % 10;
            s[i] = r < 4 ? (char)(rnd() & 0xFF) : r < 7 ? "ab \n'<s>"[rnd() % 8] : (char)(0x80 | (rnd() & 0x7F));
        }
        encode_ok(tok, s, n, &ids);
        size_t gl;
        char *got = mm_tokenizer_decode(tok, ids.data, ids.len, &gl);
        cr_assert_not_null(got);
        cr_assert(gl == n && memcmp(got, s, n) == 0, "roundtrip failed for '%s'", esc(s, n));
        free(got);
        free(s);
    }
    // Hand-checked cases. A truncated "中" (E4 B8) is two "other" characters: one piece whose bytes
    // BPE merges to the token "ä¸" (id 265), as the complete character's first two bytes are.
    encode_ok(tok, "\xe4\xb8", 2, &ids);
    cr_assert(ids.len == 1 && ids.data[0] == 265, "%zu ids, first %d", ids.len, ids.len ? ids.data[0] : -1);
    // An invalid byte does not join a letter run: "\xff" + "Hello" = [byte ff] + encode("Hello").
    mm_ids hello = {0};
    encode_ok(tok, "Hello", 5, &hello);
    encode_ok(tok, "\xffHello", 6, &ids);
    cr_assert_eq(ids.len, 1 + hello.len);
    size_t bl;
    const char *bb = mm_tokenizer_token_bytes(tok, ids.data[0], &bl);
    cr_assert(bb && bl == 1 && (unsigned char)bb[0] == 0xFF);
    cr_assert(memcmp(ids.data + 1, hello.data, hello.len * sizeof(int32_t)) == 0);
    // Surrogates and overlong forms are invalid too (each byte its own character).
    const char *bad[] = {"\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "\xe2\x82", "\x80\x80\x80"};
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(bad[i]);
        encode_ok(tok, bad[i], n, &ids);
        size_t gl;
        char *got = mm_tokenizer_decode(tok, ids.data, ids.len, &gl);
        cr_assert(gl == n && !memcmp(got, bad[i], n));
        free(got);
    }
    mm_ids_free(&hello);
    mm_ids_free(&ids);
    mm_tokenizer_free(tok);
}

// ---- the two merge strategies agree ----

Test(tokenizer, naive_and_heap_merges_agree) {
    mm_tokenizer *tok = load_shared();
    mm_ids ids = {0};
    rng_state = 777;
    int32_t a[4096], b[4096];
    for (int t = 0; t < 600; t++) {
        size_t len;
        char *s = gen_text(&len);
        for (size_t p = 0; p < len;) {  // each pre-tokenized piece, as byte ids
            size_t e = mm_pretok_next((const uint8_t *)s, len, p);
            size_t n = 0;
            for (size_t i = p; i < e && n < 4096; i++) {
                encode_ok(tok, s + i, 1, &ids);  // the single byte's id (may be part of a char)
                if (ids.len != 1) break;
                a[n] = b[n] = ids.data[0];
                n++;
            }
            size_t na = mm_bpe_merge_naive(tok, a, n), nb = mm_bpe_merge_heap(tok, b, n);
            cr_assert_eq(na, nb, "piece '%s'", esc(s + p, e - p));
            cr_assert(memcmp(a, b, na * sizeof *a) == 0, "piece '%s'", esc(s + p, e - p));
            p = e;
        }
        free(s);
    }
    mm_ids_free(&ids);
    mm_tokenizer_free(tok);
}

// ---- thread safety ----

typedef struct thread_job {
    const mm_tokenizer *tok;
    char **texts;
    size_t *lens;
    int n;
    mm_ids *want;
    int failures;
} thread_job;

static void *encode_worker(void *p) {
    thread_job *j = p;
    mm_ids ids = {0};
    for (int rep = 0; rep < 3; rep++)
        for (int i = 0; i < j->n; i++) {
            ids.len = 0;
            if (mm_tokenizer_encode(j->tok, j->texts[i], j->lens[i], &ids) != 0 || ids.len != j->want[i].len ||
                memcmp(ids.data, j->want[i].data, ids.len * sizeof(int32_t)) != 0)
                j->failures++;
        }
    mm_ids_free(&ids);
    return NULL;
}

Test(tokenizer, shared_tokenizer_is_thread_safe) {
    mm_tokenizer *tok = load_shared();
    enum { N = 300, T = 8 };
    char *texts[N];
    size_t lens[N];
    mm_ids want[N];
    rng_state = 4242;
    for (int i = 0; i < N; i++) {
        texts[i] = gen_text(&lens[i]);
        want[i] = (mm_ids){0};
        encode_ok(tok, texts[i], lens[i], &want[i]);
    }
    pthread_t th[T];
    thread_job jobs[T];
    for (int t = 0; t < T; t++) {
        jobs[t] = (thread_job){tok, texts, lens, N, want, 0};
        cr_assert_eq(pthread_create(&th[t], NULL, encode_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(jobs[t].failures, 0, "thread %d: %d mismatches", t, jobs[t].failures);
    }
    // A second tokenizer used from the same thread does not see the first one's cache.
    mm_tokenizer *tok2 = load_shared();
    mm_ids x = {0}, y = {0};
    encode_ok(tok2, texts[0], lens[0], &x);
    encode_ok(tok, texts[0], lens[0], &y);
    cr_assert(x.len == y.len && !memcmp(x.data, y.data, x.len * sizeof(int32_t)));
    mm_ids_free(&x);
    mm_ids_free(&y);
    mm_tokenizer_free(tok2);
    for (int i = 0; i < N; i++) {
        free(texts[i]);
        mm_ids_free(&want[i]);
    }
    mm_tokenizer_free(tok);
}

// ---- malformed tokenizer.json ----

static const char good_json[] =
    "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
    "\"added_tokens\":[{\"id\":3,\"content\":\"<s>\",\"special\":true}],"
    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false},"
    "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
    "\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<s>\":3,\"Ġ\":4,\"Ġab\":5},"
    "\"merges\":[\"a b\",[\"Ġ\",\"ab\"]]}}";

// Writes good_json with `from` replaced by `to` and returns the load error ("" when it loads).
static char *load_variant(const char *dir, const char *from, const char *to, mm_tokenizer **out) {
    char *path = mm_test_path(dir, "tokenizer.json");
    const char *at = strstr(good_json, from);
    cr_assert_not_null(at, "test bug: '%s' not in good_json", from);
    size_t n = strlen(good_json) - strlen(from) + strlen(to);
    char *s = malloc(n + 1);
    size_t pre = (size_t)(at - good_json);
    memcpy(s, good_json, pre);
    strcpy(s + pre, to);
    strcat(s, at + strlen(from));
    mm_test_write_file(path, s, n);
    free(s);
    *out = NULL;
    int rc = mm_tokenizer_load(path, out);
    free(path);
    return rc == 0 ? strdup("") : strdup(mm_error_message());
}

Test(tokenizer, minimal_tokenizer_both_merge_forms) {
    char *dir = mm_test_tmpdir("tokmin");
    mm_tokenizer *tok;
    char *err = load_variant(dir, "\"a\":0", "\"a\":0", &tok);
    cr_assert_str_eq(err, "");
    free(err);
    mm_ids ids = {0};
    encode_ok(tok, "ab ab<s>abc", 11, &ids);  // 'c' has no token and no <unk>: dropped, as in HF
    int32_t want[] = {2, 5, 3, 2};
    cr_assert_eq(ids.len, 4);
    cr_assert(!memcmp(ids.data, want, sizeof want));
    cr_assert_eq(mm_tokenizer_vocab_size(tok), 6);
    mm_ids_free(&ids);
    mm_tokenizer_free(tok);
    // A directory holding tokenizer.json loads too.
    cr_assert_eq(mm_tokenizer_load(dir, &tok), 0, "%s", mm_error_message());
    mm_tokenizer_free(tok);
    mm_test_rmtree(dir);
    free(dir);
}

Test(tokenizer, malformed_json_errors_name_the_field) {
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        {"[\"Ġ\",\"ab\"]", "\"a c\"", "field 'model.merges[1]': token \"c\" is not in model.vocab"},
        {"\"a b\"", "\"ab\"", "field 'model.merges[0]': expected \"LEFT RIGHT\""},
        {"\"a b\"", "7", "field 'model.merges[0]': expected a string \"LEFT RIGHT\" or an array"},
        {"\"a b\"", "\"b a\"", "field 'model.merges[0]': merged token \"ba\" is not in model.vocab"},
        {"[\"Ġ\",\"ab\"]", "[\"Ġ\"]", "field 'model.merges[1]': expected a string"},
        {"\"a\":0", "\"a\":\"zero\"", "field 'model.vocab[\"a\"]': expected a token id"},
        {"\"a\":0", "\"a\":-3", "field 'model.vocab[\"a\"]'"},
        {"\"b\":1", "\"b\":0", "is also used by"},
        {"\"merges\":", "\"mergez\":", "field 'model.merges': missing"},
        {"\"model\":", "\"modle\":", "field 'model': missing"},
        {"\"vocab\":", "\"vocabulary\":", "field 'model.vocab': missing"},
        {"\"id\":3", "\"id\":\"3\"", "field 'added_tokens[0].id'"},
        {"\"content\":\"<s>\"", "\"content\":\"\"", "field 'added_tokens[0].content'"},
        {"\"special\":true", "\"special\":true,\"lstrip\":true", "field 'added_tokens[0].lstrip': true is not supported"},
        {"\"special\":true", "\"special\":\"yes\"", "field 'added_tokens[0].special': expected a boolean"},
        {"{\"type\":\"ByteLevel\",\"add_prefix_space\":false}", "{\"type\":\"Whitespace\"}",
         "field 'pre_tokenizer.type': unsupported pre_tokenizer 'Whitespace'"},
        {"\"add_prefix_space\":false", "\"add_prefix_space\":1", "field 'pre_tokenizer.add_prefix_space'"},
        {"\"normalizer\":null", "\"normalizer\":{\"type\":\"NFKC\"}", "field 'normalizer': only null"},
        {"\"decoder\":{\"type\":\"ByteLevel\"}", "\"decoder\":{\"type\":\"WordPiece\"}", "field 'decoder.type'"},
        {"\"type\":\"BPE\"", "\"type\":\"WordPiece\"", "field 'model.type'"},
        {"\"dropout\":null", "\"dropout\":0.1", "field 'model.dropout'"},
        {"\"unk_token\":null", "\"unk_token\":\"<unk>\"", "field 'model.unk_token': \"<unk>\" is not in model.vocab"},
        {"\"model\":{", "\"model\":[{", "malformed JSON"},
        {"{\"version\"", "[{\"version\"", "malformed JSON"},
    };
    char *dir = mm_test_tmpdir("tokbad");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mm_tokenizer *tok;
        char *err = load_variant(dir, cases[i].from, cases[i].to, &tok);
        cr_assert_null(tok, "case %zu loaded", i);
        cr_assert(strstr(err, cases[i].want) != NULL, "case %zu: error '%s' lacks '%s'", i, err, cases[i].want);
        cr_assert(strstr(err, "tokenizer.json") != NULL, "case %zu: error '%s' lacks the file name", i, err);
        free(err);
    }
    mm_tokenizer *tok;
    cr_assert_eq(mm_tokenizer_load("/nonexistent/tokenizer.json", &tok), -1);
    cr_assert(strstr(mm_error_message(), "/nonexistent/tokenizer.json") != NULL, "%s", mm_error_message());
    mm_test_rmtree(dir);
    free(dir);
}

// ---- CLI ----

Test(tokenizer_cli, encode_decode_roundtrip) {
    char *tok_json;
    MM_NEED_SHARED(tok_json, "minimind_tokenizer/tokenizer.json");
    mm_proc_result r;
    const char *enc[] = {MM_MINIMIND_EXE, "tokenizer", "encode", "--tokenizer", tok_json, "--text", "Hello world", NULL};
    cr_assert_eq(mm_test_run(enc, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "42 392 338 1636\n");
    mm_proc_result_free(&r);
    const char *dec[] = {MM_MINIMIND_EXE, "tokenizer", "decode", "--tokenizer", tok_json, "42", "392", "338", "1636", NULL};
    cr_assert_eq(mm_test_run(dec, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "Hello world\n");
    mm_proc_result_free(&r);

    // stdin -> --json -> stdin of decode --raw gives the bytes back.
    char *dir = mm_test_tmpdir("tokcli");
    char *in = mm_test_path(dir, "in.txt"), *ids = mm_test_path(dir, "ids.json");
    const char text[] = "<s>你好, world!\n\tI'll  go\xff</s>";
    mm_test_write_file(in, text, sizeof text - 1);
    const char *enc2[] = {MM_MINIMIND_EXE, "tokenizer", "encode", "--tokenizer", tok_json, "--json", NULL};
    cr_assert_eq(mm_test_run(enc2, in, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(r.out[0] == '[' && strncmp(r.out, "[1,", 3) == 0, "%s", r.out);
    mm_test_write_file(ids, r.out, strlen(r.out));
    mm_proc_result_free(&r);
    const char *dec2[] = {MM_MINIMIND_EXE, "tokenizer", "decode", "--tokenizer", tok_json, "--raw", NULL};
    cr_assert_eq(mm_test_run(dec2, ids, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strlen(r.out) == sizeof text - 1 && memcmp(r.out, text, sizeof text - 1) == 0, "%s", r.out);
    mm_proc_result_free(&r);

    // --bench prints one JSON line with the byte and token counts.
    const char *bench[] = {MM_MINIMIND_EXE, "tokenizer", "encode", "--tokenizer", tok_json, "--bench", in,
                           "--threads", "2", "--repeat", "1", NULL};
    cr_assert_eq(mm_test_run(bench, NULL, &r), 0);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want[64];
    snprintf(want, sizeof want, "\"bytes\":%zu,", sizeof text - 1);
    cr_assert(strstr(r.out, "\"threads\":2") && strstr(r.out, want) && strstr(r.out, "\"mb_per_s\":"), "%s", r.out);
    mm_proc_result_free(&r);
    mm_test_rmtree(dir);
    free(in);
    free(ids);
    free(dir);
    free(tok_json);
}

Test(tokenizer_cli, help_and_usage_errors) {
    static const char *const helps[][4] = {{"tokenizer", "--help"}, {"tokenizer", "train", "--help"},
                                           {"tokenizer", "encode", "--help"}, {"tokenizer", "decode", "--help"}};
    for (int i = 0; i < 4; i++) {
        const char *argv[6] = {MM_MINIMIND_EXE};
        for (int k = 0; k < 4 && helps[i][k]; k++) argv[k + 1] = helps[i][k];
        mm_proc_result r;
        cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
        cr_assert_eq(r.status, 0);
        cr_assert(strstr(r.out, "usage: minimind tokenizer") != NULL, "%s", r.out);
        mm_proc_result_free(&r);
    }
    const char *bad[] = {MM_MINIMIND_EXE, "tokenizer", "encode", "--text", "x", NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(bad, NULL, &r), 0);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "minimind: error: tokenizer encode: --tokenizer PATH is required") != NULL, "%s", r.err);
    mm_proc_result_free(&r);
    const char *missing[] = {MM_MINIMIND_EXE, "tokenizer", "decode", "--tokenizer", "/nonexistent.json", "1", NULL};
    cr_assert_eq(mm_test_run(missing, NULL, &r), 0);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "minimind: error: /nonexistent.json") != NULL, "%s", r.err);
    mm_proc_result_free(&r);
    const char *unknown[] = {MM_MINIMIND_EXE, "tokenizer", "frobnicate", NULL};
    cr_assert_eq(mm_test_run(unknown, NULL, &r), 0);
    cr_assert_eq(r.status, 2);
    mm_proc_result_free(&r);
}
