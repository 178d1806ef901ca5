// `expt init` and `expt new`: init is idempotent and never overwrites an edited file; new
// validates versions (nothing escapes the folders), refuses to overwrite, copies the parent's
// configuration with --from and fills "based on"; every command has --help.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "expt_fixture.h"
#include "inifile.h"
#include "runconfig.h"
#include "templates.h"

static char *inited(const char *tag) {
    char *dir = fx_repo(tag);
    fx_expt_ok(dir, "init", NULL, NULL, NULL);
    return dir;
}

static void done(char *dir) {
    mm_test_rmtree(dir);
    free(dir);
}

Test(init, creates_the_layout_and_is_idempotent) {
    char *dir = inited("n_init");
    static const char *const files[] = {"templates/EXPERIMENT_TEMPLATE.md", "templates/EXPERIMENT_TEMPLATE.en.md",
                                        "templates/experiment_template.sh", "templates/experiment_template.ini",
                                        "experiment/README.md", "expt.ini", "out/.gitignore", NULL};
    for (int i = 0; files[i]; i++) cr_assert(fx_exists(dir, files[i]), "%s", files[i]);
    cr_assert(fx_exists(dir, "run_file") && fx_exists(dir, "experiment/assets"));
    // The templates are the toolkit's own files, byte for byte.
    for (int i = 0; i < 5; i++) {
        char *src = mm_test_path(MM_SOURCE_DIR, files[i]);
        size_t a, b;
        char *want = mm_read_file(src, &a);
        char *got = fx_read(dir, files[i], &b);
        cr_assert(want && a == b && memcmp(want, got, a) == 0, "%s differs from the source tree", files[i]);
        free(src), free(want), free(got);
    }
    struct stat st;
    char *sh = fx_path(dir, "templates/experiment_template.sh");
    cr_assert_eq(stat(sh, &st), 0);
    cr_assert(st.st_mode & S_IXUSR, "the run script template is executable");
    // Out of git: `git status` does not list out/.
    fx_write(dir, "out/experiment_1_0_0/metrics.jsonl", "{}\n");
    const char *argv[] = {"git", "-C", dir, "status", "--porcelain", "--untracked-files=all", NULL};
    mm_proc_result r = fx_run(argv);
    cr_assert_null(strstr(r.out, "out/"), "%s", r.out);
    mm_proc_result_free(&r);
    // An edited template survives a second init, and nothing else changes.
    fx_write(dir, "templates/EXPERIMENT_TEMPLATE.md", "# my own template\n");
    fx_write(dir, "expt.ini", "[record]\nlang = en\n");
    r = fx_expt(dir, "init", NULL, NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "kept     templates/EXPERIMENT_TEMPLATE.md (differs"), "%s", r.out);
    cr_assert_null(strstr(r.out, "created"), "second init creates nothing: %s", r.out);
    mm_proc_result_free(&r);
    char *t = fx_read(dir, "templates/EXPERIMENT_TEMPLATE.md", NULL);
    cr_assert_str_eq(t, "# my own template\n");
    char *ini = fx_read(dir, "expt.ini", NULL);
    cr_assert_str_eq(ini, "[record]\nlang = en\n");
    free(t), free(ini), free(sh);
    done(dir);
}

Test(init, outside_a_repository_is_refused) {
    // $TMPDIR may lie inside the build tree's repository: use /tmp.
    char *dir = strdup("/tmp/mm_expt_norepo.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    mm_proc_result r = fx_expt(dir, "init", NULL, NULL, NULL, NULL, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "expt: error: "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, "not inside a git repository"), "%s", r.err);
    mm_proc_result_free(&r);
    done(dir);
}

Test(new_, bad_versions_are_refused_and_create_nothing) {
    char *dir = inited("n_bad");
    static const char *const bad[] = {"1.2", "1.2.3.4", "../1.2.3", "1.a.3", "", "1..3", "-1.2.3", "1.2.3/",
                                      "1.2.3 ", "01234567890.1.1", NULL};
    for (int i = 0; bad[i]; i++) {
        mm_proc_result r = fx_expt(dir, "new", bad[i], NULL, NULL, NULL, NULL);
        cr_assert_eq(r.status, 2, "'%s' must be refused (exit %d): %s", bad[i], r.status, r.err);
        cr_assert_not_null(strstr(r.err, "expt: error: "), "%s", r.err);
        mm_proc_result_free(&r);
    }
    mm_proc_result r = fx_expt(dir, "new", "1.0.0", "--from", "../x", NULL, NULL);
    cr_assert_eq(r.status, 2);
    mm_proc_result_free(&r);
    r = fx_expt(dir, "new", "1.0.0", "--model-type", "gpt2", NULL, NULL);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "model_original, model or model_no_feed"), "%s", r.err);
    mm_proc_result_free(&r);
    r = fx_expt(dir, "new", "1.0.0", "--lang", "fr", NULL, NULL);
    cr_assert_eq(r.status, 2);
    mm_proc_result_free(&r);
    const char *argv[] = {"git", "-C", dir, "status", "--porcelain", "--untracked-files=all", "run_file", "experiment", NULL};
    r = fx_run(argv);
    cr_assert_null(strstr(r.out, "experiment_"), "nothing created: %s", r.out);
    mm_proc_result_free(&r);
    done(dir);
}

Test(new_, creates_three_files_and_refuses_to_overwrite) {
    char *dir = inited("n_new");
    fx_expt_ok(dir, "new", "1.0.0", NULL, NULL);
    size_t n;
    char *md = fx_read(dir, "experiment/experiment_1.0.0.md", &n);
    cr_assert_not_null(strstr(md, "# 实验记录 experiment_1.0.0\n"), "version substituted");
    cr_assert_null(strstr(md, "{{VERSION}}"));
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "rec", md, n), 0, "%s", mm_error_message());
    cr_assert_eq(r.n_regions, 5, "every machine region in the template");
    ex_record_free(&r);
    char *ini = fx_read(dir, "run_file/experiment_1.0.0.ini", NULL);
    cr_assert_not_null(strstr(ini, "\nmodel_type = model_original\n"), "%s", ini);
    char *sh = fx_read(dir, "run_file/experiment_1.0.0.sh", NULL);
    cr_assert_not_null(strstr(sh, "\"$MINIMIND\" train --config \"$EXPT_CONFIG\" --out \"$EXPT_OUT\""));
    // It only trains (exec: the engine gets the stop signal and its exit status is the script's);
    // the supervisor runs the mandatory evaluation.
    cr_assert_not_null(strstr(sh, "\nexec \"$MINIMIND\" train "));
    cr_assert_null(strstr(sh, "\"$MINIMIND\" eval"));
    // bash accepts the script.
    char *shp = fx_path(dir, "run_file/experiment_1.0.0.sh");
    const char *bash[] = {"bash", "-n", shp, NULL};
    mm_proc_result pr = fx_run(bash);
    cr_assert_eq(pr.status, 0, "%s", pr.err);
    mm_proc_result_free(&pr);
    // Edit, then try again: refused, bytes untouched.
    fx_write(dir, "experiment/experiment_1.0.0.md", "edited by hand\n");
    pr = fx_expt(dir, "new", "1.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(pr.status, 1);
    cr_assert_not_null(strstr(pr.err, "experiment/experiment_1.0.0.md already exists: refusing to overwrite"), "%s",
                       pr.err);
    mm_proc_result_free(&pr);
    char *after = fx_read(dir, "experiment/experiment_1.0.0.md", NULL);
    cr_assert_str_eq(after, "edited by hand\n");
    // Only the run file existing is enough to refuse.
    fx_write(dir, "run_file/experiment_2.0.0.ini", "[model]\n");
    pr = fx_expt(dir, "new", "2.0.0", NULL, NULL, NULL, NULL);
    cr_assert_eq(pr.status, 1);
    mm_proc_result_free(&pr);
    cr_assert(!fx_exists(dir, "experiment/experiment_2.0.0.md"), "all or nothing");
    free(md), free(ini), free(sh), free(shp), free(after);
    done(dir);
}

Test(new_, from_copies_the_configuration_and_fills_based_on) {
    char *dir = inited("n_from");
    fx_expt_ok(dir, "new", "1.0.0", "--model-type", "model_no_feed");
    // The parent's configuration, edited by the AI (CRLF on purpose: copied byte for byte).
    const char *parent = "[model]\r\nmodel_type = model_no_feed\r\ndim = 256 ; smaller\r\n[train]\r\nlearning_rate = 1e-3\r\n";
    fx_write(dir, "run_file/experiment_1.0.0.ini", parent);
    fx_expt_ok(dir, "new", "1.1.0", "--from", "1.0.0");
    char *ini = fx_read(dir, "run_file/experiment_1.1.0.ini", NULL);
    cr_assert_str_eq(ini, parent);
    char *path = fx_path(dir, "experiment/experiment_1.1.0.md");
    ex_record r;
    cr_assert_eq(ex_record_load(&r, path, NULL), 0, "%s", mm_error_message());
    ex_field_value v;
    cr_assert_eq(ex_record_field(&r, EX_FIELD_BASED_ON, &v), 0);
    cr_assert(v.filled, "based on filled");
    cr_assert_str_eq(v.text, "1.0.0");
    ex_field_value_free(&v);
    cr_assert_eq(ex_record_field(&r, EX_FIELD_GOAL, &v), 0);
    cr_assert(v.found && !v.filled, "the goal stays for the human");
    ex_field_value_free(&v);
    ex_record_free(&r);
    // --from with --model-type: only that value changes (line ending kept).
    fx_expt_ok(dir, "new", "2.0.0", "--from=1.0.0", "--model-type=model");
    char *ini2 = fx_read(dir, "run_file/experiment_2.0.0.ini", NULL);
    cr_assert_str_eq(ini2, "[model]\r\nmodel_type = model\r\ndim = 256 ; smaller\r\n[train]\r\nlearning_rate = 1e-3\r\n");
    // A parent without a configuration is an error.
    mm_proc_result pr = fx_expt(dir, "new", "3.0.0", "--from", "9.9.9", NULL, NULL);
    cr_assert_eq(pr.status, 1);
    cr_assert_not_null(strstr(pr.err, "run_file/experiment_9.9.9.ini: missing"), "%s", pr.err);
    mm_proc_result_free(&pr);
    cr_assert(!fx_exists(dir, "experiment/experiment_3.0.0.md"));
    free(ini), free(ini2), free(path);
    done(dir);
}

// --set SECTION.KEY=VALUE: each key set in the new configuration (an existing line keeps its
// inline comment and line ending; a missing key goes under its section's header; a missing section
// is appended); the result passes the configuration gate. A bad --set creates nothing.
Test(new_, set_edits_the_new_configuration) {
    char *dir = inited("n_set");
    fx_expt_ok(dir, "new", "1.0.0", "--model-type", "model_no_feed");
    fx_write(dir, "run_file/experiment_1.0.0.ini",
             "[model]\r\nmodel_type = model_no_feed\r\ndim = 256 ; smaller\r\n[train]\r\nlearning_rate = "
             "1e-3\r\n");
    mm_proc_result r =
        fx_expt(dir, "new", "1.1.0", "--from=1.0.0", "--set", "model.dim=128", "--set=train.batch_size=8");
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    r = fx_expt(dir, "new", "1.2.0", "--from=1.1.0", "--set", "knowledge.knowledge_num=4096", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    char *ini = fx_read(dir, "run_file/experiment_1.2.0.ini", NULL);
    cr_assert_str_eq(
        ini,
        "[model]\r\nmodel_type = model_no_feed\r\ndim = 128 ; smaller\r\n[train]\r\nbatch_size = "
        "8\r\nlearning_rate = 1e-3\r\n\r\n[knowledge]\r\nknowledge_num = 4096\r\n");
    char *path = fx_path(dir, "run_file/experiment_1.2.0.ini");
    ex_ini cfg;
    cr_assert_eq(ex_config_load(path, &cfg), 0, "%s", mm_error_message());
    cr_assert_str_eq(ex_ini_get(&cfg, "model", "dim"), "128");
    ex_ini_free(&cfg);
    static const char *const bad[][2] = {
        {"train.lr=1", "--set train.lr=1: [train] lr: unknown key"},
        {"train.learning_rate=fast", "--set train.learning_rate=fast: [train] learning_rate: not a number"},
        {"model.model_type=gpt", "[model] model_type: unknown model_type 'gpt'"},
        {"learning_rate=1", "--set 'learning_rate=1': expected SECTION.KEY=VALUE"},
        {"train.=1", "expected SECTION.KEY=VALUE"},
        {"data.data_path=x\n[model]\nmodel_type=model", "a value cannot hold a line break"},
        {"eval.facts_path=my ;file.jsonl", "a ';' after a space would start a comment"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = fx_expt(dir, "new", "1.3.0", "--set", bad[i][0], NULL, NULL);
        cr_assert_eq(r.status, 2, "--set %s: status %d", bad[i][0], r.status);
        cr_assert_not_null(strstr(r.err, bad[i][1]), "--set %s: want '%s' in %s", bad[i][0], bad[i][1],
                           r.err);
        mm_proc_result_free(&r);
    }
    char longset[300];
    snprintf(longset, sizeof longset, "data.data_path=%0200d", 7);
    r = fx_expt(dir, "new", "1.3.0", "--set", longset, NULL, NULL);
    cr_assert(r.status == 2 && strstr(r.err, "the line would pass the INI reader's 200 bytes"), "%s", r.err);
    mm_proc_result_free(&r);
    cr_assert(
        !fx_exists(dir, "run_file/experiment_1.3.0.ini") && !fx_exists(dir, "experiment/experiment_1.3.0.md"),
        "a bad --set created files");
    free(ini), free(path);
    done(dir);
}

Test(new_, english_record_and_project_default_language) {
    char *dir = inited("n_en");
    fx_expt_ok(dir, "new", "1.0.0", "--lang", "en");
    char *md = fx_read(dir, "experiment/experiment_1.0.0.md", NULL);
    cr_assert_not_null(strstr(md, "## 🧠 AI Reasoning"));
    cr_assert_not_null(strstr(md, "[human fills]"));
    fx_write(dir, "expt.ini", "[record]\nlang = en\n");
    fx_expt_ok(dir, "new", "1.0.1", NULL, NULL);
    char *md2 = fx_read(dir, "experiment/experiment_1.0.1.md", NULL);
    cr_assert_not_null(strstr(md2, "## 📝 Git Changes"));
    // The English twin has the same markers as the Chinese template.
    const ex_template_file *zh = ex_template_find("templates/EXPERIMENT_TEMPLATE.md");
    const ex_template_file *en = ex_template_find("templates/EXPERIMENT_TEMPLATE.en.md");
    cr_assert(zh && en);
    ex_record a, b;
    cr_assert_eq(ex_record_parse(&a, "zh", (const char *)zh->data, zh->len), 0);
    cr_assert_eq(ex_record_parse(&b, "en", (const char *)en->data, en->len), 0);
    cr_assert_eq(a.n_regions, 5);
    cr_assert_eq(b.n_regions, 5);
    for (int i = 0; i < 5; i++) cr_assert_str_eq(a.regions[i].name, b.regions[i].name);
    for (int f = 0; f < EX_FIELD_COUNT; f++) {
        ex_field_value va, vb;
        cr_assert_eq(ex_record_field(&a, (ex_field)f, &va), 0);
        cr_assert_eq(ex_record_field(&b, (ex_field)f, &vb), 0);
        cr_assert(va.found && !va.filled && vb.found && !vb.filled, "field %s in both templates, unfilled",
                  ex_field_key((ex_field)f));
        ex_field_value_free(&va), ex_field_value_free(&vb);
    }
    ex_record_free(&a), ex_record_free(&b);
    free(md), free(md2);
    done(dir);
}

Test(cli, every_command_has_help) {
    // Every command `expt --help` lists has --help, and refuses an unknown option with exit 2 and
    // `expt: error: ...`.
    const char *top[] = {MM_EXPT_EXE, "--help", NULL};
    mm_proc_result t = fx_run(top);
    cr_assert_eq(t.status, 0);
    char *list = strstr(t.out, "commands:\n");
    cr_assert_not_null(list, "%s", t.out);
    int n = 0;
    for (char *line = strtok(list + 10, "\n"); line && !strncmp(line, "  ", 2); line = strtok(NULL, "\n")) {
        char cmd[32];
        cr_assert_eq(sscanf(line, " %31s", cmd), 1);
        const char *argv[] = {MM_EXPT_EXE, cmd, "--help", NULL};
        mm_proc_result r = fx_run(argv);
        cr_assert_eq(r.status, 0, "%s --help: %s", cmd, r.err);
        char usage[64];
        snprintf(usage, sizeof usage, "usage: expt %s", cmd);
        cr_assert_not_null(strstr(r.out, usage), "%s", r.out);
        mm_proc_result_free(&r);
        const char *bad[] = {MM_EXPT_EXE, cmd, "--no-such-option", NULL};
        r = fx_run(bad);
        cr_assert_eq(r.status, 2, "%s --no-such-option: exit %d", cmd, r.status);
        cr_assert(!strncmp(r.err, "expt: error: ", 13), "%s: %s", cmd, r.err);
        mm_proc_result_free(&r);
        n++;
    }
    cr_assert_geq(n, 14, "%s", t.out);
    mm_proc_result_free(&t);
}
