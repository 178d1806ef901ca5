// The run configuration (run_file/experiment_X.Y.Z.ini, DESIGN.md §3): the sections and keys the
// engine accepts, so that `expt run` can refuse a configuration the engine would reject before
// anything starts (expt/runconfig.c). The table mirrors the engine's (engine/src/config.c): the
// end-to-end test checks it against the resolved config.ini the real engine writes.
#ifndef EXPT_RUNCONFIG_H
#define EXPT_RUNCONFIG_H

#include "inifile.h"

typedef enum ex_key_kind {
    EX_KEY_INT,     // integer (non-negative)
    EX_KEY_NUM,     // finite number
    EX_KEY_CHOICE,  // one of the listed names
    EX_KEY_DEVICE,  // auto, cpu, cuda or cuda:N
    EX_KEY_PATH,    // a path relative to the repository root (or absolute)
} ex_key_kind;

typedef struct ex_config_key {
    const char *section, *key;
    ex_key_kind kind;
    const char *const *choices;  // EX_KEY_CHOICE: NULL-terminated
    int must_exist;              // EX_KEY_PATH: must exist when set (checked by the pre-run gate)
} ex_config_key;

// The keys, terminated by an entry with section == NULL.
extern const ex_config_key ex_config_keys[];

// The entry for [section] key, or NULL.
const ex_config_key *ex_config_key_find(const char *section, const char *key);

// An ex_ini_check_fn: NULL when `[section] key = value` is one the engine accepts, else why not
// ("unknown key (the engine rejects it)", "not an integer", "not one of model_original, ...").
const char *ex_config_check(const char *section, const char *key, const char *value);

// The evaluation's extra passes a configuration asks for: [eval] bank_ablation's SPEC (NULL when
// unset or "none"), and whether [eval] retrieval = on. Read by the evaluation's command and the gates.
const char *ex_config_bank_ablation(const ex_ini *c);
int ex_config_retrieval_on(const ex_ini *c);

// Loads a run configuration with that check: errors name the file and line. 0 or -1.
int ex_config_load(const char *path, ex_ini *out);

#endif
