// Shared test helpers (see test_util.h).
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char *mm_test_slurp_fd(int fd) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    lseek(fd, 0, SEEK_SET);
    for (;;) {
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

static int mm_test_tmpfd(void) {
    const char *t = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/mmcap.XXXXXX", t && *t ? t : "/tmp");
    int fd = mkstemp(path);
    if (fd >= 0) unlink(path);
    return fd;
}

int mm_test_run(const char *const argv[], const char *stdin_path, mm_proc_result *res) {
    memset(res, 0, sizeof *res);
    int ofd = mm_test_tmpfd(), efd = mm_test_tmpfd();
    if (ofd < 0 || efd < 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, stdin_path ? stdin_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, ofd, 1);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        close(ofd);
        close(efd);
        return -1;
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->out = mm_test_slurp_fd(ofd);
    res->err = mm_test_slurp_fd(efd);
    close(ofd);
    close(efd);
    return 0;
}

void mm_proc_result_free(mm_proc_result *res) {
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

char *mm_test_tmpdir(const char *tag) {
    const char *t = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/mm_%s.XXXXXX", t && *t ? t : "/tmp", tag);
    cr_assert(mkdtemp(path) != NULL, "mkdtemp %s failed", path);
    return path;
}

static int mm_test_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void mm_test_rmtree(const char *path) { nftw(path, mm_test_rm_one, 16, FTW_DEPTH | FTW_PHYS); }

void mm_test_write_file(const char *path, const char *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    cr_assert(fp != NULL, "cannot create %s", path);
    cr_assert_eq(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

char *mm_test_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

const char *mm_test_python(void) {
    const char *p = getenv("MM_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

int mm_test_python_has(const char *modules) {
    char code[512];
    snprintf(code, sizeof code, "import %s", modules);
    const char *argv[] = {mm_test_python(), "-c", code, NULL};
    mm_proc_result r;
    if (mm_test_run(argv, NULL, &r) != 0) return 0;
    int ok = r.status == 0;
    mm_proc_result_free(&r);
    return ok;
}

int mm_test_peers_required(void) {
    const char *v = getenv("MM_REQUIRE_PEERS");
    return v && !strcmp(v, "1");
}

int mm_test_dir_count(const char *dir) {
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "cannot open directory %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}
