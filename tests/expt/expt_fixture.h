// Fixtures for the expt suites: temporary git repositories (made with the real `git`), running
// the built `expt`, files a finished run leaves in out/experiment_X_Y_Z/.
#ifndef EXPT_FIXTURE_H
#define EXPT_FIXTURE_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "record.h"
#include "test_util.h"

// Runs argv; asserts it started; returns the result (caller frees).
static inline mm_proc_result fx_run(const char *const argv[]) {
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0, "cannot start %s", argv[0]);
    return r;
}

// `git -C dir ARGS...` must succeed.
static inline void fx_git(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4) {
    const char *argv[] = {"git", "-C", dir, a1, a2, a3, a4, NULL};
    mm_proc_result r = fx_run(argv);
    cr_assert_eq(r.status, 0, "git %s %s failed: %s", a1, a2 ? a2 : "", r.err);
    mm_proc_result_free(&r);
}

// A fresh repository with a user configured (no commits).
static inline char *fx_repo(const char *tag) {
    char *dir = mm_test_tmpdir(tag);
    fx_git(dir, "init", "-q", NULL, NULL);
    fx_git(dir, "config", "user.email", "t@example.com", NULL);
    fx_git(dir, "config", "user.name", "Tester", NULL);
    fx_git(dir, "config", "commit.gpgsign", "false", NULL);
    return dir;
}

static inline char *fx_path(const char *dir, const char *rel) { return mm_test_path(dir, rel); }

static inline void fx_write(const char *dir, const char *rel, const char *text) {
    char *p = fx_path(dir, rel);
    char *slash = strrchr(p, '/');
    *slash = '\0';
    cr_assert_eq(ex_mkdirs(p), 0, "%s", mm_error_message());
    *slash = '/';
    mm_test_write_file(p, text, strlen(text));
    free(p);
}

static inline char *fx_read(const char *dir, const char *rel, size_t *n) {
    char *p = fx_path(dir, rel);
    size_t len = 0;
    char *s = mm_read_file(p, &len);
    cr_assert_not_null(s, "%s", mm_error_message());
    if (n) *n = len;
    free(p);
    return s;
}

static inline int fx_exists(const char *dir, const char *rel) {
    char *p = fx_path(dir, rel);
    int e = access(p, F_OK) == 0;
    free(p);
    return e;
}

// Runs the built expt inside dir with up to 6 arguments.
static inline mm_proc_result fx_expt(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4,
                                     const char *a5, const char *a6) {
    char cwd[4096];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(dir), 0);
    const char *argv[] = {MM_EXPT_EXE, a1, a2, a3, a4, a5, a6, NULL};
    mm_proc_result r = fx_run(argv);
    cr_assert_eq(chdir(cwd), 0);
    return r;
}

static inline void fx_expt_ok(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4) {
    mm_proc_result r = fx_expt(dir, a1, a2, a3, a4, NULL, NULL);
    cr_assert_eq(r.status, 0, "expt %s %s: exit %d\n%s%s", a1, a2 ? a2 : "", r.status, r.out, r.err);
    mm_proc_result_free(&r);
}

// Fills every human/AI field of a record with text (through the record API).
static inline void fx_fill_fields(const char *dir, const char *version) {
    char rel[128];
    snprintf(rel, sizeof rel, "experiment/experiment_%s.md", version);
    char *p = fx_path(dir, rel);
    ex_record r;
    cr_assert_eq(ex_record_load(&r, p, rel), 0, "%s", mm_error_message());
    static const char *const texts[EX_FIELD_COUNT] = {
        "无", "验证基线在演示语料上能收敛。\n第二行说明。", "学习率 5e-4 足够。", "最终 loss < 5。", "先跑基线。",
        "默认配置。", "loss 平稳下降。", "假设成立。", "下一步：1.1.0 换成记忆层。"};
    for (int f = 0; f < EX_FIELD_COUNT; f++)
        cr_assert_eq(ex_record_set_field(&r, (ex_field)f, texts[f]), 0, "%s", mm_error_message());
    cr_assert_eq(ex_record_save(&r, p), 0);
    ex_record_free(&r);
    free(p);
}

// The data files the template configuration names.
static inline void fx_data(const char *dir) {
    fx_write(dir, "demo/pretrain.tok", "tokens");
    fx_write(dir, "demo/tokenizer/tokenizer.json", "{}");
    fx_write(dir, "demo/data/pretrain.jsonl", "{\"text\":\"x\"}\n");
    fx_write(dir, "demo/data/valid.jsonl", "{\"text\":\"y\"}\n");
}

// The files a finished, evaluated run leaves in out/experiment_X_Y_Z/.
static inline void fx_run_outputs(const char *dir, const char *outrel, const char *commit) {
    char rel[256], buf[1024];
#define FX_OUT(name, text)                                           \
    do {                                                             \
        snprintf(rel, sizeof rel, "%s/%s", outrel, name);            \
        fx_write(dir, rel, text);                                    \
    } while (0)
    snprintf(buf, sizeof buf,
             "{\"commit\":\"%s\",\"branch\":\"main\",\"dirty\":true,\"diffstat\":\" a.c | 2 +-\\n 1 file "
             "changed\\n\",\"based_on\":null}",
             commit);
    FX_OUT("git.json", buf);
    FX_OUT("git.patch", "diff --git a/a.c b/a.c\n");
    FX_OUT("config.ini", "[model]\nmodel_type = model_original\ndim = 64\n[train]\nlearning_rate = 0.0005\n");
    snprintf(buf, sizeof buf,
             "{\"pid\":4242,\"start_time\":\"2024-05-01T10:00:00Z\",\"host\":\"box\",\"command\":[\"bash\","
             "\"run_file/x.sh\"],\"commit\":\"%s\",\"proc_start_ticks\":1}",
             commit);
    FX_OUT("run.json", buf);
    FX_OUT("exit.json", "{\"status\":0,\"signal\":0,\"end_time\":\"2024-05-01T10:05:00Z\",\"duration_s\":300,"
                        "\"peak_rss_kb\":102400,\"cpu\":\"test cpu\",\"gpu\":null,\"log_tail\":\"\",\"eval\":"
                        "{\"ran\":false,\"status\":null,\"reason\":\"fresh eval.json from the run script\"}}");
    FX_OUT("metrics.jsonl",
           "{\"step\":1,\"total_steps\":4,\"epoch\":0,\"loss\":8.5,\"lr\":0.0005,\"tokens_per_s\":100,\"elapsed_s\":1}\n"
           "{\"step\":2,\"total_steps\":4,\"epoch\":0,\"loss\":7.25,\"lr\":0.0004,\"tokens_per_s\":100,\"elapsed_s\":2}\n"
           "{\"step\":3,\"total_steps\":4,\"epoch\":1,\"loss\":6.0,\"lr\":0.0002,\"tokens_per_s\":100,\"elapsed_s\":3}\n"
           "{\"step\":4,\"total_steps\":4,\"epoch\":1,\"loss\":6.5,\"lr\":0.0001,\"tokens_per_s\":120,\"elapsed_s\":4}\n");
    FX_OUT("progress.json",
           "{\"step\":4,\"total_steps\":4,\"loss\":6.5,\"status\":\"finished\","
           "\"device\":\"cuda:0 (NVIDIA H200 | "
           "test)\",\"precision\":\"bf16\",\"attention\":\"flash\",\"attention_storage\":\"bf16\",\"ffn\":"
           "\"bf16\",\"head\":\"bf16\"}");
    FX_OUT("eval.json", "{\"samples\":[{\"input\":\"在一个 | 遥远的\",\"reference\":\"地方\",\"output\":\"<!-- "
                        "expt:git:end -->\\nnext\",\"loss\":3.0},{\"input\":\"b\",\"reference\":\"c\",\"output\":"
                        "\"d\",\"loss\":2.0}],\"summary\":{\"mean_loss\":2.5,\"perplexity\":12.182494,\"num_samples\":2}}");
#undef FX_OUT
}

#endif
