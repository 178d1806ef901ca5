// The mandatory evaluation's command line (see evaluate.h).
#include "evaluate.h"

#include <ctype.h>
#include <dirent.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minimind/error.h"
#include "runinfo.h"

typedef struct ex_eval_cfg {
    char model_type[64], dim[32], eval_data[1024], data[1024];
    ex_strv eval_kv;  // key, value, key, value...
    char err[256];
} ex_eval_cfg;

static int ex_eval_ini(void *user, const char *section, const char *key, const char *value) {
    ex_eval_cfg *c = user;
    if (!strcmp(section, "model") && !strcmp(key, "model_type"))
        snprintf(c->model_type, sizeof c->model_type, "%s", value);
    else if (!strcmp(section, "model") && !strcmp(key, "dim"))
        snprintf(c->dim, sizeof c->dim, "%s", value);
    else if (!strcmp(section, "data") && !strcmp(key, "eval_data_path"))
        snprintf(c->eval_data, sizeof c->eval_data, "%s", value);
    else if (!strcmp(section, "data") && !strcmp(key, "data_path"))
        snprintf(c->data, sizeof c->data, "%s", value);
    else if (!strcmp(section, "eval")) {
        for (const char *k = key; *k; k++)
            if (!isalnum((unsigned char)*k) && *k != '_') {
                snprintf(c->err, sizeof c->err, "[eval] key '%s': letters, digits and _ only", key);
                return 0;
            }
        if (!strcmp(key, "model_path") || !strcmp(key, "json")) return 1;  // set by expt
        if (ex_strv_push(&c->eval_kv, key) != 0 || ex_strv_push(&c->eval_kv, value) != 0) return 0;
    }
    return 1;
}

// OUT/pretrain_{dim}.safetensors, else the newest OUT/pretrain_*.safetensors.
static char *ex_find_checkpoint(const char *out, const char *dim) {
    char name[128];
    snprintf(name, sizeof name, "pretrain_%s.safetensors", dim[0] ? dim : "512");
    char *path = ex_path_join(out, name);
    if (!path || access(path, R_OK) == 0) return path;
    free(path);
    DIR *d = opendir(out);
    if (!d) return NULL;
    char *best = NULL;
    double best_t = -1;
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "pretrain_", 9) || n < 21 || strcmp(e->d_name + n - 12, ".safetensors"))
            continue;
        char *cand = ex_path_join(out, e->d_name);
        double t = cand ? ex_mtime(cand) : -1;
        if (t > best_t) {
            free(best);
            best = cand;
            best_t = t;
        } else {
            free(cand);
        }
    }
    closedir(d);
    return best;
}

int ex_eval_argv(const ex_project *p, const char *version, ex_strv *argv) {
    ex_eval_cfg c;
    memset(&c, 0, sizeof c);
    char *ini = ex_config_path(p, version), *out = ex_out_dir(p, version), *ckpt = NULL, *json = NULL;
    int rc = -1;
    if (!ini || !out) goto done;
    int r = ini_parse(ini, ex_eval_ini, &c);
    if (r < 0) {
        mm_errorf("%s: cannot read the configuration", ini);
        goto done;
    }
    if (r > 0) {
        mm_errorf("%s:%d: %s", ini, r, c.err[0] ? c.err : "syntax error (or a line longer than 200 bytes)");
        goto done;
    }
    ckpt = ex_find_checkpoint(out, c.dim);
    if (!ckpt) {
        mm_errorf("%s: no checkpoint (pretrain_*.safetensors) to evaluate", out);
        goto done;
    }
    json = ex_path_join(out, "eval.json");
    if (!json) goto done;
    int has_data = 0;
    for (size_t i = 0; i + 1 < c.eval_kv.n; i += 2)
        if (!strcmp(c.eval_kv.v[i], "data")) has_data = 1;
    const char *data = c.eval_data[0] ? c.eval_data : c.data;
    if (ex_strv_push(argv, p->minimind) || ex_strv_push(argv, "eval") || ex_strv_push(argv, "--model_path") ||
        ex_strv_push(argv, ckpt))
        goto done;
    if (c.model_type[0] && (ex_strv_push(argv, "--model_type") || ex_strv_push(argv, c.model_type)))
        goto done;
    if (!has_data && data[0] && (ex_strv_push(argv, "--data") || ex_strv_push(argv, data))) goto done;
    for (size_t i = 0; i + 1 < c.eval_kv.n; i += 2)
        if (ex_strv_pushf(argv, "--%s", c.eval_kv.v[i]) || ex_strv_push(argv, c.eval_kv.v[i + 1])) goto done;
    if (ex_strv_push(argv, "--json") || ex_strv_push(argv, json)) goto done;
    rc = 0;
done:
    ex_strv_free(&c.eval_kv);
    free(ini);
    free(out);
    free(ckpt);
    free(json);
    return rc;
}

int ex_eval_fresh(const ex_project *p, const char *version, double since) {
    char *path = ex_out_file(p, version, "eval.json");
    if (!path) return 0;
    double t = ex_mtime(path);
    free(path);
    return t >= 0 && t + 0.05 >= since;  // file times come from a coarse clock (a tick behind)
}
