// The whole workflow end to end with the REAL engine (`minimind`, MM_MINIMIND_EXE) on temp git
// repositories, with records edited by hand (CRLF lines, extra prose, a marker look-alike in a
// code fence): init -> demo data, tokenizer, token file -> new -> fill -> check (pre-run gates
// pass, post-run gates fail) -> run -> every output file, the machine regions filled from them
// (checked against the engine's own files), every human byte unchanged -> report twice
// (identical) -> analysis -> check passes -> commit (checked with the real `git log`) -> new
// --from, one key changed, run -> diff shows exactly that key. Also: stop then resume with the
// real engine, a SIGKILLed real training shows as failed with the log tail in the record, the
// evaluation flags the supervisor passes are accepted by the real `minimind eval`, and the key
// table expt checks configurations against equals the keys the real engine resolves.
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "expt_fixture.h"
#include "minimind/device.h"
#include "inifile.h"
#include "proc.h"
#include "runconfig.h"
#include "runlock.h"

// ---------------------------------------------------------------------------------------------
// Helpers

// Runs `minimind ARGS...` (NULL-terminated) in dir; it must succeed.
static void engine_ok(const char *dir, ...) {
    const char *argv[32] = {"/usr/bin/env", "-C", dir, MM_MINIMIND_EXE};
    int n = 4;
    va_list ap;
    va_start(ap, dir);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL && n < 31;) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    mm_proc_result r = fx_run(argv);
    cr_assert_eq(r.status, 0, "minimind %s failed (%d): %s%s", argv[4], r.status, r.out, r.err);
    mm_proc_result_free(&r);
}

// A repository set up for expt with the demo corpus prepared by the real engine under demo/
// (ignored by git, as a real project keeps its data out of git). No commits yet.
static char *workflow_repo(const char *tag) {
    char *dir = fx_repo(tag);
    fx_expt_ok(dir, "init", NULL, NULL, NULL);
    char ini[1024];
    snprintf(ini, sizeof ini, "[engine]\nminimind = %s\n", MM_MINIMIND_EXE);
    fx_write(dir, "expt.ini", ini);
    fx_write(dir, ".gitignore", "demo/\n");
    engine_ok(dir, "demo-data", "--out", "demo/data", "--seed", "7", "--facts", "300", NULL);
    engine_ok(dir, "tokenizer", "train", "--data", "demo/data/pretrain.jsonl", "--out", "demo/tok",
              "--vocab-size", "512", "--threads", "1", NULL);
    engine_ok(dir, "prep", "pretrain", "--tokenizer", "demo/tok", "--data", "demo/data/pretrain.jsonl",
              "--out", "demo/pretrain.tok", "--max-seq-len", "64", "--threads", "1", NULL);
    return dir;
}

// A tiny model that trains in well under a second per 40 steps on one core.
static void write_config(const char *dir, const char *version, const char *train_extra,
                         const char *eval_extra) {
    char rel[128], ini[2048];
    snprintf(rel, sizeof rel, "run_file/experiment_%s.ini", version);
    snprintf(ini, sizeof ini,
             "; written by the AI for experiment %s\n"
             "[model]\nmodel_type = model_original\ndim = 32\nn_layers = 1\nn_heads = 4\nn_kv_heads = 2\n"
             "vocab_size = 512\nmax_seq_len = 64\n\n"
             "[data]\ndata_path = demo/pretrain.tok\ntokenizer_path = demo/tok\neval_data_path = "
             "demo/data/eval.jsonl\n\n"
             "[train]\nbatch_size = 4\naccumulation_steps = 1\nlearning_rate = 3e-3\nthreads = 1\n%s\n"
             "[eval]\nnum_samples = 3\nprompt_tokens = 8\nmax_new_tokens = 8\n%s",
             version, train_extra, eval_extra);
    fx_write(dir, rel, ini);
}

// Replaces the first line of `text` that starts with `prefix` (the whole line, not its ending)
// by `with`. The edit a human makes in an editor.
static char *replace_line(char *text, const char *prefix, const char *with) {
    char *at = strstr(text, prefix);
    cr_assert_not_null(at, "no line starting with '%s'", prefix);
    size_t line_len = strcspn(at, "\n");
    size_t n = strlen(text) - line_len + strlen(with) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, with, at + line_len);
    free(text);
    return out;
}

static char *record_rel(const char *version) {
    static char rel[128];
    snprintf(rel, sizeof rel, "experiment/experiment_%s.md", version);
    return rel;
}

// The human and the AI fill their pre-run fields by editing the file: some lines end in CRLF,
// there is extra prose and a code fence holding a marker look-alike.
static void fill_prerun_fields(const char *dir, const char *version, const char *goal) {
    char *t = fx_read(dir, record_rel(version), NULL);
    char goal_text[512];
    snprintf(goal_text, sizeof goal_text, "%s\r\nMore context on a CRLF line.\r", goal);
    t = replace_line(t, "[人类填写] 一句话", goal_text);
    t = replace_line(t, "[人类填写] 预期的因果关系",
                     "A tiny baseline still learns: the loss falls because the corpus repeats its facts.\n\n"
                     "Extra prose the human added, with a fence:\n\n```\n<!-- expt:notes:begin -->\n```");
    t = replace_line(t, "[人类填写] 可检验的预期", "The final loss is below the first logged loss.\r");
    t = replace_line(t, "[AI填写] 问题分析", "Start with the smallest model that runs in seconds.");
    if (strstr(t, "[人类填写] 基于哪个实验")) t = replace_line(t, "[人类填写] 基于哪个实验", "无");
    fx_write(dir, record_rel(version), t);
    free(t);
}

static void fill_analysis(const char *dir, const char *version) {
    char *t = fx_read(dir, record_rel(version), NULL);
    t = replace_line(t, "[AI填写] 对照假设", "The loss fell over the run; see the table above.\r");
    t = replace_line(t, "[AI填写] 假设是否成立", "The hypothesis holds for this tiny model.");
    t = replace_line(t, "[AI填写] 建议的下一个实验", "1.1.0: double the learning rate.");
    fx_write(dir, record_rel(version), t);
    free(t);
}

// The record without the bytes between its (real) marker pairs: equal to the record as it was
// before the run, when its regions were empty.
static char *strip_regions(const char *text) {
    static const char *const names[] = {"git", "config", "execution", "training", "evaluation", NULL};
    char *s = strdup(text);
    for (int i = 0; names[i]; i++) {
        char b[64], e[64];
        snprintf(b, sizeof b, "\n<!-- expt:%s:begin -->\n", names[i]);
        snprintf(e, sizeof e, "\n<!-- expt:%s:end -->\n", names[i]);
        char *pb = strstr(s, b);
        cr_assert_not_null(pb, "region %s", names[i]);
        char *content = pb + strlen(b);
        char *pe = strstr(pb, e);
        cr_assert_not_null(pe, "end of region %s", names[i]);
        memmove(content, pe + 1, strlen(pe + 1) + 1);  // keep the end marker line
    }
    return s;
}

// The text between the markers of a region (malloc'd).
static char *region(const char *text, const char *name) {
    char b[64], e[64];
    snprintf(b, sizeof b, "<!-- expt:%s:begin -->\n", name);
    snprintf(e, sizeof e, "<!-- expt:%s:end -->", name);
    const char *pb = strstr(text, b), *pe = pb ? strstr(pb, e) : NULL;
    cr_assert(pb && pe, "region %s", name);
    pb += strlen(b);
    return strndup(pb, (size_t)(pe - pb));
}

static json_t *load_json(const char *dir, const char *rel) {
    char *p = fx_path(dir, rel);
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    cr_assert_not_null(j, "%s: %s", rel, e.text);
    free(p);
    return j;
}

// The losses of metrics.jsonl, read with jansson (independently of expt's reader).
static int read_losses(const char *dir, const char *outrel, double *first, double *last,
                       long long *last_step) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/metrics.jsonl", outrel);
    char *t = fx_read(dir, rel, NULL);
    int n = 0;
    long long prev = -1;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        cr_assert_not_null(o, "metrics line: %s", line);
        double loss = json_number_value(json_object_get(o, "loss"));
        long long step = json_integer_value(json_object_get(o, "step"));
        cr_assert(isfinite(loss));
        cr_assert_gt(step, prev, "steps increase: %lld after %lld", step, prev);
        prev = step;
        if (n++ == 0) *first = loss;
        *last = loss;
        *last_step = step;
        json_decref(o);
    }
    free(t);
    return n;
}

static mm_proc_result expt2(const char *dir, const char *a1, const char *a2) {
    return fx_expt(dir, a1, a2, NULL, NULL, NULL, NULL);
}

static void assert_has(const char *hay, const char *needle) {
    cr_assert_not_null(strstr(hay, needle), "'%s' not in:\n%s", needle, hay);
}

static int lock_held(const char *dir, const char *outrel) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/run.lock", outrel);
    char *p = fx_path(dir, rel);
    int h = ex_runlock_held(p);
    free(p);
    return h == 1;
}

static void wait_ended(const char *dir, const char *outrel, double timeout) {
    double t0 = ex_wall_s();
    while (lock_held(dir, outrel)) {
        cr_assert(ex_wall_s() - t0 < timeout, "the run did not end within %.0f s", timeout);
        ex_sleep_s(0.05);
    }
}

static long long progress_step(const char *dir, const char *outrel) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/progress.json", outrel);
    char *p = fx_path(dir, rel);
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    long long s = j ? json_integer_value(json_object_get(j, "step")) : 0;
    json_decref(j);
    return s;
}

static void wait_step(const char *dir, const char *outrel, long long step, double timeout) {
    double t0 = ex_wall_s();
    while (progress_step(dir, outrel) < step) {
        cr_assert(ex_wall_s() - t0 < timeout, "no progress to step %lld within %.0f s", step, timeout);
        ex_sleep_s(0.02);
    }
}

static void state_is(const char *dir, const char *version, const char *state) {
    mm_proc_result r = expt2(dir, "status", version);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char want[64];
    snprintf(want, sizeof want, "experiment %s: %s\n", version, state);
    assert_has(r.out, want);
    mm_proc_result_free(&r);
}

// A workflow repository with experiment 1.0.0 ready to run for many epochs, up to max_steps.
static char *ready_experiment(const char *tag, const char *goal, const char *max_steps,
                              const char *eval_extra) {
    char *dir = workflow_repo(tag);
    fx_expt_ok(dir, "new", "1.0.0", NULL, NULL);
    fill_prerun_fields(dir, "1.0.0", goal);
    char train[256];
    snprintf(train, sizeof train, "epochs = 100\nmax_steps = %s\nlog_interval = 10\nsave_interval = 100000\n",
             max_steps);
    write_config(dir, "1.0.0", train, eval_extra);
    return dir;
}

// ---------------------------------------------------------------------------------------------
// The workflow

Test(workflow, baseline_run_report_commit_then_based_on_diff, .timeout = 240) {
    char *dir = workflow_repo("wf_main");
    fx_expt_ok(dir, "new", "1.0.0", NULL, NULL);
    fill_prerun_fields(dir, "1.0.0", "Baseline: does a tiny model learn the demo corpus?");
    write_config(dir, "1.0.0", "epochs = 1\nmax_steps = 40\nlog_interval = 5\nsave_interval = 1000\n", "");

    // Pre-run gates pass, post-run gates fail.
    mm_proc_result r = expt2(dir, "check", "1.0.0");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    static const char *const pre[] = {"✓ goal, hypothesis and expected result filled",
                                      "✓ AI reasoning filled", "✓ configuration parses",
                                      "✓ data paths exist (3 data paths exist)"};
    static const char *const post[] = {"✗ git record present", "✗ training finished without anomaly",
                                       "✗ evaluation present", "✗ analysis filled",
                                       "✗ conclusion and next steps filled"};
    for (size_t i = 0; i < 4; i++) assert_has(r.out, pre[i]);
    for (size_t i = 0; i < 5; i++) assert_has(r.out, post[i]);
    mm_proc_result_free(&r);
    state_is(dir, "1.0.0", "ready");

    size_t before_len;
    char *before = fx_read(dir, record_rel("1.0.0"), &before_len);
    r = fx_expt(dir, "run", "1.0.0", "--foreground", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "run: %s%s", r.out, r.err);
    assert_has(r.out, "evaluation: ok");
    mm_proc_result_free(&r);

    // Every output file.
    static const char *const files[] = {"config.ini",
                                        "metrics.jsonl",
                                        "progress.json",
                                        "pretrain_32.safetensors",
                                        "eval.json",
                                        "experiment.log",
                                        "run.json",
                                        "exit.json",
                                        "git.patch",
                                        "git.json",
                                        NULL};
    for (int i = 0; files[i]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "out/experiment_1_0_0/%s", files[i]);
        cr_assert(fx_exists(dir, rel), "%s missing", rel);
    }
    json_t *ex = load_json(dir, "out/experiment_1_0_0/exit.json");
    cr_assert_eq(json_integer_value(json_object_get(ex, "status")), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(ex, "eval"), "status")), 0);
    cr_assert(json_is_true(json_object_get(json_object_get(ex, "eval"), "ran")), "the supervisor evaluated");
    json_decref(ex);

    // The machine regions hold the engine's numbers.
    size_t after_len;
    char *after = fx_read(dir, record_rel("1.0.0"), &after_len);
    double first, last;
    long long last_step;
    cr_assert_geq(read_losses(dir, "out/experiment_1_0_0", &first, &last, &last_step), 5);
    cr_assert_eq(last_step, 40);
    cr_assert_lt(last, first, "the loss falls: %g -> %g", first, last);
    char want[256];
    char *train = region(after, "training");
    snprintf(want, sizeof want, "| final loss | %.4f (step 40 of 40) |", last);
    assert_has(train, want);
    assert_has(train, "![loss and learning rate](assets/experiment_1.0.0_loss.svg)");
    cr_assert(fx_exists(dir, "experiment/assets/experiment_1.0.0_loss.svg"));
    json_t *ev = load_json(dir, "out/experiment_1_0_0/eval.json");
    char *eval = region(after, "evaluation");
    snprintf(want, sizeof want, "| mean loss | %.4f ± %.4f (standard error) |",
             json_number_value(json_object_get(json_object_get(ev, "summary"), "mean_loss")),
             json_number_value(json_object_get(json_object_get(ev, "summary"), "loss_stderr")));
    assert_has(eval, want);
    cr_assert_eq(json_array_size(json_object_get(ev, "samples")), 3);
    snprintf(want, sizeof want, "| 3 | ");  // one table row per sample
    assert_has(eval, want);
    json_decref(ev);
    char *cfg = region(after, "config");
    assert_has(cfg, "| model | dim | 32 |");
    assert_has(cfg, "| train | max_steps | 40 |");
    assert_has(cfg, "| eval | prompt_tokens | 8 |");
    char *git = region(after, "git");
    assert_has(git, "| commit | `none` |");  // a repository with no commits works
    assert_has(git, "[git.patch](../out/experiment_1_0_0/git.patch)");
    char *exec = region(after, "execution");
    assert_has(exec, "| exit | status 0 (success) |");
    // what the training computed on, from its progress.json ([train] device = auto)
    assert_has(exec, mm_cuda_device_count(NULL) > 0 ? "| computed on | cuda:0 (" : "| computed on | cpu, fp32 matmuls |");
    assert_has(exec, "run_file/experiment_1.0.0.sh");
    free(train), free(eval), free(cfg), free(git), free(exec);

    // Every human byte is unchanged (before the run the regions were empty).
    char *stripped = strip_regions(after);
    cr_assert_str_eq(stripped, before, "bytes outside the regions changed");
    cr_assert_eq(strlen(before), before_len);
    free(stripped);

    // The key table expt checks configurations against is exactly the engine's (as resolved).
    char *resolved = fx_path(dir, "out/experiment_1_0_0/config.ini");
    ex_ini ini;
    cr_assert_eq(ex_ini_load(resolved, NULL, &ini), 0, "%s", mm_error_message());
    int n_table = 0;
    for (const ex_config_key *k = ex_config_keys; k->section; k++, n_table++)
        cr_assert_not_null(ex_ini_get(&ini, k->section, k->key), "[%s] %s: not a key of the engine",
                           k->section, k->key);
    for (int i = 0; i < ini.n; i++)
        cr_assert_not_null(ex_config_key_find(ini.e[i].section, ini.e[i].key), "[%s] %s: unknown to expt",
                           ini.e[i].section, ini.e[i].key);
    cr_assert_eq(ini.n, n_table);
    ex_ini_free(&ini);
    free(resolved);
    // ... and the template configuration passes it.
    char *tpl = fx_read(dir, "templates/experiment_template.ini", NULL);
    tpl = replace_line(tpl, "model_type = {{MODEL_TYPE}}", "model_type = model_original");
    fx_write(dir, "template_check.ini", tpl);
    char *tpl_path = fx_path(dir, "template_check.ini");
    cr_assert_eq(ex_config_load(tpl_path, &ini), 0, "%s", mm_error_message());
    ex_ini_free(&ini);
    unlink(tpl_path);
    free(tpl), free(tpl_path);

    // report twice: identical bytes (record, index, chart), and nothing changed since the run.
    fx_expt_ok(dir, "report", NULL, NULL, NULL);
    char *rec1 = fx_read(dir, record_rel("1.0.0"), NULL), *idx1 = fx_read(dir, "experiment/INDEX.md", NULL);
    char *svg1 = fx_read(dir, "experiment/assets/experiment_1.0.0_loss.svg", NULL);
    fx_expt_ok(dir, "report", "1.0.0", NULL, NULL);
    fx_expt_ok(dir, "report", NULL, NULL, NULL);
    char *rec2 = fx_read(dir, record_rel("1.0.0"), NULL), *idx2 = fx_read(dir, "experiment/INDEX.md", NULL);
    char *svg2 = fx_read(dir, "experiment/assets/experiment_1.0.0_loss.svg", NULL);
    cr_assert_str_eq(rec1, after, "report changed what the run filled");
    cr_assert_str_eq(rec1, rec2);
    cr_assert_str_eq(idx1, idx2);
    cr_assert_str_eq(svg1, svg2);
    assert_has(idx1,
               "| [1.0.0](experiment_1.0.0.md) | 无 | model_original | Baseline: does a tiny model learn the "
               "demo corpus? |");
    assert_has(idx1, "| evaluated |");
    free(rec1), free(rec2), free(idx1), free(idx2), free(svg1), free(svg2);
    state_is(dir, "1.0.0", "evaluated");

    // Analysis and conclusion -> every gate passes -> commit (checked with the real git).
    r = expt2(dir, "commit", "1.0.0");
    cr_assert_eq(r.status, 1, "commit refused before the analysis: %s", r.out);
    mm_proc_result_free(&r);
    fill_analysis(dir, "1.0.0");
    r = expt2(dir, "check", "1.0.0");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.out, "all gates pass");
    mm_proc_result_free(&r);
    state_is(dir, "1.0.0", "qualified");
    fx_expt_ok(dir, "commit", "1.0.0", NULL, NULL);
    const char *log[] = {"git", "-C", dir, "log", "-1", "--format=%s", "--name-only", NULL};
    r = fx_run(log);
    cr_assert_eq(r.status, 0);
    cr_assert_str_eq(r.out,
                     "experiment 1.0.0: Baseline: does a tiny model learn the demo corpus?\n\n"
                     "experiment/assets/experiment_1.0.0_loss.svg\nexperiment/experiment_1.0.0.md\n"
                     "run_file/experiment_1.0.0.ini\nrun_file/experiment_1.0.0.sh\n");
    mm_proc_result_free(&r);
    const char *show[] = {"git", "-C", dir, "show", "HEAD:experiment/experiment_1.0.0.md", NULL};
    r = fx_run(show);
    char *committed = fx_read(dir, record_rel("1.0.0"), NULL);
    cr_assert_str_eq(r.out, committed, "the committed record is the work-tree record");
    free(committed);
    mm_proc_result_free(&r);
    state_is(dir, "1.0.0", "committed");

    // 1.1.0 based on 1.0.0: one key changed; diff shows exactly that key.
    fx_expt_ok(dir, "new", "1.1.0", "--from", "1.0.0");
    char *ini0 = fx_read(dir, "run_file/experiment_1.0.0.ini", NULL),
         *ini1 = fx_read(dir, "run_file/experiment_1.1.0.ini", NULL);
    cr_assert_str_eq(ini0, ini1, "--from copies the configuration");
    free(ini0);
    char *rec = fx_read(dir, record_rel("1.1.0"), NULL);
    assert_has(rec, "### 基于实验\n\n1.0.0\n");
    free(rec);
    ini1 = replace_line(ini1, "learning_rate = 3e-3", "learning_rate = 6e-3");
    fx_write(dir, "run_file/experiment_1.1.0.ini", ini1);
    free(ini1);
    fill_prerun_fields(dir, "1.1.0", "Does a doubled learning rate train faster?");
    r = fx_expt(dir, "run", "1.1.0", "--foreground", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "run 1.1.0: %s%s", r.out, r.err);
    assert_has(r.out, "ETA:     about");  // from the based-on experiment's duration
    mm_proc_result_free(&r);
    char *rec11 = fx_read(dir, record_rel("1.1.0"), NULL);
    char *git11 = region(rec11, "git");
    assert_has(git11, "| based on | 1.0.0 |");  // 1.0.0 ran before the first commit
    free(git11), free(rec11);
    r = fx_expt(dir, "diff", "1.0.0", "1.1.0", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "diff: %s%s", r.out, r.err);
    char *conf = strstr(r.out, "## configuration"), *metrics = strstr(r.out, "## metrics");
    cr_assert(conf && metrics && conf < metrics, "%s", r.out);
    int keys = 0;
    for (char *l = conf; l < metrics; l = strchr(l, '\n') + 1)
        if (!strncmp(l, "  [", 3)) keys++;
    cr_assert_eq(keys, 1, "exactly one key differs:\n%s", r.out);
    assert_has(conf, "  [train] learning_rate: 0.003 -> 0.006\n");
    assert_has(r.out, "1.0.0 at (no commits yet)");
    assert_has(r.out, "experiment/experiment_1.0.0.md");  // the code changes between the snapshots
    assert_has(r.out, "experiment/assets/diff_1.0.0_1.1.0_loss.svg");
    mm_proc_result_free(&r);
    cr_assert(fx_exists(dir, "experiment/assets/diff_1.0.0_1.1.0_loss.svg"));
    char *idx = fx_read(dir, "experiment/INDEX.md", NULL);
    assert_has(idx,
               "| [1.1.0](experiment_1.1.0.md) | 1.0.0 | model_original | Does a doubled learning rate train "
               "faster? |");
    free(idx);
    free(before), free(after);
    mm_test_rmtree(dir);
    free(dir);
}

// Stop then resume with the real engine: the engine saves and exits 3, the state is "stopped",
// `expt resume` continues from the checkpoint to the end (no step repeated) and evaluates. The
// configuration asks for a sampled evaluation: the flags expt passes are accepted by the engine.
Test(workflow, stop_then_resume_with_the_real_engine, .timeout = 240) {
    char *dir =
        ready_experiment("wf_stop", "Long enough to stop.", "1200", "temperature = 0.7\ntop_p = 0.9\n");

    mm_proc_result r = fx_expt(dir, "run", "1.0.0", "--dry-run", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.out, " eval --model_path ");
    assert_has(r.out,
               "/out/experiment_1_0_0/pretrain_32.safetensors --data demo/data/eval.jsonl --num_samples 3 "
               "--prompt_tokens 8 --max_new_tokens 8 --sample --temperature 0.7 --top_p 0.9 --json ");
    mm_proc_result_free(&r);

    fx_expt_ok(dir, "run", "1.0.0", NULL, NULL);
    wait_step(dir, "out/experiment_1_0_0", 20, 60);
    r = expt2(dir, "stop", "1.0.0");
    cr_assert_eq(r.status, 0, "stop: %s%s", r.out, r.err);
    assert_has(r.out, "run script exit status 3 (checkpoint saved)");
    mm_proc_result_free(&r);
    state_is(dir, "1.0.0", "stopped");
    long long stopped_at = progress_step(dir, "out/experiment_1_0_0");
    cr_assert_lt(stopped_at, 1200, "stopped before the end");
    cr_assert(fx_exists(dir, "out/experiment_1_0_0/pretrain_32.state.safetensors"), "resume state saved");
    char *rec = fx_read(dir, record_rel("1.0.0"), NULL);
    char *exec = region(rec, "execution");
    assert_has(exec, "stopped on request (resumable)");
    free(exec), free(rec);

    r = fx_expt(dir, "resume", "1.0.0", "--foreground", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "resume: %s%s", r.out, r.err);
    mm_proc_result_free(&r);
    state_is(dir, "1.0.0", "evaluated");
    double first, last;
    long long last_step;
    read_losses(dir, "out/experiment_1_0_0", &first, &last, &last_step);  // asserts no step repeats
    cr_assert_eq(last_step, 1200);
    char *log = fx_read(dir, "out/experiment_1_0_0/experiment.log", NULL);
    assert_has(log, "train: resumed from ");
    free(log);
    json_t *ev = load_json(dir, "out/experiment_1_0_0/eval.json");
    json_t *smp = json_object_get(ev, "sampling");
    cr_assert_str_eq(json_string_value(json_object_get(smp, "mode")), "top_p");
    cr_assert_float_eq(json_number_value(json_object_get(smp, "temperature")), 0.7, 1e-9);
    json_decref(ev);
    mm_test_rmtree(dir);
    free(dir);
}

// SIGKILL of the real training: the run is "failed", the record's execution section holds the
// log tail (the engine's last lines), and the training gate says why.
Test(workflow, sigkill_of_the_real_training_is_failed_with_the_log_tail, .timeout = 240) {
    char *dir = ready_experiment("wf_kill", "Killed on purpose.", "100000", "");
    fx_expt_ok(dir, "run", "1.0.0", NULL, NULL);
    wait_step(dir, "out/experiment_1_0_0", 20, 60);
    json_t *run = load_json(dir, "out/experiment_1_0_0/run.json");
    pid_t child = (pid_t)json_integer_value(json_object_get(run, "child_pid"));
    json_decref(run);
    cr_assert_gt(child, 0);
    char comm[64] = "", path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", (long)child);
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp);
    cr_assert_not_null(fgets(comm, sizeof comm, fp));
    fclose(fp);
    cr_assert_str_eq(comm, "minimind\n", "the run script execs the engine");
    cr_assert_eq(kill(child, SIGKILL), 0);
    wait_ended(dir, "out/experiment_1_0_0", 60);
    state_is(dir, "1.0.0", "failed");
    char *rec = fx_read(dir, record_rel("1.0.0"), NULL);
    char *exec = region(rec, "execution");
    assert_has(exec, "| exit | killed by signal 9 |");
    assert_has(exec, "Log tail (`out/experiment_1_0_0/experiment.log`):");
    assert_has(exec, "epoch 1/100 step 10/");  // the engine's own progress lines
    assert_has(exec, "run script killed by signal 9 (SIGKILL)");
    free(exec), free(rec);
    mm_proc_result r = expt2(dir, "check", "1.0.0");
    cr_assert_eq(r.status, 1);
    assert_has(r.out, "✗ training finished without anomaly: killed by signal 9");
    assert_has(r.out, "✗ evaluation present");
    mm_proc_result_free(&r);
    mm_test_rmtree(dir);
    free(dir);
}

// `expt fill` with the prepared example (what scripts/demo_workflow.sh does): the six pre-run
// fields come from the file, the pre-run field gates pass, and every byte outside the filled
// fields stays; a file without field headings is refused and changes nothing.
Test(workflow, fill_from_the_prepared_example) {
    char *dir = fx_repo("wf_fill");
    fx_expt_ok(dir, "init", NULL, NULL, NULL);
    fx_expt_ok(dir, "new", "1.0.0", NULL, NULL);
    char *before = fx_read(dir, record_rel("1.0.0"), NULL);
    char example[512];
    snprintf(example, sizeof example, "%s/templates/examples/human_fields_1.0.0.md", MM_SOURCE_DIR);
    mm_proc_result r = fx_expt(dir, "fill", "1.0.0", example, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    assert_has(r.out, "filled based_on, goal, hypothesis, expected, reasoning, config_choice");
    mm_proc_result_free(&r);
    char *after = fx_read(dir, record_rel("1.0.0"), NULL);
    assert_has(after, "### 实验目的\n\nBaseline: how far does a small model_original");
    assert_has(after, "### 基于实验\n\n无（第一个实验：演示语料上的基线）\n\n### 实验目的");
    // Outside the six fields nothing changed: from the 📝 heading to the 📋 one and from ⚙️ on.
    const char *cut[][2] = {{"## 📝", "## 📋"}, {"## ⚙️", NULL}};
    for (int i = 0; i < 2; i++) {
        char *a = strstr(before, cut[i][0]), *b = strstr(after, cut[i][0]);
        cr_assert(a && b);
        size_t na = cut[i][1] ? (size_t)(strstr(a, cut[i][1]) - a) : strlen(a);
        size_t nb = cut[i][1] ? (size_t)(strstr(b, cut[i][1]) - b) : strlen(b);
        cr_assert(na == nb && !memcmp(a, b, na), "bytes after %s changed", cut[i][0]);
    }
    cr_assert(!strncmp(before, after, (size_t)(strstr(before, "### 设计思路") - before)),
              "the preamble changed");
    r = expt2(dir, "check", "1.0.0");
    assert_has(r.out, "✓ goal, hypothesis and expected result filled");
    assert_has(r.out, "✓ AI reasoning filled");
    assert_has(r.out, "✗ analysis filled");
    mm_proc_result_free(&r);

    fx_write(dir, "notes.md", "# just a title\n\nno field headings here\n");
    char *notes = fx_path(dir, "notes.md");
    r = fx_expt(dir, "fill", "1.0.0", notes, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    assert_has(r.err, "expt: error: ");
    assert_has(r.err, "no field headings with text");
    mm_proc_result_free(&r);
    char *again = fx_read(dir, record_rel("1.0.0"), NULL);
    cr_assert_str_eq(again, after);
    free(notes), free(again), free(before), free(after);
    mm_test_rmtree(dir);
    free(dir);
}

// expt checks [train] device with the engine's own parser (minimind/device_name.h): the two agree.
Test(workflow, device_values_follow_the_engine) {
    const char *ok[] = {"auto", "cpu", "cuda", "cuda:0", "cuda:7", "cpu-staged"};
    const char *bad[] = {"gpu", "cuda:", "cuda:x", "cuda:1024", "CPU", "cuda:0 "};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int kind, index;
        cr_expect_null(ex_config_check("train", "device", ok[i]), "device = %s refused", ok[i]);
        cr_expect_eq(mm_device_parse(ok[i], &kind, &index), 0, "the engine refuses %s", ok[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = ex_config_check("train", "device", bad[i]);
        cr_expect(why && strstr(why, "cuda:N"), "device = '%s' accepted (%s)", bad[i], why ? why : "no reason");
    }
}
