// The state of an experiment from its record and run files (see runstate.h).
//
//   run.lock held ............................ running (stalled: no progress for EX_STALL_S)
//   lock free, no run.json ................... never run: ready when the pre-run gates pass,
//                                               else draft
//   lock free, run.json but no exit.json
//     (or one from another supervisor) ....... crashed (SIGKILL, dead supervisor, reboot)
//   exit.json: stopped on request or status 3  stopped
//              killed by a signal / status!=0  failed
//              status 0, no fresh eval.json .. finished
//              status 0, fresh eval.json ...... evaluated; qualified when every gate of
//                                               `expt check` passes; committed when the record
//                                               is committed and unchanged since
#include "runstate.h"

#include <git2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evaluate.h"
#include "gates.h"
#include "minimind/error.h"
#include "minimind/progress.h"
#include "proc.h"
#include "recinfo.h"
#include "jsonfile.h"
#include "runfiles.h"
#include "runlock.h"

// A running experiment whose progress.json (or, before the first one, run.json) has not changed
// for this long is "stalled".
#define EX_STALL_S 600.0

const char *ex_state_name(ex_state s) {
    static const char *const names[] = {"draft",   "ready",    "running",   "stalled",   "stopped",  "failed",
                                        "crashed", "finished", "evaluated", "qualified", "committed"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

// The blob id of `rel` in commit c (0 when found).
static int ex_blob_at(git_commit *c, const char *rel, git_oid *id) {
    git_tree *t = NULL;
    git_tree_entry *e = NULL;
    int rc = -1;
    if (git_commit_tree(&t, c) == 0 && git_tree_entry_bypath(&e, t, rel) == 0) {
        git_oid_cpy(id, git_tree_entry_id(e));
        rc = 0;
    }
    git_tree_entry_free(e);
    git_tree_free(t);
    return rc;
}

// 1 when the record is identical in the work tree, the index and HEAD, and the newest commit that
// changed it was made at or after `since` (the end of the run, whole seconds): committed after the
// run (a commit within the second the run ended counts; an older record would differ from HEAD).
static int ex_record_committed(const ex_project *p, const char *version, double since) {
    char *path = ex_record_path(p, version);
    if (!path) return 0;
    const char *rel = path + strlen(p->root) + 1;
    int committed = 0;
    git_libgit2_init();
    git_repository *repo = NULL;
    git_revwalk *walk = NULL;
    unsigned int flags = 0;
    if (git_repository_open(&repo, p->root) == 0 && git_status_file(&flags, repo, rel) == 0 &&
        flags == GIT_STATUS_CURRENT && git_revwalk_new(&walk, repo) == 0 &&
        git_revwalk_push_head(walk) == 0) {
        git_revwalk_sorting(walk, GIT_SORT_TIME);
        git_oid id;
        // Walk back to the newest commit whose record differs from its first parent's.
        for (int i = 0; i < 10000 && git_revwalk_next(&id, walk) == 0; i++) {
            git_commit *c = NULL, *parent = NULL;
            git_oid mine, theirs;
            if (git_commit_lookup(&c, repo, &id) != 0) break;
            int have = ex_blob_at(c, rel, &mine) == 0;
            int changed = have && (git_commit_parent(&parent, c, 0) != 0 ||
                                   ex_blob_at(parent, rel, &theirs) != 0 || !git_oid_equal(&mine, &theirs));
            if (changed) committed = (double)git_commit_time(c) >= since;  // both whole seconds
            git_commit_free(parent);
            git_commit_free(c);
            if (changed || !have) break;
        }
    }
    git_revwalk_free(walk);
    git_repository_free(repo);
    git_libgit2_shutdown();
    free(path);
    return committed;
}

static void ex_fill_progress(const ex_project *p, const char *version, ex_status *st, double *mtime) {
    char *path = ex_out_file(p, version, "progress.json");
    json_t *j = path ? ex_json_load(path, NULL) : NULL;
    *mtime = path ? ex_mtime(path) : -1;
    if (j) {
        st->has_progress = 1;
        st->step = ex_json_int(j, "step", 0);
        st->total_steps = ex_json_int(j, "total_steps", 0);
        st->loss = ex_json_num(j, "loss", NAN);
        st->eta_s = ex_json_num(j, "eta_s", -1);
        st->elapsed_s = ex_json_num(j, "elapsed_s", -1);
    }
    json_decref(j);
    free(path);
}

// Duration of the based-on experiment's run (for an ETA before the first progress), or -1.
static double ex_based_on_duration(const ex_project *p, const char *version) {
    char b[64];
    if (ex_recinfo_based_on(p, version, b, sizeof b) != 1) return -1;
    char *path = ex_out_file(p, b, "exit.json");
    json_t *j = path ? ex_json_load(path, NULL) : NULL;
    double d = ex_json_num(j, "duration_s", -1);
    json_decref(j);
    free(path);
    return d;
}

static void ex_state_running(const ex_project *p, const char *version, ex_status *st, json_t *run, json_t *ex,
                             const char *run_path) {
    double now = ex_wall_s(), pmtime;
    time_t start = 0;
    int have_start = ex_parse_iso_utc(ex_json_str(run, "start_time"), &start) == 0;
    ex_fill_progress(p, version, st, &pmtime);
    double since_start = have_start ? now - (double)start : -1;
    // Progress from before this run (resume, re-run) does not count.
    if (st->has_progress && have_start && pmtime + 1 < (double)start) {
        st->has_progress = 0;
        st->eta_s = -1;
    }
    if (st->has_progress) {
        double age = now - pmtime;
        if (st->eta_s >= 0) st->eta_s = st->eta_s > age ? st->eta_s - age : 0;
        if (st->elapsed_s >= 0) st->elapsed_s += age;
    } else {
        st->elapsed_s = since_start;
        double d = ex_based_on_duration(p, version);
        st->eta_s = d >= 0 && since_start >= 0 ? (d > since_start ? d - since_start : 0) : -1;
    }
    double last = st->has_progress ? pmtime : ex_mtime(run_path);
    st->state = last >= 0 && now - last > EX_STALL_S ? EX_STALLED : EX_RUNNING;
    if (!run)
        snprintf(st->detail, sizeof st->detail, "starting");
    else if (ex)
        snprintf(st->detail, sizeof st->detail, "training ended; evaluating and filling the record");
    else if (st->state == EX_STALLED)
        snprintf(st->detail, sizeof st->detail, "no progress for %.0f s", now - last);
    else if (!st->has_progress && st->eta_s >= 0)
        snprintf(st->detail, sizeof st->detail, "ETA from the based-on experiment's duration");
}

static void ex_state_ended(const ex_project *p, const char *version, ex_status *st, json_t *run, json_t *ex) {
    double pm;
    ex_fill_progress(p, version, st, &pm);
    st->eta_s = -1;
    json_t *status = json_object_get(ex, "status");
    int sig = (int)ex_json_int(ex, "signal", 0), stopped = ex_json_bool(ex, "stopped", 0);
    long long code = json_is_integer(status) ? json_integer_value(status) : -1;
    if ((stopped && code != 0) || code == 3) {
        st->state = EX_STOPPED;
        snprintf(st->detail, sizeof st->detail, "stopped%s (resume with `expt resume %s`)",
                 code == 3 ? " after saving a checkpoint"
                 : sig     ? " by a signal"
                           : "",
                 version);
    } else if (sig > 0) {
        st->state = EX_FAILED;
        snprintf(st->detail, sizeof st->detail, "killed by signal %d (%s)", sig, ex_signal_name(sig));
    } else if (code != 0) {
        st->state = EX_FAILED;
        snprintf(st->detail, sizeof st->detail, code < 0 ? "exit status unknown" : "exit status %lld", code);
    } else {
        time_t start = 0;
        double since = ex_parse_iso_utc(ex_json_str(run, "start_time"), &start) == 0 ? (double)start : 0;
        if (!ex_eval_fresh(p, version, since)) {
            st->state = EX_FINISHED;
            json_t *ev = json_object_get(ex, "eval");
            const char *why = ex_json_str(ev, "reason");
            snprintf(st->detail, sizeof st->detail, "no evaluation%s%s (run `expt eval %s`)", why ? ": " : "",
                     why ? why : "", version);
        } else {
            st->state = EX_EVALUATED;
            ex_gate_list g;
            memset(&g, 0, sizeof g);
            time_t end = 0;
            double ended = ex_parse_iso_utc(ex_json_str(ex, "end_time"), &end) == 0 ? (double)end : since;
            if (ex_record_committed(p, version, ended))
                st->state = EX_COMMITTED;
            else if (ex_gates_all(p, version, &g) == 0 && ex_gates_passed(&g))
                st->state = EX_QUALIFIED;
            else if (g.n > 0) {
                for (int i = 0; i < g.n; i++)
                    if (!g.gates[i].passed) {
                        snprintf(st->detail, sizeof st->detail, "gate not passed: %s", g.gates[i].name);
                        break;
                    }
            }
        }
    }
}

int ex_status_get(const ex_project *p, const char *version, ex_status *out) {
    memset(out, 0, sizeof *out);
    out->loss = NAN;
    out->eta_s = out->elapsed_s = -1;
    if (ex_version_validate(version) != 0) return -1;
    char *lock = ex_out_file(p, version, "run.lock"), *run_path = ex_out_file(p, version, "run.json");
    char *exit_path = ex_out_file(p, version, "exit.json"), *record = ex_record_path(p, version);
    char *out_dir = ex_out_dir(p, version);
    json_t *run = NULL, *ex = NULL;
    int rc = -1;
    if (!lock || !run_path || !exit_path || !record || !out_dir) goto done;
    if (ex_mtime(record) < 0 && ex_mtime(out_dir) < 0) {
        mm_errorf("no experiment %s (%s does not exist; create it with `expt new %s`)", version, record,
                  version);
        goto done;
    }
    int held = ex_runlock_held(lock);
    if (held < 0) goto done;
    int missing = 0;
    run = ex_json_load(run_path, &missing);
    if (!run && !missing) goto done;
    ex = ex_json_load(exit_path, &missing);
    if (!ex && !missing) goto done;
    out->pid = (long)ex_json_int(run, "pid", 0);
    if (held) {
        ex_state_running(p, version, out, run, ex, run_path);
    } else if (!run) {
        ex_gate_list g;
        memset(&g, 0, sizeof g);
        if (ex_gates_prerun(p, version, &g) != 0) {
            out->state = EX_DRAFT;
            snprintf(out->detail, sizeof out->detail, "pre-run gates unavailable: %s", mm_error_message());
        } else if (ex_gates_passed(&g)) {
            out->state = EX_READY;
        } else {
            out->state = EX_DRAFT;
            for (int i = 0; i < g.n; i++)
                if (!g.gates[i].passed) {
                    snprintf(out->detail, sizeof out->detail, "%s: %s", g.gates[i].name, g.gates[i].reason);
                    break;
                }
        }
    } else if (!ex || ex_json_int(ex, "pid", -1) != ex_json_int(run, "pid", -2)) {
        out->state = EX_CRASHED;
        double pm;
        ex_fill_progress(p, version, out, &pm);
        out->eta_s = -1;
        long child = (long)ex_json_int(run, "child_pid", 0);
        unsigned long long ticks = (unsigned long long)ex_json_int(run, "child_start_ticks", 0);
        if (child > 0 && ex_proc_is((pid_t)child, ticks))
            snprintf(out->detail, sizeof out->detail,
                     "supervisor gone without an exit record; the run script (pid %ld) is still running "
                     "unsupervised: `expt stop %s` ends it",
                     child, version);
        else
            snprintf(out->detail, sizeof out->detail,
                     "supervisor gone without an exit record (killed, crashed or machine rebooted); "
                     "`expt resume %s` continues from the last checkpoint",
                     version);
    } else {
        ex_state_ended(p, version, out, run, ex);
    }
    rc = 0;
done:
    json_decref(run);
    json_decref(ex);
    free(lock);
    free(run_path);
    free(exit_path);
    free(record);
    free(out_dir);
    return rc;
}

void ex_status_cells(const ex_status *st, char *prog, size_t pc, char *loss, size_t lc, char *eta,
                     size_t ec) {
    if (st->has_progress && st->total_steps > 0)
        snprintf(prog, pc, "%lld/%lld %.0f%%", st->step, st->total_steps,
                 100.0 * (double)st->step / (double)st->total_steps);
    else if (st->has_progress)
        snprintf(prog, pc, "%lld", st->step);
    else
        snprintf(prog, pc, "-");
    if (isfinite(st->loss))
        snprintf(loss, lc, "%.4f", st->loss);
    else
        snprintf(loss, lc, "-");
    if ((st->state == EX_RUNNING || st->state == EX_STALLED) && st->eta_s >= 0)
        mm_format_duration(st->eta_s, eta, (int)ec);
    else
        snprintf(eta, ec, "-");
}
