// Checkpoint loading, generation and scoring (see minimind/inference.h).
#include "minimind/inference.h"

#include <stdlib.h>
#include <string.h>

#include "minimind/checkpoint.h"
#include "minimind/device.h"
#include "minimind/error.h"

static int mm_inference_load_weights(mm_inference *inf, const char *path) {
    int n = inf->model.n_table;
    float *host = mm_model_host_params(&inf->model);  // the parameters themselves on the CPU
    mm_named_tensor *named = host ? mm_calloc((size_t)n, sizeof *named) : NULL;
    if (!named) return -1;
    for (int i = 0; i < n; i++) {
        const mm_param *p = &inf->model.table[i];
        named[i].name = p->name;
        named[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) named[i].shape[d] = p->shape[d];
        named[i].data = host + (p->data - inf->model.params);
    }
    mm_ckpt_extra bank = {MM_MEMORY_BANK_NAME, MM_U16, 2, {0}, inf->model.bank};
    if (inf->model.mem) bank.shape[0] = inf->model.ms.num, bank.shape[1] = inf->model.ms.LK;
    int rc = mm_checkpoint_load(path, named, n, &bank, inf->model.mem ? 1 : 0, NULL);
    if (rc == 0) rc = mm_model_params_from_host(&inf->model);
    if (rc == 0 && inf->model.mem) {  // the ids must be usable as embedding rows
        for (size_t i = 0; i < (size_t)inf->model.ms.num * inf->model.ms.LK; i++)
            if (inf->model.bank[i] >= inf->model.V) {
                rc = mm_errorf("%s: tensor '%s': entry %zu holds token id %u, outside the vocabulary [0, %d)", path,
                               MM_MEMORY_BANK_NAME, i / (size_t)inf->model.ms.LK, (unsigned)inf->model.bank[i],
                               inf->model.V);
                break;
            }
        if (rc == 0) rc = mm_model_sync_bank(&inf->model);
    }
    free(named);
    return rc;
}

int mm_inference_open(mm_inference *inf, const char *model_path, const char *tokenizer_path,
                      const mm_run_config *expect, unsigned expect_mask) {
    return mm_inference_open_on(inf, NULL, model_path, tokenizer_path, expect, expect_mask);
}

int mm_inference_open_on(mm_inference *inf, const char *device, const char *model_path, const char *tokenizer_path,
                         const mm_run_config *expect, unsigned expect_mask) {
    memset(inf, 0, sizeof *inf);
    const mm_backend *be = mm_backend_cpu();
    if (device && mm_backend_select(device, &be) != 0) return -1;
    if (mm_checkpoint_read_config(model_path, &inf->cfg) != 0) return -1;
    if (expect && mm_config_compare(expect, "command line", &inf->cfg, model_path, expect_mask) != 0) return -1;
    if (mm_model_init_run(&inf->model, &inf->cfg, be, 0, 0) != 0) goto fail;
    if (mm_inference_load_weights(inf, model_path) != 0) goto fail;
    const char *tp = tokenizer_path && *tokenizer_path ? tokenizer_path : inf->cfg.data.tokenizer_path;
    if (!*tp) {
        mm_errorf("%s: no tokenizer: the checkpoint records no [data] tokenizer_path; pass --tokenizer", model_path);
        goto fail;
    }
    if (mm_tokenizer_load(tp, &inf->tok) != 0) goto fail;
    if (mm_tokenizer_vocab_size(inf->tok) > inf->cfg.model.vocab_size) {
        mm_errorf("%s: tokenizer vocabulary (%d) is larger than the model's vocab_size (%d)", tp,
                  mm_tokenizer_vocab_size(inf->tok), inf->cfg.model.vocab_size);
        goto fail;
    }
    return 0;
fail:
    mm_inference_close(inf);
    return -1;
}

void mm_inference_close(mm_inference *inf) {
    mm_model_free(&inf->model);
    if (inf->tok) mm_tokenizer_free(inf->tok);
    memset(inf, 0, sizeof *inf);
}

int mm_generate(mm_inference *inf, const int32_t *prompt, int n_prompt, int max_new, mm_sampler *s, mm_ids *out,
                mm_token_cb cb, void *user) {
    int max_len = inf->cfg.model.max_seq_len;
    if (n_prompt < 1) return mm_errorf("generate: empty prompt");
    if (n_prompt > max_len) return mm_errorf("generate: prompt of %d tokens exceeds max_seq_len %d", n_prompt, max_len);
    float *logits = mm_malloc(sizeof(float) * (size_t)inf->cfg.model.vocab_size);
    if (!logits) return -1;
    int rc = mm_model_forward_cached(&inf->model, prompt, n_prompt, 0, logits);
    int pos = n_prompt;
    for (int i = 0; rc == 0 && i < max_new; i++) {
        int32_t next = mm_sampler_next(s, logits);
        if (next == MM_TOKEN_EOS) break;
        if (mm_ids_push(out, next) != 0) {
            rc = -1;
            break;
        }
        if (cb && cb(user, next) != 0) break;
        if (pos >= max_len) break;
        rc = mm_model_forward_cached(&inf->model, &next, 1, pos++, logits);
    }
    free(logits);
    return rc;
}

int mm_sequence_loss(mm_inference *inf, const int32_t *ids, int n, double *loss) {
    if (n < 2) return mm_errorf("loss: a sequence needs at least 2 tokens");
    if (n - 1 > inf->cfg.model.max_seq_len) return mm_errorf("loss: sequence longer than max_seq_len");
    float l = 0;
    if (mm_model_forward(&inf->model, ids, ids + 1, NULL, 1, n - 1, &l, NULL) != 0) return -1;
    *loss = l;
    return 0;
}
