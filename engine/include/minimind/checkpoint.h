// Checkpoints (DESIGN.md §3): model weights as safetensors with MiniMind's PyTorch state-dict
// names and the run configuration in __metadata__, plus a "resume state" file next to them
// (AdamW moments, counters, RNG state, data-loader position) for exact resumption.
//
//   pretrain_512.safetensors        weights: every parameter (F32), extra tensors (e.g. the U16
//                                   memory bank), metadata "format"="pt", "mm.kind"="weights",
//                                   "mm.save_id", "mm.version" and every config key ("model.dim"...)
//   pretrain_512.state.safetensors  resume state: "adam_m.NAME"/"adam_v.NAME" (F32, shaped like
//                                   NAME), "rng" and "data_position" (U8 blobs), "memory_ema"
//                                   (U8 blob, only when not empty), metadata
//                                   "mm.kind"="resume_state", the same "mm.save_id", "mm.step",
//                                   "mm.epoch", "mm.tokens_seen", "mm.config_hash" + config keys
//
// Both files are written atomically (temp name + rename), weights first; they share a random save
// id, so a pair from different saves (e.g. a crash between the two renames) is detected on resume.
//
// Tied weights: list a tied parameter under each of its names with the SAME data pointer (e.g.
// "tok_embeddings.weight" and "output.weight"). It is written under both names, as PyTorch's
// state_dict has it, so the file loads into the PyTorch model with strict=True. On load the two
// copies must be identical; a file that has only the first name (as safetensors'
// save_model writes it) is accepted, the alias being filled through the shared data.
#ifndef MINIMIND_CHECKPOINT_H
#define MINIMIND_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "minimind/config.h"
#include "minimind/safetensors.h"

// One float32 model parameter: PyTorch state-dict name, shape, row-major data.
typedef struct {
    const char *name;
    int ndim;
    int64_t shape[4];
    float *data;
} mm_named_tensor;

// Any other tensor stored with the weights (e.g. the uint16 memory bank): saved from / loaded
// into `data` (nbytes = product(shape) * mm_dtype_size(dtype)).
typedef struct mm_ckpt_extra {
    const char *name;
    mm_dtype dtype;
    int ndim;
    int64_t shape[MM_MAX_DIMS];
    void *data;
} mm_ckpt_extra;

// The training state needed to resume exactly.
typedef struct mm_resume_state {
    int64_t step;         // optimizer steps completed
    int64_t epoch;        // current epoch
    int64_t tokens_seen;  // training tokens consumed so far
    // AdamW moments, indexed like the params array, each shaped like params[i]. Entries whose data
    // aliases an earlier entry (tied weights) are skipped (their pointers are not used). Both NULL:
    // no moments (save writes none; load requires the file to have none).
    float **adam_m;
    float **adam_v;
    // Opaque blobs from the trainer. Save: caller's bytes. Load: malloc'd copies (free with
    // mm_resume_state_free_blobs); length 0 gives NULL.
    uint8_t *rng;
    size_t rng_len;
    uint8_t *data_pos;  // data-loader position (bytes or a JSON string; not NUL-terminated)
    size_t data_pos_len;
    uint8_t *memory_ema;  // the memory layer's EMA window (mm_memory_tracker_save_window); length 0:
    size_t memory_ema_len;  // none (not written; a file without it loads as length 0)
    // Load only: the saved configuration's mm_config_hash(MM_CONFIG_ALL) and the save id.
    uint64_t config_hash;
    char save_id[33];
} mm_resume_state;

// "pretrain_{dim}.safetensors" (the original's pretrain_{dim}.pth).
void mm_checkpoint_default_name(const mm_model_config *m, char *buf, size_t cap);

// The resume state file for a weights path: "X.safetensors" -> "X.state.safetensors" (any other
// name gets ".state.safetensors" appended). Returns 0, or -1 when it does not fit cap.
int mm_checkpoint_state_path(const char *weights_path, char *buf, size_t cap);

// Writes the weights file at `path` (and, when resume != NULL, the resume state file next to it).
// cfg may be NULL (no configuration metadata; such a file cannot be evaluated without flags).
// Validation (unique names, tied entries with equal shapes, no NULL data) happens before anything
// is written; a failed save leaves any previous checkpoint at `path` intact.
int mm_checkpoint_save(const char *path, const mm_run_config *cfg, const mm_named_tensor *params, int n_params,
                       const mm_ckpt_extra *extras, int n_extras, const mm_resume_state *resume);

// Reads the configuration from a checkpoint's metadata (reads the header only), to build the model
// before loading the weights. Errors name the file (and the key): see mm_config_from_meta.
int mm_checkpoint_read_config(const char *path, mm_run_config *cfg);

// Loads the weights into params[i].data and extras[i].data. Strict: every expected tensor present
// with dtype F32 (extras: their dtype) and exactly the expected shape, no other tensor in the file,
// tied copies identical. When cfg_out != NULL the configuration metadata is also required and
// parsed into it. Errors name the file and the tensor:
//   "ckpt.safetensors: tensor 'layers.0.attention.wq.weight': shape [8, 16] in the file, the model
//    expects [16, 16]", "...: missing tensor 'norm.weight'", "...: unexpected tensor 'foo'".
int mm_checkpoint_load(const char *path, const mm_named_tensor *params, int n_params, const mm_ckpt_extra *extras,
                       int n_extras, mm_run_config *cfg_out);

// Loads the resume state that belongs to the weights at weights_path: checks that both files
// carry the same save id (error otherwise), fills the moments (when resume->adam_m/adam_v are
// set), counters, blobs, config_hash and save_id; cfg_out (optional) gets the saved configuration.
int mm_checkpoint_load_resume(const char *weights_path, const mm_named_tensor *params, int n_params,
                              mm_resume_state *resume, mm_run_config *cfg_out);

// Frees the blobs a load allocated (rng, data_pos) and sets them to NULL.
void mm_resume_state_free_blobs(mm_resume_state *r);

#endif
