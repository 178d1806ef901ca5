// The validation loss during training (minimind/validation.h).
#include "minimind/validation.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "minimind/evaluate.h"
#include "minimind/jsonl.h"
#include "minimind/stats.h"

// Appends one document's ids (mm_eval_document_ids: as `minimind eval` prepares its samples) to v.
static int mm_validation_add(mm_validation *v, const mm_tokenizer *tok, const char *text, size_t len,
                             int max_seq_len) {
    mm_ids ids = {0};
    if (mm_eval_document_ids(tok, text, len, max_seq_len, &ids) != 0) {
        mm_ids_free(&ids);
        return -1;
    }
    int32_t **pi = mm_realloc(v->ids, (size_t)(v->n + 1) * sizeof *pi);
    if (pi) v->ids = pi;
    int *pl = pi ? mm_realloc(v->len, (size_t)(v->n + 1) * sizeof *pl) : NULL;
    if (pl) v->len = pl;
    if (!pl) {
        mm_ids_free(&ids);
        return -1;
    }
    v->ids[v->n] = ids.data;  // owns the ids now
    v->len[v->n] = (int)ids.len;
    v->tokens += (long)ids.len - 1;
    v->n++;
    return 0;
}

int mm_validation_open(mm_validation *v, const char *path, const mm_tokenizer *tok, int max_docs,
                       int max_seq_len) {
    memset(v, 0, sizeof *v);
    mm_jsonl_reader r;
    if (mm_jsonl_open(&r, path) != 0) return -1;
    int rc = 0;
    json_t *obj;
    while (rc == 0 && v->n < max_docs) {
        int got = mm_jsonl_next(&r, &obj);
        if (got == 0) break;
        const char *text;
        size_t len;
        if (got < 0 || mm_jsonl_string_field(&r, obj, "text", &text, &len) != 0)
            rc = -1;
        else
            rc = mm_validation_add(v, tok, text, len, max_seq_len);
        if (got > 0) json_decref(obj);
    }
    mm_jsonl_close(&r);
    if (rc == 0 && v->n == 0) rc = mm_errorf("%s: no documents to validate on (empty file)", path);
    if (rc != 0) {
        mm_error_prefix("[data] eval_data_path (validation during training)");
        mm_validation_free(v);
    }
    return rc;
}

void mm_validation_free(mm_validation *v) {
    for (int i = 0; i < v->n; i++) free(v->ids[i]);
    free(v->ids);
    free(v->len);
    memset(v, 0, sizeof *v);
}

int mm_validation_loss(const mm_validation *v, mm_model *m, double *mean_loss, double *stderr_loss) {
    double *losses = mm_malloc((size_t)v->n * sizeof *losses);
    if (!losses) return mm_error_prefix("validation loss");
    // The forward of a trained model as `minimind eval` runs it: no noise, no usage recorded.
    const int training = m->training;
    mm_memory_tracker *tracker = m->tracker;
    m->training = 0;
    m->tracker = NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < v->n; i++) {
        float loss = 0.0f;
        // (1, len - 1): X = ids[0..len-2], Y = ids[1..len-1], every target counted
        rc = mm_model_forward(m, v->ids[i], v->ids[i] + 1, NULL, 1, v->len[i] - 1, &loss, NULL);
        losses[i] = loss;
    }
    m->training = training;
    m->tracker = tracker;
    if (rc == 0)
        *mean_loss = mm_mean_stderr(losses, (size_t)v->n, stderr_loss);  // the sum in order, as eval's
    free(losses);
    return rc != 0 ? mm_error_prefix("validation loss") : 0;
}
