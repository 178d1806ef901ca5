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
#include "minimind/memory_retrieval.h"
#include "minimind/progress.h"
#include "minimind/stats.h"

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

int mm_eval_document_ids(const mm_tokenizer *tok, const char *text, size_t len, int max_seq_len,
                         mm_ids *ids) {
    if (mm_ids_push(ids, MM_TOKEN_BOS) || mm_tokenizer_encode(tok, text, len, ids) ||
        mm_ids_push(ids, MM_TOKEN_EOS))
        return -1;
    if (ids->len > (size_t)max_seq_len + 1) ids->len = (size_t)max_seq_len + 1;
    return 0;
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
    int rc = -1;
    if (mm_eval_document_ids(inf->tok, text, len, inf->cfg.model.max_seq_len, &ids) != 0) goto done;
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

// The "loss" of each sample (malloc'd, *n of them; NULL with *n = 0 when there are none or memory
// runs out).
static double *mm_sample_losses(const json_t *samples, size_t *n) {
    *n = json_array_size(samples);
    double *x = *n ? malloc(*n * sizeof *x) : NULL;
    if (!x) *n = 0;
    for (size_t i = 0; i < *n; i++) {  // (a NaN loss is not stored: NaN here, not jansson's 0)
        const json_t *l = json_object_get(json_array_get(samples, i), "loss");
        x[i] = json_is_number(l) ? json_number_value(l) : NAN;
    }
    return x;
}

// A real, or null when v is not finite (JSON has no NaN).
static json_t *mm_json_real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *mm_eval_summary(const mm_eval_args *a, const mm_inference *inf, const char *data,
                               const mm_eval_totals *tot, double stderr_loss) {
    double mean = tot->loss_sum / tot->n, tok = tot->token_loss_sum / (double)tot->tokens;
    json_t *s = json_object();
    json_object_set_new(s, "num_samples", json_integer(tot->n));
    json_object_set_new(s, "mean_loss", json_real(mean));
    json_object_set_new(s, "loss_stderr", mm_json_real_or_null(stderr_loss));
    json_object_set_new(s, "perplexity", json_real(exp(mean)));
    json_object_set_new(s, "token_loss", json_real(tok));
    json_object_set_new(s, "tokens", json_integer(tot->tokens));
    json_t *root = json_object();
    json_object_set_new(root, "model_path", mm_json_text(a->model_path, strlen(a->model_path)));
    json_object_set_new(root, "model_type", json_string(mm_model_type_name(inf->cfg.model.model_type)));
    json_object_set_new(root, "data", mm_json_text(data, strlen(data)));
    json_object_set_new(root, "prompt_tokens", json_integer(a->prompt_tokens));
    json_object_set_new(root, "max_new_tokens", json_integer(a->max_new_tokens));
    json_object_set_new(root, "sampling", a->sample ? json_pack("{s:s,s:f,s:f,s:I}", "mode", "top_p", "temperature",
                                                                 a->temperature, "top_p", a->top_p, "seed",
                                                                 (json_int_t)a->seed)
                                                    : json_pack("{s:s}", "mode", "greedy"));
    json_object_set_new(root, "summary", s);
    return root;
}

// Replaces the model's bank by spec (mm_model_replace_bank) and says so; *desc: its description.
static int mm_eval_replace_bank(mm_inference *inf, const char *spec, const char *what, json_t **desc) {
    if (mm_model_replace_bank(&inf->model, &inf->cfg, spec, desc) != 0) return -1;
    const json_t *layers = json_object_get(*desc, "layers");
    if (layers)
        printf("eval: %smemory layer%s %s read%s an empty bank\n", what,
               json_array_size(layers) > 1 ? "s" : "", spec + strlen(MM_BANK_EMPTY_LAYERS),
               json_array_size(layers) > 1 ? "" : "s");
    else
        printf("eval: %smemory bank replaced by %s (%lld of %d entries filled)\n", what, spec,
               (long long)json_integer_value(json_object_get(*desc, "filled_entries")), inf->model.ms.num);
    return 0;
}

// One evaluation of the model as it is: the text samples (when data is not empty) and the facts
// (when facts_path is set). Returns the eval.json root (new reference) or NULL (error set).
static json_t *mm_eval_pass(mm_inference *inf, const mm_eval_args *a, const char *data) {
    json_t *root = NULL, *samples = json_array(), *facts = NULL;
    mm_eval_totals tot = {0};
    if (*data) {
        if (mm_eval_samples(inf, a, data, samples, &tot) != 0) goto fail;
        size_t n;
        double se, *losses = mm_sample_losses(samples, &n);
        mm_mean_stderr(losses, n, &se);
        free(losses);
        root = mm_eval_summary(a, inf, data, &tot, se);
        json_object_set(root, "samples", samples);
        double mean = tot.loss_sum / tot.n;
        printf("eval: %d samples, mean loss %.4f", tot.n, mean);
        if (isfinite(se)) printf(" ± %.4f (standard error)", se);
        printf(", perplexity %.3f (token-weighted loss %.4f over %ld tokens)\n", exp(mean),
               tot.token_loss_sum / (double)tot.tokens, tot.tokens);
    } else {
        root = json_pack("{s:o,s:s}", "model_path", mm_json_text(a->model_path, strlen(a->model_path)),
                         "model_type", mm_model_type_name(inf->cfg.model.model_type));
        if (!root) {
            mm_errorf("eval: out of memory (eval.json)");
            goto fail;
        }
    }
    if (a->facts_path) {
        if (mm_eval_facts(inf, a->facts_path, a->facts_max, a->facts_new_tokens, a->quiet, &facts) != 0)
            goto fail;
        json_object_set_new(root, "facts", facts);
    }
    json_decref(samples);
    return root;
fail:
    json_decref(root);
    json_decref(samples);
    return NULL;
}

// The ablation pass `r` against the first pass, sample by sample and fact by fact (both evaluate
// the same lines in the same order): out gets "loss_change" {"mean", "stderr", "samples"} of the
// paired differences (ablation − first), and its "facts" "lost" (right in the first pass, wrong
// now), "gained" and McNemar's exact "mcnemar_p". Pairs whose lines differ are not compared.
static void mm_eval_paired(const json_t *first, const json_t *r, json_t *out) {
    const json_t *s0 = json_object_get(first, "samples"), *s1 = json_object_get(r, "samples");
    size_t n0, n1;
    double *l0 = mm_sample_losses(s0, &n0), *l1 = mm_sample_losses(s1, &n1);
    size_t n = 0;
    for (size_t i = 0; i < n0 && i < n1; i++)
        if (json_equal(json_object_get(json_array_get(s0, i), "line"),
                       json_object_get(json_array_get(s1, i), "line")))
            l1[n++] = l1[i] - l0[i];
    if (n) {
        double se, mean = mm_mean_stderr(l1, n, &se);
        json_object_set_new(out, "loss_change",
                            json_pack("{s:f,s:o,s:I}", "mean", mean, "stderr", mm_json_real_or_null(se),
                                      "samples", (json_int_t)n));
    }
    free(l0), free(l1);
    const json_t *i0 = json_object_get(json_object_get(first, "facts"), "items");
    const json_t *i1 = json_object_get(json_object_get(r, "facts"), "items");
    json_t *f = json_object_get(out, "facts");
    if (!f || json_array_size(i0) != json_array_size(i1)) return;
    long lost = 0, gained = 0;
    for (size_t i = 0; i < json_array_size(i0); i++) {
        const json_t *a = json_array_get(i0, i), *b = json_array_get(i1, i);
        if (!json_equal(json_object_get(a, "line"), json_object_get(b, "line"))) continue;
        const int was = json_is_true(json_object_get(a, "correct")),
                  is = json_is_true(json_object_get(b, "correct"));
        lost += was && !is;
        gained += !was && is;
    }
    json_object_set_new(f, "lost", json_integer(lost));
    json_object_set_new(f, "gained", json_integer(gained));
    json_object_set_new(f, "mcnemar_p", json_real(mm_mcnemar_exact_p(lost, gained)));
}

// "eval: ablation SPEC: mean loss L (+D ± SE, paired, against the evaluation above); facts C/T
// correct (C0 above: lost l, gained g, McNemar p = P)".
static void mm_print_ablation(const char *spec, const json_t *first, const json_t *ablation) {
    const json_t *s0 = json_object_get(first, "summary"), *s1 = json_object_get(ablation, "summary");
    const json_t *f0 = json_object_get(first, "facts"), *f1 = json_object_get(ablation, "facts");
    const json_t *d = json_object_get(ablation, "loss_change");
    printf("eval: ablation %s:", spec);
    if (s0 && s1) {
        const double l0 = json_real_value(json_object_get(s0, "mean_loss"));
        const double l1 = json_real_value(json_object_get(s1, "mean_loss"));
        printf(" mean loss %.4f (%+.4f", l1, l1 - l0);
        if (json_is_real(json_object_get(d, "stderr")))
            printf(" ± %.4f paired standard error", json_real_value(json_object_get(d, "stderr")));
        printf(" against the evaluation above)");
    }
    if (f0 && f1) {
        printf("%s facts %lld/%lld correct (%lld above", s0 && s1 ? ";" : "",
               (long long)json_integer_value(json_object_get(f1, "correct")),
               (long long)json_integer_value(json_object_get(f1, "total")),
               (long long)json_integer_value(json_object_get(f0, "correct")));
        if (json_object_get(f1, "lost"))
            printf(": lost %lld, gained %lld, McNemar p = %.3g",
                   (long long)json_integer_value(json_object_get(f1, "lost")),
                   (long long)json_integer_value(json_object_get(f1, "gained")),
                   json_real_value(json_object_get(f1, "mcnemar_p")));
        printf(")");
    }
    printf("\n");
}

// The same evaluation as the first pass (`first`), quiet and without continuing the samples, of
// the model as it is now: {"summary", "facts": {"correct", "total", "accuracy", "by_lang"}} of it
// (new reference, or NULL with the error set), and one line comparing it with the first pass.
static json_t *mm_eval_quiet_pass(mm_inference *inf, const mm_eval_args *a, const char *data,
                                  const char *spec, const json_t *first) {
    mm_eval_args q = *a;
    q.quiet = 1;
    q.max_new_tokens = 0;  // the samples' losses are teacher-forced: no continuation needed
    json_t *r = mm_eval_pass(inf, &q, data), *out = r ? json_object() : NULL;
    if (r && !out) mm_errorf("eval: out of memory (bank_ablation)");
    json_t *sum = r ? json_object_get(r, "summary") : NULL, *f = r ? json_object_get(r, "facts") : NULL;
    if (out && sum) json_object_set(out, "summary", sum);
    if (out && f)
        json_object_set_new(
            out, "facts",
            json_pack("{s:O, s:O, s:O, s:O, s:O}", "correct", json_object_get(f, "correct"), "total",
                      json_object_get(f, "total"), "accuracy", json_object_get(f, "accuracy"),
                      "accuracy_ci95", json_object_get(f, "accuracy_ci95"), "by_lang",
                      json_object_get(f, "by_lang")));
    if (out) mm_eval_paired(first, r, out);
    if (out) mm_print_ablation(spec, first, out);
    json_decref(r);
    return out;
}

// --bank_ablation layers, before the whole bank is emptied: one pass per memory layer that still
// reads its bank, with that layer alone reading an empty bank; [{"layer", "summary", "facts"}].
static json_t *mm_eval_layer_ablations(mm_inference *inf, const mm_eval_args *a, const char *data,
                                       const json_t *first) {
    mm_model *m = &inf->model;
    json_t *layers = json_array();
    for (int l = 0; layers && l < m->L; l++) {
        if (m->mem_muted[l]) continue;  // --bank empty@l: the first pass already is that
        char spec[32];
        snprintf(spec, sizeof spec, MM_BANK_EMPTY_LAYERS "%d", l);
        m->mem_muted[l] = 1;
        json_t *r = mm_eval_quiet_pass(inf, a, data, spec, first);
        m->mem_muted[l] = 0;
        int ok = r && json_object_set_new(r, "layer", json_integer(l)) == 0;
        if (ok)
            ok = json_array_append_new(layers, r) == 0;  // takes r, also on failure
        else
            json_decref(r);
        if (!ok) {
            if (r) mm_errorf("eval: out of memory (bank_ablation)");
            json_decref(layers);
            return NULL;
        }
    }
    if (!layers) mm_errorf("eval: out of memory (bank_ablation)");
    return layers;
}

// The ablation passes (--bank_ablation SPEC): {"spec", "bank", "summary", "facts"} of the model with
// its bank replaced by SPEC; for SPEC "layers", "layers": [...] (mm_eval_layer_ablations) and then
// the whole bank emptied.
static json_t *mm_eval_ablation(mm_inference *inf, const mm_eval_args *a, const char *data,
                                const json_t *first) {
    const int sweep = !strcmp(a->bank_ablation, MM_BANK_ABLATION_LAYERS);
    json_t *layers = sweep ? mm_eval_layer_ablations(inf, a, data, first) : NULL, *desc = NULL, *out = NULL;
    if (sweep && !layers) return NULL;
    if (mm_eval_replace_bank(inf, sweep ? "empty" : a->bank_ablation, "ablation: ", &desc) == 0)
        out = mm_eval_quiet_pass(inf, a, data, sweep ? "empty" : a->bank_ablation, first);
    if (out &&
        (json_object_set_new(out, "spec", mm_json_text(a->bank_ablation, strlen(a->bank_ablation))) != 0 ||
         json_object_set(out, "bank", desc) != 0 ||
         (layers && json_object_set(out, "layers", layers) != 0))) {
        json_decref(out);
        out = NULL;
        mm_errorf("eval: out of memory (bank_ablation)");
    }
    json_decref(desc);
    json_decref(layers);
    return out;
}

// --retrieval: root "retrieval" = mm_retrieval_measure on the facts, printed.
// A failure (a fact without fact_id further down the file, ...) does not discard the evaluation:
// "retrieval" is then {"error": MESSAGE} and a warning is printed.
static int mm_eval_retrieval(mm_inference *inf, const mm_eval_args *a, json_t *root) {
    json_t *r;
    if (mm_retrieval_measure(inf, a->facts_path, NULL, a->facts_max, 0, &r) == 0) {
        mm_retrieval_print(r);
    } else {
        const char *why = mm_error_message();
        fprintf(stderr, "minimind: warning: --retrieval: %s (the evaluation goes on without it)\n", why);
        r = json_pack("{s:o}", "error", mm_json_text(why, strlen(why)));
    }
    return r && json_object_set_new(root, "retrieval", r) == 0 ? 0
                                                               : mm_errorf("eval: out of memory (retrieval)");
}

int mm_evaluate(const mm_eval_args *a) {
    mm_inference inf;
    if (mm_inference_open_on(&inf, a->device, a->model_path, a->tokenizer_path, a->expect, a->expect_mask) != 0) return -1;
    const char *data = a->data_path && *a->data_path ? a->data_path : inf.cfg.data.eval_data_path;
    int rc = -1;
    json_t *root = NULL, *bank = NULL;
    if (a->facts_path && a->num_samples == 0) data = "";  // facts only
    if (!*data && !a->facts_path) {
        mm_errorf("%s: no evaluation data: pass --data (the checkpoint records no [data] eval_data_path)", a->model_path);
        goto done;
    }
    if (a->bank && !strcmp(a->bank, MM_BANK_ABLATION_LAYERS)) {
        mm_errorf("--bank %s: the per-layer sweep is a --bank_ablation spec (--bank takes one bank)",
                  a->bank);
        goto done;
    }
    if (a->bank && *a->bank && mm_eval_replace_bank(&inf, a->bank, "", &bank) != 0) goto done;
    if (a->bank_ablation && *a->bank_ablation && !inf.model.mem) {  // before the first pass, not after it
        mm_errorf("--bank_ablation %s: model_type %s has no memory bank", a->bank_ablation,
                  mm_model_type_name(inf.cfg.model.model_type));
        goto done;
    }
    if (a->retrieval && mm_retrieval_check(&inf, NULL) != 0) {
        mm_error_prefix("--retrieval");
        goto done;
    }
    root = mm_eval_pass(&inf, a, data);
    if (!root) goto done;
    if (bank) json_object_set(root, "bank", bank);
    if (a->retrieval && mm_eval_retrieval(&inf, a, root) != 0) goto done;
    if (a->bank_ablation && *a->bank_ablation) {
        json_t *ab = mm_eval_ablation(&inf, a, data, root);
        if (!ab) goto done;
        json_object_set_new(root, "bank_ablation", ab);
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
    json_decref(bank);
    mm_inference_close(&inf);
    return rc;
}
