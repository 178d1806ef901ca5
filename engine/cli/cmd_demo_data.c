// `minimind demo-data --out DIR [--seed S] [--facts N]`: writes the built-in demo corpus.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "minimind/demo_data.h"

static void mm_demo_usage(FILE *out) {
    fprintf(
        out,
        "usage: minimind demo-data --out DIR [--seed S] [--facts N]\n"
        "\n"
        "Generates a small deterministic corpus of facts about invented entities (people,\n"
        "cities, countries, companies, rivers, elements, inventions, mountains) in English and\n"
        "Chinese. Same seed and fact count: byte-identical files.\n"
        "\n"
        "  --out DIR    output directory (created if missing; files replaced atomically)\n"
        "  --seed S     unsigned 64-bit seed (default %d)\n"
        "  --facts N    number of facts, %d..%d (default %d)\n"
        "\n"
        "files: pretrain.jsonl, sentence_trex_data.json, eval_facts.jsonl, eval.jsonl,\n"
        "       manifest.json (see docs/demo-data.md)\n",
        MM_DEMO_DEFAULT_SEED, MM_DEMO_MIN_FACTS, MM_DEMO_MAX_FACTS, MM_DEMO_DEFAULT_FACTS);
}

// Parses an unsigned decimal integer (no sign, no spaces, no overflow).
static int mm_parse_u64(const char *s, unsigned long long *out) {
    if (!s || *s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') return -1;
    *out = v;
    return 0;
}

// Matches "--name VALUE" or "--name=VALUE"; advances *i past the value. 1 matched, 0 not,
// -1 when the value is missing.
static int mm_opt(int argc, char **argv, int *i, const char *name, const char **value) {
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0) return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0') return 0;
    if (*i + 1 >= argc) return -1;
    *value = argv[++*i];
    return 1;
}

int mm_cmd_demo_data(int argc, char **argv) {
    const char *out = NULL, *seed_s = NULL, *facts_s = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int m;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            mm_demo_usage(stdout);
            return 0;
        }
        if ((m = mm_opt(argc, argv, &i, "--out", &v)) != 0) out = v;
        else if ((m = mm_opt(argc, argv, &i, "--seed", &v)) != 0) seed_s = v;
        else if ((m = mm_opt(argc, argv, &i, "--facts", &v)) != 0) facts_s = v;
        else
            return mm_cli_usage_error(
                "demo-data: unknown argument '%s' (see `minimind demo-data --help`)", argv[i]);
        if (m < 0) return mm_cli_usage_error("demo-data: option '%s' needs a value", argv[i]);
    }
    if (!out || !*out) return mm_cli_usage_error("demo-data: --out DIR is required");
    unsigned long long seed = MM_DEMO_DEFAULT_SEED, facts = MM_DEMO_DEFAULT_FACTS;
    if (seed_s && mm_parse_u64(seed_s, &seed) != 0)
        return mm_cli_usage_error("demo-data: --seed '%s': expected an unsigned 64-bit integer",
                                  seed_s);
    if (facts_s && (mm_parse_u64(facts_s, &facts) != 0 || facts < MM_DEMO_MIN_FACTS ||
                    facts > MM_DEMO_MAX_FACTS))
        return mm_cli_usage_error("demo-data: --facts '%s': expected an integer in %d..%d", facts_s,
                                  MM_DEMO_MIN_FACTS, MM_DEMO_MAX_FACTS);

    mm_demo_summary sum;
    if (mm_demo_data_write(out, (uint64_t)seed, (int)facts, &sum) != 0) return mm_cli_fail();
    for (int i = 0; i < MM_DEMO_N_FILES; i++) {
        const mm_demo_file_stat *st = &sum.files[i];
        const char *unit = i == MM_DEMO_FILE_TREX ? "items" : "lines";
        if (i == MM_DEMO_FILE_MANIFEST)
            printf("wrote %s/%s: %lld bytes\n", out, st->name, st->bytes);
        else
            printf("wrote %s/%s: %lld %s, %lld bytes\n", out, st->name, st->records, unit,
                   st->bytes);
    }
    printf("demo-data: seed %llu, %d facts about %d entities, %d held-out eval facts (%d items)\n",
           seed, sum.n_facts, sum.n_entities, sum.n_eval_facts, 2 * sum.n_eval_facts);
    return 0;
}
