// The supervisor of one run (see supervisor.h).
#include "supervisor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evaluate.h"
#include "git_snapshot.h"
#include "minimind/error.h"
#include "proc.h"
#include "report.h"
#include "jsonfile.h"
#include "runfiles.h"
#include "runlock.h"

extern char **environ;

// Seconds to wait for the script's remaining descendants after it exited, before SIGKILL.
#define EX_LINGER_S 30.0

// --- log lines: "[expt 2024-05-01T12:00:00Z] ..." on stdout (= experiment.log) -------------------
static void ex_slog(const char *fmt, ...) MM_PRINTF(1, 2);
static void ex_slog(const char *fmt, ...) {
    char when[32];
    ex_iso_utc(time(NULL), when, sizeof when);
    printf("[expt %s] ", when);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

// --- machine description for exit.json -------------------------------------------------------------
static json_t *ex_cpu_model(void) {
    FILE *fp = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (fp && fgets(line, sizeof line, fp)) {
        if (strncmp(line, "model name", 10)) continue;
        char *v = strchr(line, ':');
        if (!v) continue;
        v += 1 + strspn(v + 1, " \t");
        v[strcspn(v, "\n")] = '\0';
        fclose(fp);
        return json_string(v);
    }
    if (fp) fclose(fp);
    return json_string("unknown");
}

static json_t *ex_gpu_model(void) {
    glob_t g;
    if (glob("/proc/driver/nvidia/gpus/*/information", 0, NULL, &g) != 0) return json_null();
    json_t *names = NULL;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        FILE *fp = fopen(g.gl_pathv[i], "r");
        char line[512];
        while (fp && fgets(line, sizeof line, fp)) {
            if (strncmp(line, "Model:", 6)) continue;
            char *v = line + 6 + strspn(line + 6, " \t");
            v[strcspn(v, "\n")] = '\0';
            if (!names) names = json_string(v);
            break;
        }
        if (fp) fclose(fp);
    }
    globfree(&g);
    return names ? names : json_null();
}

// --- descriptors and signals --------------------------------------------------------------------------
// Marks every descriptor above 2 close-on-exec: nothing the launcher had open leaks into the run.
static void ex_cloexec_all(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    int self = dirfd(d);
    for (struct dirent *e; (e = readdir(d));) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != self) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    closedir(d);
}

static void ex_sigset_run(sigset_t *set) {
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGCHLD);
}

// Waits for `child` (leader of its own process group) and then for every other descendant (we
// are their subreaper). A stop signal is forwarded to the group. Returns the child's wait status.
static int ex_wait_run(pid_t child, int *stop_requested) {
    sigset_t set;
    ex_sigset_run(&set);
    int wstatus = 0, child_done = 0, killed = 0;
    double done_at = 0;
    for (;;) {
        for (;;) {
            int st;
            pid_t r = waitpid(-1, &st, WNOHANG);
            if (r > 0) {
                if (r == child) {
                    wstatus = st;
                    child_done = 1;
                    done_at = ex_wall_s();
                }
                continue;
            }
            if (r < 0 && errno == ECHILD && child_done) return wstatus;
            break;
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &ts);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            if (!*stop_requested)
                ex_slog("stop requested (%s from pid %ld): sending SIGTERM to process group %ld",
                        ex_signal_name(sig), (long)info.si_pid, (long)child);
            *stop_requested = 1;
            kill(-child, SIGTERM);
        }
        if (child_done) {
            double waited = ex_wall_s() - done_at;
            if (waited > EX_LINGER_S && !killed) {
                ex_slog(
                    "processes started by the run script are still running %.0f s after it ended: SIGKILL to "
                    "group %ld",
                    waited, (long)child);
                kill(-child, SIGKILL);
                killed = 1;
            } else if (waited > EX_LINGER_S + 10) {
                ex_slog("giving up waiting for processes that left the run's process group");
                return wstatus;
            }
        }
    }
}

// argv of the run script: itself when executable, else its #! interpreter, else /bin/sh.
static int ex_script_argv(const char *script, ex_strv *argv) {
    if (access(script, X_OK) == 0) return ex_strv_push(argv, script);
    FILE *fp = fopen(script, "r");
    if (!fp) return mm_errorf_errno("%s: cannot open the run script", script);
    char line[256] = "";
    char *got = fgets(line, sizeof line, fp);
    fclose(fp);
    if (got && !strncmp(line, "#!", 2)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *save = NULL, *interp = strtok_r(line + 2, " \t", &save), *arg = strtok_r(NULL, "", &save);
        if (interp) {
            if (ex_strv_push(argv, interp) != 0) return -1;
            if (arg) {
                arg += strspn(arg, " \t");
                size_t n = strlen(arg);
                while (n && (arg[n - 1] == ' ' || arg[n - 1] == '\t')) arg[--n] = '\0';
                if (*arg && ex_strv_push(argv, arg) != 0) return -1;
            }
            return ex_strv_push(argv, script);
        }
    }
    if (ex_strv_push(argv, "/bin/sh") != 0) return -1;
    return ex_strv_push(argv, script);
}

typedef struct ex_run {
    const ex_project *p;
    const char *version;
    char *out, *run_json, *exit_json, *log, *script, *config;
    char start_iso[32], host[256], commit[64];
    double start_s;
    long log_from;  // size of the log when this run started: exit.json's tail starts there
    unsigned long long ticks;
    ex_strv argv;
    int resume;
} ex_run;

static int ex_write_run_json(ex_run *r, pid_t child) {
    json_t *cmd = json_array();
    for (size_t i = 0; i < r->argv.n; i++) json_array_append_new(cmd, ex_json_text(r->argv.v[i]));
    unsigned long long cticks = 0;
    int have_child = child > 0 && ex_proc_start_ticks(child, &cticks) == 0;
    json_t *j =
        json_pack("{s:s, s:I, s:I, s:s, s:s, s:o, s:s, s:b, s:o, s:o, s:s}", "version", r->version, "pid",
                  (json_int_t)getpid(), "proc_start_ticks", (json_int_t)r->ticks, "start_time", r->start_iso,
                  "host", r->host, "command", cmd, "commit", r->commit, "resume", r->resume, "child_pid",
                  child > 0 ? json_integer(child) : json_null(), "child_start_ticks",
                  have_child ? json_integer((json_int_t)cticks) : json_null(), "log", "experiment.log");
    if (!j) return mm_errorf("run.json: cannot encode");
    int rc = ex_json_save(r->run_json, j);
    json_decref(j);
    return rc;
}

static int ex_write_exit_json(ex_run *r, int wstatus, int spawned, int stopped, long peak_kb, json_t *eval) {
    char end_iso[32];
    ex_iso_utc(time(NULL), end_iso, sizeof end_iso);
    fflush(stdout);
    char *tail = ex_log_tail(r->log, EX_LOG_TAIL_LINES, r->log_from);
    json_t *status = json_null();
    int sig = 0;
    if (!spawned)
        status = json_integer(127);
    else if (WIFEXITED(wstatus))
        status = json_integer(WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        sig = WTERMSIG(wstatus);
    json_t *j = json_pack("{s:s, s:I, s:o, s:i, s:b, s:s, s:s, s:f, s:I, s:s, s:o, s:o, s:o, s:O}", "version",
                          r->version, "pid", (json_int_t)getpid(), "status", status, "signal", sig, "stopped",
                          stopped, "start_time", r->start_iso, "end_time", end_iso, "duration_s",
                          ex_wall_s() - r->start_s, "peak_rss_kb", (json_int_t)peak_kb, "host", r->host,
                          "cpu", ex_cpu_model(), "gpu", ex_gpu_model(), "log_tail",
                          ex_json_text(tail ? tail : ""), "eval", eval ? eval : json_null());
    free(tail);
    if (!j) return mm_errorf("exit.json: cannot encode");
    int rc = ex_json_save(r->exit_json, j);
    json_decref(j);
    return rc;
}

// Runs the mandatory evaluation; returns the exit.json "eval" object.
static json_t *ex_run_eval(ex_run *r, char *const env[], int *stop_requested) {
    if (ex_eval_fresh(r->p, r->version, r->start_s)) {
        ex_slog("the run script wrote a fresh eval.json: evaluation done");
        return json_pack("{s:b, s:i, s:s}", "ran", 0, "status", 0, "reason",
                         "fresh eval.json from the run script");
    }
    ex_strv argv = {0};
    if (ex_eval_argv(r->p, r->version, 1, &argv) != 0) {
        ex_slog("evaluation: error: %s", mm_error_message());
        return json_pack("{s:b, s:n, s:o}", "ran", 0, "status", "reason", ex_json_text(mm_error_message()));
    }
    char line[8192] = "";
    for (size_t i = 0; i < argv.n; i++) {
        strncat(line, " ", sizeof line - strlen(line) - 1);
        strncat(line, argv.v[i], sizeof line - strlen(line) - 1);
    }
    ex_slog("no fresh eval.json: running the mandatory evaluation:%s", line);
    pid_t pid;
    json_t *res;
    if (ex_spawn(argv.v, env, 1, &pid) != 0) {
        ex_slog("evaluation: error: %s", mm_error_message());
        res =
            json_pack("{s:b, s:i, s:o}", "ran", 1, "status", 127, "reason", ex_json_text(mm_error_message()));
    } else {
        int st = ex_wait_run(pid, stop_requested);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        int fresh = ex_eval_fresh(r->p, r->version, r->start_s);
        const char *why = code != 0 ? "the evaluation failed"
                          : fresh   ? "ok"
                                    : "the evaluation wrote no eval.json";
        ex_slog("evaluation ended with status %d: %s", code, why);
        res = json_pack("{s:b, s:i, s:s}", "ran", 1, "status", code != 0 || fresh ? code : 1, "reason", why);
    }
    ex_strv_free(&argv);
    return res;
}

// Writes the ready line for the launcher once and closes the pipe (*fd = -1).
static void ex_ready(int *fd, const char *fmt, ...) MM_PRINTF(2, 3);
static void ex_ready(int *fd, const char *fmt, ...) {
    if (*fd < 0) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
    ssize_t w = write(*fd, buf, (size_t)n);
    (void)w;
    close(*fd);
    *fd = -1;
}

static int ex_run_paths(ex_run *r) {
    r->out = ex_out_dir(r->p, r->version);
    r->run_json = ex_out_file(r->p, r->version, "run.json");
    r->exit_json = ex_out_file(r->p, r->version, "exit.json");
    r->log = ex_out_file(r->p, r->version, "experiment.log");
    r->script = ex_script_path(r->p, r->version);
    r->config = ex_config_path(r->p, r->version);
    return r->out && r->run_json && r->exit_json && r->log && r->script && r->config ? 0 : -1;
}

static void ex_run_free(ex_run *r) {
    free(r->out);
    free(r->run_json);
    free(r->exit_json);
    free(r->log);
    free(r->script);
    free(r->config);
    ex_strv_free(&r->argv);
}

// The commit recorded by `expt run` in git.json, else HEAD.
static void ex_run_commit(ex_run *r) {
    char *path = ex_out_file(r->p, r->version, "git.json");
    json_t *g = path ? ex_json_load(path, NULL) : NULL;
    const char *c = ex_json_str(g, "commit");
    if (c)
        snprintf(r->commit, sizeof r->commit, "%s", c);
    else if (ex_git_head(r->p, r->commit, sizeof r->commit) != 0)
        snprintf(r->commit, sizeof r->commit, "unknown");
    json_decref(g);
    free(path);
}

int ex_supervise(const ex_project *p, const char *version, const ex_supervise_opts *o) {
    ex_run r = {.p = p, .version = version, .resume = o->resume};
    int lock = o->lock_fd, ready = o->ready_fd, code = 1;
    ex_strv env = {0};
    if (ex_run_paths(&r) != 0) {
        ex_ready(&ready, "error %s\n", mm_error_message());
        ex_run_free(&r);
        return 1;
    }
    ex_cloexec_all();
    signal(SIGPIPE, SIG_IGN);  // a launcher gone before the ready line must not kill the run
    if (lock >= 0) {
        if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
            ex_ready(&ready, "error the run lock handed over is not held\n");
            ex_run_free(&r);
            return 1;
        }
    } else {
        // Started by hand: make the output folder (out/ and out/experiment_X_Y_Z) first.
        if (mkdir(p->out_root, 0755) != 0 && errno != EEXIST)
            mm_errorf_errno("%s: cannot create", p->out_root);
        if (mkdir(r.out, 0755) != 0 && errno != EEXIST) mm_errorf_errno("%s: cannot create", r.out);
        char *lp = ex_out_file(p, version, "run.lock");
        lock = lp ? ex_runlock_acquire(lp) : -1;
        free(lp);
        if (lock < 0) {
            if (lock == -2) mm_errorf("%s is already running (its run lock is held)", version);
            ex_ready(&ready, "error %s\n", mm_error_message());
            ex_run_free(&r);
            return 1;
        }
    }
    sigset_t set;
    ex_sigset_run(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (chdir(p->root) != 0) {
        mm_errorf_errno("%s: cannot enter", p->root);
        ex_ready(&ready, "error %s\n", mm_error_message());
        goto done;
    }

    r.start_s = ex_wall_s();
    ex_iso_utc((time_t)r.start_s, r.start_iso, sizeof r.start_iso);
    if (gethostname(r.host, sizeof r.host) != 0) snprintf(r.host, sizeof r.host, "unknown");
    ex_proc_start_ticks(getpid(), &r.ticks);
    ex_run_commit(&r);
    unlink(r.exit_json);  // an exit record of an earlier run would make this one look ended
    if (ex_script_argv(r.script, &r.argv) != 0) {
        ex_ready(&ready, "error %s\n", mm_error_message());
        goto done;
    }
    char kv[6][4200];
    snprintf(kv[0], sizeof kv[0], "MINIMIND=%s", p->minimind);
    snprintf(kv[1], sizeof kv[1], "EXPT_ROOT=%s", p->root);
    snprintf(kv[2], sizeof kv[2], "EXPT_VERSION=%s", version);
    snprintf(kv[3], sizeof kv[3], "EXPT_CONFIG=%s", r.config);
    snprintf(kv[4], sizeof kv[4], "EXPT_OUT=%s", r.out);
    snprintf(kv[5], sizeof kv[5], "EXPT_RESUME=%s", o->resume ? "1" : "");
    const char *pairs[] = {kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], NULL};
    if (ex_env_build(&env, pairs) != 0 || ex_write_run_json(&r, 0) != 0) {
        ex_ready(&ready, "error %s\n", mm_error_message());
        goto done;
    }

    fflush(stdout);
    struct stat lst;
    r.log_from = stat(r.log, &lst) == 0 ? (long)lst.st_size : 0;
    printf("\n");
    ex_slog("==== %s %s: supervisor pid %ld on %s, commit %s ====", o->resume ? "resuming" : "starting",
            version, (long)getpid(), r.host, r.commit);
    pid_t child = 0;
    int stop = 0, wstatus = 0, spawned = ex_spawn(r.argv.v, env.v, 1, &child) == 0;
    if (!spawned) {
        ex_slog("error: %s", mm_error_message());
        ex_ready(&ready, "error %s\n", mm_error_message());
    } else {
        ex_slog("run script %s started: pid %ld (process group %ld)", r.argv.v[r.argv.n - 1], (long)child,
                (long)child);
        if (ex_write_run_json(&r, child) != 0) ex_slog("warning: %s", mm_error_message());
        ex_ready(&ready, "ok %ld\n", (long)getpid());
        wstatus = ex_wait_run(child, &stop);
    }

    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    long peak_kb = ru.ru_maxrss;
    int ok = spawned && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
    int stopped_status = spawned && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 3;
    if (!spawned)
        ex_slog("the run script could not be started");
    else if (WIFEXITED(wstatus))
        ex_slog("run script exited with status %d%s", WEXITSTATUS(wstatus),
                stopped_status ? " (stopped, resumable)" : "");
    else
        ex_slog("run script killed by signal %d (%s)", WTERMSIG(wstatus), ex_signal_name(WTERMSIG(wstatus)));
    if (ex_write_exit_json(&r, wstatus, spawned, stop, peak_kb, NULL) != 0)
        ex_slog("error: %s", mm_error_message());

    json_t *eval = NULL;
    if (ok && !stop) {
        eval = ex_run_eval(&r, env.v, &stop);
        if (ex_write_exit_json(&r, wstatus, spawned, stop, peak_kb, eval) != 0)
            ex_slog("error: %s", mm_error_message());
    }
    json_t *est = json_object_get(eval, "status");
    int eval_ok = json_is_integer(est) && json_integer_value(est) == 0;
    json_decref(eval);

    if (ex_report_experiment(p, version) != 0)
        ex_slog("record: not filled: %s", mm_error_message());
    else
        ex_slog("record filled: experiment/experiment_%s.md", version);
    code = ok && eval_ok ? 0 : (stop || stopped_status) && !ok ? 3 : 1;
    // The run is over: release the lock before the index, so that its row shows this run's final
    // state and not "running" (the record is filled; the index only reads the run files).
    close(lock);
    lock = -1;
    if (ex_report_index(p) != 0) ex_slog("experiment/INDEX.md: not regenerated: %s", mm_error_message());
    ex_slog("==== supervisor done: %s ====", code == 0   ? "finished and evaluated"
                                             : code == 3 ? "stopped"
                                             : ok        ? "training finished, evaluation not done (`expt eval`)"
                                                         : "failed");
done:
    if (ready >= 0) close(ready);
    ex_strv_free(&env);
    ex_run_free(&r);
    if (lock >= 0) close(lock);  // releases the run lock
    return code;
}

int ex_supervisor_spawn(const ex_project *p, const char *version, const char *expt_exe, int lock_fd,
                        int resume, pid_t *pid) {
    char *log = ex_out_file(p, version, "experiment.log");
    int pfd[2] = {-1, -1}, lock_hi = -1, ready_hi = -1, rc = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    if (!log) goto done;
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        mm_errorf_errno("pipe");
        goto done;
    }
    // Move both descriptors above 9 so the dup2 to 3 and 4 below always clears close-on-exec.
    lock_hi = fcntl(lock_fd, F_DUPFD_CLOEXEC, 10);
    ready_hi = fcntl(pfd[1], F_DUPFD_CLOEXEC, 10);
    if (lock_hi < 0 || ready_hi < 0) {
        mm_errorf_errno("fcntl");
        goto done;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, lock_hi, 3);
    posix_spawn_file_actions_adddup2(&fa, ready_hi, 4);
    sigset_t empty;
    sigemptyset(&empty);
    posix_spawnattr_setsigmask(&at, &empty);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    ex_strv argv = {0};
    if (ex_strv_push(&argv, expt_exe) || ex_strv_push(&argv, "supervise") || ex_strv_push(&argv, version) ||
        ex_strv_push(&argv, "--root") || ex_strv_push(&argv, p->root) || ex_strv_push(&argv, "--lock-fd") ||
        ex_strv_push(&argv, "3") || ex_strv_push(&argv, "--ready-fd") || ex_strv_push(&argv, "4") ||
        (resume && ex_strv_push(&argv, "--resume"))) {
        ex_strv_free(&argv);
        goto done;
    }
    int e = posix_spawn(pid, expt_exe, &fa, &at, argv.v, environ);
    ex_strv_free(&argv);
    if (e != 0) {
        mm_errorf("cannot start the supervisor %s: %s", expt_exe, strerror(e));
        goto done;
    }
    close(pfd[1]);
    close(ready_hi);
    pfd[1] = ready_hi = -1;
    close(lock_hi);
    lock_hi = -1;
    close(lock_fd);  // the supervisor holds the lock now
    lock_fd = -1;
    char buf[2048];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(pfd[0], buf + got, sizeof buf - 1 - got);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            break;
        if (got >= sizeof buf - 1) break;
    }
    buf[got] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!strncmp(buf, "ok ", 3))
        rc = 0;
    else if (!strncmp(buf, "error ", 6))
        mm_errorf("the supervisor could not start the run: %s", buf + 6);
    else
        mm_errorf("the supervisor exited at once (see %s)", log);
done:
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (pfd[0] >= 0) close(pfd[0]);
    if (pfd[1] >= 0) close(pfd[1]);
    if (lock_hi >= 0) close(lock_hi);
    if (ready_hi >= 0) close(ready_hi);
    if (lock_fd >= 0) close(lock_fd);
    free(log);
    return rc;
}
