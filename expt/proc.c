// Process helpers for the run half of expt (see proc.h).
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int ex_strv_push(ex_strv *s, const char *str) {
    if (s->n + 2 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **v = mm_realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    char *d = mm_strdup(str);
    if (!d) return -1;
    s->v[s->n++] = d;
    s->v[s->n] = NULL;
    return 0;
}

int ex_strv_pushf(ex_strv *s, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf) return mm_errorf("argument too long (%d bytes)", n);
    return ex_strv_push(s, buf);
}

void ex_strv_free(ex_strv *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int ex_env_same_name(const char *a, const char *b) {
    size_t na = strcspn(a, "="), nb = strcspn(b, "=");
    return na == nb && !strncmp(a, b, na);
}

int ex_env_build(ex_strv *env, const char *const *pairs) {
    memset(env, 0, sizeof *env);
    for (char **e = environ; e && *e; e++) {
        int replaced = 0;
        for (const char *const *p = pairs; p && *p; p++)
            if (ex_env_same_name(*e, *p)) replaced = 1;
        if (!replaced && ex_strv_push(env, *e) != 0) goto fail;
    }
    for (const char *const *p = pairs; p && *p; p++)
        if (ex_strv_push(env, *p) != 0) goto fail;
    if (!env->v && ex_strv_push(env, "EXPT=1") != 0) goto fail;
    return 0;
fail:
    ex_strv_free(env);
    return -1;
}

int ex_spawn(char *const argv[], char *const env[], int new_pgroup, pid_t *pid) {
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&defaults, sigs[i]);
    posix_spawnattr_setsigmask(&at, &empty);
    posix_spawnattr_setsigdefault(&at, &defaults);
    short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    if (new_pgroup) {
        flags |= POSIX_SPAWN_SETPGROUP;
        posix_spawnattr_setpgroup(&at, 0);
    }
    posix_spawnattr_setflags(&at, flags);
    int rc = strchr(argv[0], '/') ? posix_spawn(pid, argv[0], NULL, &at, argv, env ? env : environ)
                                  : posix_spawnp(pid, argv[0], NULL, &at, argv, env ? env : environ);
    posix_spawnattr_destroy(&at);
    if (rc != 0) return mm_errorf("cannot start %s: %s", argv[0], strerror(rc));
    return 0;
}

int ex_proc_start_ticks(pid_t pid, unsigned long long *ticks) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    // Field 2 (comm) is parenthesised and may contain spaces: count fields after the last ')'.
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    // A zombie (or dead) process has finished: it counts as gone.
    char state = p[strspn(p, " ")];
    if (state == 'Z' || state == 'X') return -1;
    // After ')': field 3 (state) is the 1st token, so field 22 is the 20th.
    char *save = NULL, *tok = strtok_r(p, " ", &save);
    for (int field = 3; tok && field < 22; field++) tok = strtok_r(NULL, " ", &save);
    if (!tok) return -1;
    *ticks = strtoull(tok, NULL, 10);
    return 0;
}

int ex_proc_is(pid_t pid, unsigned long long ticks) {
    if (pid <= 0) return 0;
    unsigned long long t;
    if (ex_proc_start_ticks(pid, &t) != 0) return 0;
    return t == ticks;
}

const char *ex_iso_utc(time_t t, char *buf, size_t cap) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int ex_parse_iso_utc(const char *s, time_t *t) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end || *end) return -1;
    *t = timegm(&tm);
    return 0;
}

double ex_wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ex_sleep_s(double s) {
    struct timespec req = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)}, rem;
    while (nanosleep(&req, &rem) != 0 && errno == EINTR) req = rem;
}

const char *ex_signal_name(int sig) {
    switch (sig) {
        case SIGKILL:
            return "SIGKILL";
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        case SIGHUP:
            return "SIGHUP";
        case SIGSEGV:
            return "SIGSEGV";
        case SIGABRT:
            return "SIGABRT";
        case SIGBUS:
            return "SIGBUS";
        case SIGFPE:
            return "SIGFPE";
        case SIGILL:
            return "SIGILL";
        case SIGPIPE:
            return "SIGPIPE";
        case SIGQUIT:
            return "SIGQUIT";
        default:
            return "signal";
    }
}
