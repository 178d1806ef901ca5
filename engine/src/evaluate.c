// The evaluation behind `minimind eval` (see minimind/evaluate.h).
#include "minimind/evaluate.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/inference.h"
#include "minimind/json_text.h"
#include "minimind/jsonl.h"
#include "minimind/memory_ablation.h"
#include "minimind/progress.h"

void mm_eval_args_default(mm_eval_args *a) {
    memset(a, 0, sizeof *a);
    a->num_samples = 10;
    a->prompt_tokens = 30;
    a->max_new_tokens = 100;
    a->temperature = 0.85;
    a->top_p = 0.85;
    a->seed = 42;
    a->facts_new_tokens = 16;
}

json_t *mm_decode_json(const mm_tokenizer *tok, const int32_t *ids, size_t n) {
    size_t len = 0;
    char *s = mm_tokenizer_decode(tok, ids, n, &len);
    json_t *j = s ? mm_json_text(s, len) : NULL;
    free(s);
    return j;
}

typedef struct mm_eval_totals {
    double loss_sum, token_loss_sum;
    long tokens;
    int n;
} mm_eval_totals;

// One sample: prompt, generation, reference, loss. Appends its JSON object to samples.
static int mm_eval_one(mm_inference *inf, const mm_eval_args *a, const char *text, size_t len, long line,
                       mm_sampler *smp, json_t *samples, mm_eval_totals *tot) {
    mm_ids ids = {0}, gen = {0};
    int rc = -1, max_len = inf->cfg.model.max_seq_len + 1;
    if (mm_ids_push(&ids, MM_TOKEN_BOS) || mm_tokenizer_encode(inf->tok, text, len, &ids) || mm_ids_push(&ids, MM_TOKEN_EOS))
        goto done;
    if (ids.len > (size_t)max_len) ids.len = (size_t)max_len;
    int np = a->prompt_tokens < (int)ids.len - 1 ? a->prompt_tokens : (int)ids.len - 1;
    if (np < 1) np = 1;
    double loss;
    if (mm_generate(inf, ids.data, np, a->max_new_tokens, smp, &gen, NULL, NULL) != 0) goto done;
    if (mm_sequence_loss(inf, ids.data, (int)ids.len, &loss) != 0) goto done;
    size_t ref_end = ids.len;
    if (ref_end > (size_t)np + (size_t)a->max_new_tokens) ref_end = (size_t)np + (size_t)a->max_new_tokens;
    if (ref_end > (size_t)np && ids.data[ref_end - 1] == MM_TOKEN_EOS) ref_end--;
    json_t *input = mm_decode_json(inf->tok, ids.data, (size_t)np);
    json_t *ref = input ? mm_decode_json(inf->tok, ids.data + np, ref_end - (size_t)np) : NULL;
    json_t *out = ref ? mm_decode_json(inf->tok, gen.data, gen.len) : NULL;
    if (!out) {
        json_decref(input);
        json_decref(ref);
        goto done;
    }
    json_t *o = json_object();
    json_object_set_new(o, "line", json_integer(line));
    json_object_set_new(o, "input", input);
    json_object_set_new(o, "reference", ref);
    json_object_set_new(o, "output", out);
    json_object_set_new(o, "loss", json_real(loss));
    json_object_set_new(o, "tokens", json_integer((json_int_t)ids.len - 1));
    json_array_append_new(samples, o);
    tot->loss_sum += loss;
    tot->token_loss_sum += loss * (double)(ids.len - 1);
    tot->tokens += (long)ids.len - 1;
    tot->n++;
    if (!a->quiet)
        printf("[%d] line %ld  loss %.4f\n  input:     %s\n  reference: %s\n  generated: %s\n\n", tot->n, line, loss,
               json_string_value(json_object_get(o, "input")), json_string_value(json_object_get(o, "reference")),
               json_string_value(json_object_get(o, "output")));
    rc = 0;
done:
    mm_ids_free(&ids);
    mm_ids_free(&gen);
    return rc;
}

static int mm_eval_samples(mm_inference *inf, const mm_eval_args *a, const char *data, json_t *samples,
                           mm_eval_totals *tot) {
    mm_jsonl_reader r;
    mm_sampler smp;
    if (mm_jsonl_open(&r, data) != 0) return -1;
    if (mm_sampler_init(&smp, inf->cfg.model.vocab_size, a->sample ? (float)a->temperature : 0.0f,
                        a->sample ? (float)a->top_p : 1.0f, a->seed) != 0) {
        mm_jsonl_close(&r);
        return -1;
    }
    mm_progress bar;
    mm_progress_begin(&bar, "eval", a->num_samples, "samples", 1.0);
    int rc = 0;
    json_t *obj;
    while (tot->n < a->num_samples) {
        int got = mm_jsonl_next(&r, &obj);
        if (got == 0) break;
        const char *text;
        size_t len;
        if (got < 0 || mm_jsonl_string_field(&r, obj, "text", &text, &len) != 0) {
            rc = -1;
            json_decref(obj);
            break;
        }
        rc = mm_eval_one(inf, a, text, len, r.line_no, &smp, samples, tot);
        json_decref(obj);
        if (rc != 0) break;
        if (a->quiet) mm_progress_update(&bar, tot->n, NULL);
    }
    if (rc == 0 && tot->n == 0) rc = mm_errorf("%s: no samples to evaluate (empty file)", data);
    mm_sampler_free(&smp);
    mm_jsonl_close(&r);
    return rc;
}

static json_t *mm_eval_summary(const mm_eval_args *a, const mm_inference *inf, const char *data,
                               const mm_eval_totals *tot) {
    double mean = tot->loss_sum / tot->n, tok = tot->token_loss_sum / (double)tot->tokens;
    json_t *s = json_object();
    json_object_set_new(s, "num_samples", json_integer(tot->n));
    json_object_set_new(s, "mean_loss", json_real(mean));
    json_object_set_new(s, "perplexity", json_real(exp(mean)));
    json_object_set_new(s, "token_loss", json_real(tok));
    json_object_set_new(s, "tokens", json_integer(tot->tokens));
    json_t *root = json_object();
    json_object_set_new(root, "model_path", json_string(a->model_path));
    json_object_set_new(root, "model_type", json_string(mm_model_type_name(inf->cfg.model.model_type)));
    json_object_set_new(root, "data", json_string(data));
    json_object_set_new(root, "prompt_tokens", json_integer(a->prompt_tokens));
    json_object_set_new(root, "max_new_tokens", json_integer(a->max_new_tokens));
    json_object_set_new(root, "sampling", a->sample ? json_pack("{s:s,s:f,s:f,s:I}", "mode", "top_p", "temperature",
                                                                 a->temperature, "top_p", a->top_p, "seed",
                                                                 (json_int_t)a->seed)
                                                    : json_pack("{s:s}", "mode", "greedy"));
    json_object_set_new(root, "summary", s);
    return root;
}

int mm_evaluate(const mm_eval_args *a) {
    mm_inference inf;
    if (mm_inference_open_on(&inf, a->device, a->model_path, a->tokenizer_path, a->expect, a->expect_mask) != 0) return -1;
    const char *data = a->data_path && *a->data_path ? a->data_path : inf.cfg.data.eval_data_path;
    int rc = -1;
    json_t *root = NULL, *samples = json_array(), *facts = NULL, *bank = NULL;
    mm_eval_totals tot = {0};
    if (a->bank && *a->bank) {
        if (mm_model_replace_bank(&inf.model, &inf.cfg, a->bank, &bank) != 0) goto done;
        printf("eval: memory bank replaced by %s (%lld of %d entries filled)\n", a->bank,
               (long long)json_integer_value(json_object_get(bank, "filled_entries")), inf.model.ms.num);
    }
    if (a->facts_path && a->num_samples == 0) data = "";  // facts only
    if (!*data && !a->facts_path) {
        mm_errorf("%s: no evaluation data: pass --data (the checkpoint records no [data] eval_data_path)", a->model_path);
        goto done;
    }
    if (*data) {
        if (mm_eval_samples(&inf, a, data, samples, &tot) != 0) goto done;
        root = mm_eval_summary(a, &inf, data, &tot);
        json_object_set(root, "samples", samples);
        double mean = tot.loss_sum / tot.n;
        printf("eval: %d samples, mean loss %.4f, perplexity %.3f (token-weighted loss %.4f over %ld tokens)\n",
               tot.n, mean, exp(mean), tot.token_loss_sum / (double)tot.tokens, tot.tokens);
    } else {
        root = json_pack("{s:s,s:s}", "model_path", a->model_path, "model_type",
                         mm_model_type_name(inf.cfg.model.model_type));
    }
    if (bank) json_object_set(root, "bank", bank);
    if (a->facts_path) {
        if (mm_eval_facts(&inf, a->facts_path, a->facts_max, a->facts_new_tokens, a->quiet, &facts) != 0) goto done;
        json_object_set_new(root, "facts", facts);
    }
    rc = 0;
    if (a->json_out) {
        char *text = json_dumps(root, JSON_INDENT(2));
        rc = text ? mm_write_file_atomic(a->json_out, text, strlen(text)) : mm_errorf("out of memory (eval.json)");
        free(text);
        if (rc == 0) printf("eval: wrote %s\n", a->json_out);
    }
done:
    json_decref(root);
    json_decref(samples);
    json_decref(bank);
    mm_inference_close(&inf);
    return rc;
}
