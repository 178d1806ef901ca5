// Supervised runs with a fake trainer (tests/fixtures/fake_minimind.py, a test double of the
// engine's train/eval interface) in temp repositories: a run finishes with exit.json status 0 and
// the mandatory evaluation; SIGKILL of the trainer is "failed" with the log tail; SIGKILL of the
// supervisor is "crashed", never "running"; stop then resume continues where it stopped; a second
// run is refused while one runs; liveness never rests on a PID.
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expt_test_git.h"
#include "launch.h"
#include "minimind/error.h"
#include "proc.h"
#include "project.h"
#include "runlock.h"
#include "runstate.h"

#define V "1.2.0"

typedef struct fixture {
    char *tmp, *repo, *out;
    ex_project p;
} fixture;

static const char run_script[] =
    "#!/bin/sh\n"
    "# run script of the tests: the fake trainer, exec'd so that its pid is the script's\n"
    "if [ \"$EXPT_RESUME\" = 1 ]; then\n"
    "  exec \"$MINIMIND\" train --config \"$EXPT_CONFIG\" --out \"$EXPT_OUT\" --resume\n"
    "fi\n"
    "exec \"$MINIMIND\" train --config \"$EXPT_CONFIG\" --out \"$EXPT_OUT\"\n";

// The repository's directory name under the test's temp directory (a test may change it).
static const char *repo_name = "repo";

static void setup_ini(fixture *f, int steps, double pause, const char *script, const char *extra) {
    f->tmp = mm_test_tmpdir("sup");
    f->repo = mm_test_path(f->tmp, repo_name);
    mkdir(f->repo, 0755);
    EXT_GIT_OK(f->repo, "init", "-q");
    char ini[1024];
    snprintf(ini, sizeof ini, "[engine]\nminimind = %s/tests/fixtures/fake_minimind.py\n", MM_SOURCE_DIR);
    ext_write_str(f->repo, "expt.ini", ini);
    ext_write_str(f->repo, ".gitignore", "out/\n");
    ext_write_str(f->repo, "experiment/experiment_" V ".md",
                  "# experiment " V "\n\n### 基于实验\n\n无\n\n### 实验目的\n\nsupervisor test\n");
    ext_write_str(f->repo, "run_file/experiment_" V ".sh", script ? script : run_script);
    snprintf(ini, sizeof ini,
             "[model]\nmodel_type = model_original\ndim = 512\n[data]\neval_data_path = data/eval.jsonl\n"
             "[eval]\nnum_samples = 3\nmax_new_tokens = 8\nfacts_path = data/facts.jsonl\n[fake]\nsteps = %d\n"
             "sleep = %g\n%s",
             steps, pause, extra ? extra : "");
    ext_write_str(f->repo, "run_file/experiment_" V ".ini", ini);
    ext_write_str(f->repo, "data/facts.jsonl",
                  "{\"prompt\":\"a\",\"answer\":\"b\"}\n{\"prompt\":\"c\",\"answer\":\"d\"}\n"
                  "{\"prompt\":\"e\",\"answer\":\"f\"}\n{\"prompt\":\"g\",\"answer\":\"h\"}\n");
    EXT_GIT_OK(f->repo, "add", "-A");
    EXT_GIT_OK(f->repo, "commit", "-q", "-m", "base");
    cr_assert_eq(ex_project_open(&f->p, f->repo), 0, "%s", mm_error_message());
    f->out = ex_out_dir(&f->p, V);
}

static void setup(fixture *f, int steps, double pause, const char *script) {
    setup_ini(f, steps, pause, script, NULL);
}

static void teardown(fixture *f) {
    ex_project_close(&f->p);
    mm_test_rmtree(f->tmp);
    free(f->out);
    free(f->repo);
    free(f->tmp);
}

static int launch(fixture *f, int foreground, int resume) {
    ex_launch_opts o = {.foreground = foreground, .resume = resume, .expt_exe = MM_EXPT_EXE};
    int st = -1;
    int rc = ex_launch(&f->p, V, &o, &st);
    cr_assert_eq(rc, 0, "launch: %s", mm_error_message());
    return st;
}

static json_t *out_json(fixture *f, const char *name) {
    char *path = mm_test_path(f->out, name);
    json_t *j = json_load_file(path, 0, NULL);
    free(path);
    return j;
}

static int lock_held(fixture *f) {
    char *lock = mm_test_path(f->out, "run.lock");
    int h = ex_runlock_held(lock);
    free(lock);
    return h;
}

static void wait_unlocked(fixture *f, double timeout) {
    double t0 = ex_wall_s();
    while (lock_held(f) == 1) {
        cr_assert(ex_wall_s() - t0 < timeout, "the run did not end within %.0f s", timeout);
        ex_sleep_s(0.05);
    }
}

static void wait_step(fixture *f, long long step, double timeout) {
    double t0 = ex_wall_s();
    for (;;) {
        json_t *j = out_json(f, "progress.json");
        long long s = j ? json_integer_value(json_object_get(j, "step")) : 0;
        json_decref(j);
        if (s >= step) return;
        cr_assert(ex_wall_s() - t0 < timeout, "no progress to step %lld within %.0f s", step, timeout);
        ex_sleep_s(0.03);
    }
}

static mm_proc_result expt(fixture *f, const char *a1, const char *a2, const char *a3) {
    const char *argv[] = {"/usr/bin/env", "-C", f->repo, MM_EXPT_EXE, a1, a2, a3, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0);
    return r;
}

static ex_status status_of(fixture *f) {
    ex_status st;
    cr_assert_eq(ex_status_get(&f->p, V, &st), 0, "%s", mm_error_message());
    return st;
}

Test(supervisor, finished_run_is_evaluated) {
    fixture f;
    setup(&f, 5, 0.01, NULL);
    int st = launch(&f, 1, 0);  // foreground: returns when the supervisor is done
    cr_assert_eq(st, 0, "supervisor exit status %d", st);
    cr_assert_eq(lock_held(&f), 0);

    json_t *ex = out_json(&f, "exit.json"), *run = out_json(&f, "run.json"), *ev = out_json(&f, "eval.json");
    cr_assert(ex && run && ev, "exit.json, run.json and eval.json exist");
    cr_assert_eq(json_integer_value(json_object_get(ex, "status")), 0);
    cr_assert_eq(json_integer_value(json_object_get(ex, "signal")), 0);
    cr_assert(json_is_false(json_object_get(ex, "stopped")));
    cr_assert_gt(json_integer_value(json_object_get(ex, "peak_rss_kb")), 1000,
                 "peak RSS of python is > 1 MB");
    cr_assert(json_is_string(json_object_get(ex, "cpu")));
    cr_assert_not_null(strstr(json_string_value(json_object_get(ex, "log_tail")), "fake train: done"));
    cr_assert(json_is_true(json_object_get(json_object_get(ex, "eval"), "ran")),
              "the supervisor ran the evaluation");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(ex, "eval"), "status")), 0);
    cr_assert_eq(json_integer_value(json_object_get(run, "pid")),
                 json_integer_value(json_object_get(ex, "pid")));
    cr_assert_gt(json_integer_value(json_object_get(run, "proc_start_ticks")), 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(run, "command"), 0)), "/bin/sh");
    mm_proc_result head = ext_git(f.repo, "rev-parse", "HEAD", NULL);
    head.out[strcspn(head.out, "\n")] = '\0';
    cr_assert_str_eq(json_string_value(json_object_get(run, "commit")), head.out);
    mm_proc_result_free(&head);

    // The evaluation command: checkpoint, data and the [eval] keys, as `minimind eval` flags.
    char flags[2048] = "";
    json_t *argv = json_object_get(ev, "argv");
    for (size_t i = 0; i < json_array_size(argv); i++) {
        strcat(flags, " ");
        strcat(flags, json_string_value(json_array_get(argv, i)));
    }
    char expect[1024];
    snprintf(expect, sizeof expect,
             "--model_path %s/pretrain_512.safetensors --data data/eval.jsonl --num_samples 3 "
             "--max_new_tokens 8 --facts data/facts.jsonl --json %s/eval.json",
             f.out, f.out);
    cr_assert_not_null(strstr(flags, expect), "eval argv:%s", flags);
    json_decref(ex);
    json_decref(run);
    json_decref(ev);
    // [eval] facts_path: the fact recall is in the record (the fake: one item in four correct)
    size_t rlen;
    char *rec = ext_read(f.repo, "experiment/experiment_" V ".md", &rlen);
    cr_assert(
        rec &&
            strstr(rec, "| fact recall | 1/4 = 25.0 % (95 % interval 4.6–69.9 %; en 1/4) on facts.jsonl |"),
        "record:\n%s", rec);
    free(rec);

    char *gp = mm_test_path(f.out, "git.patch");
    cr_assert_eq(access(gp, R_OK), 0, "git snapshot taken");
    free(gp);
    ex_status s = status_of(&f);
    cr_assert_eq(s.state, EX_EVALUATED, "state %s (%s)", ex_state_name(s.state), s.detail);
    cr_assert_eq(s.step, 5);

    mm_proc_result r = expt(&f, "status", V, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "evaluated"), "%s", r.out);
    mm_proc_result_free(&r);
    r = expt(&f, "logs", V, NULL);
    cr_assert_not_null(strstr(r.out, "fake train: step 5/5"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "supervisor done"), "%s", r.out);
    mm_proc_result_free(&r);
    r = expt(&f, "list", NULL, NULL);
    cr_assert_not_null(strstr(r.out, V), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "evaluated"), "%s", r.out);
    mm_proc_result_free(&r);
    teardown(&f);
}

Test(supervisor, fresh_eval_from_the_script_is_kept) {
    fixture f;
    setup(&f, 2, 0.01,
          "#!/bin/sh\nset -e\n\"$MINIMIND\" train --config \"$EXPT_CONFIG\" --out \"$EXPT_OUT\"\n"
          "\"$MINIMIND\" eval --model_path \"$EXPT_OUT/pretrain_512.safetensors\" --json "
          "\"$EXPT_OUT/eval.json\" --by-script 1\n");
    cr_assert_eq(launch(&f, 1, 0), 0);
    json_t *ex = out_json(&f, "exit.json"), *ev = out_json(&f, "eval.json");
    cr_assert(json_is_false(json_object_get(json_object_get(ex, "eval"), "ran")), "no second evaluation");
    char *dump = json_dumps(json_object_get(ev, "argv"), 0);
    cr_assert_not_null(strstr(dump, "--by-script"), "%s", dump);
    free(dump);
    json_decref(ex);
    json_decref(ev);

    // `expt eval` evaluates again now (the record is filled when the report module is there).
    char *evp = mm_test_path(f.out, "eval.json");
    cr_assert_eq(unlink(evp), 0);
    mm_proc_result r = expt(&f, "eval", V, NULL);
    cr_assert_eq(access(evp, R_OK), 0, "expt eval wrote eval.json: %s", r.err);
    mm_proc_result_free(&r);
    free(evp);
    ex = out_json(&f, "exit.json");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ex, "eval"), "reason")),
                     "ok (expt eval)");
    json_decref(ex);
    ex_status s = status_of(&f);
    cr_assert(s.state == EX_EVALUATED || s.state == EX_QUALIFIED, "state %s", ex_state_name(s.state));
    teardown(&f);
}

// Text that is not UTF-8 (a Latin-1 directory name, a run script printing Latin-1) reaches run.json
// and exit.json with U+FFFD in place of the bytes; before, json_string refused it and exit.json
// could not be written at all ("cannot encode"), and run.json's command lost its script path.
Test(supervisor, text_that_is_not_utf8_is_kept_in_run_and_exit_json) {
    fixture f;
    repo_name = "r\xe9po";
    setup(&f, 2, 0.01,
          "#!/bin/sh\nset -e\n\"$MINIMIND\" train --config \"$EXPT_CONFIG\" --out \"$EXPT_OUT\"\n"
          "printf 'caf\\351 au lait\\n'\n");
    repo_name = "repo";
    cr_assert_eq(launch(&f, 1, 0), 0);
    json_t *ex = out_json(&f, "exit.json"), *run = out_json(&f, "run.json");
    cr_assert_not_null(ex, "exit.json was not written");
    cr_assert_not_null(run, "run.json was not written");
    const char *tail = json_string_value(json_object_get(ex, "log_tail"));
    cr_assert(tail && strstr(tail, "caf\xef\xbf\xbd au lait\n"), "log_tail: %s", tail ? tail : "(missing)");
    json_t *cmd = json_object_get(run, "command");
    cr_assert_eq(json_array_size(cmd), 2, "run.json command: %zu elements", json_array_size(cmd));
    const char *script = json_string_value(json_array_get(cmd, 1));
    cr_assert(script && strstr(script, "/r\xef\xbf\xbdpo/run_file/"), "%s", script ? script : "(missing)");
    json_decref(ex);
    json_decref(run);
    teardown(&f);
}

Test(supervisor, no_evaluation_is_finished_not_evaluated) {
    fixture f;
    setup_ini(&f, 2, 0.01, NULL, "checkpoint = 0\n");
    int st = launch(&f, 1, 0);
    cr_assert_eq(st, 1, "training ok but no evaluation: supervisor status 1, not %d", st);
    json_t *ex = out_json(&f, "exit.json");
    cr_assert_eq(json_integer_value(json_object_get(ex, "status")), 0);
    cr_assert_not_null(
        strstr(json_string_value(json_object_get(json_object_get(ex, "eval"), "reason")), "no checkpoint"));
    json_decref(ex);
    ex_status s = status_of(&f);
    cr_assert_eq(s.state, EX_FINISHED, "state %s", ex_state_name(s.state));
    cr_assert_not_null(strstr(s.detail, "expt eval " V), "%s", s.detail);
    teardown(&f);
}

Test(supervisor, sigkill_of_the_trainer_is_failed_with_log_tail) {
    fixture f;
    setup(&f, 400, 0.02, NULL);
    launch(&f, 0, 0);
    wait_step(&f, 3, 10);
    json_t *run = out_json(&f, "run.json");
    pid_t child = (pid_t)json_integer_value(json_object_get(run, "child_pid"));
    json_decref(run);
    cr_assert_gt(child, 0);
    cr_assert_eq(kill(child, SIGKILL), 0);
    wait_unlocked(&f, 10);

    json_t *ex = out_json(&f, "exit.json");
    cr_assert_not_null(ex);
    cr_assert_eq(json_integer_value(json_object_get(ex, "signal")), 9);
    cr_assert(json_is_null(json_object_get(ex, "status")));
    cr_assert_not_null(strstr(json_string_value(json_object_get(ex, "log_tail")),
                              "fake train: step 2/400"));  // printed before step 3 begins
    cr_assert(json_is_null(json_object_get(ex, "eval")), "no evaluation of a failed run");
    json_decref(ex);
    ex_status s = status_of(&f);
    cr_assert_eq(s.state, EX_FAILED, "state %s", ex_state_name(s.state));
    cr_assert_not_null(strstr(s.detail, "signal 9"), "%s", s.detail);
    teardown(&f);
}

Test(supervisor, sigkill_of_the_supervisor_is_crashed_then_resumable) {
    fixture f;
    setup(&f, 150, 0.02, NULL);
    launch(&f, 0, 0);
    wait_step(&f, 2, 10);
    json_t *run = out_json(&f, "run.json");
    pid_t sup = (pid_t)json_integer_value(json_object_get(run, "pid"));
    pid_t child = (pid_t)json_integer_value(json_object_get(run, "child_pid"));
    unsigned long long cticks =
        (unsigned long long)json_integer_value(json_object_get(run, "child_start_ticks"));
    json_decref(run);
    ex_status s = status_of(&f);
    cr_assert_eq(s.state, EX_RUNNING, "state %s", ex_state_name(s.state));
    cr_assert_gt(s.step, 0);

    cr_assert_eq(kill(sup, SIGKILL), 0);
    wait_unlocked(&f, 5);
    s = status_of(&f);
    cr_assert_eq(s.state, EX_CRASHED, "a dead supervisor is crashed, not %s", ex_state_name(s.state));
    cr_assert_not_null(strstr(s.detail, "still running"), "%s", s.detail);
    // A new run is refused while the orphaned trainer writes into the output folder.
    mm_proc_result r = expt(&f, "resume", V, NULL);
    cr_assert_neq(r.status, 0);
    cr_assert_not_null(strstr(r.err, "still running"), "%s", r.err);
    mm_proc_result_free(&r);
    // `expt stop` ends the unsupervised trainer (it saves first: exit 3 to nobody).
    r = expt(&f, "stop", V, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    mm_proc_result_free(&r);
    cr_assert(!ex_proc_is(child, cticks), "the trainer is gone");
    s = status_of(&f);
    cr_assert_eq(s.state, EX_CRASHED);

    // Resume after the crash continues from the saved step and finishes.
    r = expt(&f, "resume", V, "--foreground");
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    mm_proc_result_free(&r);
    s = status_of(&f);
    cr_assert_eq(s.state, EX_EVALUATED, "state %s (%s)", ex_state_name(s.state), s.detail);
    cr_assert_eq(s.step, 150);
    teardown(&f);
}

Test(supervisor, stop_then_resume) {
    fixture f;
    setup(&f, 100, 0.02, NULL);
    launch(&f, 0, 0);
    wait_step(&f, 3, 10);
    mm_proc_result r = expt(&f, "stop", V, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "checkpoint saved"), "%s", r.out);
    mm_proc_result_free(&r);
    cr_assert_eq(lock_held(&f), 0, "stop waits for the end of the run");
    json_t *ex = out_json(&f, "exit.json");
    cr_assert(json_is_true(json_object_get(ex, "stopped")));
    cr_assert_eq(json_integer_value(json_object_get(ex, "status")), 3);
    json_decref(ex);
    ex_status s = status_of(&f);
    cr_assert_eq(s.state, EX_STOPPED, "state %s", ex_state_name(s.state));
    long long stopped_at = s.step;
    cr_assert(stopped_at >= 3 && stopped_at < 100, "stopped at step %lld", stopped_at);
    r = expt(&f, "stop", V, NULL);
    cr_assert_neq(r.status, 0, "stopping a stopped run is an error");
    mm_proc_result_free(&r);

    r = expt(&f, "resume", V, NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "expt logs " V " -f"), "%s", r.out);
    mm_proc_result_free(&r);
    r = expt(&f, "logs", V, "-f");  // follows until the run ends
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "resuming from step"), "%s", r.out);
    mm_proc_result_free(&r);
    cr_assert_eq(lock_held(&f), 0, "logs -f returns when the run has ended");
    ex = out_json(&f, "exit.json");
    cr_assert_eq(json_integer_value(json_object_get(ex, "status")), 0);
    cr_assert(json_is_false(json_object_get(ex, "stopped")));
    json_decref(ex);
    s = status_of(&f);
    cr_assert_eq(s.state, EX_EVALUATED, "state %s (%s)", ex_state_name(s.state), s.detail);

    // Every step logged exactly once across the stop: 1..100 in order.
    char *mpath = mm_test_path(f.out, "metrics.jsonl");
    FILE *fp = fopen(mpath, "r");
    char line[1024];
    long long expect = 1;
    while (fgets(line, sizeof line, fp)) {
        json_t *j = json_loads(line, 0, NULL);
        cr_assert_eq(json_integer_value(json_object_get(j, "step")), expect, "metrics line for step %lld",
                     expect);
        expect++;
        json_decref(j);
    }
    fclose(fp);
    free(mpath);
    cr_assert_eq(expect, 101);
    teardown(&f);
}

Test(supervisor, concurrent_run_refused) {
    fixture f;
    setup(&f, 300, 0.02, NULL);
    launch(&f, 0, 0);
    wait_step(&f, 1, 10);
    ex_launch_opts o = {.expt_exe = MM_EXPT_EXE};
    cr_assert_eq(ex_launch(&f.p, V, &o, NULL), EX_LAUNCH_BUSY);
    cr_assert_not_null(strstr(mm_error_message(), "already running"), "%s", mm_error_message());
    mm_proc_result r = expt(&f, "run", V, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "expt: error: " V " is already running"), "%s", r.err);
    mm_proc_result_free(&r);
    r = expt(&f, "eval", V, NULL);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "already running"), "%s", r.err);
    mm_proc_result_free(&r);
    char *lock = mm_test_path(f.out, "run.lock");
    cr_assert_eq(ex_runlock_acquire(lock), -2, "the lock is exclusive");
    free(lock);
    r = expt(&f, "stop", V, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    mm_proc_result_free(&r);
    teardown(&f);
}

Test(supervisor, liveness_comes_from_the_lock_not_the_pid) {
    fixture f;
    setup(&f, 1, 0.01, NULL);
    char *outp = mm_test_path(f.repo, "out");
    mkdir(outp, 0755);
    mkdir(f.out, 0755);
    free(outp);
    // run.json naming a live process (this test, with its real start time), no lock holder, no
    // exit.json: what a reboot or a SIGKILLed supervisor leaves behind when the PID is reused.
    unsigned long long ticks;
    cr_assert_eq(ex_proc_start_ticks(getpid(), &ticks), 0);
    char run[512], now[32];
    snprintf(run, sizeof run, "{\"pid\": %ld, \"proc_start_ticks\": %llu, \"start_time\": \"%s\"}",
             (long)getpid(), ticks, ex_iso_utc(time(NULL) - 100, now, sizeof now));
    // Based on 1.1.0, which ran for 1000 s: the ETA before any progress.
    ext_write_str(f.repo, "experiment/experiment_" V ".md", "# e\n\n### Based on\n\n`1.1.0` (baseline)\n");
    ext_write_str(f.repo, "out/experiment_1_1_0/exit.json", "{\"duration_s\": 1000}");
    ext_write_str(f.out, "run.json", run);
    ext_write_str(f.out, "run.lock", "");
    ex_status s = status_of(&f);
    cr_assert_eq(s.state, EX_CRASHED, "state %s", ex_state_name(s.state));
    // While something holds the lock, it is running (or stalled when progress is old).
    char *lock = mm_test_path(f.out, "run.lock");
    int fd = ex_runlock_acquire(lock);
    cr_assert_geq(fd, 0);
    s = status_of(&f);
    cr_assert_eq(s.state, EX_RUNNING, "state %s", ex_state_name(s.state));
    cr_assert(s.eta_s > 880 && s.eta_s <= 900, "ETA from the based-on run's duration: %g", s.eta_s);
    // Started 4000 s ago, last progress an hour ago: stalled.
    snprintf(run, sizeof run, "{\"pid\": %ld, \"proc_start_ticks\": %llu, \"start_time\": \"%s\"}",
             (long)getpid(), ticks, ex_iso_utc(time(NULL) - 4000, now, sizeof now));
    ext_write_str(f.out, "run.json", run);
    ext_write_str(f.out, "progress.json",
                  "{\"step\": 5, \"total_steps\": 10, \"loss\": 2.5, \"eta_s\": 100}");
    char *prog = mm_test_path(f.out, "progress.json");
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, prog, old, 0), 0);
    s = status_of(&f);
    cr_assert_eq(s.state, EX_STALLED, "no progress for an hour: %s", ex_state_name(s.state));
    close(fd);
    s = status_of(&f);
    cr_assert_eq(s.state, EX_CRASHED);
    free(prog);
    free(lock);
    teardown(&f);
}
