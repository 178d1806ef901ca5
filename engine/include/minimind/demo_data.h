// The built-in demo corpus: a small invented world (people, cities, countries, languages,
// companies, rivers, elements, inventions, mountains) whose facts are rendered as pretraining text
// in English and Chinese, as TREx-style fact records, and as held-out fact-completion items.
// Everything is generated from the seed (no text is copied from anywhere) and is byte-for-byte
// deterministic: same seed and fact count, same files.
//
// Two layers: the world model (mm_demo_world: entities + facts + rendering with templates) in
// src/demo_facts.c, and the corpus writer (mm_demo_data_write) in src/demo_data.c.
#ifndef MINIMIND_DEMO_DATA_H
#define MINIMIND_DEMO_DATA_H

#include <stddef.h>
#include <stdint.h>

#define MM_DEMO_DEFAULT_SEED 42
#define MM_DEMO_DEFAULT_FACTS 2400
#define MM_DEMO_MIN_FACTS 100
#define MM_DEMO_MAX_FACTS 200000

// Templates per relation and language: 0..MM_DEMO_TRAIN_TEMPLATES-1 are used in pretrain.jsonl
// (each fact MM_DEMO_PRETRAIN_REPEATS times with every one of them, in both languages, each time
// in a different paragraph); MM_DEMO_HELDOUT_TEMPLATE is used
// only for eval_facts.jsonl / eval.jsonl. English template 0 is the canonical (TREx) sentence.
// train_facts.jsonl asks the same facts as eval_facts.jsonl in a wording that pretrain.jsonl
// contains (the first train template with the subject before the object): a memorisation probe
// beside the held-out (generalisation) one. A second, disjoint pick of facts, the unseen facts, is
// left out of pretrain.jsonl altogether: sentence_trex_data.json (the knowledge bank's source)
// states them, valid.jsonl holds them in the train templates (validation text) and
// unseen_facts.jsonl asks them like train_facts.jsonl (what only the bank can answer).
#define MM_DEMO_TRAIN_TEMPLATES 4
#define MM_DEMO_HELDOUT_TEMPLATE 4
#define MM_DEMO_TEMPLATES 5
#define MM_DEMO_PRETRAIN_REPEATS 2

// Byte capacities of entity names (NUL included) and of one rendered sentence.
#define MM_DEMO_NAME_CAP 64
#define MM_DEMO_SENTENCE_CAP 512

typedef enum mm_demo_lang { MM_DEMO_EN = 0, MM_DEMO_ZH = 1, MM_DEMO_N_LANGS = 2 } mm_demo_lang;

typedef enum mm_demo_entity_type {
    MM_DEMO_PERSON,
    MM_DEMO_CITY,
    MM_DEMO_COUNTRY,
    MM_DEMO_LANGUAGE,
    MM_DEMO_COMPANY,
    MM_DEMO_RIVER,
    MM_DEMO_ELEMENT,
    MM_DEMO_INVENTION,
    MM_DEMO_MOUNTAIN,
    MM_DEMO_COLOR,  // fixed vocabulary (red, blue, ...), not invented
    MM_DEMO_N_TYPES
} mm_demo_entity_type;

// Every relation is functional: one object per (subject, relation).
typedef enum mm_demo_relation {
    MM_DEMO_BORN_IN,            // person -> city
    MM_DEMO_BIRTH_YEAR,         // person -> year
    MM_DEMO_WORKS_AT,           // person -> company
    MM_DEMO_INVENTED,           // person -> invention (each inventor invents one thing)
    MM_DEMO_CITY_LOCATED_IN,    // city -> country          (predicate "located_in")
    MM_DEMO_POPULATION,         // city -> number
    MM_DEMO_CAPITAL_OF,         // city -> country (one capital per country, located in it)
    MM_DEMO_OFFICIAL_LANGUAGE,  // country -> language
    MM_DEMO_FOUNDED_BY,         // company -> person (the founder works at it)
    MM_DEMO_HEADQUARTERED_IN,   // company -> city
    MM_DEMO_FOUNDED_YEAR,       // company -> year (after the founder's birth)
    MM_DEMO_FLOWS_THROUGH,      // river -> city
    MM_DEMO_COLOR_OF,           // element -> color
    MM_DEMO_DISCOVERED_BY,      // element -> person
    MM_DEMO_MOUNTAIN_IN,        // mountain -> country      (predicate "located_in")
    MM_DEMO_HEIGHT,             // mountain -> number of metres
    MM_DEMO_N_RELATIONS
} mm_demo_relation;

typedef struct mm_demo_entity {
    mm_demo_entity_type type;
    char name[MM_DEMO_N_LANGS][MM_DEMO_NAME_CAP];  // UTF-8, unique among all entities per language
} mm_demo_entity;

typedef struct mm_demo_fact {
    mm_demo_relation relation;
    int subject;     // entity index
    int object;      // entity index, or -1 when the object is the literal below
    char literal[16];  // decimal digits (a year, a population, a height) when object == -1
    int rotation;    // which train template a fact starts with (varies wordings across facts)
} mm_demo_fact;

typedef struct mm_demo_world {
    uint64_t seed;
    mm_demo_entity *entities;
    int n_entities;
    int type_count[MM_DEMO_N_TYPES];
    mm_demo_fact *facts;  // grouped by subject: a subject's facts are consecutive
    int n_facts;
} mm_demo_world;

// Builds the world for `seed` with exactly n_facts facts (MM_DEMO_MIN_FACTS..MM_DEMO_MAX_FACTS).
// Returns 0, or -1 with the error set (w is left empty).
int mm_demo_world_build(mm_demo_world *w, uint64_t seed, int n_facts);
void mm_demo_world_free(mm_demo_world *w);

// The TREx predicate ("capital_of", "born_in", ...). Two relations share "located_in".
const char *mm_demo_relation_name(mm_demo_relation r);
const char *mm_demo_type_name(mm_demo_entity_type t);
const char *mm_demo_lang_code(mm_demo_lang lang);  // "en" / "zh"

const char *mm_demo_subject_text(const mm_demo_world *w, const mm_demo_fact *f, mm_demo_lang lang);
const char *mm_demo_object_text(const mm_demo_world *w, const mm_demo_fact *f, mm_demo_lang lang);

// Renders fact f with template `tmpl` (0..MM_DEMO_TEMPLATES-1) into buf (MM_DEMO_SENTENCE_CAP
// bytes is always enough). When prompt_len is non-NULL it receives the length of the text before
// the object with trailing spaces removed: buf[0..*prompt_len) is a completion prompt whose answer
// is mm_demo_object_text(). Returns the sentence length, or -1 with the error set.
int mm_demo_render(const mm_demo_world *w, const mm_demo_fact *f, mm_demo_lang lang, int tmpl,
                   char *buf, size_t cap, size_t *prompt_len);

// The generator's PRNG: xoshiro256** seeded through splitmix64 (never rand()).
typedef struct mm_demo_rng {
    uint64_t s[4];
} mm_demo_rng;
void mm_demo_rng_seed(mm_demo_rng *rng, uint64_t seed, uint64_t stream);
uint64_t mm_demo_rng_next(mm_demo_rng *rng);
// Uniform integer in [0, n) (n > 0), without modulo bias.
uint64_t mm_demo_rng_below(mm_demo_rng *rng, uint64_t n);
// Fisher-Yates shuffle of an int array.
void mm_demo_rng_shuffle(mm_demo_rng *rng, int *a, int n);

// ---- The corpus writer ----

// Output files, in the order of mm_demo_summary.files.
enum {
    MM_DEMO_FILE_PRETRAIN,
    MM_DEMO_FILE_TREX,
    MM_DEMO_FILE_EVAL_FACTS,
    MM_DEMO_FILE_EVAL,
    MM_DEMO_FILE_TRAIN_FACTS,
    MM_DEMO_FILE_VALID,
    MM_DEMO_FILE_UNSEEN_FACTS,
    MM_DEMO_FILE_MANIFEST,
    MM_DEMO_N_FILES
};

typedef struct mm_demo_file_stat {
    const char *name;   // file name inside the output directory, e.g. "pretrain.jsonl"
    long long records;  // lines (jsonl), list items (TREx), 1 (manifest)
    long long bytes;
} mm_demo_file_stat;

typedef struct mm_demo_summary {
    int n_facts;
    int n_entities;
    int n_eval_facts;    // facts with eval items (each gives one English and one Chinese item)
    int n_unseen_facts;  // facts only sentence_trex_data.json, valid.jsonl and unseen_facts.jsonl state
    mm_demo_file_stat files[MM_DEMO_N_FILES];
} mm_demo_summary;

// Writes pretrain.jsonl, sentence_trex_data.json, eval_facts.jsonl, eval.jsonl, train_facts.jsonl,
// valid.jsonl, unseen_facts.jsonl and manifest.json into out_dir (created when missing; existing files are
// replaced atomically). summary may be NULL. Returns 0, or -1 with the error set (naming the file).
int mm_demo_data_write(const char *out_dir, uint64_t seed, int n_facts, mm_demo_summary *summary);

#endif
