// The model's shape and numerics (DESIGN.md §3). Filled from the [model]/[knowledge] sections of
// the INI configuration and stored in the checkpoint's __metadata__.
#ifndef MINIMIND_MODEL_CONFIG_H
#define MINIMIND_MODEL_CONFIG_H

typedef enum mm_model_type {
    MM_MODEL_ORIGINAL = 0,  // "model_original": attention + SwiGLU FFN
    MM_MODEL_MEMORY = 1,    // "model": FFN replaced by the KnowledgeDataset memory layer
    MM_MODEL_NO_FEED = 2,   // "model_no_feed": memory read-out added to the residual directly
} mm_model_type;

typedef struct mm_model_config {
    mm_model_type model_type;
    int dim;          // C, default 512
    int n_layers;     // default 8
    int n_heads;      // H, default 8
    int n_kv_heads;   // KV, default 2 (GQA)
    int vocab_size;   // V, default 6400
    int hidden_dim;   // SwiGLU hidden; 0 = multiple_of * ceil(int(2*4*dim/3) / multiple_of)
    int multiple_of;  // default 64
    float norm_eps;   // default 1e-5
    float rope_theta; // default 1e6, interleaved pairs (x[2i], x[2i+1])
    int max_seq_len;  // default 512
    float dropout;    // default 0 (kept for the original key; must be 0 in this engine)
    // [knowledge] — used by model / model_no_feed
    int knowledge_num;     // default 1024*1024
    int knowledge_length;  // default 32
    int knowledge_dim;     // default 128
} mm_model_config;

// Fills the MiniMind LMConfig defaults (model_type = model_original).
void mm_model_config_default(mm_model_config *c);
// Resolves derived values (hidden_dim) and checks consistency; error names the field.
int mm_model_config_validate(mm_model_config *c);
// "model_original" / "model" / "model_no_feed"; parse returns -1 for an unknown name.
const char *mm_model_type_name(mm_model_type t);
int mm_model_type_parse(const char *s, mm_model_type *t);

#endif
