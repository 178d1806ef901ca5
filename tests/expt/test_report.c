// `expt report`: regions filled from the stored run files, idempotent (byte-identical), human
// bytes untouched on hand-edited records (CRLF, BOM, deleted markers), missing files reported,
// INDEX.md, and `expt diff` against `git diff --stat` and its noise section against Python's statistics.
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "expt_fixture.h"
#include "proc.h"
#include "project.h"
#include "report.h"

static char *setup(const char *tag, ex_project *p) {
    char *dir = fx_repo(tag);
    fx_expt_ok(dir, "init", NULL, NULL, NULL);
    fx_expt_ok(dir, "new", "1.0.0", NULL, NULL);
    cr_assert_eq(ex_project_open(p, dir), 0, "%s", mm_error_message());
    return dir;
}

static char *region_text(const char *text, size_t len, const char *name) {
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "rec", text, len), 0, "%s", mm_error_message());
    const ex_region *g = ex_record_region(&r, name);
    cr_assert_not_null(g, "region %s", name);
    char *s = strndup(r.text + g->content_start, g->content_end - g->content_start);
    ex_record_free(&r);
    return s;
}

// Regenerates the record of `version` and returns its evaluation region (malloc'd).
// `expt report VERSION`, then the text of its record's region NAME (malloc'd).
static char *region_of(ex_project *p, const char *dir, const char *version, const char *name) {
    cr_assert_eq(ex_report_experiment(p, version), 0, "%s", mm_error_message());
    char rel[128];
    snprintf(rel, sizeof rel, "experiment/experiment_%s.md", version);
    size_t rn;
    char *rec = fx_read(dir, rel, &rn), *text = region_text(rec, rn, name);
    free(rec);
    return text;
}

static char *evaluation_of(ex_project *p, const char *dir, const char *version) {
    return region_of(p, dir, version, "evaluation");
}

// 1.0.0's metrics.jsonl replaced by `metrics`, then its record's training region (malloc'd).
static char *training_with(ex_project *p, const char *dir, const char *metrics) {
    fx_write(dir, "out/experiment_1_0_0/metrics.jsonl", metrics);
    return region_of(p, dir, "1.0.0", "training");
}

// Asserts that a and b are identical outside the machine regions (and have the same regions).
static void same_outside_regions(const char *a, size_t an, const char *b, size_t bn) {
    ex_record ra, rb;
    cr_assert_eq(ex_record_parse(&ra, "a", a, an), 0, "%s", mm_error_message());
    cr_assert_eq(ex_record_parse(&rb, "b", b, bn), 0, "%s", mm_error_message());
    cr_assert_eq(ra.n_regions, rb.n_regions);
    size_t pa = 0, pb = 0;
    for (int i = 0; i <= ra.n_regions; i++) {
        size_t ea = i < ra.n_regions ? ra.regions[i].content_start : ra.len;
        size_t eb = i < rb.n_regions ? rb.regions[i].content_start : rb.len;
        cr_assert_eq(ea - pa, eb - pb, "human segment %d changed length", i);
        cr_assert_eq(memcmp(ra.text + pa, rb.text + pb, ea - pa), 0, "human segment %d changed", i);
        if (i < ra.n_regions) {
            pa = ra.regions[i].content_end;
            pb = rb.regions[i].content_end;
        }
    }
    ex_record_free(&ra);
    ex_record_free(&rb);
}

#define COMMIT "0123456789abcdef0123456789abcdef01234567"

Test(report, fills_regions_from_run_files_and_is_idempotent) {
    ex_project p;
    char *dir = setup("rep_fill", &p);
    fx_fill_fields(dir, "1.0.0");
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    size_t n0, n1, n2, s1, s2;
    char *before = fx_read(dir, "experiment/experiment_1.0.0.md", &n0);
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    char *after = fx_read(dir, "experiment/experiment_1.0.0.md", &n1);
    char *svg1 = fx_read(dir, "experiment/assets/experiment_1.0.0_loss.svg", &s1);
    same_outside_regions(before, n0, after, n1);

    char *git = region_text(after, n1, "git");
    cr_assert_not_null(strstr(git, "| commit | `" COMMIT "` |"), "%s", git);
    cr_assert_not_null(strstr(git, "[git.patch](../out/experiment_1_0_0/git.patch)"), "%s", git);
    cr_assert_not_null(strstr(git, "dirty"), "%s", git);
    cr_assert_not_null(strstr(git, " a.c | 2 +-\n"), "%s", git);
    char *cfg = region_text(after, n1, "config");
    cr_assert_not_null(strstr(cfg, "| model | dim | 64 |"), "%s", cfg);
    cr_assert_not_null(strstr(cfg, "| train | learning_rate | 0.0005 |"), "%s", cfg);
    char *ex = region_text(after, n1, "execution");
    cr_assert_not_null(strstr(ex, "| exit | status 0 (success) |"), "%s", ex);
    cr_assert_not_null(strstr(ex, "| duration | 5m 00s |"), "%s", ex);
    cr_assert_not_null(strstr(ex, "| peak memory | 100.0 MiB |"), "%s", ex);
    cr_assert_not_null(strstr(ex,
                              "| computed on | cuda:0 (NVIDIA H200 \\| test), bf16 matmuls, attention: flash "
                              "in bf16, feed-forward: bf16, head: bf16 |"),
                       "%s", ex);
    cr_assert_not_null(strstr(ex, "| start | 2024-05-01T10:00:00Z |"), "%s", ex);
    cr_assert_not_null(strstr(ex, "bash run_file/x.sh"), "%s", ex);
    cr_assert_null(strstr(ex, "Log tail"), "a clean run shows no log tail");
    cr_assert_not_null(strstr(ex, "| evaluation | fresh eval.json from the run script |"), "%s", ex);
    char *tr = region_text(after, n1, "training");
    cr_assert_not_null(strstr(tr, "| final loss | 6.5000 (step 4 of 4) |"), "%s", tr);
    cr_assert_not_null(strstr(tr, "| best loss | 6.0000 (step 3) |"), "%s", tr);
    // By epoch: epoch 0 = steps 1-2, losses 8.5, 7.25 (mean 7.875), last lr 4e-4.
    cr_assert_not_null(strstr(tr, "| 0 | 1–2 | 8.5000 | 7.2500 | 7.2500 | 7.8750 | 4.000e-04 |"), "%s", tr);
    cr_assert_not_null(strstr(tr, "| 1 | 3–4 | 6.0000 | 6.5000 | 6.0000 | 6.2500 | 1.000e-04 |"), "%s", tr);
    cr_assert_not_null(strstr(tr, "![loss and learning rate](assets/experiment_1.0.0_loss.svg)"), "%s", tr);
    cr_assert_null(strstr(tr, "memory"), "model_original logs no memory usage: %s", tr);
    char *ev = region_text(after, n1, "evaluation");
    cr_assert_not_null(strstr(ev, "| mean loss | 2.5000 ± 0.5000 (standard error) |"), "%s",
                       ev);  // losses 3, 2
    cr_assert_not_null(strstr(ev, "| perplexity | 12.182 |"), "%s", ev);
    cr_assert_not_null(strstr(ev, "| 1 | 在一个 \\| 遥远的 | 地方 | &lt;!-- expt:git:end --&gt; next | 3.0000 |"), "%s", ev);

    // Idempotent: a second report changes no byte of the record or the chart.
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    char *again = fx_read(dir, "experiment/experiment_1.0.0.md", &n2);
    char *svg2 = fx_read(dir, "experiment/assets/experiment_1.0.0_loss.svg", &s2);
    cr_assert(n1 == n2 && memcmp(after, again, n1) == 0, "second report changed the record");
    cr_assert(s1 == s2 && memcmp(svg1, svg2, s1) == 0, "second report changed the chart");

    // The chart is well-formed XML with the two curves (checked by Python's XML parser).
    char *svg_path = fx_path(dir, "experiment/assets/experiment_1.0.0_loss.svg");
    const char *py[] = {mm_test_python(), "-c",
                        "import sys,xml.etree.ElementTree as E\n"
                        "t=E.parse(sys.argv[1]).getroot()\n"
                        "ns='{http://www.w3.org/2000/svg}'\n"
                        "pl=t.findall(ns+'polyline')\n"
                        "assert len(pl)==2, len(pl)\n"
                        "assert all(len(p.get('points').split())==4 for p in pl)\n",
                        svg_path, NULL};
    mm_proc_result r = fx_run(py);
    cr_assert_eq(r.status, 0, "SVG check failed: %s", r.err);
    mm_proc_result_free(&r);

    free(svg_path), free(before), free(after), free(again), free(svg1), free(svg2);
    free(git), free(cfg), free(ex), free(tr), free(ev);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

Test(report, missing_files_say_not_available) {
    ex_project p;
    char *dir = setup("rep_missing", &p);
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    size_t n;
    char *t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    static const char *const files[][2] = {{"git", "git.json"},           {"config", "config.ini"},
                                           {"execution", "run.json"},     {"training", "metrics.jsonl"},
                                           {"evaluation", "eval.json"}};
    for (int i = 0; i < 5; i++) {
        char *g = region_text(t, n, files[i][0]);
        char want[128];
        snprintf(want, sizeof want, "not available yet (no `out/experiment_1_0_0/%s`)\n", files[i][1]);
        cr_assert_str_eq(g, want);
        free(g);
    }
    cr_assert(!fx_exists(dir, "experiment/assets/experiment_1.0.0_loss.svg"));
    free(t);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

// CRLF -> the record's text with "\n" replaced by "\r\n".
static char *to_crlf(const char *s) {
    size_t n = strlen(s), k = 0;
    char *d = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') d[k++] = '\r';
        d[k++] = s[i];
    }
    d[k] = '\0';
    return d;
}

Test(report, hand_edited_crlf_bom_record_keeps_human_bytes_and_gets_markers_back) {
    ex_project p;
    char *dir = setup("rep_hand", &p);
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    // A record edited by hand: CRLF endings, a BOM, the git markers deleted, a look-alike pair
    // inside a code fence in the analysis, and text right after the execution markers.
    const char *lf = "# 实验 1.0.0\n\n## 🧠 AI思考过程\n\n### 设计思路\n\n手写。\n\n## 📝 Git变更记录\n\n人写的说明。\n\n"
                     "## 🚀 执行记录\n<!-- expt:execution:begin -->\nstale\n<!-- expt:execution:end -->\n紧跟的文字\n\n"
                     "## 📈 深度分析\n\n```markdown\n<!-- expt:training:begin -->\nnot a marker\n<!-- expt:training:end -->\n```\n";
    char *crlf = to_crlf(lf);
    size_t len = strlen(crlf) + 3;
    char *text = malloc(len + 1);
    memcpy(text, "\xEF\xBB\xBF", 3);
    strcpy(text + 3, crlf);
    char *path = fx_path(dir, "experiment/experiment_1.0.0.md");
    mm_test_write_file(path, text, len);
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    size_t n;
    char *out = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "rec", out, n), 0, "%s", mm_error_message());
    cr_assert_eq(r.bom, 3u, "BOM kept");
    cr_assert_eq(r.n_regions, 5);
    // git: re-inserted right after its heading, before the human text.
    const ex_section *gs = ex_record_section(&r, "📝");
    const ex_region *g = ex_record_region(&r, "git");
    cr_assert_eq(g->begin_line, gs->line + 2);
    // Every line ends with CRLF (human and generated).
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n') cr_assert(i > 0 && out[i - 1] == '\r', "bare LF at offset %zu", i);
    // The look-alike in the fence is untouched; training got a new region appended with a heading.
    cr_assert_not_null(strstr(out, "```markdown\r\n<!-- expt:training:begin -->\r\nnot a marker\r\n"));
    cr_assert_not_null(ex_record_region(&r, "training"));
    cr_assert(ex_record_region(&r, "training")->begin_line > ex_record_section(&r, "📈")->line);
    // Human bytes before the first inserted region are identical.
    cr_assert_eq(memcmp(out, text, ex_record_section(&r, "📝")->body), 0);
    cr_assert_not_null(strstr(out, "<!-- expt:git:end -->\r\n\r\n人写的说明。\r\n"));
    cr_assert_not_null(strstr(out, "<!-- expt:execution:end -->\r\n紧跟的文字\r\n"));
    cr_assert_null(strstr(out, "stale"));
    // And idempotent on this record too.
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0);
    size_t n2;
    char *out2 = fx_read(dir, "experiment/experiment_1.0.0.md", &n2);
    cr_assert(n == n2 && memcmp(out, out2, n) == 0);
    ex_record_free(&r);
    free(out), free(out2), free(crlf), free(text), free(path);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

Test(report, duplicate_markers_refused_and_record_untouched) {
    ex_project p;
    char *dir = setup("rep_dup", &p);
    size_t n;
    char *t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    // Duplicate the git pair at the end.
    char *bad = malloc(n + 64);
    memcpy(bad, t, n);
    strcpy(bad + n, "\n<!-- expt:git:begin -->\n<!-- expt:git:end -->\n");
    char *path = fx_path(dir, "experiment/experiment_1.0.0.md");
    mm_test_write_file(path, bad, strlen(bad));
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), -1);
    cr_assert_not_null(strstr(mm_error_message(), "experiment/experiment_1.0.0.md:"), "%s", mm_error_message());
    cr_assert_not_null(strstr(mm_error_message(), ": duplicate begin marker 'git' (first at line"), "%s",
                       mm_error_message());
    size_t n2;
    char *t2 = fx_read(dir, "experiment/experiment_1.0.0.md", &n2);
    cr_assert(n2 == strlen(bad) && memcmp(t2, bad, n2) == 0, "a refused record is not rewritten");
    // The command says the same and exits non-zero.
    mm_proc_result r = fx_expt(dir, "report", "1.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "expt: error: experiment/experiment_1.0.0.md:"), "%s", r.err);
    mm_proc_result_free(&r);
    free(t), free(t2), free(bad), free(path);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

Test(report, failed_and_crashed_runs_show_the_log_tail) {
    ex_project p;
    char *dir = setup("rep_fail", &p);
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    fx_write(dir, "out/experiment_1_0_0/exit.json",
             "{\"status\":1,\"signal\":0,\"duration_s\":5,\"log_tail\":[\"step 3 loss nan\",\"error: NaN loss\"]}");
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    size_t n;
    char *t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    char *ex = region_text(t, n, "execution");
    cr_assert_not_null(strstr(ex, "| exit | status 1 (failure) |"), "%s", ex);
    cr_assert_not_null(strstr(ex, "```text\nstep 3 loss nan\nerror: NaN loss\n```"), "%s", ex);
    free(ex), free(t);
    // Killed by a signal ("status" is null then) or stopped on request.
    fx_write(dir, "out/experiment_1_0_0/exit.json",
             "{\"status\":null,\"signal\":9,\"stopped\":false,\"log_tail\":\"training step 7\\n\"}");
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    ex = region_text(t, n, "execution");
    cr_assert_not_null(strstr(ex, "| exit | killed by signal 9 |"), "%s", ex);
    cr_assert_not_null(strstr(ex, "```text\ntraining step 7\n```"), "%s", ex);
    free(ex), free(t);
    fx_write(dir, "out/experiment_1_0_0/exit.json", "{\"status\":3,\"signal\":0,\"stopped\":true}");
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    ex = region_text(t, n, "execution");
    cr_assert_not_null(strstr(ex, "| exit | stopped on request (resumable), status 3 (stopped, checkpoint saved) |"), "%s", ex);
    free(ex), free(t);
    // Killed (no exit.json): the tail of experiment.log.
    char *exit_path = fx_path(dir, "out/experiment_1_0_0/exit.json");
    unlink(exit_path);
    char log[4096] = "";
    for (int i = 1; i <= 30; i++) snprintf(log + strlen(log), sizeof log - strlen(log), "log line %d\n", i);
    fx_write(dir, "out/experiment_1_0_0/experiment.log", log);
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0, "%s", mm_error_message());
    t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    ex = region_text(t, n, "execution");
    cr_assert_not_null(strstr(ex, "| exit | not available yet (no `out/experiment_1_0_0/exit.json`) |"), "%s", ex);
    cr_assert_not_null(strstr(ex, "\nlog line 11\n"), "%s", ex);
    cr_assert_not_null(strstr(ex, "\nlog line 30\n```"), "%s", ex);
    cr_assert_null(strstr(ex, "log line 10\n"), "the last 20 lines only: %s", ex);
    free(ex), free(t), free(exit_path);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

Test(report, index_has_one_row_per_experiment) {
    ex_project p;
    char *dir = setup("rep_index", &p);
    fx_expt_ok(dir, "new", "1.0.10", "--from", "1.0.0");
    fx_expt_ok(dir, "new", "1.0.2", NULL, NULL);
    fx_fill_fields(dir, "1.0.0");
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    mm_proc_result r = fx_expt(dir, "report", NULL, NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    mm_proc_result_free(&r);
    char *idx = fx_read(dir, "experiment/INDEX.md", NULL);
    const char *r0 =
        strstr(idx,
               "| [1.0.0](experiment_1.0.0.md) | 无 | model_original | 验证基线在演示语料上能收敛。 | "
               "6.5000 | - | 2.5000 ± 0.5000 | - | ");
    cr_assert_not_null(r0, "%s", idx);
    cr_assert_not_null(strstr(r0, " | 2024-05-01 |\n"), "%s", idx);
    const char *r2 =
        strstr(idx, "| [1.0.2](experiment_1.0.2.md) | - | model_original | - | - | - | - | - | ");
    const char *r10 =
        strstr(idx, "| [1.0.10](experiment_1.0.10.md) | 1.0.0 | model_original | - | - | - | - | - | ");
    cr_assert(r2 && r10 && r0 < r2 && r2 < r10, "rows sorted numerically:\n%s", idx);
    // Regenerating gives the same bytes.
    cr_assert_eq(ex_report_index(&p), 0);
    char *idx2 = fx_read(dir, "experiment/INDEX.md", NULL);
    cr_assert_str_eq(idx, idx2);
    // With [eval] facts_path the row shows the fact recall.
    fx_write(dir, "out/experiment_1_0_0/eval.json",
             "{\"summary\":{\"mean_loss\":2.5},\"facts\":{\"total\":78,\"correct\":61}}");
    cr_assert_eq(ex_report_index(&p), 0);
    char *idx3 = fx_read(dir, "experiment/INDEX.md", NULL);
    cr_assert_not_null(strstr(idx3, " | 6.5000 | - | 2.5000 | 61/78 = 78.2 % | "), "%s", idx3);
    // With [train] eval_interval the row shows the last validation loss.
    fx_write(dir, "out/experiment_1_0_0/metrics.jsonl",
             "{\"step\":10,\"loss\":6.5,\"val_loss\":7.25,\"val_loss_stderr\":0.125}\n");
    cr_assert_eq(ex_report_index(&p), 0);
    char *idx4 = fx_read(dir, "experiment/INDEX.md", NULL);
    cr_assert_not_null(strstr(idx4, " | 6.5000 | 7.2500 ± 0.1250 | 2.5000 | 61/78 = 78.2 % | "), "%s", idx4);
    free(idx4);
    free(idx), free(idx2), free(idx3);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

static char *git_out(const char *dir, const char *a1, const char *a2, const char *a3, const char *a4) {
    const char *argv[] = {"git", "-C", dir, a1, a2, a3, a4, NULL};
    mm_proc_result r = fx_run(argv);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *s = r.out;
    r.out = NULL;
    mm_proc_result_free(&r);
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n') s[--n] = '\0';
    return s;
}

Test(report, diff_shows_differing_keys_metrics_code_and_curves) {
    ex_project p;
    char *dir = setup("rep_diff", &p);
    fx_write(dir, "a.c", "int a;\n");
    fx_write(dir, "b.c", "int b;\n");
    fx_git(dir, "add", "a.c", "b.c", NULL);
    fx_git(dir, "commit", "-qm", "one", NULL);
    char *c1 = git_out(dir, "rev-parse", "HEAD", NULL, NULL);
    fx_write(dir, "a.c", "int a;\nint a2;\nint a3;\n");
    fx_write(dir, "c.c", "int c;\n");
    fx_git(dir, "add", "a.c", "c.c", NULL);
    fx_git(dir, "commit", "-qm", "two", NULL);
    char *c2 = git_out(dir, "rev-parse", "HEAD", NULL, NULL);
    fx_expt_ok(dir, "new", "1.0.1", "--from", "1.0.0");
    fx_run_outputs(dir, "out/experiment_1_0_0", c1);
    fx_run_outputs(dir, "out/experiment_1_0_1", c2);
    fx_write(dir, "out/experiment_1_0_1/config.ini",
             "[model]\nmodel_type = model_original\ndim = 64\n[train]\nlearning_rate = 0.001\nseed = 7\n");
    // 1.0.1 also evaluated fact recall ([eval] facts_path): 61 of 78; 1.0.0 did not
    fx_write(dir, "out/experiment_1_0_1/eval.json",
             "{\"samples\":[{\"input\":\"a\",\"reference\":\"b\",\"output\":\"c\",\"loss\":2.0}],"
             "\"summary\":{\"mean_loss\":2.0,\"num_samples\":1},\"facts\":{\"path\":\"demo/data/"
             "train_facts.jsonl\","
             "\"total\":78,\"correct\":61,\"by_lang\":{\"en\":{\"correct\":27,\"total\":39},"
             "\"zh\":{\"correct\":34,\"total\":39}}},\"bank_ablation\":{\"bank\":{\"spec\":\"empty\"},"
             "\"summary\":{\"mean_loss\":2.25},\"layers\":[{\"layer\":1,\"summary\":{\"mean_loss\":2.125}}]},"
             "\"retrieval\":{\"in_bank\":40,\"layers\":[{\"found_at_answer\":2},{\"found_at_answer\":5}]}}");
    // 1.0.1 is a memory run: its last log window read 31.25 % of the bank
    fx_write(dir, "out/experiment_1_0_1/metrics.jsonl",
             "{\"step\":1,\"loss\":8.0,\"memory_used_fraction\":0.5,\"memory_kl_uniform\":1.0}\n"
             "{\"step\":2,\"loss\":7.0,\"memory_used_fraction\":0.3125,\"memory_kl_uniform\":2.5}\n");
    char *ev = evaluation_of(&p, dir, "1.0.1");
    cr_assert_not_null(strstr(ev,
                              "| fact recall | 61/78 = 78.2 % (95 % interval 67.8–85.9 %; en 27/39; zh "
                              "34/39) on train_facts.jsonl |"),
                       "%s", ev);
    free(ev);
    mm_proc_result r = fx_expt(dir, "diff", "1.0.0", "1.0.1", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "  [train] learning_rate: 0.0005 -> 0.001\n"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  [train] seed: (unset) -> 7\n"), "%s", r.out);
    cr_assert_null(strstr(r.out, "dim"), "only keys that differ: %s", r.out);
    cr_assert_null(strstr(r.out, "model_type:"), "only keys that differ: %s", r.out);
    static const char *const metric_rows[] = {
        "final loss",
        "  fact recall                   -         0.7821 ",
        "  ablated loss                  -         2.2500 ",
        "  retrieval                     -         0.1250 ",
        "\n    layer 1                     -         2.1250 ",
        "\n  memory read                   -         0.3125 ",
        "\n  memory KL                     -         2.5000 ",
    };
    for (size_t i = 0; i < sizeof metric_rows / sizeof metric_rows[0]; i++)
        cr_assert_not_null(strstr(r.out, metric_rows[i]), "want '%s' in\n%s", metric_rows[i], r.out);
    cr_assert_null(strstr(r.out, "layer 0"), "a layer neither side ablated: %s", r.out);
    // The code diffstat's summary equals git's own.
    char *stat = git_out(dir, "diff", "--stat", c1, c2);
    const char *summary = strrchr(stat, '\n');
    summary = summary ? summary + 1 : stat;
    cr_assert_not_null(strstr(r.out, summary), "git says '%s'; expt diff says:\n%s", summary, r.out);
    cr_assert_not_null(strstr(r.out, "a.c"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "c.c"), "%s", r.out);
    cr_assert(fx_exists(dir, "experiment/assets/diff_1.0.0_1.0.1_loss.svg"));
    mm_proc_result_free(&r);
    free(stat), free(c1), free(c2);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

// Writes out/experiment_V/eval.json: four samples (lines 1-4) of `data` with these losses and six
// facts of `facts` with these results.
static void write_eval(const char *dir, const char *v, const char *data, const double loss[4],
                       const char *facts, const int ok[6]) {
    json_t *samples = json_array(), *items = json_array();
    for (int i = 0; i < 4; i++)
        json_array_append_new(samples, json_pack("{s:i,s:f}", "line", i + 1, "loss", loss[i]));
    int correct = 0;
    for (int i = 0; i < 6; i++) {
        json_array_append_new(items, json_pack("{s:i,s:b}", "line", 2 * i + 1, "correct", ok[i]));
        correct += ok[i];
    }
    json_t *e = json_pack("{s:s,s:o,s:{s:f,s:i},s:{s:s,s:i,s:i,s:o}}", "data", data, "samples", samples,
                          "summary", "mean_loss", (loss[0] + loss[1] + loss[2] + loss[3]) / 4, "num_samples",
                          4, "facts", "path", facts, "total", 6, "correct", correct, "items", items);
    char rel[128], *text = json_dumps(e, JSON_COMPACT);
    snprintf(rel, sizeof rel, "out/experiment_%s/eval.json", v);
    fx_write(dir, rel, text);
    free(text), json_decref(e);
}

// `expt diff`'s noise section, against Python's statistics module (the numbers below): the same
// samples and facts are compared pair by pair (the per-sample changes' standard error, the facts
// lost and gained with McNemar's exact p); other samples by both standard errors, other facts by
// each side's Wilson interval. A record based on another shows the same against it.
Test(report, diff_weighs_changes_against_their_noise) {
    ex_project p;
    char *dir = setup("rep_noise", &p);
    fx_expt_ok(dir, "new", "1.0.1", "--from", "1.0.0");
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    fx_run_outputs(dir, "out/experiment_1_0_1", COMMIT);
    const double la[4] = {3.0, 2.0, 4.0, 3.0}, lb[4] = {2.5, 1.75, 3.5, 2.25};
    const int fa[6] = {1, 1, 1, 0, 0, 1}, fb[6] = {0, 1, 1, 1, 0, 0};  // lost 1 and 6, gained 4
    write_eval(dir, "1_0_0", "v.jsonl", la, "f.jsonl", fa);
    write_eval(dir, "1_0_1", "v.jsonl", lb, "f.jsonl", fb);
    mm_proc_result r = fx_expt(dir, "diff", "1.0.0", "1.0.1", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    // d = -0.5, -0.25, -0.5, -0.75: mean -0.5, stdev(d)/2 = 0.10206, 4.899 standard errors
    const char *paired[] = {
        "  eval loss: -0.5000 ± 0.1021 standard error, paired over the same samples: 4.9 standard errors\n",
        "  fact recall: lost 2, gained 1 of the same 6 facts; McNemar's exact p = 1\n"};
    for (int i = 0; i < 2; i++)
        cr_assert_not_null(strstr(r.out, paired[i]), "want '%s' in\n%s", paired[i], r.out);
    mm_proc_result_free(&r);
    // 1.0.1's record (based on 1.0.0) says the same against its base
    char *ev = evaluation_of(&p, dir, "1.0.1");
    const char *rows =
        "| mean loss against 1.0.0 (based on) | -0.5000 ± 0.1021 standard error, paired over the same "
        "samples: 4.9 standard errors |\n| fact recall against 1.0.0 (based on) | lost 2, gained 1 of "
        "the same 6 facts; McNemar's exact p = 1 |\n";
    cr_assert_not_null(strstr(ev, rows), "want\n%s\nin\n%s", rows, ev);
    free(ev);
    ev = evaluation_of(&p, dir, "1.0.0");  // based on nothing
    cr_assert_null(strstr(ev, "(based on)"), "%s", ev);
    free(ev);
    // the same losses: no spread, not "inf standard errors"
    write_eval(dir, "1_0_1", "v.jsonl", la, "f.jsonl", fa);
    r = fx_expt(dir, "diff", "1.0.0", "1.0.1", NULL, NULL, NULL);
    cr_assert_not_null(
        strstr(r.out, "  eval loss: +0.0000, identical sample for sample over the same samples\n"), "%s",
        r.out);
    mm_proc_result_free(&r);
    // other samples, other facts: hypot(stdev(a)/2, stdev(b)/2) = 0.54962; Wilson 4/6 and 3/6
    write_eval(dir, "1_0_1", "w.jsonl", lb, "g.jsonl", fb);
    r = fx_expt(dir, "diff", "1.0.0", "1.0.1", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    const char *unpaired[] = {
        "  eval loss: -0.5000 ± 0.5496 standard error, unpaired (the two evaluated other samples): 0.9 "
        "standard "
        "errors\n",
        "  fact recall: other facts (another file or other lines), not paired; 95 % intervals 1.0.0 "
        "30.0-90.3 % "
        "1.0.1 18.8-81.2 %\n"};
    for (int i = 0; i < 2; i++)
        cr_assert_not_null(strstr(r.out, unpaired[i]), "want '%s' in\n%s", unpaired[i], r.out);
    mm_proc_result_free(&r);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

// A memory run's metrics rows: the record's training table shows the last log window's usage of
// the bank and what the EMA rewrote over the whole run (rows summed, a resumed run's included).
Test(report, memory_usage_rows) {
    ex_project p;
    char *dir = setup("rep_memuse", &p);
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    char *tr = training_with(
        &p, dir,
        "{\"step\":10,\"loss\":8.0,\"memory_used_fraction\":0.75,\"memory_usage_entropy\":7.0,"
        "\"memory_kl_uniform\":1.3,\"memory_entries_rewritten\":40,\"memory_ema_updates\":1}\n"
        "{\"step\":20,\"loss\":7.0,\"memory_used_fraction\":0.5,\"memory_usage_entropy\":7.5,"
        "\"memory_kl_uniform\":0.8,\"memory_entries_rewritten\":0,\"memory_ema_updates\":0}\n"
        "{\"step\":30,\"loss\":6.0,\"memory_used_fraction\":0.25,\"memory_usage_entropy\":6.25,"
        "\"memory_kl_uniform\":2.0625,\"memory_entries_rewritten\":2,\"memory_ema_updates\":1}\n");
    const char *rows =
        "| memory entries read (last log window) | 25.0 % of the bank |\n"
        "| memory usage entropy / KL from uniform (last window) | 6.250 / 2.062 nats |\n"
        "| memory entries rewritten (EMA) | 42 in 2 updates |\n";
    cr_assert_not_null(strstr(tr, rows), "want\n%s\nin\n%s", rows, tr);
    // frozen: no EMA row
    free(tr);
    tr =
        training_with(&p, dir,
                      "{\"step\":10,\"loss\":8.0,\"memory_used_fraction\":0.75,\"memory_usage_entropy\":7.0,"
                      "\"memory_kl_uniform\":1.3,\"memory_entries_rewritten\":0,\"memory_ema_updates\":0}\n");
    cr_assert_not_null(strstr(tr, "| memory entries read (last log window) | 75.0 % of the bank |\n"), "%s",
                       tr);
    cr_assert_null(strstr(tr, "rewritten"), "%s", tr);
    free(tr);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

// [train] eval_interval: the rows with a val_loss give the training table the last and the best
// validation loss, the chart a third series (its points only), `expt status` a line, `expt diff` a
// row, an unpaired noise line and a dashed curve in its chart; a row whose val_loss is null is not
// one of them.
Test(report, validation_loss_rows_chart_and_diff) {
    ex_project p;
    char *dir = setup("rep_val", &p);
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    char *tr = training_with(
        &p, dir,
        "{\"step\":10,\"loss\":8.0}\n{\"step\":20,\"loss\":7.0,\"val_loss\":7.25}\n"
        "{\"step\":30,\"loss\":6.0,\"val_loss\":null}\n{\"step\":40,\"loss\":5.0,\"val_loss\":7.5,\"val_"
        "loss_stderr\":0.125}\n");
    const char *rows =
        "| validation loss | 7.5000 ± 0.1250 (step 40) |\n"
        "| best validation loss | 7.2500 (step 20; 2 evaluations) |\n";
    cr_assert_not_null(strstr(tr, rows), "want\n%s\nin\n%s", rows, tr);
    char *svg = fx_read(dir, "experiment/assets/experiment_1.0.0_loss.svg", NULL);
    cr_assert_not_null(strstr(svg, "validation loss"), "%s", svg);
    mm_proc_result st = fx_expt(dir, "status", "1.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(st.status, 0, "%s%s", st.out, st.err);
    cr_assert_not_null(
        strstr(st.out, "  validation:     loss 7.5000 ± 0.1250 at step 40 (best 7.2500 at step 20)\n"), "%s",
        st.out);
    mm_proc_result_free(&st);
    free(tr), free(svg);
    // without val_loss: no rows, no series
    tr = training_with(&p, dir, "{\"step\":10,\"loss\":8.0}\n");
    svg = fx_read(dir, "experiment/assets/experiment_1.0.0_loss.svg", NULL);
    cr_assert(!strstr(tr, "validation") && !strstr(svg, "validation"), "%s", tr);
    free(tr), free(svg);
    // expt diff: the last validation loss side by side
    fx_expt_ok(dir, "new", "1.0.1", "--from", "1.0.0");
    fx_run_outputs(dir, "out/experiment_1_0_1", COMMIT);
    fx_write(dir, "out/experiment_1_0_0/metrics.jsonl",
             "{\"step\":10,\"loss\":8.0,\"val_loss\":7.0,\"val_loss_stderr\":0.3}\n");
    fx_write(dir, "out/experiment_1_0_1/metrics.jsonl",
             "{\"step\":10,\"loss\":6.0,\"val_loss\":6.5,\"val_loss_stderr\":0.4}\n");
    mm_proc_result r = fx_expt(dir, "diff", "1.0.0", "1.0.1", NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "  validation loss          7.0000         6.5000 "), "%s", r.out);
    // -0.5 against hypot(0.3, 0.4) = 0.5: one standard error
    cr_assert_not_null(
        strstr(r.out,
               "  validation loss: -0.5000 ± 0.5000 standard error, unpaired (conservative when "
               "both validated on the same documents): 1.0 standard errors\n"),
        "%s", r.out);
    mm_proc_result_free(&r);
    svg = fx_read(dir, "experiment/assets/diff_1.0.0_1.0.1_loss.svg", NULL);  // its curve, dashed
    cr_assert(strstr(svg, "1.0.1 validation") && strstr(svg, "1.0.0 validation"), "%s", svg);
    free(svg);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}

// [eval] bank_ablation: the mandatory evaluation's command gets `--bank_ablation SPEC` (not for
// "none"), and the record's evaluation shows the ablation's loss (with its difference) and recall,
// with "layers" also each layer's.
Test(report, bank_ablation_flag_and_rows) {
    ex_project p;
    char *dir = setup("rep_ablation", &p);
    char *ini = fx_read(dir, "run_file/experiment_1.0.0.ini", NULL);
    static const char *const cases[][2] = {{"", NULL},
                                           {"[eval]\nbank_ablation = none\n", NULL},
                                           {"[eval]\nbank_ablation = shuffle\n", "shuffle"},
                                           {"[eval]\nbank_ablation = layers\n", "layers"},
                                           {"[eval]\nretrieval = on\nbank_ablation = none\n", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(ini) + strlen(cases[i][0]) + 1;
        char *t = malloc(n);
        snprintf(t, n, "%s%s", ini, cases[i][0]);
        fx_write(dir, "run_file/experiment_1.0.0.ini", t);
        free(t);
        ex_strv argv = {0};
        cr_assert_eq(ex_eval_argv(&p, "1.0.0", 0, &argv), 0, "%s", mm_error_message());
        size_t at = argv.n;
        for (size_t k = 0; k < argv.n; k++)
            if (!strcmp(argv.v[k], "--bank_ablation")) at = k;
        if (cases[i][1]) {
            cr_assert(at + 1 < argv.n && !strcmp(argv.v[at + 1], cases[i][1]),
                      "case %zu: no --bank_ablation %s", i, cases[i][1]);
        } else {
            cr_assert_eq(at, argv.n, "case %zu: --bank_ablation passed", i);
        }
        int retrieval = 0;
        for (size_t k = 0; k < argv.n; k++) retrieval |= !strcmp(argv.v[k], "--retrieval");
        cr_assert_eq(retrieval, strstr(cases[i][0], "retrieval = on") != NULL, "case %zu: --retrieval", i);
        ex_strv_free(&argv);
    }
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    fx_write(
        dir, "out/experiment_1_0_0/eval.json",
        "{\"summary\":{\"mean_loss\":3.5,\"num_samples\":4},\"facts\":{\"path\":\"f.jsonl\",\"total\":78,"
        "\"correct\":59},\"bank_ablation\":{\"bank\":{\"spec\":\"empty\",\"kind\":\"empty\"},"
        "\"summary\":{\"mean_loss\":3.25,\"num_samples\":4},\"facts\":{\"total\":78,\"correct\":58}}}");
    char *ev = evaluation_of(&p, dir, "1.0.0");
    cr_assert_not_null(strstr(ev, "| mean loss, bank empty | 3.2500 (-0.2500) |\n"), "%s", ev);
    cr_assert_not_null(strstr(ev, "| fact recall, bank empty | 58/78 = 74.4 % |\n"), "%s", ev);
    free(ev);
    // "layers": a pair of rows per layer after the whole bank's
    fx_write(
        dir, "out/experiment_1_0_0/eval.json",
        "{\"summary\":{\"mean_loss\":3.5,\"num_samples\":4},\"bank_ablation\":{\"spec\":\"layers\","
        "\"bank\":{\"spec\":\"empty\",\"kind\":\"empty\"},\"summary\":{\"mean_loss\":3.75},"
        "\"facts\":{\"total\":78,\"correct\":50},\"layers\":[{\"layer\":0,\"summary\":{\"mean_loss\":3.5625},"
        "\"loss_change\":{\"mean\":0.0625,\"stderr\":0.0313,\"samples\":4},"
        "\"facts\":{\"total\":78,\"correct\":57,\"lost\":3,\"gained\":1,\"mcnemar_p\":0.625}},"
        "{\"layer\":1,\"summary\":{\"mean_loss\":3.625}}]}}");
    ev = evaluation_of(&p, dir, "1.0.0");
    const char *rows =
        "| mean loss, bank empty | 3.7500 (+0.2500) |\n"
        "| fact recall, bank empty | 50/78 = 64.1 % |\n"
        "| mean loss, layer 0: bank empty | 3.5625 (+0.0625 ± 0.0313 paired standard error) |\n"
        "| fact recall, layer 0: bank empty | 57/78 = 73.1 % (lost 3, gained 1; McNemar p = 0.625) |\n"
        "| mean loss, layer 1: bank empty | 3.6250 (+0.1250) |\n";
    cr_assert_not_null(strstr(ev, rows), "want\n%s\nin\n%s", rows, ev);
    free(ev);
    // [eval] retrieval = on: the facts whose entry each layer reads
    fx_write(
        dir, "out/experiment_1_0_0/eval.json",
        "{\"summary\":{\"mean_loss\":3.5,\"num_samples\":4},\"retrieval\":{\"facts\":80,\"in_bank\":78,"
        "\"num\":4096,\"empty_entries\":1024,\"chance\":{\"found_at_answer\":0.30,\"found_in_prompt\":1.75},"
        "\"layers\":[{\"layer\":0,\"found_at_answer\":0,\"found_in_prompt\":1,\"mean_empty_weight_at_"
        "answer\":"
        "0.5},{\"layer\":1,\"found_at_answer\":12,\"found_in_prompt\":30,\"mean_empty_weight_at_answer\":"
        "0.125}]}}");
    ev = evaluation_of(&p, dir, "1.0.0");
    const char *rrows =
        "| fact's entry read at the answer, by layer | 0, 12 of 78 (uniform reads: 0.3) |\n"
        "| fact's entry read anywhere in the prompt, by layer | 1, 30 of 78 (uniform reads: 1.8) |\n"
        "| weight on empty entries at the answer, by layer | 0.50, 0.12 (empty entries: 25.0 % of the bank) "
        "|\n";
    cr_assert_not_null(strstr(ev, rrows), "want\n%s\nin\n%s", rrows, ev);
    free(ev);
    // a retrieval that failed (the evaluation went on): one row with the reason; and fields missing
    // from a retrieval summary (an older engine's) leave the table's rows whole
    fx_write(dir, "out/experiment_1_0_0/eval.json",
             "{\"summary\":{\"mean_loss\":3.5},\"retrieval\":{\"error\":\"f.jsonl:2: missing integer field "
             "'fact_id'\"}}");
    ev = evaluation_of(&p, dir, "1.0.0");
    cr_assert_not_null(
        strstr(ev,
               "| fact's entry read, by layer | not measured: f.jsonl:2: missing integer field "
               "'fact_id' |\n"),
        "%s", ev);
    free(ev);
    fx_write(dir, "out/experiment_1_0_0/eval.json",
             "{\"summary\":{\"mean_loss\":3.5},\"retrieval\":{\"in_bank\":2,\"layers\":[{\"found_at_answer\":"
             "1}]}}");
    ev = evaluation_of(&p, dir, "1.0.0");
    cr_assert_not_null(
        strstr(ev,
               "| weight on empty entries at the answer, by layer | - (empty entries: - % of the "
               "bank) |\n"),
        "%s", ev);
    free(ev), free(ini);
    ex_project_close(&p);
    mm_test_rmtree(dir);
    free(dir);
}
