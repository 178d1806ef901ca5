// The quality gates: a constructed experiment passes every gate; breaking one thing fails exactly
// the gate it belongs to, with a reason that names it. `expt check` exits 0 / 1 accordingly.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "expt_fixture.h"
#include "gates.h"
#include "project.h"
#include "report.h"

#define COMMIT "89abcdef0123456789abcdef0123456789abcdef"

enum { G_HUMAN, G_AI, G_CONFIG, G_PATHS, G_GIT, G_TRAIN, G_EVAL, G_ANALYSIS, G_CONCLUSION, G_COUNT };

// A qualified experiment 1.0.0: fields filled, data present, run outputs, report done.
static char *qualified(const char *tag, ex_project *p) {
    char *dir = fx_repo(tag);
    fx_expt_ok(dir, "init", NULL, NULL, NULL);
    fx_expt_ok(dir, "new", "1.0.0", NULL, NULL);
    fx_fill_fields(dir, "1.0.0");
    fx_data(dir);
    fx_run_outputs(dir, "out/experiment_1_0_0", COMMIT);
    cr_assert_eq(ex_project_open(p, dir), 0, "%s", mm_error_message());
    cr_assert_eq(ex_report_experiment(p, "1.0.0"), 0, "%s", mm_error_message());
    return dir;
}

// Asserts exactly gate `failing` fails (-1: none) and its reason contains `why`.
static void expect_gates(const ex_project *p, int failing, const char *why) {
    ex_gate_list g;
    cr_assert_eq(ex_gates_all(p, "1.0.0", &g), 0, "%s", mm_error_message());
    cr_assert_eq(g.n, G_COUNT);
    for (int i = 0; i < g.n; i++) {
        if (i == failing) {
            cr_assert(!g.gates[i].passed, "gate '%s' should fail", g.gates[i].name);
            cr_assert_not_null(strstr(g.gates[i].reason, why), "gate '%s': reason '%s' lacks '%s'", g.gates[i].name,
                               g.gates[i].reason, why);
        } else {
            cr_assert(g.gates[i].passed, "gate '%s' should pass: %s", g.gates[i].name, g.gates[i].reason);
        }
    }
    cr_assert_eq(ex_gates_passed(&g), failing < 0);
    // The pre-run list is the first four gates.
    ex_gate_list pre;
    cr_assert_eq(ex_gates_prerun(p, "1.0.0", &pre), 0);
    cr_assert_eq(pre.n, 4);
    cr_assert_eq(ex_gates_passed(&pre), failing < 0 || failing >= 4);
}

static void replace_in_record(const char *dir, const char *from, const char *to) {
    size_t n;
    char *t = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    char *hit = strstr(t, from);
    cr_assert_not_null(hit, "'%s' not in the record", from);
    size_t a = (size_t)(hit - t), fl = strlen(from), tl = strlen(to);
    char *u = malloc(n - fl + tl + 1);
    memcpy(u, t, a);
    memcpy(u + a, to, tl);
    memcpy(u + a + tl, t + a + fl, n - a - fl + 1);
    char *path = fx_path(dir, "experiment/experiment_1.0.0.md");
    mm_test_write_file(path, u, strlen(u));
    free(t), free(u), free(path);
}

static void done(ex_project *p, char *dir) {
    ex_project_close(p);
    mm_test_rmtree(dir);
    free(dir);
}

Test(gates, all_pass_on_a_qualified_experiment_and_check_exits_0) {
    ex_project p;
    char *dir = qualified("g_all", &p);
    expect_gates(&p, -1, "");
    mm_proc_result r = fx_expt(dir, "check", "1.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "✓ evaluation present"), "%s", r.out);
    cr_assert_null(strstr(r.out, "✗"), "%s", r.out);
    mm_proc_result_free(&r);
    done(&p, dir);
}

Test(gates, human_fields) {
    ex_project p;
    char *dir = qualified("g_human", &p);
    replace_in_record(dir, "学习率 5e-4 足够。", "[人类填写] 假设");
    expect_gates(&p, G_HUMAN, "研究假设 (hypothesis, line");
    mm_proc_result r = fx_expt(dir, "check", "1.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.out, "✗ goal, hypothesis and expected result filled: 研究假设"), "%s", r.out);
    mm_proc_result_free(&r);
    replace_in_record(dir, "[人类填写] 假设", "学习率 5e-4 足够。");
    replace_in_record(dir, "最终 loss < 5。", "");
    expect_gates(&p, G_HUMAN, "预期结果 (expected, line");
    done(&p, dir);
}

Test(gates, ai_reasoning) {
    ex_project p;
    char *dir = qualified("g_ai", &p);
    replace_in_record(dir, "先跑基线。", "[AI填写] 思考");
    expect_gates(&p, G_AI, "设计思路 (reasoning");
    done(&p, dir);
}

Test(gates, configuration_parses) {
    ex_project p;
    char *dir = qualified("g_cfg", &p);
    char *ini = fx_read(dir, "run_file/experiment_1.0.0.ini", NULL);
    static const char *const bad[][2] = {
        {"[optimizer]\nfoo = 1\n", "unknown section"},
        {"[train]\nbatch_size = many\n", "batch_size: not an integer"},
        {"[train]\nlearning_rate = 1e-3x\n", "learning_rate: not a number"},
        {"[model]\nmodel_type = gpt\n", "unknown model_type"},
        {"[train]\njust a line\n", "not `key = value`"},
        {"[train]\nwarmup_iters = 1\nwarmup_iters = 2\n", "given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(ini) + strlen(bad[i][0]) + 1;
        char *t = malloc(n);
        snprintf(t, n, "%s%s", ini, bad[i][0]);
        fx_write(dir, "run_file/experiment_1.0.0.ini", t);
        // The error names the file and the line (the appended lines are the last ones).
        int lines = 0;
        for (char *c = t; *c; c++) lines += *c == '\n';
        char where[128];
        snprintf(where, sizeof where, "run_file/experiment_1.0.0.ini:%d: ", lines);
        ex_gate_list g;
        cr_assert_eq(ex_gates_all(&p, "1.0.0", &g), 0);
        cr_assert(!g.gates[G_CONFIG].passed, "%s", bad[i][0]);
        cr_assert_not_null(strstr(g.gates[G_CONFIG].reason, bad[i][1]), "%s", g.gates[G_CONFIG].reason);
        cr_assert_not_null(strstr(g.gates[G_CONFIG].reason, where), "'%s' lacks '%s'", g.gates[G_CONFIG].reason, where);
        cr_assert(!g.gates[G_PATHS].passed, "paths cannot be checked without a configuration");
        free(t);
    }
    // [eval] bank_ablation on a model without a bank (the default model_original): the evaluation
    // would fail, so the gate does; the configuration still parses (paths are checked). With a
    // memory model, or "none", it passes.
    ex_gate_list g;
    static const char *const ablation[][3] = {
        {"[eval]\nbank_ablation = empty\n", "",
         "bank_ablation = empty needs a memory bank, model_type model_original"},
        {"[eval]\nbank_ablation = shuffle\n", "model_original", "model_type model_original has none"},
        {"[eval]\nbank_ablation = none\n", "model_original", NULL},
        {"[eval]\nbank_ablation = empty\n", "model", NULL},
        {"[eval]\nbank_ablation = layers\n", "model_original", "model_type model_original has none"},
        {"[eval]\nbank_ablation = layers\n", "model_no_feed", NULL},
        {"[eval]\nretrieval = on\nfacts_path = demo/facts.jsonl\n", "model_original",
         "[eval] retrieval = on needs a memory bank, model_type model_original has none"},
        {"[eval]\nretrieval = on\n", "model", "[eval] retrieval = on needs [eval] facts_path"},
        {"[eval]\nretrieval = on\nfacts_path = demo/facts.jsonl\n", "model",
         "[eval] retrieval = on needs [knowledge] database_init_path"},
        {"[eval]\nretrieval = on\nfacts_path = demo/facts.jsonl\n[knowledge]\ndatabase_init_path = "
         "demo/db.json\n",
         "model", NULL},
        {"[eval]\nretrieval = off\n", "model_original", NULL},
    };
    fx_write(dir, "demo/facts.jsonl", "{\"prompt\":\"Vove is in\",\"answer\":\"Zasu\",\"fact_id\":7}\n");
    for (size_t i = 0; i < sizeof ablation / sizeof ablation[0]; i++) {
        const char *mt = strstr(ini, "model_type = model_original\n");
        cr_assert_not_null(mt, "the template's model_type line");
        size_t n = strlen(ini) + strlen(ablation[i][0]) + 64;
        char *t = malloc(n);
        snprintf(t, n, "%.*s%s%s%s%s", (int)(mt - ini), ini, *ablation[i][1] ? "model_type = " : "",
                 ablation[i][1], *ablation[i][1] ? "\n" : "", mt + strlen("model_type = model_original\n"));
        strcat(t, ablation[i][0]);
        fx_write(dir, "run_file/experiment_1.0.0.ini", t);
        cr_assert_eq(ex_gates_all(&p, "1.0.0", &g), 0);
        const char *why = g.gates[G_CONFIG].reason;
        if (ablation[i][2]) {
            cr_assert(!g.gates[G_CONFIG].passed && strstr(why, ablation[i][2]), "%s: %s", ablation[i][0],
                      why);
            cr_assert(g.gates[G_PATHS].passed, "the paths are still checked: %s", g.gates[G_PATHS].reason);
        } else {
            cr_assert(g.gates[G_CONFIG].passed, "%s%s: %s", ablation[i][0], ablation[i][1], why);
        }
        free(t);
    }
    // A missing file.
    char *path = fx_path(dir, "run_file/experiment_1.0.0.ini");
    unlink(path);
    cr_assert_eq(ex_gates_all(&p, "1.0.0", &g), 0);
    cr_assert_not_null(strstr(g.gates[G_CONFIG].reason, "run_file/experiment_1.0.0.ini: missing"), "%s",
                       g.gates[G_CONFIG].reason);
    free(path), free(ini);
    done(&p, dir);
}

Test(gates, data_paths_exist) {
    ex_project p;
    char *dir = qualified("g_paths", &p);
    char *tok = fx_path(dir, "demo/pretrain.tok");
    unlink(tok);
    expect_gates(&p, G_PATHS, "data_path = demo/pretrain.tok does not exist");
    fx_write(dir, "demo/pretrain.tok", "t");
    // database_init_path is checked when set.
    char *ini = fx_read(dir, "run_file/experiment_1.0.0.ini", NULL);
    size_t n = strlen(ini) + 64;
    char *t = malloc(n);
    // (a second [knowledge] header continues that section in inih)
    snprintf(t, n, "%s\n[knowledge]\ndatabase_init_path = demo/db.json\n", ini);
    fx_write(dir, "run_file/experiment_1.0.0.ini", t);
    expect_gates(&p, G_PATHS, "database_init_path = demo/db.json does not exist");
    fx_write(dir, "demo/db.json", "[]");
    expect_gates(&p, -1, "");
    // [eval] retrieval = on also needs the bank's mapping file beside it
    char *mem = fx_read(dir, "run_file/experiment_1.0.0.ini", NULL);
    char *at = strstr(mem, "model_type = model_original\n");
    cr_assert_not_null(at);
    memmove(at + strlen("model_type = model"), at + strlen("model_type = model_original"),
            strlen(at + strlen("model_type = model_original")) + 1);
    size_t m = strlen(mem) + 64;
    char *u = malloc(m);
    snprintf(u, m, "%s[eval]\nretrieval = on\nfacts_path = demo/facts.jsonl\n", mem);
    fx_write(dir, "run_file/experiment_1.0.0.ini", u);
    fx_write(dir, "demo/facts.jsonl", "{\"prompt\":\"Vove is in\",\"answer\":\"Zasu\"}\n");
    expect_gates(&p, G_PATHS,
                 "demo/db.json.mapping.jsonl (beside database_init_path, written by `minimind prep "
                 "knowledge`) does not exist: [eval] retrieval = on reads it");
    fx_write(dir, "demo/db.json.mapping.jsonl", "");
    expect_gates(&p, G_PATHS, "facts_path = demo/facts.jsonl: line 1 has no integer fact_id");
    fx_write(dir, "demo/facts.jsonl",
             "\n{\"prompt\":\"Vove is "
             "in\",\"answer\":\"Zasu\",\"fact_id\":7}\n{\"prompt\":\"b\",\"fact_id\":\"8\"}\n");
    expect_gates(&p, G_PATHS, "facts_path = demo/facts.jsonl: line 3 has no integer fact_id");
    fx_write(dir, "demo/facts.jsonl", "\n{\"prompt\":\"Vove is in\",\"answer\":\"Zasu\",\"fact_id\":7}\n");
    expect_gates(&p, -1, "");
    free(u), free(mem);
    free(t), free(ini), free(tok);
    done(&p, dir);
}

Test(gates, git_record_present) {
    ex_project p;
    char *dir = qualified("g_git", &p);
    char *patch = fx_path(dir, "out/experiment_1_0_0/git.patch");
    unlink(patch);
    expect_gates(&p, G_GIT, "no git.patch");
    fx_write(dir, "out/experiment_1_0_0/git.patch", "");
    // git.json with another commit than the one in the record: the region is stale.
    fx_write(dir, "out/experiment_1_0_0/git.json", "{\"commit\":\"fedcba9876543210fedcba9876543210fedcba98\"}");
    expect_gates(&p, G_GIT, "is not filled from git.json");
    cr_assert_eq(ex_report_experiment(&p, "1.0.0"), 0);
    expect_gates(&p, -1, "");
    char *gj = fx_path(dir, "out/experiment_1_0_0/git.json");
    unlink(gj);
    expect_gates(&p, G_GIT, "no git.json");
    free(patch), free(gj);
    done(&p, dir);
}

Test(gates, training_finished_without_anomaly) {
    ex_project p;
    char *dir = qualified("g_train", &p);
    fx_write(dir, "out/experiment_1_0_0/exit.json", "{\"status\":1,\"signal\":0}");
    expect_gates(&p, G_TRAIN, "exit status 1");
    fx_write(dir, "out/experiment_1_0_0/exit.json", "{\"status\":137,\"signal\":9}");
    expect_gates(&p, G_TRAIN, "killed by signal 9");
    char *ex = fx_path(dir, "out/experiment_1_0_0/exit.json");
    unlink(ex);
    expect_gates(&p, G_TRAIN, "no exit.json");
    fx_write(dir, "out/experiment_1_0_0/exit.json", "{\"status\":0,\"signal\":0}");
    expect_gates(&p, -1, "");
    // NaN written as a bare word (not JSON) on line 3, or as null.
    fx_write(dir, "out/experiment_1_0_0/metrics.jsonl",
             "{\"step\":1,\"loss\":8.5}\n{\"step\":2,\"loss\":7.5}\n{\"step\":3,\"loss\":NaN}\n{\"step\":4,\"loss\":7}\n");
    expect_gates(&p, G_TRAIN, "metrics.jsonl:3: NaN/Inf");
    fx_write(dir, "out/experiment_1_0_0/metrics.jsonl", "{\"step\":1,\"loss\":8.5}\n{\"step\":2,\"loss\":null}\n");
    expect_gates(&p, G_TRAIN, "metrics.jsonl:2: NaN/Inf");
    free(ex);
    done(&p, dir);
}

Test(gates, evaluation_present) {
    ex_project p;
    char *dir = qualified("g_eval", &p);
    char *ev = fx_path(dir, "out/experiment_1_0_0/eval.json");
    unlink(ev);
    expect_gates(&p, G_EVAL, "no eval.json (evaluation is mandatory");
    fx_write(dir, "out/experiment_1_0_0/eval.json", "{\"samples\":[],\"summary\":{\"mean_loss\":2.0}}");
    expect_gates(&p, G_EVAL, "no samples");
    fx_write(dir, "out/experiment_1_0_0/eval.json", "{\"samples\":[");
    expect_gates(&p, G_EVAL, "eval.json:");
    free(ev);
    done(&p, dir);
}

Test(gates, analysis_and_conclusion) {
    ex_project p;
    char *dir = qualified("g_concl", &p);
    replace_in_record(dir, "loss 平稳下降。", "[AI填写] 分析");
    expect_gates(&p, G_ANALYSIS, "结果分析 (analysis");
    replace_in_record(dir, "[AI填写] 分析", "loss 平稳下降。");
    replace_in_record(dir, "下一步：1.1.0 换成记忆层。", "[AI填写] 下一步");
    expect_gates(&p, G_CONCLUSION, "下一步 (next_steps");
    replace_in_record(dir, "[AI填写] 下一步", "next");
    replace_in_record(dir, "假设成立。", "  ");
    expect_gates(&p, G_CONCLUSION, "结论 (conclusion, line");
    done(&p, dir);
}

Test(gates, missing_record_is_an_error) {
    ex_project p;
    char *dir = qualified("g_none", &p);
    ex_gate_list g;
    cr_assert_eq(ex_gates_all(&p, "2.0.0", &g), -1);
    cr_assert_not_null(strstr(mm_error_message(), "experiment/experiment_2.0.0.md: no such record"), "%s",
                       mm_error_message());
    cr_assert_eq(ex_gates_all(&p, "2.0", &g), -1, "bad version");
    mm_proc_result r = fx_expt(dir, "check", "2.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "expt: error: experiment/experiment_2.0.0.md: no such record"), "%s", r.err);
    mm_proc_result_free(&r);
    done(&p, dir);
}
