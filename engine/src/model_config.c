// Model configuration defaults and validation (see minimind/model_config.h).
#include "minimind/model_config.h"

#include <string.h>

#include "minimind/error.h"

void mm_model_config_default(mm_model_config *c) {
    memset(c, 0, sizeof *c);
    c->model_type = MM_MODEL_ORIGINAL;
    c->dim = 512;
    c->n_layers = 8;
    c->n_heads = 8;
    c->n_kv_heads = 2;
    c->vocab_size = 6400;
    c->hidden_dim = 0;
    c->multiple_of = 64;
    c->norm_eps = 1e-5f;
    c->rope_theta = 1e6f;
    c->max_seq_len = 512;
    c->dropout = 0.0f;
    c->knowledge_num = 1024 * 1024;
    c->knowledge_length = 32;
    c->knowledge_dim = 128;
}

static int mm_positive(const char *field, int v) {
    if (v <= 0) return mm_errorf("model config: field '%s' must be positive (got %d)", field, v);
    return 0;
}

int mm_model_config_validate(mm_model_config *c) {
    if (mm_positive("dim", c->dim) || mm_positive("n_layers", c->n_layers) ||
        mm_positive("n_heads", c->n_heads) || mm_positive("n_kv_heads", c->n_kv_heads) ||
        mm_positive("vocab_size", c->vocab_size) || mm_positive("multiple_of", c->multiple_of) ||
        mm_positive("max_seq_len", c->max_seq_len))
        return -1;
    if (c->dim % c->n_heads != 0)
        return mm_errorf("model config: 'dim' (%d) must be divisible by 'n_heads' (%d)", c->dim, c->n_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return mm_errorf("model config: head size dim/n_heads (%d) must be even for RoPE", c->dim / c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return mm_errorf("model config: 'n_heads' (%d) must be a multiple of 'n_kv_heads' (%d)", c->n_heads,
                         c->n_kv_heads);
    if (c->vocab_size > 65536)
        return mm_errorf("model config: 'vocab_size' (%d) must fit uint16 token files (<= 65536)", c->vocab_size);
    if (!(c->norm_eps > 0)) return mm_errorf("model config: 'norm_eps' must be positive");
    if (!(c->rope_theta > 0)) return mm_errorf("model config: 'rope_theta' must be positive");
    if (c->dropout != 0.0f) return mm_errorf("model config: 'dropout' must be 0 (dropout is not implemented)");
    if (c->hidden_dim == 0) {
        int h = (int)(2.0 * 4 * c->dim / 3);  // int(2 * (4*dim) / 3), as MiniMind's FeedForward
        c->hidden_dim = c->multiple_of * ((h + c->multiple_of - 1) / c->multiple_of);
    }
    if (c->hidden_dim < 0) return mm_errorf("model config: 'hidden_dim' must be positive");
    if (c->model_type != MM_MODEL_ORIGINAL) {
        if (mm_positive("knowledge_num", c->knowledge_num) || mm_positive("knowledge_length", c->knowledge_length) ||
            mm_positive("knowledge_dim", c->knowledge_dim))
            return -1;
    }
    return 0;
}

static const char *const mm_model_type_names[] = {"model_original", "model", "model_no_feed"};

const char *mm_model_type_name(mm_model_type t) {
    return (unsigned)t < 3 ? mm_model_type_names[t] : "unknown";
}

int mm_model_type_parse(const char *s, mm_model_type *t) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, mm_model_type_names[i])) {
            *t = (mm_model_type)i;
            return 0;
        }
    return mm_errorf("unknown model_type '%s' (expected model_original, model or model_no_feed)", s);
}
