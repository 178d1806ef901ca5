// `minimind tokenizer`: train a byte-level BPE tokenizer, encode text to ids, decode ids to text,
// and measure encoding throughput (`encode --bench`).
#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/progress.h"
#include "minimind/tokenizer.h"
#include "options.h"

static const char mm_tok_usage[] =
    "usage: minimind tokenizer train --data FILE.jsonl [--data ...] --out DIR [--vocab-size N]\n"
    "                                [--min-frequency N] [--threads N] [--max-bytes N] [--text-field NAME]\n"
    "       minimind tokenizer encode --tokenizer PATH [--text T] [--json]\n"
    "       minimind tokenizer encode --tokenizer PATH --bench FILE [--threads N] [--repeat N]\n"
    "       minimind tokenizer decode --tokenizer PATH [--raw] [ID ...]\n"
    "\n"
    "PATH is a tokenizer.json or a directory holding one (Hugging Face format, byte-level BPE).\n"
    "`minimind tokenizer SUBCOMMAND --help` describes a subcommand.\n";

static const char mm_train_usage[] =
    "usage: minimind tokenizer train --data FILE.jsonl [--data ...] --out DIR [options]\n"
    "\n"
    "Trains a byte-level BPE tokenizer on the \"text\" field of JSON Lines files and writes\n"
    "DIR/tokenizer.json and DIR/tokenizer_config.json (loadable by Hugging Face `tokenizers`).\n"
    "Ids: <unk>=0 <s>=1 </s>=2, the 256 byte symbols, then the merges in order.\n"
    "\n"
    "  --data FILE         training text (JSON Lines); repeatable\n"
    "  --out DIR           output directory (created if missing)\n"
    "  --vocab-size N      vocabulary size (default 6400)\n"
    "  --min-frequency N   do not merge pairs seen fewer than N times (default 2)\n"
    "  --threads N         threads for counting words (default: all cores)\n"
    "  --max-bytes N       read at most N bytes of text (default: all)\n"
    "  --text-field NAME   JSON field holding the text (default \"text\")\n";

static const char mm_encode_usage[] =
    "usage: minimind tokenizer encode --tokenizer PATH [--text T] [--json]\n"
    "       minimind tokenizer encode --tokenizer PATH --bench FILE [--threads N] [--repeat N]\n"
    "\n"
    "Prints the token ids of T (or of standard input, all bytes, when --text is absent), separated\n"
    "by spaces, or as a JSON array with --json. Special tokens written literally (<s>) are matched.\n"
    "\n"
    "--bench FILE encodes every line of FILE (each line one document, newline included) with N\n"
    "threads (default: all cores), R times (default 3, the best run counts), and prints one JSON line:\n"
    "{\"threads\":N,\"bytes\":B,\"tokens\":T,\"seconds\":S,\"mb_per_s\":X} (MB = 10^6 bytes).\n";

static const char mm_decode_usage[] =
    "usage: minimind tokenizer decode --tokenizer PATH [--raw] [ID ...]\n"
    "\n"
    "Prints the text of the ids given as arguments (or read from standard input: integers separated\n"
    "by spaces, commas or brackets, so `encode --json` output works). Special tokens print as their\n"
    "text. A newline follows unless --raw (then exactly the decoded bytes are written).\n";

// Reads all of a stream.
static char *mm_read_stream(FILE *fp, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = mm_malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *g = mm_realloc(buf, cap *= 2);
            if (!g) {
                free(buf);
                return NULL;
            }
            buf = g;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, fp);
        n += r;
        if (r == 0) break;
    }
    if (ferror(fp)) {
        free(buf);
        mm_errorf("standard input: read failed");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

// ---- train ----

static int mm_tok_train(int argc, char **argv) {
    mm_tokenizer_train_opts o;
    mm_tokenizer_train_opts_default(&o);
    mm_strlist data = {0};
    const char *out = NULL;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_list("--data FILE.jsonl", &data)),
        mm_opt_required(mm_opt_str("--out DIR", &out)),
        mm_opt_int("--vocab-size", &o.vocab_size, 259, 1 << 24),
        mm_opt_int("--min-frequency", &o.min_frequency, 0, INT_MAX),
        mm_opt_int("--threads", &o.threads, 0, 4096),
        mm_opt_i64("--max-bytes", &o.max_bytes, 0, LLONG_MAX),
        mm_opt_str("--text-field", &o.text_field),
    };
    int rc = mm_cli_parse("tokenizer train", mm_train_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    rc = mm_tokenizer_train(data.v, data.n, &o, out) == 0 ? 0 : mm_cli_fail();
    if (rc == 0) fprintf(stderr, "wrote %s/tokenizer.json and %s/tokenizer_config.json\n", out, out);
    mm_strlist_free(&data);
    return rc;
}

// ---- encode ----

typedef struct mm_doc {
    const char *s;
    size_t n;
} mm_doc;

static int mm_tok_bench(const mm_tokenizer *tok, const char *file, int threads, int repeat) {
    size_t len;
    char *text = mm_read_file(file, &len);
    if (!text) return mm_cli_fail();
    size_t n_docs = 0, cap = 1024;
    mm_doc *docs = mm_malloc(cap * sizeof *docs);
    for (size_t p = 0; docs && p < len;) {
        const char *nl = memchr(text + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - text) + 1 : len;
        if (n_docs == cap) {
            mm_doc *g = mm_realloc(docs, (cap *= 2) * sizeof *docs);
            if (!g) {
                free(docs);
                docs = NULL;
                break;
            }
            docs = g;
        }
        docs[n_docs++] = (mm_doc){text + p, e - p};
        p = e;
    }
    if (!docs) {
        free(text);
        return mm_cli_fail();
    }
    if (threads <= 0) threads = omp_get_num_procs();
    double best = 1e30;
    long long tokens = 0;
    int failed = 0;
    for (int r = 0; r < repeat && !failed; r++) {
        tokens = 0;
        double t0 = mm_now_s();
#pragma omp parallel num_threads(threads) reduction(+ : tokens) reduction(| : failed)
        {
            mm_ids ids = {0};
#pragma omp for schedule(dynamic, 64)
            for (size_t d = 0; d < n_docs; d++) {
                ids.len = 0;
                if (mm_tokenizer_encode(tok, docs[d].s, docs[d].n, &ids) != 0) failed = 1;
                tokens += (long long)ids.len;
            }
            mm_ids_free(&ids);
        }
        double dt = mm_now_s() - t0;
        if (dt < best) best = dt;
    }
    free(docs);
    free(text);
    if (failed) return mm_cli_fail();
    printf("{\"threads\":%d,\"bytes\":%zu,\"tokens\":%lld,\"seconds\":%.6f,\"mb_per_s\":%.3f}\n", threads, len, tokens,
           best, (double)len / 1e6 / best);
    return 0;
}

static int mm_tok_encode(int argc, char **argv) {
    const char *path = NULL, *text = NULL, *bench = NULL;
    int json = 0, threads = 0, repeat = 3;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--tokenizer PATH", &path)),
        mm_opt_str("--text", &text),
        mm_opt_flag("--json", &json),
        mm_opt_str("--bench", &bench),
        mm_opt_int("--threads", &threads, 0, 4096),
        mm_opt_int("--repeat", &repeat, 1, 1000),
    };
    int rc = mm_cli_parse("tokenizer encode", mm_encode_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    if (bench && text) return mm_cli_usage_error("tokenizer encode: --bench and --text exclude each other");
    mm_tokenizer *tok;
    if (mm_tokenizer_load(path, &tok) != 0) return mm_cli_fail();
    if (bench) {
        rc = mm_tok_bench(tok, bench, threads, repeat);
        mm_tokenizer_free(tok);
        return rc;
    }
    size_t len;
    char *owned = NULL;
    if (text) {
        len = strlen(text);
    } else {
        owned = mm_read_stream(stdin, &len);
        if (!owned) {
            mm_tokenizer_free(tok);
            return mm_cli_fail();
        }
        text = owned;
    }
    mm_ids ids = {0};
    rc = mm_tokenizer_encode(tok, text, len, &ids);
    free(owned);
    mm_tokenizer_free(tok);
    if (rc != 0) {
        mm_ids_free(&ids);
        return mm_cli_fail();
    }
    if (json) putchar('[');
    for (size_t i = 0; i < ids.len; i++) printf(i ? (json ? ",%d" : " %d") : "%d", (int)ids.data[i]);
    puts(json ? "]" : "");
    mm_ids_free(&ids);
    return 0;
}

// ---- decode ----

// Parses integers separated by anything that is not part of a number. -1 on a bad token.
static int mm_parse_ids(const char *s, mm_ids *ids) {
    const char *p = s;
    while (*p) {
        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            char *end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < INT32_MIN || v > INT32_MAX)
                return mm_errorf("decode: bad token id near '%.20s'", p);
            if (mm_ids_push(ids, (int32_t)v) != 0) return -1;
            p = end;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',' || *p == '[' || *p == ']') {
            p++;
        } else {
            return mm_errorf("decode: expected token ids, got '%.20s'", p);
        }
    }
    return 0;
}

static int mm_tok_decode(int argc, char **argv) {
    const char *path = NULL;
    int raw = 0;
    mm_strlist args = {0};
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--tokenizer PATH", &path)),
        mm_opt_flag("--raw", &raw),
        mm_opt_args("ID", &args),
    };
    int rc = mm_cli_parse("tokenizer decode", mm_decode_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    rc = 0;
    mm_ids ids = {0};
    for (int i = 0; i < args.n && rc == 0; i++)
        if (mm_parse_ids(args.v[i], &ids) != 0) rc = mm_cli_fail();
    if (rc == 0 && args.n == 0) {
        size_t len;
        char *in = mm_read_stream(stdin, &len);
        if (!in || mm_parse_ids(in, &ids) != 0) rc = mm_cli_fail();
        free(in);
    }
    mm_strlist_free(&args);
    mm_tokenizer *tok = NULL;
    if (rc == 0 && mm_tokenizer_load(path, &tok) != 0) rc = mm_cli_fail();
    if (rc == 0) {
        size_t n;
        char *s = mm_tokenizer_decode(tok, ids.data, ids.len, &n);
        if (!s) {
            rc = mm_cli_fail();
        } else {
            fwrite(s, 1, n, stdout);
            if (!raw) putchar('\n');
            free(s);
        }
    }
    mm_tokenizer_free(tok);
    mm_ids_free(&ids);
    return rc;
}

int mm_cmd_tokenizer(int argc, char **argv) {
    if (argc < 2) {
        fputs(mm_tok_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        fputs(mm_tok_usage, stdout);
        return 0;
    }
    if (!strcmp(sub, "train")) return mm_tok_train(argc - 1, argv + 1);
    if (!strcmp(sub, "encode")) return mm_tok_encode(argc - 1, argv + 1);
    if (!strcmp(sub, "decode")) return mm_tok_decode(argc - 1, argv + 1);
    return mm_cli_usage_error("tokenizer: unknown subcommand '%s' (train, encode, decode; see --help)", sub);
}
