// `minimind demo-data --out DIR [--seed S] [--facts N]`: writes the built-in demo corpus.
#include <stdio.h>

#include "commands.h"
#include "minimind/demo_data.h"
#include "options.h"

// The limits from demo_data.h, as text in the usage.
#define MM_DEMO_TEXT_(x) #x
#define MM_DEMO_TEXT(x) MM_DEMO_TEXT_(x)

static const char mm_demo_usage[] =
    "usage: minimind demo-data --out DIR [--seed S] [--facts N]\n"
    "\n"
    "Generates a small deterministic corpus of facts about invented entities (people,\n"
    "cities, countries, companies, rivers, elements, inventions, mountains) in English and\n"
    "Chinese. Same seed and fact count: byte-identical files.\n"
    "\n"
    "  --out DIR    output directory (created if missing; files replaced atomically)\n"
    "  --seed S     unsigned 64-bit seed (default " MM_DEMO_TEXT(MM_DEMO_DEFAULT_SEED) ")\n"
    "  --facts N    number of facts, " MM_DEMO_TEXT(MM_DEMO_MIN_FACTS) ".." MM_DEMO_TEXT(MM_DEMO_MAX_FACTS)
    " (default " MM_DEMO_TEXT(MM_DEMO_DEFAULT_FACTS) ")\n"
    "\n"
    "files: pretrain.jsonl, sentence_trex_data.json, eval_facts.jsonl, eval.jsonl,\n"
    "       train_facts.jsonl, valid.jsonl, unseen_facts.jsonl, manifest.json\n"
    "       (see docs/demo-data.md)\n";

int mm_cmd_demo_data(int argc, char **argv) {
    const char *out = NULL;
    uint64_t seed = MM_DEMO_DEFAULT_SEED;
    int facts = MM_DEMO_DEFAULT_FACTS;
    mm_opt opts[] = {
        mm_opt_required(mm_opt_str("--out DIR", &out)),
        mm_opt_u64("--seed", &seed),
        mm_opt_int("--facts", &facts, MM_DEMO_MIN_FACTS, MM_DEMO_MAX_FACTS),
    };
    int rc = mm_cli_parse("demo-data", mm_demo_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    if (!*out) return mm_cli_usage_error("demo-data: --out DIR must not be empty (see --help)");

    mm_demo_summary sum;
    if (mm_demo_data_write(out, seed, facts, &sum) != 0) return mm_cli_fail();
    for (int i = 0; i < MM_DEMO_N_FILES; i++) {
        const mm_demo_file_stat *st = &sum.files[i];
        const char *unit = i == MM_DEMO_FILE_TREX ? "items" : "lines";
        if (i == MM_DEMO_FILE_MANIFEST)
            printf("wrote %s/%s: %lld bytes\n", out, st->name, st->bytes);
        else
            printf("wrote %s/%s: %lld %s, %lld bytes\n", out, st->name, st->records, unit,
                   st->bytes);
    }
    printf(
        "demo-data: seed %llu, %d facts about %d entities, %d held-out eval facts (%d items), "
        "%d unseen facts (in the bank's source only, %d items)\n",
        (unsigned long long)seed, sum.n_facts, sum.n_entities, sum.n_eval_facts, 2 * sum.n_eval_facts,
        sum.n_unseen_facts, 2 * sum.n_unseen_facts);
    return 0;
}
