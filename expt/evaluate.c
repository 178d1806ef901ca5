// The mandatory evaluation's command line (see evaluate.h).
#include "evaluate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inifile.h"
#include "jsonfile.h"
#include "minimind/error.h"
#include "runconfig.h"
#include "runfiles.h"

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

// Appends `--FLAG VALUE` when [section] key is set.
static int ex_push_opt(ex_strv *argv, const ex_ini *ini, const char *section, const char *key,
                       const char *flag) {
    const char *v = ex_ini_get(ini, section, key);
    if (!v || !*v) return 0;
    return ex_strv_push(argv, flag) || ex_strv_push(argv, v) ? -1 : 0;
}

// `--bank_ablation SPEC` when [eval] bank_ablation is set and not "none".
static int ex_push_ablation(ex_strv *argv, const ex_ini *ini) {
    const char *v = ex_config_bank_ablation(ini);
    return v && (ex_strv_push(argv, "--bank_ablation") || ex_strv_push(argv, v)) ? -1 : 0;
}

// `--retrieval` when [eval] retrieval = on.
static int ex_push_retrieval(ex_strv *argv, const ex_ini *ini) {
    return ex_config_retrieval_on(ini) ? ex_strv_push(argv, "--retrieval") : 0;
}

int ex_eval_argv(const ex_project *p, const char *version, int need_checkpoint, ex_strv *argv) {
    char *path = ex_config_path(p, version), *out = ex_out_dir(p, version), *ckpt = NULL, *json = NULL;
    ex_ini ini = {0};
    int rc = -1, have_ini = 0;
    if (!path || !out) goto done;
    if (ex_ini_load(path, NULL, &ini) != 0) goto done;  // keys: checked by the pre-run gate
    have_ini = 1;
    const char *dim = ex_ini_get(&ini, "model", "dim");
    ckpt = ex_find_checkpoint(out, dim ? dim : "");
    if (!ckpt && !need_checkpoint) {
        char name[128];
        snprintf(name, sizeof name, "pretrain_%s.safetensors", dim ? dim : "512");
        ckpt = ex_path_join(out, name);
    }
    if (!ckpt) {
        mm_errorf("%s: no checkpoint (pretrain_*.safetensors) to evaluate", out);
        goto done;
    }
    json = ex_path_join(out, "eval.json");
    if (!json) goto done;
    int sample = ex_ini_get(&ini, "eval", "temperature") || ex_ini_get(&ini, "eval", "top_p");
    if (ex_strv_push(argv, p->minimind) || ex_strv_push(argv, "eval") || ex_strv_push(argv, "--model_path") ||
        ex_strv_push(argv, ckpt) || ex_push_opt(argv, &ini, "data", "eval_data_path", "--data") ||
        ex_push_opt(argv, &ini, "eval", "num_samples", "--num_samples") ||
        ex_push_opt(argv, &ini, "eval", "prompt_tokens", "--prompt_tokens") ||
        ex_push_opt(argv, &ini, "eval", "max_new_tokens", "--max_new_tokens") ||
        (sample &&
         (ex_strv_push(argv, "--sample") || ex_push_opt(argv, &ini, "eval", "temperature", "--temperature") ||
          ex_push_opt(argv, &ini, "eval", "top_p", "--top_p") ||
          ex_push_opt(argv, &ini, "train", "seed", "--seed"))) ||
        ex_push_opt(argv, &ini, "eval", "facts_path", "--facts") ||
        ex_push_opt(argv, &ini, "eval", "facts_max", "--facts_max") || ex_push_ablation(argv, &ini) ||
        ex_push_retrieval(argv, &ini) || ex_strv_push(argv, "--json") || ex_strv_push(argv, json))
        goto done;
    rc = 0;
done:
    if (have_ini) ex_ini_free(&ini);
    free(path);
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
