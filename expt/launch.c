// Starting a run (see launch.h).
#include "launch.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evaluate.h"
#include "fsutil.h"
#include "gates.h"
#include "git_snapshot.h"
#include "minimind/error.h"
#include "minimind/progress.h"
#include "proc.h"
#include "recinfo.h"
#include "jsonfile.h"
#include "runfiles.h"
#include "runlock.h"
#include "supervisor.h"

void ex_describe_running(const ex_project *p, const char *version, char *buf, size_t cap) {
    char *path = ex_out_file(p, version, "run.json");
    json_t *run = path ? ex_json_load(path, NULL) : NULL;
    long pid = (long)ex_json_int(run, "pid", 0);
    const char *start = ex_json_str(run, "start_time");
    if (pid > 0)
        snprintf(buf, cap, "%s is already running (supervisor pid %ld, started %s)", version, pid,
                 start ? start : "?");
    else
        snprintf(buf, cap, "%s is already running (its run lock is held)", version);
    json_decref(run);
    free(path);
}

// The based-on experiment: version, its recorded commit and its run's duration (when known).
typedef struct ex_based {
    char version[64], commit[64];
    double duration_s;
} ex_based;

static void ex_based_on(const ex_project *p, const char *version, ex_based *b) {
    memset(b, 0, sizeof *b);
    b->duration_s = -1;
    if (ex_recinfo_based_on(p, version, b->version, sizeof b->version) != 1) {
        b->version[0] = '\0';
        mm_error_clear();
        return;
    }
    char *gpath = ex_out_file(p, b->version, "git.json"), *epath = ex_out_file(p, b->version, "exit.json");
    json_t *g = gpath ? ex_json_load(gpath, NULL) : NULL, *e = epath ? ex_json_load(epath, NULL) : NULL;
    const char *c = ex_json_str(g, "commit");
    if (c) snprintf(b->commit, sizeof b->commit, "%s", c);
    b->duration_s = ex_json_num(e, "duration_s", -1);
    json_decref(g);
    json_decref(e);
    free(gpath);
    free(epath);
    mm_error_clear();
}

static void ex_print_eta(const ex_based *b) {
    char d[32];
    if (b->duration_s > 0)
        printf("ETA:     about %s (the duration of %s), until the run reports its own progress\n",
               mm_format_duration(b->duration_s, d, sizeof d), b->version);
    else
        printf("ETA:     unknown until the run reports progress (`expt status` shows it)\n");
}

static char *ex_rel(const ex_project *p, const char *path) {
    size_t n = strlen(p->root);
    return (char *)(!strncmp(path, p->root, n) && path[n] == '/' ? path + n + 1 : path);
}

static int ex_dry_run(const ex_project *p, const char *version, const ex_launch_opts *o, const ex_based *b) {
    char *out = ex_out_dir(p, version), *script = ex_script_path(p, version),
         *config = ex_config_path(p, version);
    printf("expt run %s --dry-run: nothing is started.\n", version);
    printf("would snapshot git into %s/git.patch and git.json%s%s%s\n", ex_rel(p, out),
           b->commit[0] ? " (changes since " : "", b->commit[0] ? b->version : "", b->commit[0] ? ")" : "");
    printf(
        "would start the supervisor (expt supervise %s) in its own session, holding %s/run.lock, log "
        "%s/experiment.log\n",
        version, ex_rel(p, out), ex_rel(p, out));
    printf("would run: %s\n", ex_rel(p, script));
    printf("  with MINIMIND=%s EXPT_ROOT=%s EXPT_VERSION=%s EXPT_CONFIG=%s EXPT_OUT=%s EXPT_RESUME=%s\n",
           p->minimind, p->root, version, config, out, o->resume ? "1" : "");
    ex_strv argv = {0};
    printf("then, unless the script leaves a fresh eval.json, the mandatory evaluation:\n ");
    if (ex_eval_argv(p, version, 0, &argv) == 0)
        for (size_t i = 0; i < argv.n; i++) printf(" %s", argv.v[i]);
    else
        printf(" (%s)", mm_error_message());
    printf("\nthen fill experiment/experiment_%s.md and experiment/INDEX.md\n", version);
    ex_strv_free(&argv);
    ex_print_eta(b);
    free(out);
    free(script);
    free(config);
    return 0;
}

static volatile sig_atomic_t ex_fg_interrupts;
static void ex_fg_on_signal(int sig) {
    (void)sig;
    ex_fg_interrupts++;
}

// Follows a run started in the foreground until its supervisor exits.
static int ex_follow(const ex_project *p, const char *version, pid_t sup, int resume) {
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ex_fg_on_signal;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    char *prog = ex_out_file(p, version, "progress.json");
    mm_progress bar;
    mm_progress_begin(&bar, version, 0, "steps", 1);
    double start = ex_wall_s();
    int sent = 0, st = 0, shown = 0;
    long long step = 0, base = -1;  // base: a resumed run's first step, so the rate is this run's
    for (;;) {
        pid_t r = waitpid(sup, &st, WNOHANG);
        if (r == sup || (r < 0 && errno != EINTR)) break;
        if (ex_fg_interrupts > sent) {
            sent = ex_fg_interrupts;
            fprintf(stderr, "\nexpt: stopping %s (the engine saves a checkpoint first)...\n", version);
            kill(sup, SIGTERM);
        }
        json_t *j = prog && ex_mtime(prog) >= start ? ex_json_load(prog, NULL) : NULL;
        if (j) {
            char extra[96];
            step = ex_json_int(j, "step", 0);
            if (base < 0) {
                base = resume ? step : 0;
                if (base) bar.start_s = mm_now_s();
            }
            bar.total = ex_json_int(j, "total_steps", 0) - base;
            snprintf(extra, sizeof extra, "step %lld, loss %.4f", step, ex_json_num(j, "loss", NAN));
            mm_progress_update(&bar, step - base, extra);
            shown = 1;
            json_decref(j);
        }
        ex_sleep_s(0.2);
    }
    if (shown) mm_progress_end(&bar, step - base, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(prog);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void ex_print_outcome(const ex_project *p, const char *version) {
    char *path = ex_out_file(p, version, "exit.json");
    json_t *e = path ? ex_json_load(path, NULL) : NULL;
    char d[32];
    if (!e) {
        printf("%s: no exit record (see the log)\n", version);
    } else {
        json_t *status = json_object_get(e, "status");
        int sig = (int)ex_json_int(e, "signal", 0);
        if (sig)
            printf("%s: run script killed by signal %d (%s)", version, sig, ex_signal_name(sig));
        else
            printf("%s: run script exit status %lld", version,
                   json_is_integer(status) ? json_integer_value(status) : -1);
        printf(" after %s%s\n", mm_format_duration(ex_json_num(e, "duration_s", -1), d, sizeof d),
               ex_json_bool(e, "stopped", 0) ? " (stopped on request)" : "");
        json_t *ev = json_object_get(e, "eval");
        if (json_is_object(ev))
            printf("evaluation: %s\n", ex_json_str(ev, "reason") ? ex_json_str(ev, "reason") : "?");
    }
    printf("record: experiment/experiment_%s.md\n", version);
    json_decref(e);
    free(path);
}

int ex_launch(const ex_project *p, const char *version, const ex_launch_opts *o, int *run_status) {
    if (run_status) *run_status = 0;
    if (ex_version_validate(version) != 0) return -1;
    char *record = ex_record_path(p, version), *script = ex_script_path(p, version),
         *out = ex_out_dir(p, version);
    char *lock_path = ex_out_file(p, version, "run.lock"), *run_json = ex_out_file(p, version, "run.json");
    char *log = ex_out_file(p, version, "experiment.log");
    char exe[4096];
    int rc = -1, lock = -1;
    if (!record || !script || !out || !lock_path || !run_json || !log) goto done;
    if (access(record, F_OK) != 0) {
        mm_errorf("no experiment %s: %s does not exist (create it with `expt new %s`)", version,
                  ex_rel(p, record), version);
        goto done;
    }
    // A second run of a running experiment is refused before anything else.
    int held = ex_runlock_held(lock_path);
    if (held < 0) goto done;
    if (held) {
        char msg[512];
        ex_describe_running(p, version, msg, sizeof msg);
        mm_errorf("%s; follow it with `expt logs %s -f`, stop it with `expt stop %s`", msg, version, version);
        rc = EX_LAUNCH_BUSY;
        goto done;
    }
    // A run script left behind by a dead supervisor would fight a new run over the output folder.
    json_t *prev = ex_json_load(run_json, NULL);
    long orphan = (long)ex_json_int(prev, "child_pid", 0);
    int orphan_alive =
        orphan > 0 && ex_proc_is((pid_t)orphan, (unsigned long long)ex_json_int(prev, "child_start_ticks", 0));
    json_decref(prev);
    mm_error_clear();
    if (orphan_alive) {
        mm_errorf(
            "the run script of an earlier run of %s (pid %ld) is still running without its supervisor: "
            "`expt stop %s` ends it",
            version, orphan, version);
        rc = EX_LAUNCH_BUSY;
        goto done;
    }
    if (o->resume && access(run_json, F_OK) != 0) {
        mm_errorf("%s has never run: start it with `expt run %s`", version, version);
        goto done;
    }
    if (o->check_gates) {
        ex_gate_list g;
        memset(&g, 0, sizeof g);
        if (ex_gates_prerun(p, version, &g) != 0) {
            mm_error_prefix("%s: cannot check the pre-run gates", version);
            goto done;
        }
        if (!ex_gates_passed(&g)) {
            ex_gates_print(&g);
            mm_errorf("%s is not ready to run: fix the gates marked ✗ above (`expt check %s`)", version,
                      version);
            goto done;
        }
    }
    if (access(script, R_OK) != 0) {
        mm_errorf_errno("%s: the run script", ex_rel(p, script));
        goto done;
    }
    ex_based b;
    ex_based_on(p, version, &b);
    if (o->dry_run) {
        rc = ex_dry_run(p, version, o, &b);
        goto done;
    }

    if (ex_mkdirs(out) != 0) goto done;
    lock = ex_runlock_acquire(lock_path);
    if (lock == -2) {
        char msg[512];
        ex_describe_running(p, version, msg, sizeof msg);
        mm_errorf("%s", msg);
        rc = EX_LAUNCH_BUSY;
        goto done;
    }
    if (lock < 0) goto done;
    char *gjson = ex_out_file(p, version, "git.json");
    int need_snapshot = !o->resume || !gjson || access(gjson, F_OK) != 0;
    free(gjson);
    if (need_snapshot &&
        ex_git_snapshot_based(p, out, b.version[0] ? b.version : NULL, b.commit[0] ? b.commit : NULL) != 0) {
        mm_error_prefix("git snapshot");
        goto done;
    }
    const char *self = o->expt_exe;
    if (!self) {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0) {
            mm_errorf_errno("/proc/self/exe");
            goto done;
        }
        exe[n] = '\0';
        self = exe;
    }
    pid_t sup;
    int lk = lock;
    lock = -1;  // handed over (closed by the spawn, held by the supervisor)
    if (ex_supervisor_spawn(p, version, self, lk, o->resume, &sup) != 0) goto done;
    printf("%s %s: supervisor pid %ld\n", o->resume ? "resumed" : "started", version, (long)sup);
    printf("log:     %s\n", ex_rel(p, log));
    if (!o->foreground) {
        printf("follow:  expt logs %s -f     status: expt status %s     stop: expt stop %s\n", version,
               version, version);
        ex_print_eta(&b);
        fflush(stdout);
        rc = 0;
        goto done;
    }
    ex_print_eta(&b);
    printf("following it here (Ctrl-C stops the run gracefully; the log has everything)\n");
    fflush(stdout);
    int st = ex_follow(p, version, sup, o->resume);
    if (run_status) *run_status = st;
    ex_print_outcome(p, version);
    rc = 0;
done:
    if (lock >= 0) close(lock);
    free(record);
    free(script);
    free(out);
    free(lock_path);
    free(run_json);
    free(log);
    return rc;
}
