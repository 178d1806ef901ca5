// The engine's configuration keys, as expt checks them (see runconfig.h).
#include "runconfig.h"

#include "minimind/device_name.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ex_model_types[] = {"model_original", "model", "model_no_feed", NULL};
static const char *const ex_memory_selects[] = {"softmax", "gumbel", NULL};
static const char *const ex_memory_updates[] = {"frozen", "ema", NULL};
static const char *const ex_precisions[] = {"fp32", "bf16", "fp16", NULL};
static const char *const ex_bank_ablations[] = {"none", "empty", "shuffle", "layers", NULL};
static const char *const ex_off_on[] = {"off", "on", NULL};

#define INT(s, k) \
    { s, k, EX_KEY_INT, NULL, 0 }
#define NUM(s, k) \
    { s, k, EX_KEY_NUM, NULL, 0 }
const ex_config_key ex_config_keys[] = {
    {"model", "model_type", EX_KEY_CHOICE, ex_model_types, 0},
    INT("model", "dim"),
    INT("model", "n_layers"),
    INT("model", "n_heads"),
    INT("model", "n_kv_heads"),
    INT("model", "vocab_size"),
    INT("model", "hidden_dim"),
    INT("model", "multiple_of"),
    NUM("model", "norm_eps"),
    NUM("model", "rope_theta"),
    INT("model", "max_seq_len"),
    NUM("model", "dropout"),
    {"data", "data_path", EX_KEY_PATH, NULL, 1},
    {"data", "tokenizer_path", EX_KEY_PATH, NULL, 1},
    {"data", "eval_data_path", EX_KEY_PATH, NULL, 1},
    INT("knowledge", "knowledge_num"),
    INT("knowledge", "knowledge_length"),
    INT("knowledge", "knowledge_dim"),
    INT("knowledge", "num_candidates"),
    {"knowledge", "memory_select", EX_KEY_CHOICE, ex_memory_selects, 0},
    {"knowledge", "database_init_path", EX_KEY_PATH, NULL, 1},
    {"knowledge", "cluster_cache_path", EX_KEY_PATH, NULL, 0},
    {"knowledge", "memory_update", EX_KEY_CHOICE, ex_memory_updates, 0},
    INT("knowledge", "ema_update_freq"),
    NUM("knowledge", "ema_decay"),
    NUM("knowledge", "freeze_ratio"),
    INT("train", "epochs"),
    INT("train", "batch_size"),
    INT("train", "accumulation_steps"),
    NUM("train", "learning_rate"),
    INT("train", "warmup_iters"),
    NUM("train", "weight_decay"),
    NUM("train", "beta1"),
    NUM("train", "beta2"),
    NUM("train", "adam_eps"),
    NUM("train", "grad_clip"),
    INT("train", "seed"),
    INT("train", "log_interval"),
    INT("train", "save_interval"),
    {"train", "mixed_precision", EX_KEY_CHOICE, ex_precisions, 0},
    {"train", "device", EX_KEY_DEVICE, NULL, 0},
    INT("train", "threads"),
    INT("train", "max_steps"),
    INT("train", "eval_interval"),
    INT("train", "eval_samples"),
    INT("eval", "num_samples"),
    INT("eval", "prompt_tokens"),
    INT("eval", "max_new_tokens"),
    NUM("eval", "temperature"),
    NUM("eval", "top_p"),
    {"eval", "facts_path", EX_KEY_PATH, NULL, 1},
    INT("eval", "facts_max"),
    {"eval", "bank_ablation", EX_KEY_CHOICE, ex_bank_ablations, 0},
    {"eval", "retrieval", EX_KEY_CHOICE, ex_off_on, 0},
    {NULL, NULL, EX_KEY_INT, NULL, 0},
};
#undef INT
#undef NUM

const char *ex_config_bank_ablation(const ex_ini *c) {
    const char *v = ex_ini_get(c, "eval", "bank_ablation");
    return v && *v && strcmp(v, "none") ? v : NULL;
}

int ex_config_retrieval_on(const ex_ini *c) {
    const char *v = ex_ini_get(c, "eval", "retrieval");
    return v && !strcmp(v, "on");
}

const ex_config_key *ex_config_key_find(const char *section, const char *key) {
    for (const ex_config_key *k = ex_config_keys; k->section; k++)
        if (!strcmp(k->section, section) && !strcmp(k->key, key)) return k;
    return NULL;
}

static int ex_section_known(const char *section) {
    for (const ex_config_key *k = ex_config_keys; k->section; k++)
        if (!strcmp(k->section, section)) return 1;
    return 0;
}

const char *ex_config_check(const char *section, const char *key, const char *value) {
    static _Thread_local char why[256];
    if (!ex_section_known(section))
        return "unknown section (expected [model] [data] [knowledge] [train] [eval])";
    const ex_config_key *k = ex_config_key_find(section, key);
    if (!k) return "unknown key (the engine rejects it; see templates/experiment_template.ini)";
    char *end;
    errno = 0;
    switch (k->kind) {
        case EX_KEY_INT: {
            long long v = strtoll(value, &end, 10);
            if (!*value || *end || errno) return "not an integer";
            if (v < 0) return "must not be negative";
            return NULL;
        }
        case EX_KEY_NUM: {
            double v = strtod(value, &end);
            if (!*value || *end || errno || !isfinite(v)) return "not a number";
            return NULL;
        }
        case EX_KEY_CHOICE:
            for (int i = 0; k->choices[i]; i++)
                if (!strcmp(k->choices[i], value)) return NULL;
            snprintf(why, sizeof why, "unknown %s '%s' (one of", key, value);
            for (int i = 0; k->choices[i]; i++)
                snprintf(why + strlen(why), sizeof why - strlen(why), "%s %s", i ? "," : "", k->choices[i]);
            snprintf(why + strlen(why), sizeof why - strlen(why), ")");
            return why;
        case EX_KEY_DEVICE: {
            int kind, index;  // the engine's own syntax check (minimind/device_name.h)
            return mm_device_parse(value, &kind, &index) == 0 ? NULL : "not one of auto, cpu, cuda, cuda:N, cpu-staged";
        }
        case EX_KEY_PATH:
            return NULL;
    }
    return NULL;
}

int ex_config_load(const char *path, ex_ini *out) { return ex_ini_load(path, ex_config_check, out); }
