// The training loop behind `minimind train` (see minimind/trainer.h).
#include "minimind/trainer.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minimind/checkpoint.h"
#include "minimind/config.h"
#include "minimind/dataloader.h"
#include "minimind/device.h"
#include "minimind/error.h"
#include "minimind/loss_scale.h"
#include "minimind/memory.h"
#include "minimind/metrics.h"
#include "minimind/model.h"
#include "minimind/optim.h"
#include "minimind/prep.h"
#include "minimind/progress.h"
#include "minimind/tokfile.h"
#include "minimind/validation.h"

// ---- signals: a stop request is honoured between micro-steps ----

static volatile sig_atomic_t mm_stop_requested = 0;

static void mm_on_stop_signal(int sig) { mm_stop_requested = sig; }

static void mm_install_stop_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mm_on_stop_signal;
    sa.sa_flags = SA_RESTART;  // a stop request must not fail an I/O call in progress
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

// ---- small helpers ----

static int mm_mkdirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return mm_errorf("%s: path too long", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return mm_errorf_errno("%s: cannot create directory", buf);
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

static int mm_has_tokfile_magic(const char *path) {
    char magic[8] = {0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    return n == sizeof magic && memcmp(magic, MM_TOKFILE_MAGIC, sizeof magic) == 0;
}

static void mm_set_threads(int threads) {
    if (threads <= 0) return;
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

// ---- the training state ----

typedef struct mm_trainer {
    mm_run_config cfg;
    const char *out_dir;
    char ckpt_path[4096];   // OUT/pretrain_{dim}.safetensors
    char stage_path[4096];  // OUT/pretrain_{dim}.saving.safetensors: a save in progress
    mm_dataloader *dl;
    mm_batch batch;
    mm_model model;
    mm_adamw opt;
    const mm_backend *be;    // [train] device
    char device_desc[320];   // what `be` runs on (mm_backend_describe), for the log and progress.json
    const char *precision;   // the matmul precision used: [train] mixed_precision on CUDA, fp32 on the CPU
    const char *attention;   // the backend's attention for the batch shape (backend.h); NULL on the CPU
    const char *attention_storage;  // "bf16": the attention block stored in bf16 (mm_model_attention_storage)
    const char *ffn;         // "bf16": the feed-forward block stored in bf16 (mm_model_ffn_storage); NULL: fp32
    const char *head;        // "bf16": the head stored in bf16 (mm_model_head_storage); NULL: fp32
    float *host_opt;         // device backends: host copy of the AdamW moments (m | v) for checkpoints
    mm_named_tensor *named;  // the model's parameter table as checkpoint tensors (host memory)
    float **adam_m, **adam_v;  // per named tensor: its slice of the AdamW moments (host memory)
    int n_named;
    mm_metrics_log log;

    long step;        // micro-steps done
    long total;       // micro-steps of the run
    long per_epoch;   // micro-steps per epoch
    long last_save;   // step of the last checkpoint
    long start_step;  // step this process started at (0, or the resumed step)
    double elapsed0;  // seconds spent before this process (resumed runs)
    double t0;
    double grad_norm; // pre-clip norm of the last optimizer step
    mm_data_pos boundary_pos;  // loader position at the last optimizer-step boundary
    long boundary_step;
    mm_metrics_row last_row;
    mm_memory_tracker tracker;  // memory variants: reads of the log window (+ the EMA window)
    mm_ckpt_extra extras[1];    // memory variants: the bank
    int n_extras;
    int fp16;                   // [train] mixed_precision = fp16: dynamic loss scaling
    mm_loss_scaler scaler;      // (fp16) the loss scale, saved in the resume state
    int window_overflow;        // (fp16) a micro-step of this accumulation window had a non-finite loss
    mm_validation val;          // [train] eval_interval > 0: the validation documents
    double val_loss, val_stderr;  // the last validation loss and its standard error (NaN: none yet)
    int val_pending;            // 1: val_loss is new (the row of this step carries it)
    double val_window_s;        // seconds spent validating since the last metrics row (not training)
} mm_trainer;

static int mm_trainer_load_config(mm_trainer *tr, const mm_train_args *a) {
    mm_config_default(&tr->cfg);
    if (mm_config_load(&tr->cfg, a->config_path, MM_CONFIG_CHECK_PATHS) != 0) return -1;
    for (int i = 0; i < a->n_overrides; i++)
        if (mm_config_override(&tr->cfg, a->overrides[i], MM_CONFIG_CHECK_PATHS) != 0) return -1;
    if (mm_config_finalize(&tr->cfg, MM_CONFIG_FOR_TRAINING) != 0) return -1;
    if (tr->cfg.train.batch_size <= 0 || tr->cfg.train.accumulation_steps <= 0 || tr->cfg.train.epochs <= 0)
        return mm_errorf("%s: batch_size, accumulation_steps and epochs must be positive", a->config_path);
    return 0;
}

// The training data: a token file, or a jsonl file tokenized once into OUT/train.tok with
// [data] tokenizer_path.
static int mm_trainer_open_data(mm_trainer *tr) {
    const mm_data_config *d = &tr->cfg.data;
    char tok_path[4096];
    const char *path = d->data_path;
    if (!mm_has_tokfile_magic(path)) {
        if (!d->tokenizer_path[0])
            return mm_errorf("%s: not a token file, and [data] tokenizer_path is not set to tokenize it "
                             "(run `minimind prep pretrain` or set tokenizer_path)",
                             path);
        snprintf(tok_path, sizeof tok_path, "%s/train.tok", tr->out_dir);
        if (!mm_has_tokfile_magic(tok_path)) {
            mm_tokenizer *tok;
            if (mm_tokenizer_load(d->tokenizer_path, &tok) != 0) return -1;
            mm_prep_pretrain_opts po;
            mm_prep_pretrain_opts_default(&po);
            po.max_seq_len = tr->cfg.model.max_seq_len;
            mm_prep_pretrain_stats st;
            fprintf(stderr, "train: tokenizing %s into %s\n", path, tok_path);
            int rc = mm_prep_pretrain(tok, path, tok_path, &po, &st);
            mm_tokenizer_free(tok);
            if (rc != 0) return -1;
        }
        path = tok_path;
    }
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.batch_size = tr->cfg.train.batch_size;
    o.max_seq_len = tr->cfg.model.max_seq_len;  // L as the original PretrainDataset: T = L - 1
    o.seed = (uint64_t)tr->cfg.train.seed;
    if (mm_dataloader_open(&tr->dl, path, &o) != 0) return -1;
    const mm_tokfile *tf = mm_dataloader_file(tr->dl);
    if ((int)tf->h.vocab_size > tr->cfg.model.vocab_size)
        return mm_errorf("%s: token file vocabulary (%u) is larger than the model's vocab_size (%d)", path,
                         tf->h.vocab_size, tr->cfg.model.vocab_size);
    return mm_batch_alloc(&tr->batch, tr->dl);
}

// [train] eval_interval > 0: the first eval_samples documents of [data] eval_data_path, tokenized.
static int mm_trainer_open_validation(mm_trainer *tr) {
    const mm_run_config *c = &tr->cfg;
    if (c->train.eval_interval <= 0) return 0;
    mm_tokenizer *tok;
    if (mm_tokenizer_load(c->data.tokenizer_path, &tok) != 0) return -1;
    int rc = mm_validation_open(&tr->val, c->data.eval_data_path, tok, c->train.eval_samples,
                                c->model.max_seq_len);
    mm_tokenizer_free(tok);
    if (rc == 0)
        fprintf(stderr,
                "train: validation loss every %d steps and at the end: %d documents of %s (%ld tokens)\n",
                c->train.eval_interval, tr->val.n, c->data.eval_data_path, tr->val.tokens);
    return rc;
}

static int mm_trainer_init_model(mm_trainer *tr) {
    const mm_train_config *t = &tr->cfg.train;
    if (mm_backend_select(t->device, &tr->be) != 0 || mm_backend_check_precision(tr->be, t->mixed_precision) != 0)
        return mm_error_prefix("train: [train] device = %s", t->device);
    mm_backend_describe(tr->be, t->device, tr->device_desc, sizeof tr->device_desc);
    tr->precision = strcmp(tr->be->name, "cuda") ? "fp32" : t->mixed_precision;
    tr->fp16 = !strcmp(t->mixed_precision, "fp16");  // also on the CPU (fp32 math): the same scaling logic
    mm_loss_scaler_init(&tr->scaler);
    if (mm_model_init_run(&tr->model, &tr->cfg, tr->be, (uint64_t)t->seed, 1) != 0) return -1;
    tr->attention = mm_model_attention_implementation(&tr->model, tr->batch.B, tr->batch.T);
    tr->attention_storage = mm_model_attention_storage(&tr->model, tr->batch.B, tr->batch.T);
    tr->ffn = mm_model_ffn_storage(&tr->model);
    tr->head = mm_model_head_storage(&tr->model);
    if (tr->model.mem) {
        mm_model *m = &tr->model;
        if (mm_memory_tracker_init(&tr->tracker, tr->be, m->ms.num, m->C,
                                   tr->cfg.knowledge.memory_update == MM_MEMORY_UPDATE_EMA) != 0)
            return -1;
        m->tracker = &tr->tracker;
        m->training = 1;
        m->noise_seed = (uint64_t)t->seed;
        mm_ckpt_extra *x = &tr->extras[0];
        x->name = MM_MEMORY_BANK_NAME;
        x->dtype = MM_U16;
        x->ndim = 2;
        x->shape[0] = m->ms.num;
        x->shape[1] = m->ms.LK;
        x->data = m->bank;
        tr->n_extras = 1;
    }
    if (mm_adamw_init(&tr->opt, tr->model.num_params, (float)t->beta1, (float)t->beta2, (float)t->adam_eps,
                      (float)t->weight_decay, tr->be) != 0)
        return -1;
    // Checkpoints read and write host memory: the parameters and moments themselves on the CPU,
    // host copies synchronised at save/resume on a device backend.
    float *hp = mm_model_host_params(&tr->model), *hm = tr->opt.m;
    if (!tr->be->host_resident) hm = tr->host_opt = mm_calloc(2 * tr->opt.n, sizeof(float));
    if (!hp || !hm) return -1;
    int n = tr->model.n_table;
    tr->named = mm_calloc((size_t)n, sizeof *tr->named);
    tr->adam_m = mm_calloc((size_t)n, sizeof *tr->adam_m);
    tr->adam_v = mm_calloc((size_t)n, sizeof *tr->adam_v);
    if (!tr->named || !tr->adam_m || !tr->adam_v) return -1;
    for (int i = 0; i < n; i++) {
        const mm_param *p = &tr->model.table[i];
        size_t off = (size_t)(p->data - tr->model.params);
        tr->named[i].name = p->name;
        tr->named[i].ndim = p->ndim;
        for (int d = 0; d < p->ndim; d++) tr->named[i].shape[d] = p->shape[d];
        tr->named[i].data = hp + off;
        tr->adam_m[i] = hm + off;
        tr->adam_v[i] = hm + tr->opt.n + off;
    }
    tr->n_named = n;
    mm_checkpoint_default_name(&tr->cfg.model, tr->ckpt_path, sizeof tr->ckpt_path);
    char name[512];
    snprintf(name, sizeof name, "%s", tr->ckpt_path);
    size_t stem = strlen(name) - strlen(".safetensors");
    if (snprintf(tr->ckpt_path, sizeof tr->ckpt_path, "%s/%s", tr->out_dir, name) >= (int)sizeof tr->ckpt_path ||
        snprintf(tr->stage_path, sizeof tr->stage_path, "%s/%.*s.saving.safetensors", tr->out_dir, (int)stem, name) >=
            (int)sizeof tr->stage_path)
        return mm_errorf("%s: output directory path too long", tr->out_dir);
    return 0;
}

// The opaque resume blob: {"data_pos": {...}, "elapsed_s": s, "grad_norm": g, "adam_step": n}
// (+ fp16: "loss_scale", "loss_scale_good_steps"). grad_norm is null when not finite (an fp16
// step skipped at the boundary saved; read back as NaN, as the uninterrupted run logs it).
static char *mm_trainer_blob(const mm_trainer *tr, double elapsed) {
    json_t *o = json_object();
    json_object_set_new(o, "data_pos", mm_data_pos_to_json(&tr->boundary_pos));
    json_object_set_new(o, "elapsed_s", json_real(elapsed));
    json_object_set_new(o, "grad_norm", isfinite(tr->grad_norm) ? json_real(tr->grad_norm) : json_null());
    json_object_set_new(o, "adam_step", json_integer(tr->opt.step));
    if (tr->fp16 && mm_loss_scaler_to_json(&tr->scaler, o) != 0) {
        json_decref(o);
        return NULL;
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) mm_errorf("out of memory (resume state)");
    return s;
}

static int mm_rename(const char *from, const char *to) {
    if (rename(from, to) != 0) return mm_errorf_errno("%s: cannot rename to %s", from, to);
    return 0;
}

// Saves weights + resume state as of the last optimizer-step boundary. Crash-safe as a pair: both
// files are first written completely under the staging name (pretrain_{dim}.saving.safetensors
// and its .state file), then the state and then the weights are renamed into place. A kill
// between the two renames leaves the new state beside the old weights and the new weights staged;
// --resume completes that save (mm_trainer_recover_save).
static int mm_trainer_save(mm_trainer *tr) {
    if (!tr->be->host_resident) {  // device -> the host copies the named tensors point into
        if (!mm_model_params_to_host(&tr->model)) return mm_error_prefix("train: saving");
        tr->be->copy_d2h(tr->host_opt, tr->opt.m, 2 * tr->opt.n * sizeof(float));
        if (tr->be->check && tr->be->check() != 0) return mm_error_prefix("train: saving");
    }
    double elapsed = tr->elapsed0 + (mm_now_s() - tr->t0);
    char *blob = mm_trainer_blob(tr, elapsed);
    if (!blob) return -1;
    mm_resume_state rs;
    memset(&rs, 0, sizeof rs);
    rs.step = tr->boundary_step;
    rs.epoch = (int64_t)tr->boundary_pos.epoch;
    rs.tokens_seen = (int64_t)tr->boundary_step * tr->batch.B * tr->batch.T;
    rs.adam_m = tr->adam_m;
    rs.adam_v = tr->adam_v;
    rs.data_pos = (uint8_t *)blob;
    rs.data_pos_len = strlen(blob);
    if (tr->model.mem && mm_memory_tracker_save_window(&tr->tracker, &rs.memory_ema, &rs.memory_ema_len) != 0) {
        free(blob);
        return -1;
    }
    char stage_state[4096], state[4096];
    int rc = mm_checkpoint_state_path(tr->stage_path, stage_state, sizeof stage_state) ||
             mm_checkpoint_state_path(tr->ckpt_path, state, sizeof state);
    if (!rc) rc = mm_checkpoint_save(tr->stage_path, &tr->cfg, tr->named, tr->n_named, tr->extras, tr->n_extras, &rs);
    if (!rc) rc = mm_rename(stage_state, state);
    if (!rc) rc = mm_rename(tr->stage_path, tr->ckpt_path);
    free(blob);
    free(rs.memory_ema);
    if (rc == 0) tr->last_save = tr->boundary_step;
    return rc;
}

static int mm_save_id(const char *path, char id[33]) {
    mm_safetensors st;
    if (mm_st_read_header(&st, path) != 0) return -1;
    const char *v = mm_st_get_meta(&st, "mm.save_id");
    snprintf(id, 33, "%s", v ? v : "");
    mm_st_free(&st);
    return 0;
}

// Before resuming: a staged save left by a killed run. With its state file still staged, it never
// reached its renames (the pair in place is intact): drop it. Otherwise its state was renamed into
// place: when the staged weights carry that state's save id, move them into place too.
static int mm_trainer_recover_save(mm_trainer *tr) {
    char stage_state[4096], state[4096], sid[33], wid[33];
    if (access(tr->stage_path, F_OK) != 0) return 0;
    if (mm_checkpoint_state_path(tr->stage_path, stage_state, sizeof stage_state) ||
        mm_checkpoint_state_path(tr->ckpt_path, state, sizeof state))
        return -1;
    if (access(stage_state, F_OK) == 0) {
        unlink(stage_state);
        unlink(tr->stage_path);
        return 0;
    }
    if (mm_save_id(state, sid) == 0 && mm_save_id(tr->stage_path, wid) == 0 && sid[0] && !strcmp(sid, wid)) {
        fprintf(stderr, "train: completing an interrupted save: %s -> %s\n", tr->stage_path, tr->ckpt_path);
        return mm_rename(tr->stage_path, tr->ckpt_path);
    }
    unlink(tr->stage_path);  // an unfinished save that did not get as far as the state rename
    return 0;
}

static int mm_trainer_resume(mm_trainer *tr) {
    mm_resume_state rs;
    memset(&rs, 0, sizeof rs);
    rs.adam_m = tr->adam_m;
    rs.adam_v = tr->adam_v;
    if (mm_trainer_recover_save(tr) != 0) return -1;
    if (access(tr->ckpt_path, R_OK) != 0)
        return mm_errorf("%s: no checkpoint to resume from (start without --resume)", tr->ckpt_path);
    mm_run_config saved;
    if (mm_checkpoint_load(tr->ckpt_path, tr->named, tr->n_named, tr->extras, tr->n_extras, NULL) != 0) return -1;
    if (mm_checkpoint_load_resume(tr->ckpt_path, tr->named, tr->n_named, &rs, &saved) != 0) return -1;
    int rc = 0;
    if (!tr->be->host_resident) {  // the host copies -> device
        rc = mm_model_params_from_host(&tr->model);
        if (!rc) rc = mm_model_sync_bank(&tr->model);
        tr->be->copy_h2d(tr->opt.m, tr->host_opt, 2 * tr->opt.n * sizeof(float));
        if (!rc && tr->be->check) rc = tr->be->check();
    }
    // An exact resume needs the configuration the checkpoint was trained with ([eval] may differ).
    if (mm_config_compare(&tr->cfg, "configuration", &saved, tr->ckpt_path,
                          MM_CONFIG_ARCH | MM_CONFIG_TRAIN | MM_CONFIG_DATA | MM_CONFIG_KNOWLEDGE) != 0)
        rc = mm_error_prefix("cannot resume exactly");
    json_error_t jerr;
    json_t *blob = rc ? NULL : json_loadb((const char *)rs.data_pos, rs.data_pos_len, 0, &jerr);
    if (!rc && !blob) rc = mm_errorf("%s: resume state: unreadable data position (%s)", tr->ckpt_path, jerr.text);
    if (!rc && mm_data_pos_from_json(json_object_get(blob, "data_pos"), tr->ckpt_path, &tr->boundary_pos) != 0) rc = -1;
    if (!rc && mm_dataloader_set_pos(tr->dl, &tr->boundary_pos) != 0) rc = -1;
    if (!rc && tr->model.mem && mm_memory_tracker_load_window(&tr->tracker, rs.memory_ema, rs.memory_ema_len, tr->ckpt_path) != 0)
        rc = -1;
    if (!rc && !tr->model.mem && rs.memory_ema_len)
        rc = mm_errorf("%s: resume state has a memory_ema window but the model has no memory layer", tr->ckpt_path);
    if (!rc && tr->fp16) {
        if (json_object_get(blob, "loss_scale")) {
            if (mm_loss_scaler_from_json(&tr->scaler, blob, tr->ckpt_path) != 0) rc = -1;
        } else {  // a checkpoint of an fp16 CPU run from before loss scaling existed
            fprintf(stderr, "train: warning: %s has no fp16 loss scale; starting from %g\n", tr->ckpt_path,
                    (double)tr->scaler.scale);
        }
    }
    if (!rc) {
        tr->step = tr->boundary_step = tr->last_save = (long)rs.step;
        tr->elapsed0 = json_real_value(json_object_get(blob, "elapsed_s"));
        const json_t *gn = json_object_get(blob, "grad_norm");
        tr->grad_norm = json_is_null(gn) ? NAN : json_real_value(gn);
        tr->opt.step = (long)json_integer_value(json_object_get(blob, "adam_step"));
        fprintf(stderr, "train: resumed from %s at step %ld/%ld\n", tr->ckpt_path, tr->step, tr->total);
    }
    json_decref(blob);
    mm_resume_state_free_blobs(&rs);
    return rc;
}

static void mm_trainer_free(mm_trainer *tr) {
    mm_metrics_close(&tr->log);
    mm_batch_free(&tr->batch);
    if (tr->dl) mm_dataloader_close(tr->dl);
    mm_model_free(&tr->model);
    mm_memory_tracker_free(&tr->tracker);
    mm_adamw_free(&tr->opt);
    free(tr->host_opt);
    free(tr->named);
    free(tr->adam_m);
    free(tr->adam_v);
    mm_validation_free(&tr->val);
}

// Next batch, rolling over epochs. Returns 0 or -1.
static int mm_trainer_next_batch(mm_trainer *tr) {
    for (int tries = 0; tries < 2; tries++) {
        int rc = mm_dataloader_next(tr->dl, &tr->batch);
        if (rc == 1) return 0;
        if (rc < 0) return -1;
    }
    return mm_errorf("%s: the training data yields no batch", tr->cfg.data.data_path);
}

static void mm_trainer_row(mm_trainer *tr, float loss, float lr, double tok_s, int epoch) {
    double elapsed = tr->elapsed0 + (mm_now_s() - tr->t0);
    double run_el = mm_now_s() - tr->t0;
    mm_metrics_row *r = &tr->last_row;
    r->step = tr->step;
    r->total_steps = tr->total;
    r->epoch = epoch;
    r->loss = loss;
    r->lr = lr;
    r->grad_norm = tr->grad_norm;
    r->tokens_per_s = tok_s;
    r->elapsed_s = elapsed;
    long done_here = tr->step - tr->start_step;
    r->eta_s = done_here > 0 ? run_el / (double)done_here * (double)(tr->total - tr->step) : -1;
}

static void mm_trainer_log_line(const mm_trainer *tr, json_t *extra) {
    const mm_metrics_row *r = &tr->last_row;
    char eta[32], memtxt[96] = "", scaletxt[48] = "", valtxt[32] = "";
    const json_t *val = json_object_get(extra, "val_loss");
    if (val)
        snprintf(valtxt, sizeof valtxt, " val_loss %.4f", json_is_real(val) ? json_real_value(val) : NAN);
    if (extra && tr->model.mem)
        snprintf(memtxt, sizeof memtxt, " memory used %.3f kl %.3f rewritten %lld",
                 json_real_value(json_object_get(extra, "memory_used_fraction")),
                 json_real_value(json_object_get(extra, "memory_kl_uniform")),
                 (long long)json_integer_value(json_object_get(extra, "memory_entries_rewritten")));
    if (tr->fp16) snprintf(scaletxt, sizeof scaletxt, " loss_scale %g", (double)tr->scaler.scale);
    printf("epoch %d/%d step %ld/%ld loss %.4f%s lr %.3e grad_norm %.3f tok/s %.0f eta %s%s%s\n",
           r->epoch + 1, tr->cfg.train.epochs, r->step, r->total_steps, r->loss, valtxt, r->lr, r->grad_norm,
           r->tokens_per_s, mm_format_duration(r->eta_s, eta, sizeof eta), scaletxt, memtxt);
    fflush(stdout);
}

// The extra fields of a metrics row (NULL when none): fp16: the loss scale in effect for the next
// optimizer step; the validation loss when this step computed one; memory variants: usage of the
// log window.
static json_t *mm_trainer_extra_fields(mm_trainer *tr, int log_row) {
    json_t *o = NULL;
    if (tr->fp16) {
        o = json_object();
        json_object_set_new(o, "loss_scale", json_real(tr->scaler.scale));
    }
    if (tr->val_pending) {  // [train] eval_interval: the validation loss of this step
        if (!o) o = json_object();
        json_object_set_new(o, "val_loss", isfinite(tr->val_loss) ? json_real(tr->val_loss) : json_null());
        json_object_set_new(o, "val_loss_stderr",
                            isfinite(tr->val_stderr) ? json_real(tr->val_stderr) : json_null());
        tr->val_pending = 0;
    }
    // a row written only because the step validated leaves the log window's memory statistics to the
    // next log row, so they cover log_interval steps with and without validation
    if (!tr->model.mem || !log_row) return o;
    mm_memory_stats st;
    mm_memory_stats_take(&tr->tracker, &st, 1);
    if (!o) o = json_object();
    json_object_set_new(o, "memory_used_fraction", json_real(st.used_fraction));
    json_object_set_new(o, "memory_usage_entropy", json_real(st.entropy));
    json_object_set_new(o, "memory_kl_uniform", json_real(st.kl_uniform));
    json_object_set_new(o, "memory_entries_rewritten", json_integer(st.rewritten));
    json_object_set_new(o, "memory_ema_updates", json_integer(st.updates));
    return o;
}

// memory_update = ema: every ema_update_freq optimizer steps, the entries read in the window move
// toward the hidden states that read them; entries below freeze_ratio * knowledge_num never change.
static int mm_trainer_ema(mm_trainer *tr) {
    const mm_knowledge_config *k = &tr->cfg.knowledge;
    if (!tr->model.mem || k->memory_update != MM_MEMORY_UPDATE_EMA) return 0;
    if (tr->opt.step % k->ema_update_freq != 0) return 0;
    mm_model *m = &tr->model;
    int frozen = (int)floor(k->freeze_ratio * m->ms.num);
    long changed = mm_memory_ema_update(m->be, &tr->tracker, m->bank, m->ms.LK, m->tok_embeddings, m->norm, m->V,
                                        m->C, (float)k->ema_decay, frozen);
    if (changed > 0 && mm_model_sync_bank(m) != 0) changed = -1;  // the host bank -> the backend's copy
    return changed < 0 ? mm_error_prefix("step %ld: EMA update of the memory bank", tr->step) : 0;
}

// Writes the failed row and status with the current error message; MM_EXIT_NAN.
static int mm_trainer_stop_failed(mm_trainer *tr, float loss, float lr, int epoch) {
    mm_trainer_row(tr, loss, lr, 0, epoch);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", mm_error_message());
    mm_metrics_finish(&tr->log, &tr->last_row, "failed", msg);
    mm_errorf("%s", msg);
    return MM_EXIT_NAN;
}

// A non-finite value at (1-based) `step`: stop the run. Nothing non-finite reaches a checkpoint
// (the gradient norm is checked before the optimizer step, the weights after it), so the last
// checkpoint on disk is good.
static int mm_trainer_diverged(mm_trainer *tr, long step, const char *what, double value, float loss, float lr,
                               int epoch) {
    mm_errorf("step %ld: %s is %s; training stopped (last good checkpoint: %s, step %ld)", step, what,
              isnan(value) ? "NaN" : "Inf", tr->last_save > 0 ? tr->ckpt_path : "none", tr->last_save);
    return mm_trainer_stop_failed(tr, loss, lr, epoch);
}

// fp16: the loss or the gradients were not finite so often that the loss scale fell below
// MM_LOSS_SCALE_MIN.
static int mm_trainer_scale_collapsed(mm_trainer *tr, float loss, float lr, int epoch) {
    mm_errorf("step %ld: fp16 loss scaling: the loss or the gradients keep overflowing and the loss scale fell to %g (below "
              "%g); training stopped (last good checkpoint: %s, step %ld). Try mixed_precision = bf16 or fp32",
              tr->step, (double)tr->scaler.scale, (double)MM_LOSS_SCALE_MIN, tr->last_save > 0 ? tr->ckpt_path : "none",
              tr->last_save);
    return mm_trainer_stop_failed(tr, loss, lr, epoch);
}

// [train] eval_interval: at the optimizer-step boundary `step` (the previous one `prev`), the
// validation loss when a multiple of eval_interval lies in (prev, step], and at the last step.
static int mm_trainer_validate(mm_trainer *tr, long prev) {
    const long every = tr->cfg.train.eval_interval;
    if (every <= 0 || (tr->step / every == prev / every && tr->step != tr->total)) return 0;
    const double t0 = mm_now_s();
    if (mm_validation_loss(&tr->val, &tr->model, &tr->val_loss, &tr->val_stderr) != 0)
        return mm_error_prefix("step %ld", tr->step);
    tr->val_window_s += mm_now_s() - t0;
    tr->val_pending = 1;
    return 0;
}

// The first non-finite parameter value (or 0 when all are finite). On a device backend: the
// parameters' L2 norm when it is not finite (computed there: no copy of the weights per step).
static float mm_first_nonfinite(const mm_backend *be, float *p, size_t n) {
    if (!be->host_resident) {
        float norm = be->gradnorm_clip(p, n, 0.0f);
        return isfinite(norm) ? 0.0f : norm;
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i])) return p[i];
    return 0.0f;
}

// The loop. Returns an MM_EXIT_* status.
static int mm_trainer_loop(mm_trainer *tr) {
    const mm_train_config *t = &tr->cfg.train;
    int accum = t->accumulation_steps;
    long resumed_at = tr->step;
    tr->start_step = tr->step;
    if (tr->step >= tr->total) {  // --resume of a finished run: nothing to train, no file rewritten
        printf("train: the run already finished its %ld steps: nothing to do (checkpoint %s)\n", tr->total,
               tr->ckpt_path);
        return MM_EXIT_OK;
    }
    mm_progress bar;
    mm_progress_begin(&bar, "train", tr->total, "steps", 1.0);
    bar.is_tty = bar.is_tty && isatty(STDOUT_FILENO);
    double window_t = mm_now_s();
    long window_tokens = 0;
    mm_model_zero_grad(&tr->model);
    while (tr->step < tr->total) {
        if (mm_stop_requested) break;
        int epoch = (int)(tr->step / tr->per_epoch);
        if (mm_trainer_next_batch(tr) != 0) return MM_EXIT_ERROR;
        float lr = mm_lr_schedule(tr->step, tr->total, (float)t->learning_rate, t->warmup_iters);
        float loss = 0;
        tr->model.noise_step = (uint64_t)tr->step;  // Gumbel noise: a function of (seed, step, layer)
        if (mm_model_forward(&tr->model, tr->batch.x, tr->batch.y, tr->batch.loss_mask, tr->batch.B, tr->batch.T,
                             &loss, NULL) != 0)
            return MM_EXIT_ERROR;
        if (!isfinite(loss)) {
            if (!tr->fp16) return mm_trainer_diverged(tr, tr->step + 1, "the loss", loss, loss, lr, epoch);
            // fp16 (GradScaler): an overflowing forward makes the window's gradients non-finite;
            // its optimizer step is skipped and the scale backs off (no backward needed)
            tr->window_overflow = 1;
        } else {
            // fp16: the backward starts from the scaled loss (scale a power of two: exact)
            float dloss = (tr->fp16 ? tr->scaler.scale : 1.0f) / (float)accum;
            if (mm_model_backward(&tr->model, dloss) != 0) return MM_EXIT_ERROR;
        }
        tr->step++;
        window_tokens += (long)tr->batch.B * tr->batch.T;
        if (tr->step % accum == 0 || tr->step == tr->total) {
            // fp16 (GradScaler): unscale, clip, and skip the update when the gradients are not finite
            if (tr->fp16) tr->be->scale(tr->model.grads, tr->model.num_params, mm_loss_scaler_inv(&tr->scaler));
            tr->grad_norm = mm_model_clip_grad_norm(&tr->model, (float)t->grad_clip);
            int take = 1;
            if (tr->fp16) {
                if (tr->window_overflow) tr->grad_norm = NAN;  // logged as null, like any skipped step
                take = mm_loss_scaler_update(&tr->scaler, isfinite(tr->grad_norm));
                tr->window_overflow = 0;
                if (mm_loss_scaler_collapsed(&tr->scaler)) return mm_trainer_scale_collapsed(tr, loss, lr, epoch);
            } else if (!isfinite(tr->grad_norm)) {
                return mm_trainer_diverged(tr, tr->step, "the gradient norm", tr->grad_norm, loss, lr, epoch);
            }
            if (take) {
                mm_adamw_step(&tr->opt, tr->model.params, tr->model.grads, lr);
                float bad = mm_first_nonfinite(tr->be, tr->model.params, tr->model.num_params);
                if (!isfinite(bad))
                    return mm_trainer_diverged(tr, tr->step, "a parameter after the update", bad, loss, lr, epoch);
            }
            mm_model_zero_grad(&tr->model);
            // the micro-steps' memory reads join the EMA window with the step (a skipped fp16 step drops them)
            if (tr->model.mem && take && mm_memory_tracker_commit(&tr->tracker) != 0) return MM_EXIT_ERROR;
            if (tr->model.mem && !take) mm_memory_tracker_drop_step(&tr->tracker);
            if (take && mm_trainer_ema(tr) != 0) return MM_EXIT_ERROR;
            if (mm_trainer_validate(tr, tr->boundary_step) != 0) return MM_EXIT_ERROR;
            tr->boundary_step = tr->step;
            mm_dataloader_get_pos(tr->dl, &tr->boundary_pos);
            // Save on the last boundary before save_interval steps would have passed since the
            // previous save (checkpoints sit on boundaries; a kill then loses < save_interval steps).
            if (tr->step - tr->last_save + accum > t->save_interval && tr->step < tr->total && mm_trainer_save(tr) != 0)
                return MM_EXIT_ERROR;
        }
        const int log_row =
            tr->step % t->log_interval == 0 || tr->step == tr->total || tr->step == resumed_at + 1;
        if (log_row || tr->val_pending) {
            double now = mm_now_s(),
                   trained_s = now - window_t - tr->val_window_s;  // tokens/s of training alone
            mm_trainer_row(tr, loss, lr, trained_s > 0 ? window_tokens / trained_s : 0, epoch);
            window_t = now;
            tr->val_window_s = 0;
            window_tokens = 0;
            json_t *extra = mm_trainer_extra_fields(tr, log_row);
            int wrc = mm_metrics_write(&tr->log, &tr->last_row, extra);
            if (!bar.is_tty) mm_trainer_log_line(tr, extra);
            json_decref(extra);
            if (wrc != 0) return MM_EXIT_ERROR;
        }
        char extra[96];
        double run_s = mm_now_s() - tr->t0;
        double tok_s = run_s > 0 ? (double)(tr->step - resumed_at) * tr->batch.B * tr->batch.T / run_s : 0;
        snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.0f tok/s", loss, lr, tok_s);
        if (bar.is_tty) mm_progress_update(&bar, tr->step, extra);
    }
    if (bar.is_tty) mm_progress_end(&bar, tr->step, NULL);
    if (mm_stop_requested && tr->step < tr->total) {
        // Parameters only change at optimizer-step boundaries, so the state of the last boundary is
        // exact: save it (the partial accumulation after it is redone on resume).
        if (tr->boundary_step > tr->last_save && mm_trainer_save(tr) != 0) return MM_EXIT_ERROR;
        char msg[160];
        snprintf(msg, sizeof msg, "stopped by signal %d at step %ld; resume with --resume", (int)mm_stop_requested,
                 tr->boundary_step);
        fprintf(stderr, "train: %s\n", msg);
        mm_metrics_finish(&tr->log, &tr->last_row, "stopped", msg);
        return MM_EXIT_STOPPED;
    }
    if (mm_trainer_save(tr) != 0) return MM_EXIT_ERROR;
    mm_metrics_finish(&tr->log, &tr->last_row, "finished", NULL);
    char valtxt[48] = "";
    if (isfinite(tr->val_loss)) snprintf(valtxt, sizeof valtxt, ", validation loss %.4f", tr->val_loss);
    printf("train: finished %ld steps, final loss %.4f%s; checkpoint %s\n", tr->step, tr->last_row.loss,
           valtxt, tr->ckpt_path);
    return MM_EXIT_OK;
}

static int mm_trainer_setup(mm_trainer *tr, const mm_train_args *a) {
    tr->out_dir = a->out_dir;
    tr->val_loss = tr->val_stderr = NAN;  // none computed in this process yet
    if (mm_trainer_load_config(tr, a) != 0) return -1;
    mm_set_threads(tr->cfg.train.threads);
    if (mm_mkdirs(a->out_dir) != 0) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.ini", a->out_dir);
    if (mm_config_write(&tr->cfg, path) != 0) return -1;
    if (mm_trainer_open_data(tr) != 0 || mm_trainer_init_model(tr) != 0 ||
        mm_trainer_open_validation(tr) != 0)
        return -1;
    tr->per_epoch = (long)mm_dataloader_batches_per_epoch(tr->dl);
    if (tr->per_epoch <= 0) return mm_errorf("%s: no complete sample in the training data", tr->cfg.data.data_path);
    tr->total = tr->per_epoch * tr->cfg.train.epochs;
    if (tr->cfg.train.max_steps > 0 && tr->cfg.train.max_steps < tr->total) tr->total = (long)tr->cfg.train.max_steps;
    mm_dataloader_get_pos(tr->dl, &tr->boundary_pos);
    if (a->resume && mm_trainer_resume(tr) != 0) return -1;
    if (mm_metrics_open(&tr->log, a->out_dir, a->resume ? tr->step : -1) != 0) return -1;
    tr->log.device = tr->device_desc;
    tr->log.precision = tr->precision;
    tr->log.attention = tr->attention;
    tr->log.attention_storage = tr->attention_storage;
    tr->log.ffn = tr->ffn;
    tr->log.head = tr->head;
    return 0;
}

int mm_train(const mm_train_args *a) {
    mm_trainer tr;
    memset(&tr, 0, sizeof tr);
    mm_stop_requested = 0;
    mm_install_stop_handlers();
    tr.t0 = mm_now_s();
    int status = MM_EXIT_ERROR;
    if (mm_trainer_setup(&tr, a) == 0) {
        fprintf(
            stderr,
            "train: %s, %zu parameters, %ld steps (%ld per epoch), batch %d x %d, accumulation %d, on %s, "
            "%s matmuls%s%s%s%s%s%s\n",
            mm_model_type_name(tr.cfg.model.model_type), tr.model.num_params, tr.total, tr.per_epoch,
            tr.batch.B, tr.batch.T, tr.cfg.train.accumulation_steps, tr.device_desc, tr.precision,
            tr.fp16 ? " with fp16 loss scaling" : "", tr.attention ? ", attention: " : "",
            tr.attention ? tr.attention : "", tr.attention_storage ? " stored in bf16" : "",
            tr.ffn ? ", feed-forward stored in bf16" : "", tr.head ? ", head stored in bf16" : "");
        tr.t0 = mm_now_s();
        status = mm_trainer_loop(&tr);
    }
    if (status == MM_EXIT_ERROR && tr.log.fp) mm_metrics_finish(&tr.log, &tr.last_row, "failed", mm_error_message());
    mm_trainer_free(&tr);
    return status;
}
