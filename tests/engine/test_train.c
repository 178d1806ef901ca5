// `minimind train` end to end on tiny models and the demo corpus:
//  - resume is bit-exact: SIGTERM mid-run (exit 3, progress "stopped") then --resume gives the
//    uninterrupted run's metrics rows and final weights bit for bit; after SIGKILL the checkpoint
//    is at most save_interval steps old and --resume still reproduces the uninterrupted losses; a
//    kill between the two renames of a save is completed on --resume;
//  - a non-finite loss/gradient stops the run (exit 4, step named, progress "failed") and the last
//    checkpoint stays loadable with finite weights;
//  - bad configurations and corrupt checkpoints get `minimind: error: FILE...` and exit 1;
//  - metrics.jsonl rows carry every DESIGN.md field, lr follows the cosine schedule computed here;
//    progress.json keeps a final message that is not UTF-8 (a Latin-1 path in an error);
//  - on the demo corpus the loss falls well below the unigram entropy of the training targets.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "minimind/device.h"
#include "minimind/error.h"
#include "minimind/metrics.h"
#include "minimind/safetensors.h"
#include "minimind/tokfile.h"
#include "test_util.h"
#include "train_fixture.h"

extern char **environ;

// ---- the tiny run used by the resume tests ----

#define RESUME_MODEL \
    "dim = 32\nn_layers = 2\nn_heads = 2\nn_kv_heads = 1\nvocab_size = 512\nmax_seq_len = 32\n"
#define RESUME_DOCS 60  // 15 batches of 4 per epoch: accumulation boundaries straddle epochs

static char *mm_resume_ini_acc(const mm_fx_data *d, int save_interval, int accumulation) {
    int epochs = mm_fx_sanitized() ? 12 : 16;  // 180 / 240 micro-steps
    char *train = mm_fx_fmt(
        "batch_size = 4\naccumulation_steps = %d\nlearning_rate = 2e-3\nepochs = %d\n"
        "log_interval = 1\nsave_interval = %d\nseed = 7\n",
        accumulation, epochs, save_interval);
    char *ini = mm_fx_ini(d, "resume.ini", RESUME_MODEL, train);
    free(train);
    return ini;
}

static char *mm_resume_ini(const mm_fx_data *d, int save_interval) {
    return mm_resume_ini_acc(d, save_interval, 2);
}

static void mm_resume_data(mm_fx_data *d, const char *tag) {
    mm_fx_data_make(d, tag, 100, RESUME_DOCS, 512, 32);
}

// Complete lines in a file (a torn last line is not counted).
static long mm_count_lines(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    long n = 0;
    int c;
    while ((c = fgetc(fp)) != EOF)
        if (c == '\n') n++;
    fclose(fp);
    return n;
}

// Largest "step" over the complete, parseable lines of metrics.jsonl.
static long mm_last_logged_step(const char *path) {
    FILE *fp = fopen(path, "rb");
    cr_assert(fp != NULL);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long best = 0;
    while ((n = getline(&line, &cap, fp)) > 0) {
        if (line[n - 1] != '\n') break;
        json_t *o = json_loadb(line, (size_t)n, 0, NULL);
        if (o && json_integer_value(json_object_get(o, "step")) > best)
            best = (long)json_integer_value(json_object_get(o, "step"));
        json_decref(o);
    }
    free(line);
    fclose(fp);
    return best;
}

// Starts `minimind train` in the background (stdout/stderr into OUT.stdout / OUT.stderr).
static pid_t mm_spawn_train(const char *ini, const char *out, int resume) {
    char *so = mm_fx_fmt("%s.stdout", out), *se = mm_fx_fmt("%s.stderr", out);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, so, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, se, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const char *argv[] = {
        MM_MINIMIND_EXE, "train", "--config", ini, "--out", out, resume ? "--resume" : NULL, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, MM_MINIMIND_EXE, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "posix_spawn failed");
    free(so);
    free(se);
    return pid;
}

// Waits until OUT/metrics.jsonl has at least `lines` lines (the process must still be running),
// sends sig, and returns the process's wait status.
static int mm_interrupt_at(pid_t pid, const char *out, long lines, int sig) {
    char *metrics = mm_test_path(out, "metrics.jsonl");
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        cr_assert_eq(w, 0, "the run ended (status 0x%x) before this poll saw metrics.jsonl reach %ld lines (it has %ld)",
                     st, lines, mm_count_lines(metrics));
        if (mm_count_lines(metrics) >= lines) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, sig);
    while (waitpid(pid, &st, 0) < 0) {
    }
    free(metrics);
    return st;
}

// Metrics rows: same steps, and loss / lr / grad_norm / epoch / total_steps identical bit for bit.
static void mm_assert_same_metrics(const char *ref_dir, const char *dir) {
    char *pa = mm_test_path(ref_dir, "metrics.jsonl"), *pb = mm_test_path(dir, "metrics.jsonl");
    json_t *a = mm_fx_read_jsonl(pa), *b = mm_fx_read_jsonl(pb);
    cr_assert_eq(json_array_size(a), json_array_size(b), "%s has %zu rows, %s has %zu", pa,
                 json_array_size(a), pb, json_array_size(b));
    static const char *const bitwise[] = {"loss", "lr", "grad_norm"};
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *ra = json_array_get(a, i), *rb = json_array_get(b, i);
        cr_assert_eq(json_integer_value(json_object_get(ra, "step")),
                     json_integer_value(json_object_get(rb, "step")), "row %zu: steps differ", i);
        cr_assert_eq(json_integer_value(json_object_get(ra, "epoch")),
                     json_integer_value(json_object_get(rb, "epoch")));
        cr_assert_eq(json_integer_value(json_object_get(ra, "total_steps")),
                     json_integer_value(json_object_get(rb, "total_steps")));
        for (int k = 0; k < 3; k++) {
            double x = mm_fx_num(ra, bitwise[k]), y = mm_fx_num(rb, bitwise[k]);
            cr_assert(memcmp(&x, &y, sizeof x) == 0, "step %lld: %s %.17g (uninterrupted) vs %.17g (resumed)",
                      (long long)json_integer_value(json_object_get(ra, "step")), bitwise[k], x, y);
        }
    }
    json_decref(a);
    json_decref(b);
    free(pa);
    free(pb);
}

// Every tensor of two safetensors files identical (names, dtype, shape, bytes). The headers differ
// (random save id), so files are not compared byte for byte.
static void mm_assert_same_tensors_except(const char *pa, const char *pb, const char *skip1,
                                          const char *skip2) {
    mm_safetensors a, b;
    cr_assert_eq(mm_st_read(&a, pa), 0, "%s", mm_error_message());
    cr_assert_eq(mm_st_read(&b, pb), 0, "%s", mm_error_message());
    cr_assert_eq(a.n_tensors, b.n_tensors);
    cr_assert_gt(a.n_tensors, 0);
    for (int i = 0; i < a.n_tensors; i++) {
        if ((skip1 && !strcmp(a.tensors[i].name, skip1)) || (skip2 && !strcmp(a.tensors[i].name, skip2)))
            continue;
        const mm_st_tensor *x = &a.tensors[i], *y = mm_st_find(&b, x->name);
        cr_assert(y != NULL, "%s lacks tensor %s", pb, x->name);
        cr_assert_eq(x->dtype, y->dtype);
        cr_assert_eq(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++) cr_assert_eq(x->shape[d], y->shape[d]);
        cr_assert_eq(x->nbytes, y->nbytes);
        cr_assert(memcmp(x->data, y->data, x->nbytes) == 0, "tensor %s differs", x->name);
    }
    mm_st_free(&a);
    mm_st_free(&b);
}

static void mm_assert_same_tensors(const char *pa, const char *pb) {
    mm_assert_same_tensors_except(pa, pb, NULL, NULL);
}

// The resume state's data position blob (JSON) without the wall-clock time.
static json_t *mm_state_position(const char *path) {
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, path), 0, "%s", mm_error_message());
    const mm_st_tensor *t = mm_st_find(&st, "data_position");
    cr_assert(t != NULL);
    json_error_t err;
    json_t *j = json_loadb(t->data, t->nbytes, 0, &err);
    cr_assert(j != NULL, "%s: data_position: %s", path, err.text);
    json_object_del(j, "elapsed_s");
    mm_st_free(&st);
    return j;
}

static long mm_state_step(const char *out) {
    char *p = mm_test_path(out, "pretrain_32.state.safetensors");
    mm_safetensors st;
    cr_assert_eq(mm_st_read_header(&st, p), 0, "%s", mm_error_message());
    const char *v = mm_st_get_meta(&st, "mm.step");
    cr_assert(v != NULL);
    long s = atol(v);
    mm_st_free(&st);
    free(p);
    return s;
}

static json_t *mm_progress(const char *out) {
    char *p = mm_test_path(out, "progress.json");
    json_t *j = mm_fx_read_json(p);
    free(p);
    return j;
}

static void mm_assert_status(const char *out, const char *status) {
    json_t *pr = mm_progress(out);
    cr_assert_str_eq(json_string_value(json_object_get(pr, "status")), status);
    json_decref(pr);
}

// The uninterrupted reference run.
static void mm_reference_run(const char *ini, const char *ref) {
    mm_proc_result r;
    mm_fx_train(ini, ref, NULL, 0, &r);
    cr_assert_eq(r.status, 0, "reference run failed:\n%s", r.err);
    mm_proc_result_free(&r);
    mm_assert_status(ref, "finished");
}

static void mm_resume_to_end(const char *ini, const char *out, long expect_step) {
    mm_proc_result r;
    mm_fx_train(ini, out, NULL, 1, &r);
    cr_assert_eq(r.status, 0, "resume failed (%d):\n%s", r.status, r.err);
    char *want = mm_fx_fmt("at step %ld/", expect_step);
    cr_assert(strstr(r.err, "resumed from") && strstr(r.err, want), "expected 'resumed ... %s' in:\n%s", want,
              r.err);
    free(want);
    mm_proc_result_free(&r);
    mm_assert_status(out, "finished");
}

// Runs REF_INI (NULL: INI) uninterrupted into DIR/ref, then INI into DIR/run stopped by SIGTERM after 25 metrics
// rows and resumed; metrics rows, weights (the memory bank included), AdamW moments, any other
// resume-state tensor and data positions must be the uninterrupted run's, bit for bit. Returns the
// step of the checkpoint the run was stopped at. at_stop (optional) inspects DIR/run before the resume.
static long mm_check_sigterm_resume(const mm_fx_data *d, const char *ref_ini, const char *ini, int accumulation,
                                    void (*at_stop)(const char *out, long stopped)) {
    char *ref = mm_test_path(d->dir, "ref"), *out = mm_test_path(d->dir, "run");
    mm_reference_run(ref_ini ? ref_ini : ini, ref);

    pid_t pid = mm_spawn_train(ini, out, 0);
    int st = mm_interrupt_at(pid, out, 25, SIGTERM);
    char *se = mm_fx_fmt("%s.stderr", out);
    char *err = mm_fx_slurp(se);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "SIGTERM: expected exit status 3, got 0x%x\n%s", st,
              err);
    cr_assert(strstr(err, "stopped by signal 15"), "%s", err);
    json_t *pr = mm_progress(out);
    cr_assert_str_eq(json_string_value(json_object_get(pr, "status")), "stopped");
    long stopped = mm_state_step(out);
    cr_assert_geq(stopped, 24, "checkpoint at step %ld", stopped);
    cr_assert_lt(stopped, json_integer_value(json_object_get(pr, "total_steps")),
                 "the run was not stopped mid-way");
    cr_assert_eq(stopped % accumulation, 0, "a checkpoint must sit on an accumulation boundary (step %ld)",
                 stopped);
    json_decref(pr);
    if (at_stop) at_stop(out, stopped);

    mm_resume_to_end(ini, out, stopped);
    mm_assert_same_metrics(ref, out);
    char *wa = mm_test_path(ref, "pretrain_32.safetensors"),
         *wb = mm_test_path(out, "pretrain_32.safetensors");
    mm_assert_same_tensors(wa, wb);
    char *sa = mm_test_path(ref, "pretrain_32.state.safetensors"),
         *sb = mm_test_path(out, "pretrain_32.state.safetensors");
    mm_assert_same_tensors_except(sa, sb, "data_position", NULL);  // AdamW moments too
    json_t *pa = mm_state_position(sa), *pb = mm_state_position(sb);
    cr_assert(json_equal(pa, pb), "data positions differ");
    json_decref(pa);
    json_decref(pb);
    free(wa), free(wb), free(sa), free(sb), free(se), free(err), free(ref), free(out);
    return stopped;
}

Test(resume, sigterm_then_resume_is_bit_exact, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "resume_term");
    char *ini = mm_resume_ini(&d, 6);
    mm_check_sigterm_resume(&d, NULL, ini, 2, NULL);
    free(ini);
    mm_fx_data_free(&d);
}

// The memory model with EMA updates every 7 optimizer steps (21 micro-steps, 3 per optimizer step):
// the first update rewrites the bank at step 21; the stop (step ~26) lands inside the second window
// and nearly always inside an accumulation, so the checkpoint must carry the window's sums as of the
// last optimizer step, not the reads of the micro-steps after it (which the resumed run redoes).
// The run ends inside a window — step 39 (the second) on a GPU or the simulated one, step 60 (the
// third) on the CPU kernels, whose ~10 ms steps would leave the poller that sends SIGTERM after 25
// rows only ~140 ms before the run's end at 39 on a loaded machine — so the final resume states
// compare its sums (the bank's argmax tokens alone could hide a difference).
enum { EMA_ACCUM = 3, EMA_FREQ = 7 };

// The stopped run's resume state holds the EMA window exactly when the window was not empty: the
// stop was not on an EMA update.
static void mm_expect_ema_window(const char *out, long stopped) {
    char *p = mm_test_path(out, "pretrain_32.state.safetensors");
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, p), 0, "%s", mm_error_message());
    const mm_st_tensor *t = mm_st_find(&st, "memory_ema");
    int inside = (stopped / EMA_ACCUM) % EMA_FREQ != 0;
    cr_assert_eq(t != NULL, inside, "step %ld (%s an EMA window): memory_ema %s", stopped,
                 inside ? "inside" : "at the end of", t ? "present" : "absent");
    if (t) cr_assert_gt(t->nbytes, 16, "memory_ema holds no entry");
    mm_st_free(&st);
    free(p);
}

static char *mm_ema_ini(const mm_fx_data *d, const char *name, const char *device, const char *precision) {
    // 15 micro-steps per epoch; see the test below for the step numbers
    const int steps = strcmp(device, "cuda") ? 60 : 39;
    char *train = mm_fx_fmt(
        "batch_size = 4\naccumulation_steps = %d\nlearning_rate = 2e-3\nepochs = 8\nmax_steps = %d\n"
        "log_interval = 1\nsave_interval = 1000\nseed = 7\ndevice = %s\n\n[knowledge]\nknowledge_num = 64\n"
        "knowledge_length = 6\nknowledge_dim = 8\nnum_candidates = 4\nmemory_update = ema\nema_update_freq = %d\n"
        "ema_decay = 0.5\nfreeze_ratio = 0.25\n",
        EMA_ACCUM, steps, device, EMA_FREQ);
    char *ini = mm_fx_ini_precision(d, name, "model_type = model\n" RESUME_MODEL, train, precision);
    free(train);
    return ini;
}

// The EMA rewrote the (initially empty) bank of the reference run, so the comparisons saw it.
static void mm_expect_bank_written(const mm_fx_data *d) {
    char *ref_ckpt = mm_test_path(d->dir, "ref/pretrain_32.safetensors");
    mm_safetensors w;
    cr_assert_eq(mm_st_read(&w, ref_ckpt), 0, "%s", mm_error_message());
    const mm_st_tensor *bank = mm_st_find(&w, "memory_bank");
    cr_assert(bank != NULL);
    long nonpad = 0;
    for (size_t i = 0; i < bank->nbytes / 2; i++) nonpad += ((const uint16_t *)bank->data)[i] != 0;
    cr_assert_gt(nonpad, 0, "the EMA never wrote the (initially empty) bank: the test shows nothing");
    mm_st_free(&w);
    free(ref_ckpt);
}

// The EMA run on `device` in `precision`: SIGTERM inside a window, --resume, equal to the
// uninterrupted run on the same device bit for bit, and the bank was written.
// progress.json's string `key` is `want` (NULL: absent).
static void mm_expect_progress_field(json_t *pr, const char *key, const char *want) {
    const char *got = json_string_value(json_object_get(pr, key));
    cr_expect(want ? got && !strcmp(got, want) : !json_object_get(pr, key), "progress.json %s '%s', want %s",
              key, got ? got : "(none)", want ? want : "(none)");
}

// progress.json names what the run computed on (device_prefix: "cpu", "cuda:0 ("), the matmuls'
// precision, the attention's implementation (NULL: no "attention", as on the CPU) and the
// attention and feed-forward blocks' and the head's bf16 storage ("bf16"; NULL: fp32, no field).
static void mm_expect_progress_device(const char *out, const char *device_prefix, const char *precision,
                                      const char *attention, const char *attention_storage, const char *ffn,
                                      const char *head) {
    json_t *pr = mm_progress(out);
    const char *dev = json_string_value(json_object_get(pr, "device"));
    cr_expect(dev && !strncmp(dev, device_prefix, strlen(device_prefix)), "progress.json device '%s', want %s...",
              dev ? dev : "(none)", device_prefix);
    mm_expect_progress_field(pr, "precision", precision);
    mm_expect_progress_field(pr, "attention", attention);
    mm_expect_progress_field(pr, "attention_storage", attention_storage);
    mm_expect_progress_field(pr, "ffn", ffn);
    mm_expect_progress_field(pr, "head", head);
    json_decref(pr);
}

static void mm_check_ema_stop_resume(const char *tag, const char *device, const char *precision) {
    mm_fx_data d;
    mm_resume_data(&d, tag);
    char *ini = mm_ema_ini(&d, "ema.ini", device, precision);
    mm_check_sigterm_resume(&d, NULL, ini, EMA_ACCUM, mm_expect_ema_window);
    mm_expect_bank_written(&d);
    char *out = mm_test_path(d.dir, "run");
    const int gpu = !strcmp(device, "cuda");
    // on the GPU in fp16 at head size 16, T = 31: the FlashAttention kernels (unless MM_CUDA_ATTENTION=gemm)
    const char *env = getenv("MM_CUDA_ATTENTION"), *att = env && !strcmp(env, "gemm") ? "gemm" : "flash";
    // fp16 or the CPU: no block in bf16 (test_attention_bf16.c, test_ffn_bf16.c)
    mm_expect_progress_device(out, gpu ? "cuda:0 (" : device, gpu ? precision : "fp32", gpu ? att : NULL,
                              NULL, NULL, NULL);
    free(out);
    free(ini);
    mm_fx_data_free(&d);
}

Test(resume, sigterm_inside_an_ema_window_resumes_bit_exact, .timeout = 300) {
    mm_check_ema_stop_resume("resume_ema", "cpu", "fp32");
}

// eval.json of `minimind eval` on ckpt: the first n documents of the fixture's held-out text,
// continued by new_tokens tokens.
static json_t *mm_eval_json(const mm_fx_data *d, const char *ckpt, const char *n, const char *new_tokens) {
    char *ej = mm_test_path(d->dir, "eval.json");
    const char *argv[] = {MM_MINIMIND_EXE, "eval", "--model_path",     ckpt,       "--data", d->eval_jsonl,
                          "--num_samples", n,      "--max_new_tokens", new_tokens, "--json", ej,
                          "--quiet",       NULL};
    mm_fx_run_ok(argv);
    json_t *e = mm_fx_read_json(ej);
    free(ej);
    return e;
}

// text with its first `old` replaced by `new` (malloc'd); the test fails when text has none.
static char *mm_replace_once(const char *text, const char *old, const char *new) {
    const char *at = strstr(text, old);
    cr_assert_not_null(at, "'%s' not in:\n%s", old, text);
    return mm_fx_fmt("%.*s%s%s", (int)(at - text), text, new, at + strlen(old));
}

// The EMA run of the tests above (INI) with Gumbel selection and validation every 9 micro-steps on
// 5 documents ([train] eval_interval, eval_samples; [data] eval_data_path).
static char *mm_validation_ini(const mm_fx_data *d, const char *ini) {
    char *text = mm_fx_slurp(ini), *path = mm_test_path(d->dir, "validation.ini");
    char *data = mm_fx_fmt("[data]\neval_data_path = %s\n", d->eval_jsonl);
    char *t1 = mm_replace_once(text, "[data]\n", data);
    char *t2 = mm_replace_once(t1, "seed = 7\n", "seed = 7\neval_interval = 9\neval_samples = 5\n");
    char *t3 = mm_replace_once(t2, "[knowledge]\n", "[knowledge]\nmemory_select = gumbel\n");
    mm_test_write_file(path, t3, strlen(t3));
    free(text), free(data), free(t1), free(t2), free(t3);
    return path;
}

// The EMA memory model trained twice: into DIR/plain without validation (Gumbel selection, like
// the other) and into DIR/VAL_NAME with it (mm_validation_ini, its INI in *ini), each with the
// extra --set's (NULL-terminated, at most 4). Returns the second run's stdout and stderr in *r.
static void mm_validation_pair(const mm_fx_data *d, const char *val_name, const char *const *plain_sets,
                               const char *const *val_sets, char **ini, mm_proc_result *r) {
    char *ema = mm_ema_ini(d, "ema.ini", "cpu", "fp32"), *plain = mm_test_path(d->dir, "plain"),
         *val = mm_test_path(d->dir, val_name);
    *ini = mm_validation_ini(d, ema);
    const char *sets[6] = {"knowledge.memory_select=gumbel"};
    for (int i = 0; plain_sets && plain_sets[i] && i < 4; i++) sets[i + 1] = plain_sets[i];
    mm_fx_train(ema, plain, sets, 0, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    mm_proc_result_free(r);
    mm_fx_train(*ini, val, val_sets, 0, r);
    cr_assert_eq(r->status, 0, "%s", r->err);
    free(ema), free(plain), free(val);
}

// [train] eval_interval: the validation loss sits in the rows of the multiples of eval_interval
// (optimizer-step boundaries here) and of the last step; the last equals `minimind eval`'s mean loss
// on the final checkpoint bit for bit (the same documents, the same forward, through the
// checkpoint file); the training itself — losses, gradient norms, the memory usage statistics
// (no reads of validation documents recorded, no Gumbel noise drawn), the EMA-rewritten bank and
// the weights — is the same as without validation; and a run stopped and resumed validates the
// same.
Test(validation, leaves_training_unchanged_and_equals_eval, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "validation");
    char *ini, *plain = mm_test_path(d.dir, "plain"), *val = mm_test_path(d.dir, "ref");
    mm_proc_result r;
    mm_validation_pair(&d, "ref", NULL, NULL, &ini, &r);
    cr_assert(strstr(r.out, " val_loss ") && strstr(r.out, ", validation loss "), "%s", r.out);
    cr_assert(strstr(r.err, "train: validation loss every 9 steps and at the end: 5 documents"), "%s", r.err);
    mm_proc_result_free(&r);
    mm_assert_same_metrics(plain, val);
    char *wa = mm_test_path(plain, "pretrain_32.safetensors"),
         *wb = mm_test_path(val, "pretrain_32.safetensors");
    mm_assert_same_tensors(wa, wb);  // the bank too
    char *pa = mm_test_path(plain, "metrics.jsonl"), *pb = mm_test_path(val, "metrics.jsonl");
    json_t *ra = mm_fx_read_jsonl(pa), *rb = mm_fx_read_jsonl(pb);
    const long want[] = {9, 18, 27, 36, 45, 54, 60};
    size_t k = 0;
    double last = NAN, last_se = NAN;
    for (size_t i = 0; i < json_array_size(rb); i++) {
        json_t *a = json_array_get(ra, i), *b = json_array_get(rb, i);
        static const char *const mem[] = {"memory_used_fraction", "memory_kl_uniform",
                                          "memory_entries_rewritten"};
        for (int f = 0; f < 3; f++)  // (present in every row of a memory run)
            cr_assert(json_equal(json_object_get(a, mem[f]), json_object_get(b, mem[f])),
                      "row %zu: %s differs", i, mem[f]);
        cr_assert_null(json_object_get(a, "val_loss"));
        json_t *v = json_object_get(b, "val_loss");
        if (!v) continue;
        const long step = (long)json_integer_value(json_object_get(b, "step"));
        cr_assert(k < 7 && step == want[k], "val_loss at step %ld (expected step %ld)", step,
                  k < 7 ? want[k] : -1);
        cr_assert(json_is_real(v) && isfinite(json_real_value(v)), "step %ld", step);
        last = json_real_value(v), last_se = mm_fx_num(b, "val_loss_stderr"), k++;
    }
    cr_assert_eq(k, 7, "%zu rows with val_loss", k);
    // `minimind eval` on the final checkpoint, the same 5 documents
    json_t *e = mm_eval_json(&d, wb, "5", "0");
    const double mean = mm_fx_num(json_object_get(e, "summary"), "mean_loss");
    cr_assert(memcmp(&mean, &last, sizeof mean) == 0, "val_loss %.17g at the end, eval %.17g", last, mean);
    const double se = mm_fx_num(json_object_get(e, "summary"), "loss_stderr");
    cr_assert(memcmp(&se, &last_se, sizeof se) == 0, "val_loss_stderr %.17g, eval's loss_stderr %.17g",
              last_se, se);
    json_decref(e), json_decref(ra), json_decref(rb);
    // stopped and resumed: the same rows, val_loss included
    mm_check_sigterm_resume(&d, NULL, ini, EMA_ACCUM, NULL);
    char *pr = mm_test_path(d.dir, "run/metrics.jsonl");
    json_t *x = mm_fx_read_jsonl(pb), *y = mm_fx_read_jsonl(pr);
    for (size_t i = 0; i < json_array_size(x); i++) {
        json_t *vx = json_object_get(json_array_get(x, i), "val_loss"),
               *vy = json_object_get(json_array_get(y, i), "val_loss");
        cr_assert((!vx && !vy) || json_equal(vx, vy), "row %zu: val_loss differs after the resume", i);
    }
    json_decref(x), json_decref(y);
    free(ini), free(plain), free(val), free(wa), free(wb), free(pa), free(pb), free(pr);
    mm_fx_data_free(&d);
}

// The row of step `step` in rows (NULL when none).
static json_t *mm_row_at(json_t *rows, long step) {
    for (size_t i = 0; i < json_array_size(rows); i++)
        if (json_integer_value(json_object_get(json_array_get(rows, i), "step")) == step)
            return json_array_get(rows, i);
    return NULL;
}

// eval_interval = 10 with accumulation 3 and log_interval 7: the multiples of 10 fall between
// optimizer-step boundaries, so validation happens at the boundary after each (12, 21, 30, 42,
// 51) and at the last step (60); 12, 30 and 51 are not log steps and get a row of their own,
// without memory usage fields. Every log row — its loss, gradient norm and memory usage window
// included — is the run without validation's.
Test(validation, between_boundaries_and_off_the_log_rows, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "validation_rows");
    char *ini, *plain = mm_test_path(d.dir, "plain"), *val = mm_test_path(d.dir, "val");
    const char *sp[] = {"train.log_interval=7", NULL},
               *sv[] = {"train.log_interval=7", "train.eval_interval=10", NULL};
    mm_proc_result r;
    mm_validation_pair(&d, "val", sp, sv, &ini, &r);
    mm_proc_result_free(&r);
    char *pa = mm_test_path(plain, "metrics.jsonl"), *pb = mm_test_path(val, "metrics.jsonl");
    json_t *ra = mm_fx_read_jsonl(pa), *rb = mm_fx_read_jsonl(pb);
    static const char *const same[] = {"loss",
                                       "grad_norm",
                                       "lr",
                                       "memory_used_fraction",
                                       "memory_kl_uniform",
                                       "memory_usage_entropy",
                                       "memory_entries_rewritten"};
    for (size_t i = 0; i < json_array_size(ra); i++) {
        json_t *a = json_array_get(ra, i);
        const long step = (long)json_integer_value(json_object_get(a, "step"));
        json_t *b = mm_row_at(rb, step);
        cr_assert_not_null(b, "no row at step %ld with validation", step);
        for (size_t f = 0; f < sizeof same / sizeof same[0]; f++)
            cr_assert(json_equal(json_object_get(a, same[f]), json_object_get(b, same[f])),
                      "step %ld: %s differs", step, same[f]);
    }
    const long want[] = {12, 21, 30, 42, 51, 60};
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(rb); i++) {
        json_t *b = json_array_get(rb, i);
        const long step = (long)json_integer_value(json_object_get(b, "step"));
        const int logged = mm_row_at(ra, step) != NULL;
        cr_assert(logged || json_object_get(b, "val_loss"), "step %ld: a row neither logged nor validated",
                  step);
        if (!logged)
            cr_assert_null(json_object_get(b, "memory_used_fraction"), "step %ld: a validation row", step);
        if (!json_object_get(b, "val_loss")) continue;
        cr_assert(k < 6 && step == want[k], "val_loss at step %ld (expected %ld)", step,
                  k < 6 ? want[k] : -1);
        k++;
    }
    cr_assert_eq(k, 6);
    json_decref(ra), json_decref(rb);
    free(ini), free(plain), free(val), free(pa), free(pb);
    mm_fx_data_free(&d);
}

// The device code paths (device "cpu-staged": the CPU kernels behind host_resident = 0, new
// buffers NaN): a memory model with EMA in fp16 (loss scaling through the backend's scale op),
// stopped by SIGTERM and resumed, gives the plain CPU run's rows, weights, bank, moments and EMA
// window bit for bit — the uploads, host copies at save and resume, the bank's device copy and the
// EMA update's copies are all exercised without a GPU.
Test(staged, device_paths_train_stop_resume_like_the_cpu, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "staged");
    char *cpu = mm_ema_ini(&d, "cpu.ini", "cpu", "fp16"), *staged = mm_ema_ini(&d, "staged.ini", "cpu-staged", "fp16");
    mm_check_sigterm_resume(&d, cpu, staged, EMA_ACCUM, mm_expect_ema_window);
    mm_expect_bank_written(&d);
    free(cpu), free(staged);
    mm_fx_data_free(&d);
}

// The same run on a CUDA device, when the engine has one: the CUDA kernels in the loop of the
// trainer (memory model, EMA window, fp16 loss scaling), SIGTERM then --resume equal to the
// uninterrupted device run bit for bit. In CI the device is the simulated one: CTest runs this
// test as engine.test_train_sim, linked with engine/cusim and spawning minimind_cusim. Without a
// device it skips, or fails with MM_REQUIRE_GPU=1 (scripts/gpu_check.sh).
Test(device_cuda, memory_model_train_stop_resume_bit_exact, .timeout = 900) {
    const char *why = "no CUDA device", *req = getenv("MM_REQUIRE_GPU");
    if (mm_cuda_device_count(&why) <= 0) {
        if (req && !strcmp(req, "1")) cr_assert_fail("no CUDA device: %s (MM_REQUIRE_GPU=1)", why);
        fprintf(stderr, "test_train: no CUDA device: %s — skipped (engine.test_train_sim runs it simulated)\n", why);
        cr_skip_test("no CUDA device: %s", why);
    }
    mm_check_ema_stop_resume("device_cuda", "cuda", "fp16");
}

// A short bf16 run of model_original on the CUDA device: it finishes, and progress.json records
// the FlashAttention kernels and both blocks and the head stored in bf16 (head size 16, T = 32: flash
// applies; with MM_CUDA_ATTENTION=gemm the attention block stays fp32). Skips like the test above.
Test(device_cuda, a_bf16_run_records_its_blocks_in_bf16, .timeout = 600) {
    const char *why = "no CUDA device", *req = getenv("MM_REQUIRE_GPU");
    if (mm_cuda_device_count(&why) <= 0) {
        if (req && !strcmp(req, "1")) cr_assert_fail("no CUDA device: %s (MM_REQUIRE_GPU=1)", why);
        fprintf(stderr,
                "test_train: no CUDA device: %s — skipped (engine.test_train_sim runs it simulated)\n", why);
        cr_skip_test("no CUDA device: %s", why);
    }
    mm_fx_data d;
    mm_resume_data(&d, "device_cuda_bf16");
    char *ini = mm_fx_ini_precision(&d, "bf16.ini", RESUME_MODEL,
                                    "batch_size = 4\nmax_steps = 3\nlog_interval = 1\nsave_interval = 1000\n"
                                    "seed = 7\ndevice = cuda\n",
                                    "bf16");
    char *out = mm_test_path(d.dir, "run");
    mm_reference_run(ini, out);
    const char *env = getenv("MM_CUDA_ATTENTION");
    const int gemm = env && !strcmp(env, "gemm");
    mm_expect_progress_device(out, "cuda:0 (", "bf16", gemm ? "gemm" : "flash", gemm ? NULL : "bf16", "bf16",
                              "bf16");
    free(out);
    free(ini);
    mm_fx_data_free(&d);
}

// The bytes of a file (malloc'd, *len of them).
static unsigned char *mm_file_bytes(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    unsigned char *b = malloc(*len + 1);
    cr_assert_eq(fread(b, 1, *len, fp), *len, "%s: short read", path);
    fclose(fp);
    return b;
}

// --resume of a finished run trains nothing and rewrites nothing: progress.json, metrics.jsonl and
// both checkpoint files keep their bytes (it used to save again — a new save id — and leave
// progress.json at step 0 of 0 with loss 0), exit 0 with one line saying so.
Test(resume, of_a_finished_run_changes_nothing, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "resume_done");
    char *ini = mm_resume_ini(&d, 1000), *ref = mm_test_path(d.dir, "ref");
    mm_reference_run(ini, ref);
    static const char *const files[] = {"progress.json", "metrics.jsonl", "pretrain_32.safetensors",
                                        "pretrain_32.state.safetensors"};
    unsigned char *before[4];
    size_t len[4];
    for (int i = 0; i < 4; i++) {
        char *p = mm_test_path(ref, files[i]);
        before[i] = mm_file_bytes(p, &len[i]);
        free(p);
    }
    mm_proc_result r;
    mm_fx_train(ini, ref, NULL, 1, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "train: the run already finished its "), "%s", r.out);
    mm_proc_result_free(&r);
    for (int i = 0; i < 4; i++) {
        size_t n;
        char *p = mm_test_path(ref, files[i]);
        unsigned char *after = mm_file_bytes(p, &n);
        cr_assert(n == len[i] && !memcmp(before[i], after, n), "%s changed", files[i]);
        free(p), free(after), free(before[i]);
    }
    free(ini), free(ref);
    mm_fx_data_free(&d);
}

Test(resume, sigkill_loses_at_most_save_interval, .timeout = 300) {
    // save_interval 6 with accumulation 5: checkpoints can only sit on multiples of 5, yet no
    // more than 6 steps may be lost (saving only once 6 steps have passed would save at 10, 20,
    // ... and lose up to 9: the kill after 47 rows catches that).
    const int save_interval = 6, accumulation = 5;
    mm_fx_data d;
    mm_resume_data(&d, "resume_kill");
    char *ini = mm_resume_ini_acc(&d, save_interval, accumulation);
    char *ref = mm_test_path(d.dir, "ref"), *out = mm_test_path(d.dir, "run");
    mm_reference_run(ini, ref);

    pid_t pid = mm_spawn_train(ini, out, 0);
    int st = mm_interrupt_at(pid, out, 47, SIGKILL);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "expected death by SIGKILL (0x%x)", st);
    char *metrics = mm_test_path(out, "metrics.jsonl");
    long killed = mm_last_logged_step(metrics);
    long ckpt = mm_state_step(out);
    cr_assert_geq(killed, 47);
    cr_assert_leq(killed - ckpt, save_interval,
                  "killed after step %ld, last checkpoint at step %ld (save_interval %d)", killed, ckpt,
                  save_interval);
    cr_assert_leq(ckpt, killed + accumulation);
    cr_assert_eq(ckpt % accumulation, 0, "a checkpoint must sit on an accumulation boundary (step %ld)",
                 ckpt);
    // The progress file still says "running": nobody wrote a final status.
    mm_assert_status(out, "running");

    mm_resume_to_end(ini, out, ckpt);
    mm_assert_same_metrics(ref, out);
    char *wa = mm_test_path(ref, "pretrain_32.safetensors"),
         *wb = mm_test_path(out, "pretrain_32.safetensors");
    mm_assert_same_tensors(wa, wb);
    free(wa), free(wb), free(metrics), free(ini), free(ref), free(out);
    mm_fx_data_free(&d);
}

// A save writes both files under staging names and renames the state, then the weights, into place.
// A kill between the two renames leaves the new state beside the old weights, the new weights still
// under the staging name: --resume must complete that save (and a stale staging file from a save
// that never reached its renames must be ignored).
Test(resume, kill_between_the_renames_of_a_save_is_completed, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "resume_torn");
    char *ini = mm_resume_ini(&d, 6);
    char *ref = mm_test_path(d.dir, "ref"), *out = mm_test_path(d.dir, "run");
    mm_reference_run(ini, ref);
    char *w = mm_test_path(out, "pretrain_32.safetensors"),
         *s = mm_test_path(out, "pretrain_32.state.safetensors");
    char *stage = mm_test_path(out, "pretrain_32.saving.safetensors");
    char *old_w = mm_test_path(d.dir, "old_weights"), *old_s = mm_test_path(d.dir, "old_state");

    // First pair P1 (SIGTERM), then P2 further on (resume + SIGTERM).
    int st = mm_interrupt_at(mm_spawn_train(ini, out, 0), out, 20, SIGTERM);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    long s1 = mm_state_step(out);
    mm_fx_copy_file(w, old_w);
    mm_fx_copy_file(s, old_s);
    st = mm_interrupt_at(mm_spawn_train(ini, out, 1), out, s1 + 30, SIGTERM);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    long s2 = mm_state_step(out);
    cr_assert_gt(s2, s1);

    // Case 1: the save of P2 never reached its renames: P1 in place, P2's weights staged -> resume at s1.
    char *new_w = mm_test_path(d.dir, "new_weights"), *new_s = mm_test_path(d.dir, "new_state");
    mm_fx_copy_file(w, new_w);
    mm_fx_copy_file(s, new_s);
    mm_fx_copy_file(old_w, w);
    mm_fx_copy_file(old_s, s);
    mm_fx_copy_file(new_w, stage);
    char *saved_out = mm_test_path(d.dir, "run_case1");
    {
        // run case 1 in a copy of the directory so case 2 starts from the same files
        mkdir(saved_out, 0755);
        static const char *const files[] = {"pretrain_32.safetensors", "pretrain_32.state.safetensors",
                                            "pretrain_32.saving.safetensors", "metrics.jsonl"};
        for (int i = 0; i < 4; i++) {
            char *a = mm_test_path(out, files[i]), *b = mm_test_path(saved_out, files[i]);
            mm_fx_copy_file(a, b);
            free(a), free(b);
        }
        mm_resume_to_end(ini, saved_out, s1);
        mm_assert_same_metrics(ref, saved_out);
        char *c1 = mm_test_path(saved_out, "pretrain_32.saving.safetensors");
        cr_assert_neq(access(c1, F_OK), 0, "the stale staging file was left behind");
        free(c1);
    }

    // Case 2: killed between the renames: P2's state in place, P1's weights, P2's weights staged.
    mm_fx_copy_file(new_s, s);
    mm_fx_copy_file(old_w, w);
    mm_fx_copy_file(new_w, stage);
    mm_resume_to_end(ini, out, s2);
    cr_assert_neq(access(stage, F_OK), 0, "the staged weights were not moved into place");
    mm_assert_same_metrics(ref, out);
    char *rw = mm_test_path(ref, "pretrain_32.safetensors");
    mm_assert_same_tensors(rw, w);
    free(rw), free(saved_out), free(new_w), free(new_s), free(w), free(s), free(stage), free(old_w),
        free(old_s);
    free(ini), free(ref), free(out);
    mm_fx_data_free(&d);
}

// ---- divergence ----

// Sets row `tok` of the tied embedding (tok_embeddings.weight and its copy output.weight) in the
// weights file `path` to `value`, in place.
static void mm_poke_embedding_row(const char *path, int tok, float value) {
    static const char *const names[] = {"tok_embeddings.weight", "output.weight"};
    long off[2];
    int C = 0;
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, path), 0, "%s", mm_error_message());
    for (int i = 0; i < 2; i++) {
        const mm_st_tensor *t = mm_st_find(&st, names[i]);
        cr_assert(t && t->ndim == 2, "no %s in %s", names[i], path);
        C = (int)t->shape[1];
        off[i] = (long)((const char *)t->data - (const char *)st.file_buf) + (long)tok * C * 4;
    }
    mm_st_free(&st);
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(fseek(f, off[i], SEEK_SET), 0);
        for (int c = 0; c < C; c++) cr_assert_eq(fwrite(&value, 4, 1, f), 1);
    }
    cr_assert_eq(fclose(f), 0);
}

// fp16 as torch.cuda.amp.GradScaler: a forward that overflows (an embedding row of 1e38 edited
// into the checkpoint: every logit row overflows through the tied head) skips its optimizer steps
// and halves the scale each time instead of stopping at once; the weights stay as loaded; the run
// stops (exit 4) when the scale collapses, naming the loss scale.
Test(train, fp16_overflowing_loss_skips_steps_until_the_scale_collapses, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "overflow");
    char *ini = mm_resume_ini(&d, 8);
    char *out = mm_test_path(d.dir, "run"), *w = mm_test_path(out, "pretrain_32.safetensors");
    // a good start: fp16 training stopped (SIGTERM) after 10 rows, checkpoint at a boundary
    char *fp16_ini = mm_fx_fmt("%s.fp16.ini", ini);
    char *text = mm_fx_slurp(ini);
    char *at = strstr(text, "mixed_precision = fp32");
    cr_assert(at, "no mixed_precision line in %s", ini);
    memcpy(at + strlen("mixed_precision = "), "fp16", 4);
    mm_test_write_file(fp16_ini, text, strlen(text));
    int st = mm_interrupt_at(mm_spawn_train(fp16_ini, out, 0), out, 10, SIGTERM);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "SIGTERM: exit status 0x%x", st);
    const long start = mm_state_step(out);
    mm_poke_embedding_row(w, 7, 1e38f);
    mm_safetensors before;
    cr_assert_eq(mm_st_read(&before, w), 0, "%s", mm_error_message());

    mm_proc_result r;
    mm_fx_train(fp16_ini, out, NULL, 1, &r);
    cr_assert_eq(r.status, 4, "expected exit 4 once the scale collapses, got %d:\n%s", r.status, r.err);
    cr_assert(strstr(r.err, "loss scale fell to"), "%s", r.err);
    cr_assert_null(strstr(r.err, "the loss is"), "stopped on the first non-finite loss:\n%s", r.err);
    // every optimizer step after the resume was skipped: about 30 halvings from 65536 (2 micro-steps each)
    char *metrics = mm_test_path(out, "metrics.jsonl");
    long last = mm_last_logged_step(metrics);
    cr_assert_geq(last, start + 2 * 29, "stopped after step %ld: fewer skipped steps than halvings", last);
    mm_safetensors after;
    char *ckpt_state = mm_test_path(out, "pretrain_32.state.safetensors");
    cr_assert_gt(mm_state_step(out), start, "no checkpoint was saved during the skipped steps");
    cr_assert_eq(mm_st_read(&after, w), 0, "%s", mm_error_message());
    for (int i = 0; i < before.n_tensors; i++) {
        const mm_st_tensor *a = &before.tensors[i], *b = mm_st_find(&after, a->name);
        cr_assert(b && b->nbytes == a->nbytes && !memcmp(a->data, b->data, a->nbytes),
                  "%s changed although every step was skipped", a->name);
    }
    mm_st_free(&before), mm_st_free(&after);
    mm_proc_result_free(&r);
    free(ckpt_state), free(metrics), free(w), free(out), free(ini), free(fp16_ini), free(text);
    mm_fx_data_free(&d);
}

Test(train, nonfinite_loss_stops_with_status_4_and_keeps_a_good_checkpoint, .timeout = 300) {
    mm_fx_data d;
    mm_resume_data(&d, "nan");
    char *ini = mm_resume_ini(&d, 4);
    char *out = mm_test_path(d.dir, "run");
    // lr 10 with weight decay 10: every AdamW step multiplies the weights by (1 - 100): the run
    // diverges within a few steps.
    const char *sets[] = {"train.learning_rate=10", "train.weight_decay=10", NULL};
    mm_proc_result r;
    mm_fx_train(ini, out, sets, 0, &r);
    cr_assert_eq(r.status, 4, "expected exit status 4, got %d:\n%s", r.status, r.err);
    cr_assert(strstr(r.err, "minimind: error: step "), "%s", r.err);
    cr_assert(strstr(r.err, "NaN") || strstr(r.err, "Inf") || strstr(r.err, "non-finite"), "%s", r.err);
    long bad_step = atol(strstr(r.err, "error: step ") + strlen("error: step "));
    cr_assert_gt(bad_step, 4, "diverged too early for the test to be meaningful:\n%s", r.err);
    json_t *pr = mm_progress(out);
    cr_assert_str_eq(json_string_value(json_object_get(pr, "status")), "failed");
    cr_assert(strstr(json_string_value(json_object_get(pr, "message")), "step "));
    json_decref(pr);
    mm_proc_result_free(&r);

    // The last checkpoint: saved before the failing step, and it holds finite weights that eval
    // loads and scores with a finite loss.
    long ckpt = mm_state_step(out);
    cr_assert_lt(ckpt, bad_step);
    cr_assert_gt(ckpt, 0);
    char *w = mm_test_path(out, "pretrain_32.safetensors");
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, w), 0, "%s", mm_error_message());
    for (int i = 0; i < st.n_tensors; i++) {
        const float *x = st.tensors[i].data;
        for (size_t k = 0; k < st.tensors[i].nbytes / 4; k++)
            cr_assert(isfinite(x[k]), "checkpoint tensor %s holds a non-finite value", st.tensors[i].name);
    }
    mm_st_free(&st);
    json_t *e = mm_eval_json(&d, w, "3", "2");
    cr_assert(isfinite(mm_fx_num(json_object_get(e, "summary"), "mean_loss")));
    json_decref(e);
    free(w), free(ini), free(out);
    mm_fx_data_free(&d);
}

// ---- bad configurations ----

static void mm_expect_error(const char *ini, const char *out, const char *const *sets, int resume, int status,
                            const char *needle1, const char *needle2) {
    mm_proc_result r;
    mm_fx_train(ini, out, sets, resume, &r);
    cr_assert_eq(r.status, status, "expected exit %d, got %d:\n%s", status, r.status, r.err);
    cr_assert(strstr(r.err, "minimind: error: "), "%s", r.err);
    cr_assert(strstr(r.err, needle1), "expected '%s' in:\n%s", needle1, r.err);
    if (needle2) cr_assert(strstr(r.err, needle2), "expected '%s' in:\n%s", needle2, r.err);
    mm_proc_result_free(&r);
}

Test(config, bad_configuration_names_file_and_line, .timeout = 120) {
    mm_fx_data d;
    mm_resume_data(&d, "badcfg");
    char *out = mm_test_path(d.dir, "run");
    char *good = mm_resume_ini(&d, 6);
    char *text = mm_fx_slurp(good);
    // Line numbers: [model] is line 1, its keys lines 2-7, blank 8, [data] 9...
    struct {
        const char *name, *insert_after, *line, *needle;
        int lineno;
    } cases[] = {
        {"unknown_key.ini", "dim = 32\n", "colour = blue\n", "unknown key 'colour'", 3},
        {"bad_number.ini", "dim = 32\n", "n_layers = 2x\n", "'2x' is not an integer", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = strstr(text, cases[i].insert_after);
        cr_assert(p);
        size_t head = (size_t)(p - text) + strlen(cases[i].insert_after);
        char *body = mm_fx_fmt("%.*s%s%s", (int)head, text, cases[i].line, text + head);
        if (strstr(cases[i].line, "n_layers")) {  // remove the original n_layers line (set twice otherwise)
            char *dup = strstr(body + head + strlen(cases[i].line), "n_layers = 2\n");
            cr_assert(dup);
            memmove(dup, dup + strlen("n_layers = 2\n"), strlen(dup + strlen("n_layers = 2\n")) + 1);
        }
        char *path = mm_test_path(d.dir, cases[i].name);
        mm_test_write_file(path, body, strlen(body));
        char *where = mm_fx_fmt("minimind: error: %s:%d: ", path, cases[i].lineno);
        mm_expect_error(path, out, NULL, 0, 1, where, cases[i].needle);
        free(where), free(path), free(body);
    }
    // A data file that does not exist: the error names the INI line that sets it.
    char *missing = mm_test_path(d.dir, "nothere.tok");
    char *body =
        mm_fx_fmt("[model]\n%s\n[data]\ndata_path = %s\ntokenizer_path = %s\n", RESUME_MODEL, missing, d.tok);
    char *path = mm_test_path(d.dir, "missing.ini");
    mm_test_write_file(path, body, strlen(body));
    char *where = mm_fx_fmt("minimind: error: %s:10: ", path);
    mm_expect_error(path, out, NULL, 0, 1, where, "nothere.tok");
    free(where), free(path), free(body), free(missing);
    // No data_path at all.
    body = mm_fx_fmt("[model]\n%s", RESUME_MODEL);
    path = mm_test_path(d.dir, "nodata.ini");
    mm_test_write_file(path, body, strlen(body));
    mm_expect_error(path, out, NULL, 0, 1, "data_path", NULL);
    free(path), free(body);
    // --set: unknown key, bad number, unknown section.
    const char *s1[] = {"train.colour=blue", NULL};
    mm_expect_error(good, out, s1, 0, 1, "--set train.colour=blue", "colour");
    const char *s2[] = {"train.batch_size=4x", NULL};
    mm_expect_error(good, out, s2, 0, 1, "--set train.batch_size=4x", "not an integer");
    const char *s3[] = {"nosuch.dim=4", NULL};
    mm_expect_error(good, out, s3, 0, 1, "--set nosuch.dim=4", "nosuch");
    // validation during training without the documents to validate on
    const char *s4[] = {"train.eval_interval=9", NULL};
    mm_expect_error(good, out, s4, 0, 1,
                    "[train] eval_interval = 9 needs key 'eval_data_path' in section [data]", NULL);
    // Missing config file; missing required flags (usage error, exit 2).
    char *nofile = mm_test_path(d.dir, "nofile.ini");
    mm_expect_error(nofile, out, NULL, 0, 1, "nofile.ini", NULL);
    const char *argv[] = {MM_MINIMIND_EXE, "train", "--config", good, NULL};
    mm_proc_result r;
    mm_fx_run(argv, &r);
    cr_assert_eq(r.status, 2, "%s", r.err);
    cr_assert(strstr(r.err, "minimind: error: "), "%s", r.err);
    mm_proc_result_free(&r);
    // --resume with nothing to resume from.
    mm_expect_error(good, out, NULL, 1, 1, "no checkpoint to resume from", NULL);
    free(nofile), free(text), free(good), free(out);
    mm_fx_data_free(&d);
}

// ---- corrupt checkpoints given to --resume (eval's side is in test_eval.c) ----

Test(config, corrupt_checkpoint_on_resume, .timeout = 200) {
    mm_fx_data d;
    mm_resume_data(&d, "corrupt");
    char *ini = mm_resume_ini(&d, 6);
    char *out = mm_test_path(d.dir, "run");
    const char *sets[] = {"train.max_steps=12", NULL};
    mm_proc_result r;
    mm_fx_train(ini, out, sets, 0, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    char *w = mm_test_path(out, "pretrain_32.safetensors"),
         *s = mm_test_path(out, "pretrain_32.state.safetensors");
    char *good_w = mm_test_path(d.dir, "good_w"), *good_s = mm_test_path(d.dir, "good_s");
    mm_fx_copy_file(w, good_w);
    mm_fx_copy_file(s, good_s);
    char *bytes = mm_fx_slurp(good_w);
    struct stat sb;
    stat(good_w, &sb);

    // Truncated weights.
    mm_test_write_file(w, bytes, (size_t)sb.st_size / 2);
    mm_expect_error(ini, out, sets, 1, 1, w, NULL);
    // Garbage header: a huge header length, then a header that is not JSON.
    char garbage[64] = {0};
    memset(garbage, 0xff, 8);
    mm_test_write_file(w, garbage, sizeof garbage);
    mm_expect_error(ini, out, sets, 1, 1, w, NULL);
    char notjson[40] = {24, 0, 0, 0, 0, 0, 0, 0};
    memcpy(notjson + 8, "this is not json at all!", 24);
    mm_test_write_file(w, notjson, 32);
    mm_expect_error(ini, out, sets, 1, 1, w, NULL);
    // Wrong tensor shape: the message names the tensor.
    mm_fx_write_reshaped(good_w, w, "layers.1.attention.wk.weight");
    mm_expect_error(ini, out, sets, 1, 1, w, "layers.1.attention.wk.weight");
    // Good weights, truncated resume state.
    mm_fx_copy_file(good_w, w);
    char *sbytes = mm_fx_slurp(good_s);
    stat(good_s, &sb);
    mm_test_write_file(s, sbytes, (size_t)sb.st_size - 100);
    mm_expect_error(ini, out, sets, 1, 1, s, NULL);
    // A resume state from another save (a second run of the same configuration: other save id).
    char *other = mm_test_path(d.dir, "other");
    mm_fx_train(ini, other, sets, 0, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    char *other_s = mm_test_path(other, "pretrain_32.state.safetensors");
    mm_fx_copy_file(other_s, s);
    mm_expect_error(ini, out, sets, 1, 1, s, "different save");
    // And the pair restored: resuming works (the run is already complete: nothing to do).
    mm_fx_copy_file(good_s, s);
    mm_fx_train(ini, out, sets, 1, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    free(other_s), free(other);
    free(sbytes), free(bytes), free(good_w), free(good_s), free(w), free(s), free(ini), free(out);
    mm_fx_data_free(&d);
}

// ---- metrics.jsonl ----

static double mm_expected_lr(long t, long total, double lr, long warmup) {
    double v = lr / 10.0 + 0.5 * lr * (1.0 + cos(M_PI * (double)t / (double)total));
    if (warmup > 0 && t < warmup) v *= (double)(t + 1) / (double)warmup;
    return v;
}

Test(metrics, rows_have_every_field_and_the_cosine_schedule, .timeout = 200) {
    mm_fx_data d;
    mm_resume_data(&d, "metrics");
    char *ini = mm_resume_ini(&d, 1000);
    for (int warm = 0; warm < 2; warm++) {
        char *out = mm_test_path(d.dir, warm ? "warm" : "plain");
        const char *sets[] = {"train.max_steps=40", "train.log_interval=3", "train.learning_rate=7e-4",
                              warm ? "train.warmup_iters=5" : NULL, NULL};
        mm_proc_result r;
        mm_fx_train(ini, out, sets, 0, &r);
        cr_assert_eq(r.status, 0, "%s", r.err);
        mm_proc_result_free(&r);
        char *mp = mm_test_path(out, "metrics.jsonl");
        json_t *rows = mm_fx_read_jsonl(mp);
        // Logged: step 1, every 3rd step, and the last one.
        size_t want_rows = 1 + 40 / 3 + 1;
        cr_assert_eq(json_array_size(rows), want_rows);
        static const char *const fields[] = {"step",      "total_steps",  "epoch",     "loss", "lr",
                                             "grad_norm", "tokens_per_s", "elapsed_s", "eta_s"};
        double prev_elapsed = -1;
        for (size_t i = 0; i < json_array_size(rows); i++) {
            json_t *row = json_array_get(rows, i);
            for (int f = 0; f < 9; f++)
                cr_assert(json_is_number(json_object_get(row, fields[f])), "row %zu lacks numeric '%s'", i,
                          fields[f]);
            long step = (long)json_integer_value(json_object_get(row, "step"));
            long expect_step = i == 0 ? 1 : (i == want_rows - 1 ? 40 : (long)(3 * i));
            cr_assert_eq(step, expect_step);
            cr_assert_eq(json_integer_value(json_object_get(row, "total_steps")), 40);
            cr_assert_eq(json_integer_value(json_object_get(row, "epoch")), (step - 1) / 15, "step %ld",
                         step);
            double lr = mm_fx_num(row, "lr");
            double want = mm_expected_lr(step - 1, 40, (double)(float)7e-4, warm ? 5 : 0);
            cr_assert(fabs(lr - want) <= 1e-6 * want, "step %ld: lr %.9g, schedule says %.9g", step, lr,
                      want);
            double loss = mm_fx_num(row, "loss");
            cr_assert(loss > 0 && loss < 10, "loss %g", loss);
            cr_assert_geq(mm_fx_num(row, "grad_norm"), 0);
            cr_assert_gt(mm_fx_num(row, "tokens_per_s"), 0);
            double el = mm_fx_num(row, "elapsed_s");
            cr_assert_geq(el, prev_elapsed);
            prev_elapsed = el;
            cr_assert_geq(mm_fx_num(row, "eta_s"), 0);
        }
        // Row 0 is step 1: before any optimizer step, grad_norm is 0; later rows have a norm.
        cr_assert_gt(mm_fx_num(json_array_get(rows, 2), "grad_norm"), 0);
        cr_assert_eq(mm_fx_num(json_array_get(rows, want_rows - 1), "eta_s"), 0);
        // progress.json: the last row plus the status.
        json_t *pr = mm_progress(out);
        cr_assert_str_eq(json_string_value(json_object_get(pr, "status")), "finished");
        cr_assert_eq(json_integer_value(json_object_get(pr, "step")), 40);
        double a = mm_fx_num(pr, "loss"), b = mm_fx_num(json_array_get(rows, want_rows - 1), "loss");
        cr_assert(memcmp(&a, &b, sizeof a) == 0);
        // config.ini: the resolved configuration, --set values included.
        char *cp = mm_test_path(out, "config.ini");
        char *cfg = mm_fx_slurp(cp);
        cr_assert(strstr(cfg, "max_steps = 40"), "%s", cfg);
        cr_assert(strstr(cfg, "hidden_dim = "), "%s", cfg);
        free(cfg), free(cp);
        json_decref(pr);
        json_decref(rows);
        free(mp), free(out);
    }
    free(ini);
    mm_fx_data_free(&d);
}

// ---- learning ----

// Unigram entropy (nats) of the training targets: Y = ids[1 .. min(len, L) - 1] of each document
// (what the dataloader feeds, padding excluded).
static double mm_unigram_entropy(const char *tokfile, int L, long *n_targets) {
    mm_tokfile tf;
    cr_assert_eq(mm_tokfile_open(&tf, tokfile), 0, "%s", mm_error_message());
    double *count = calloc(tf.h.vocab_size, sizeof *count);
    double total = 0;
    for (uint64_t d = 0; d < tf.h.n_docs; d++) {
        size_t len;
        const uint16_t *ids = mm_tokfile_doc(&tf, d, &len);
        if (len > (size_t)L) len = (size_t)L;
        for (size_t i = 1; i < len; i++)
            if (ids[i] != 0) {
                count[ids[i]] += 1;
                total += 1;
            }
    }
    double h = 0;
    for (uint32_t v = 0; v < tf.h.vocab_size; v++)
        if (count[v] > 0) h -= count[v] / total * log(count[v] / total);
    *n_targets = (long)total;
    free(count);
    mm_tokfile_close(&tf);
    return h;
}

Test(learning, loss_falls_well_below_the_unigram_entropy, .timeout = 400) {
    mm_fx_data d;
    mm_fx_data_make(&d, "learn", 2400, 0, 1024, 64);
    long n;
    double H = mm_unigram_entropy(d.tokfile, 64, &n);
    cr_assert(H > 4.0 && H < log(1024.0), "unigram entropy %g", H);
    int steps = 150;
    char *train = mm_fx_fmt(
        "batch_size = 16\naccumulation_steps = 1\nlearning_rate = 4e-3\nmax_steps = %d\n"
        "log_interval = 10\nsave_interval = 100000\n",
        steps);
    char *ini = mm_fx_ini(
        &d, "learn.ini",
        "dim = 64\nn_layers = 2\nn_heads = 4\nn_kv_heads = 2\nvocab_size = 1024\nmax_seq_len = 64\n", train);
    char *out = mm_test_path(d.dir, "run");
    mm_proc_result r;
    mm_fx_train(ini, out, NULL, 0, &r);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    char *mp = mm_test_path(out, "metrics.jsonl");
    json_t *rows = mm_fx_read_jsonl(mp);
    size_t nr = json_array_size(rows);
    cr_assert_geq(nr, 6);
    double first = mm_fx_num(json_array_get(rows, 0), "loss"), last = 0;
    for (size_t i = nr - 5; i < nr; i++) last += mm_fx_num(json_array_get(rows, i), "loss") / 5;
    fprintf(stderr,
            "learning: unigram entropy H = %.4f nats over %ld targets; loss %.4f at step 1, mean of the "
            "last 5 logged losses %.4f after %d steps (%.2f H)\n",
            H, n, first, last, steps, last / H);
    cr_assert(first > 0.9 * log(1024.0), "the first loss %g is not near ln(V): is the model initialised?",
              first);
    cr_assert_lt(last, 0.75 * H, "final loss %.4f is not well below the unigram entropy %.4f", last, H);
    json_decref(rows);
    free(mp), free(out), free(ini), free(train);
    mm_fx_data_free(&d);
}

// ---- fp16 dynamic loss scaling (minimind/loss_scale.h) on the CPU ----
// The CPU computes in fp32 under every mixed_precision, and fp16 there runs the trainer's loss
// scaling: the backward starts from dloss * 2^16 and the gradients are unscaled before clipping.
// The scale is a power of two, so the losses and gradient norms equal the fp32 run's (to
// rounding; in practice bit for bit). The scale doubles after 2000 good optimizer steps; a resume
// across that point must restore the scale and the count of good steps exactly.

#define FP16_STEPS 2100  // 140 epochs of 15 batches, accumulation 1: the scale grows at step 2000

static char *mm_fp16_ini(const mm_fx_data *d, const char *precision) {
    return mm_fx_ini_precision(d, !strcmp(precision, "fp16") ? "fp16.ini" : "fp32.ini", RESUME_MODEL,
                               "batch_size = 4\naccumulation_steps = 1\nlearning_rate = 2e-3\nepochs = 140\n"
                               "log_interval = 100\nsave_interval = 50\nseed = 7\n",
                               precision);
}

static json_t *mm_rows(const char *out) {
    char *p = mm_test_path(out, "metrics.jsonl");
    json_t *rows = mm_fx_read_jsonl(p);
    free(p);
    return rows;
}

Test(fp16, loss_scaling_matches_fp32_grows_at_2000_and_resumes_exactly, .timeout = 600) {
    mm_fx_data d;
    mm_resume_data(&d, "fp16");
    char *ini16 = mm_fp16_ini(&d, "fp16"), *ini32 = mm_fp16_ini(&d, "fp32");
    char *ref = mm_test_path(d.dir, "ref16"), *r32 = mm_test_path(d.dir, "ref32"), *out = mm_test_path(d.dir, "run");
    mm_reference_run(ini16, ref);
    mm_reference_run(ini32, r32);
    json_t *a = mm_rows(ref), *b = mm_rows(r32);
    cr_assert_eq(json_array_size(a), json_array_size(b));
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(a, json_array_size(a) - 1), "step")), FP16_STEPS);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *ra = json_array_get(a, i), *rb = json_array_get(b, i);
        long step = (long)json_integer_value(json_object_get(ra, "step"));
        double la = mm_fx_num(ra, "loss"), lb = mm_fx_num(rb, "loss");
        double ga = mm_fx_num(ra, "grad_norm"), gb = mm_fx_num(rb, "grad_norm");
        cr_expect(fabs(la - lb) <= 1e-6 * fabs(lb), "step %ld: loss fp16 %.9g vs fp32 %.9g", step, la, lb);
        cr_expect(fabs(ga - gb) <= 1e-6 * fabs(gb), "step %ld: grad_norm fp16 %.9g vs fp32 %.9g", step, ga, gb);
        cr_expect(json_object_get(rb, "loss_scale") == NULL, "an fp32 row has loss_scale");
        double want = step >= 2000 ? 131072.0 : 65536.0;  // the scale after this step's update
        cr_expect_eq(mm_fx_num(ra, "loss_scale"), want, "step %ld: loss_scale %g, expected %g", step,
                     mm_fx_num(ra, "loss_scale"), want);
    }
    // The final state: scale 2^17, 100 good steps since it grew.
    char *sp = mm_test_path(ref, "pretrain_32.state.safetensors");
    json_t *pos = mm_state_position(sp);
    cr_expect_eq(mm_fx_num(pos, "loss_scale"), 131072.0);
    cr_expect_eq(mm_fx_num(pos, "loss_scale_good_steps"), FP16_STEPS - 2000);
    json_decref(pos);

    // SIGTERM before step 2000, resume past it: the rows (loss_scale included) are the reference's.
    pid_t pid = mm_spawn_train(ini16, out, 0);
    int st = mm_interrupt_at(pid, out, 8, SIGTERM);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "SIGTERM: expected exit status 3, got 0x%x", st);
    long stopped = mm_state_step(out);
    cr_assert(stopped > 600 && stopped < 2000, "stopped at step %ld", stopped);
    char *sp2 = mm_test_path(out, "pretrain_32.state.safetensors");
    pos = mm_state_position(sp2);
    cr_expect_eq(mm_fx_num(pos, "loss_scale"), 65536.0);
    cr_expect_eq(mm_fx_num(pos, "loss_scale_good_steps"), stopped);
    json_decref(pos);
    mm_resume_to_end(ini16, out, stopped);
    // (the resumed run also logs its first step, which the reference did not)
    json_t *c = mm_rows(out);
    size_t j = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *ra = json_array_get(a, i);
        json_int_t step = json_integer_value(json_object_get(ra, "step"));
        while (j < json_array_size(c) && json_integer_value(json_object_get(json_array_get(c, j), "step")) < step) j++;
        cr_assert(j < json_array_size(c), "step %lld missing after the resume", (long long)step);
        json_t *rc = json_array_get(c, j);
        cr_assert_eq(json_integer_value(json_object_get(rc, "step")), step);
        static const char *const exact[] = {"loss", "lr", "grad_norm", "loss_scale"};
        for (int k = 0; k < 4; k++) {
            double x = mm_fx_num(ra, exact[k]), y = mm_fx_num(rc, exact[k]);
            cr_expect(memcmp(&x, &y, sizeof x) == 0, "step %lld: %s %.17g (uninterrupted) vs %.17g (resumed)",
                      (long long)step, exact[k], x, y);
        }
    }
    json_decref(a), json_decref(b), json_decref(c);
    free(sp), free(sp2), free(ini16), free(ini32), free(ref), free(r32), free(out);
    mm_fx_data_free(&d);
}

// The final message names a file whose name is not UTF-8: progress.json keeps it, the byte as
// U+FFFD (json_string refused it, and the message went missing).
Test(train, progress_message_that_is_not_utf8_is_kept) {
    char *dir = mm_test_tmpdir("progmsg"), *progress = mm_test_path(dir, "progress.json");
    mm_metrics_log log = {0};
    cr_assert_eq(mm_metrics_open(&log, dir, -1), 0, "%s", mm_error_message());
    mm_metrics_row row = {0};
    row.step = 3;
    cr_assert_eq(mm_metrics_finish(&log, &row, "failed", "data/caf\xe9.tok: truncated"), 0, "%s",
                 mm_error_message());
    mm_metrics_close(&log);
    json_t *j = json_load_file(progress, 0, NULL);
    cr_assert_not_null(j, "progress.json does not parse");
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "failed");
    const char *msg = json_string_value(json_object_get(j, "message"));
    cr_assert(msg && !strcmp(msg, "data/caf\xef\xbf\xbd.tok: truncated"), "message: %s",
              msg ? msg : "(missing)");
    json_decref(j);
    mm_test_rmtree(dir);
    free(dir), free(progress);
}
