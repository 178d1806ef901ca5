// Evaluating a memory model with another bank (`minimind eval --bank SPEC`): how much of what the
// model knows does it read from its bank? The keys and every weight stay; only the entries' token
// ids change.
#ifndef MINIMIND_MEMORY_ABLATION_H
#define MINIMIND_MEMORY_ABLATION_H

#include <jansson.h>

#include "minimind/config.h"
#include "minimind/model.h"

// Replaces m's bank by SPEC:
// - "empty": every entry all padding (a read returns nothing);
// - "empty@L[,L...]" (0-based layers): only the layers listed read an empty bank (m->mem_muted);
//   the bank itself is unchanged, and the other layers read it. Adds to earlier mutes;
// - "shuffle" or "shuffle:SEED" (default seed 0): the entries' rows permuted, so every key reads
//   another entry's text;
// - a bank file from `minimind prep knowledge` with the model's knowledge_num x knowledge_length:
//   its rows become the entries, placed by the cluster cache the model was trained with
//   ([knowledge] cluster_cache_path of cfg, which must be readable) or in file order without one.
// *desc (new reference) describes it for eval.json: {"spec", "kind": empty|shuffle|file, "entries",
// "filled_entries"[, "seed"]}, or {"spec", "kind": "empty_layers", "layers": [L...]}. Errors (model_original,
// a bank of another shape, a bad seed) name the spec. Returns 0 or -1 (m's bank unchanged).
// The prefix of the per-layer spec "empty@L[,L...]".
#define MM_BANK_EMPTY_LAYERS "empty@"

int mm_model_replace_bank(mm_model *m, const mm_run_config *cfg, const char *spec, json_t **desc);

#endif
