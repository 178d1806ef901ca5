// The run configuration (DESIGN.md §3): an INI file (inih) with sections [model] [data]
// [knowledge] [train] [eval] and the original project's key names, `--set SECTION.KEY=VALUE`
// overrides, the fully resolved configuration written back as `config.ini`, and the flat
// "section.key" -> "value" form stored in a checkpoint's safetensors __metadata__.
//
// Typical use (minimind train):
//     mm_run_config cfg;
//     mm_config_default(&cfg);
//     if (mm_config_load(&cfg, "run_file/experiment_1.0.0.ini", MM_CONFIG_CHECK_PATHS)) fail;
//     for each --set: if (mm_config_override(&cfg, "train.batch_size=16", MM_CONFIG_CHECK_PATHS)) fail;
//     if (mm_config_finalize(&cfg, MM_CONFIG_FOR_TRAINING)) fail;
//     mm_config_write(&cfg, "out/experiment_1_0_0/config.ini");
// Every error message names the place: "FILE:LINE: unknown key 'foo' in section [train]",
// "--set train.batch_size=12x: key 'batch_size' in section [train]: '12x' is not an integer".
#ifndef MINIMIND_CONFIG_H
#define MINIMIND_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "minimind/model_config.h"
#include "minimind/safetensors.h"

// Room for a string value. inih cuts lines at 200 bytes, so a value that could not be written
// back as one INI line is rejected when set (error names the key).
#define MM_CONFIG_STR_MAX 200

typedef enum mm_memory_select {
    MM_MEMORY_SELECT_SOFTMAX = 0,  // "softmax" (default)
    MM_MEMORY_SELECT_GUMBEL = 1,   // "gumbel"
} mm_memory_select;

typedef enum mm_memory_update {
    MM_MEMORY_UPDATE_FROZEN = 0,  // "frozen" (default): the bank never changes
    MM_MEMORY_UPDATE_EMA = 1,     // "ema": entries move toward the hidden states that selected them
} mm_memory_update;

typedef struct mm_data_config {
    char data_path[MM_CONFIG_STR_MAX];       // training data; required for training
    char tokenizer_path[MM_CONFIG_STR_MAX];  // "" = not set
    char eval_data_path[MM_CONFIG_STR_MAX];  // "" = not set
} mm_data_config;

// [knowledge] keys that are not model shape (knowledge_num/_length/_dim live in mm_model_config).
typedef struct mm_knowledge_config {
    int num_candidates;                          // default 16
    mm_memory_select memory_select;              // default softmax
    char database_init_path[MM_CONFIG_STR_MAX];  // "" = random init; must exist when set
    char cluster_cache_path[MM_CONFIG_STR_MAX];  // "" = random keys; training requires the file to exist
    mm_memory_update memory_update;              // default frozen
    int ema_update_freq;                         // EMA update every N optimizer steps; default 100
    double ema_decay;                            // default 0.9 (weight of the old entry)
    double freeze_ratio;                         // entries below freeze_ratio * knowledge_num never change; 0
} mm_knowledge_config;

typedef struct mm_train_config {
    int epochs;              // 1
    int batch_size;          // 32
    int accumulation_steps;  // 8
    double learning_rate;    // 5e-4
    int warmup_iters;        // 0
    double weight_decay;     // 0.01
    double beta1;            // 0.9
    double beta2;            // 0.999
    double adam_eps;         // 1e-8
    double grad_clip;        // 1.0 (0 = no clipping)
    int64_t seed;            // 42
    int log_interval;        // 100 (steps)
    int save_interval;       // 100 (steps)
    char mixed_precision[8]; // "fp32" | "bf16" | "fp16"; default "bf16" as the original (CPU runs fp32; fp16: loss scaling)
    char device[32];         // "auto" | "cpu" | "cuda" | "cuda:N"; default "auto"
    int threads;             // 0 = all cores
    int64_t max_steps;       // 0 = all (epochs * steps per epoch)
    int eval_interval;       // 0 = off; else the validation loss every eval_interval steps (and at the
                             // end) on the first eval_samples documents of [data] eval_data_path
    int eval_samples;        // 20
} mm_train_config;

typedef struct mm_eval_config {
    int num_samples;     // 10
    int prompt_tokens;   // 30
    int max_new_tokens;  // 100
    double temperature;  // 0.85 (0 = greedy)
    double top_p;        // 0.85
    char facts_path[MM_CONFIG_STR_MAX];  // "" = none; else `expt` evaluations also run `eval --facts`
    int facts_max;                       // 0 = every item of facts_path
    char bank_ablation[8];  // "none" | "empty" | "shuffle" | "layers": `expt` evaluations of a memory
                            // model also run `eval --bank_ablation` (what the model reads from its
                            // bank; "layers": from which layers)
    char retrieval[4];      // "off" | "on": `expt` evaluations of a memory model with facts_path also
                            // run `eval --retrieval` (do the lookups find the facts' entries?)
} mm_eval_config;

typedef struct mm_run_config {
    mm_model_config model;          // [model] + knowledge_num/_length/_dim of [knowledge]
    mm_data_config data;            // [data]
    mm_knowledge_config knowledge;  // the rest of [knowledge]
    mm_train_config train;          // [train]
    mm_eval_config eval;            // [eval]
    char source[1024];              // the INI file last loaded ("" = none); names finalize errors
} mm_run_config;

// Flags for mm_config_load / mm_config_override / mm_config_set / mm_config_finalize.
#define MM_CONFIG_CHECK_PATHS 1u   // paths (except cluster_cache_path) must exist when set
#define MM_CONFIG_FOR_TRAINING 2u  // finalize: [data] data_path is required

// Section masks for mm_config_compare / mm_config_hash.
#define MM_CONFIG_MODEL (1u << 0)
#define MM_CONFIG_DATA (1u << 1)
#define MM_CONFIG_KNOWLEDGE (1u << 2)
#define MM_CONFIG_TRAIN (1u << 3)
#define MM_CONFIG_EVAL (1u << 4)
#define MM_CONFIG_ALL 0x1fu
// The keys stored in mm_model_config (all of [model] + knowledge_num/_length/_dim): what the
// network's shapes depend on.
#define MM_CONFIG_ARCH (1u << 5)

// The original project's defaults (model_type model_original; hidden_dim 0 = derived).
void mm_config_default(mm_run_config *c);

// Reads an INI file over *c (keys not in the file keep their value). Treats every problem as an
// error: unknown section or key, a key set twice, bad number (full-string check) or out of range,
// unknown enum value, a line longer than inih's 200-byte buffer, a syntax error, and (with
// MM_CONFIG_CHECK_PATHS) a path that does not exist. Error: "FILE:LINE: what" (on error *c may
// hold the keys before the bad line). Sets c->source. Relative paths are kept as written
// (relative to the working directory, as the original's scripts). A continuation line (leading
// whitespace) counts as setting its key twice.
int mm_config_load(mm_run_config *c, const char *path, unsigned flags);

// Same, from a string; `name` stands for the file name in messages.
int mm_config_load_string(mm_run_config *c, const char *text, const char *name, unsigned flags);

// Applies "SECTION.KEY=VALUE" (a `--set` argument) with the same validation; errors start with
// "--set SECTION.KEY=VALUE: ".
int mm_config_override(mm_run_config *c, const char *assignment, unsigned flags);

// Sets one key from its text form; `origin` prefixes error messages (e.g. "--dim").
int mm_config_set(mm_run_config *c, const char *section, const char *key, const char *value, unsigned flags,
                  const char *origin);

// Writes the text form of one key's value into buf ("512", "5e-04" style shortest round-trip
// form, "model_original"). Returns 0, or -1 for an unknown key.
int mm_config_get(const mm_run_config *c, const char *section, const char *key, char *buf, size_t cap);

// The key table, for listing every key: i in [0, mm_config_key_count()).
int mm_config_key_count(void);
void mm_config_key_at(int i, const char **section, const char **key);

// Resolves derived values (hidden_dim) and checks cross-field consistency
// (mm_model_config_validate), and with MM_CONFIG_FOR_TRAINING that data_path is set. Errors are
// prefixed with c->source (or "configuration").
int mm_config_finalize(mm_run_config *c, unsigned flags);

// The fully resolved configuration as INI text (every key, one section after another), malloc'd.
// Reading it back gives an identical configuration.
char *mm_config_to_ini(const mm_run_config *c);
// Writes mm_config_to_ini atomically (temp name + rename).
int mm_config_write(const mm_run_config *c, const char *path);

// Stores every key as metadata "section.key" -> value text (e.g. "model.dim" -> "512").
int mm_config_to_meta(const mm_run_config *c, mm_safetensors *st);
// Rebuilds a configuration from metadata written by mm_config_to_meta: starts from defaults,
// applies every "section.key" entry (other metadata keys such as "format" are ignored), requires
// every MM_CONFIG_ARCH key to be present, then finalizes (without the training requirement and
// without path checks). `file` names the checkpoint in errors:
// "FILE: metadata 'model.dim': ..." / "FILE: metadata lacks 'model.dim' (not a minimind checkpoint?)".
int mm_config_from_meta(mm_run_config *c, const mm_safetensors *st, const char *file);

// Compares the keys selected by `mask` (MM_CONFIG_* bits). Returns 0 when all are equal, else -1
// with the error naming the first differing key and both values:
// "[model] dim differs: 768 (command line) vs 512 (pretrain_512.safetensors)".
int mm_config_compare(const mm_run_config *a, const char *a_what, const mm_run_config *b, const char *b_what,
                      unsigned mask);

// FNV-1a 64-bit hash of the "section.key=value" lines selected by mask (e.g. to tag resume state).
uint64_t mm_config_hash(const mm_run_config *c, unsigned mask);

const char *mm_memory_select_name(mm_memory_select m);  // "softmax" / "gumbel"

#endif
