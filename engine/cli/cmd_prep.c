// `minimind prep pretrain|knowledge`: data preparation (docs/formats.md describes the outputs).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/error.h"
#include "minimind/knowledge.h"
#include "minimind/prep.h"
#include "minimind/tokenizer.h"
#include "options.h"

static const char mm_prep_usage[] =
    "usage: minimind prep pretrain --tokenizer PATH --data IN.jsonl --out FILE\n"
    "                              [--max-seq-len 512] [--threads N] [--skip-bad]\n"
    "       minimind prep knowledge --tokenizer PATH --data IN --out BANK\n"
    "                              [--knowledge-num 1048576] [--knowledge-length 32] [--threads N]\n"
    "\n"
    "pretrain:  JSON Lines {\"text\": ...} -> token file (each document stored as <s> text </s>).\n"
    "           --skip-bad skips malformed lines and lines without a string \"text\" (counted).\n"
    "knowledge: sentence_trex_data.json (a JSON list of {\"target\": [{\"sentence\", \"uuid\", ...}]})\n"
    "           or JSON Lines {\"text\"} -> bank of knowledge_num x knowledge_length token ids\n"
    "           (no <s>/</s>, truncated or padded with 0) + BANK.mapping.jsonl.\n"
    "--threads 0 (default) uses all cores.\n";

typedef struct mm_prep_args {
    const char *tokenizer, *data, *out;
    int max_seq_len, threads, skip_bad, knowledge_num, knowledge_length;
} mm_prep_args;

static int mm_prep_pretrain_cmd(const mm_prep_args *a, const mm_tokenizer *tok) {
    mm_prep_pretrain_opts o;
    mm_prep_pretrain_opts_default(&o);
    if (a->max_seq_len) o.max_seq_len = a->max_seq_len;
    o.threads = a->threads;
    o.skip_bad = a->skip_bad;
    mm_prep_pretrain_stats st;
    if (mm_prep_pretrain(tok, a->data, a->out, &o, &st) != 0) return mm_cli_fail();
    double mb = (double)st.input_bytes / 1e6;
    printf("prep pretrain: wrote %s\n", a->out);
    printf("  documents:           %llu\n", (unsigned long long)st.documents);
    printf("  tokens:              %llu (incl. <s> and </s>)\n", (unsigned long long)st.tokens);
    printf("  truncated documents: %llu (longer than %d tokens)\n", (unsigned long long)st.truncated,
           o.max_seq_len);
    printf("  skipped lines:       %llu\n", (unsigned long long)st.skipped);
    printf("  throughput:          %.1f MB in %.2f s = %.2f MB/s\n", mb, st.seconds,
           st.seconds > 0 ? mb / st.seconds : 0.0);
    return 0;
}

static int mm_prep_knowledge_cmd(const mm_prep_args *a, const mm_tokenizer *tok) {
    mm_knowledge_prep_opts o;
    mm_knowledge_prep_opts_default(&o);
    if (a->knowledge_num) o.knowledge_num = a->knowledge_num;
    if (a->knowledge_length) o.knowledge_length = a->knowledge_length;
    o.threads = a->threads;
    mm_knowledge_prep_stats st;
    if (mm_knowledge_prep(tok, a->data, a->out, &o, &st) != 0) return mm_cli_fail();
    char *map = mm_kbank_mapping_path(a->out);
    printf("prep knowledge: wrote %s (%d x %d) and %s\n", a->out, o.knowledge_num, o.knowledge_length,
           map ? map : "");
    printf("  input format:        %s\n", st.format_trex ? "sentence_trex_data.json (JSON list)" : "JSON Lines {\"text\"}");
    printf("  sentences read:      %llu\n", (unsigned long long)st.sentences);
    printf("  rows filled:         %llu (%llu rows of padding)\n", (unsigned long long)st.kept,
           (unsigned long long)((uint64_t)o.knowledge_num - st.kept));
    printf("  dropped sentences:   %llu (past --knowledge-num)\n", (unsigned long long)st.dropped);
    printf("  truncated sentences: %llu (longer than %d tokens)\n", (unsigned long long)st.truncated,
           o.knowledge_length);
    free(map);
    return 0;
}

int mm_cmd_prep(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(mm_prep_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    int knowledge = !strcmp(argv[1], "knowledge");
    if (!knowledge && strcmp(argv[1], "pretrain") != 0)
        return mm_cli_usage_error("prep: unknown kind '%s' (pretrain or knowledge)", argv[1]);
    mm_prep_args a;
    memset(&a, 0, sizeof a);
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--tokenizer PATH", &a.tokenizer)),
        mm_opt_required(mm_opt_str(knowledge ? "--data IN" : "--data IN.jsonl", &a.data)),
        mm_opt_required(mm_opt_str(knowledge ? "--out BANK" : "--out FILE", &a.out)),
        mm_opt_int("--threads", &a.threads, 0, INT_MAX),
        knowledge ? mm_opt_int("--knowledge-num", &a.knowledge_num, 1, INT_MAX)
                  : mm_opt_int("--max-seq-len", &a.max_seq_len, 2, INT_MAX),
        knowledge ? mm_opt_int("--knowledge-length", &a.knowledge_length, 1, INT_MAX)
                  : mm_opt_flag("--skip-bad", &a.skip_bad),
    };
    const char *cmd = knowledge ? "prep knowledge" : "prep pretrain";
    int rc = mm_cli_parse(cmd, mm_prep_usage, argc - 1, argv + 1, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    mm_tokenizer *tok;
    if (mm_tokenizer_load(a.tokenizer, &tok) != 0) return mm_cli_fail();
    rc = knowledge ? mm_prep_knowledge_cmd(&a, tok) : mm_prep_pretrain_cmd(&a, tok);
    mm_tokenizer_free(tok);
    return rc;
}
