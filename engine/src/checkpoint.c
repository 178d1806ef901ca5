// Checkpoint weights + resume state as safetensors (see minimind/checkpoint.h).
#include "minimind/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "minimind/error.h"

#define MM_KIND_WEIGHTS "weights"
#define MM_KIND_RESUME "resume_state"

// ---- names --------------------------------------------------------------------------------------

void mm_checkpoint_default_name(const mm_model_config *m, char *buf, size_t cap) {
    snprintf(buf, cap, "pretrain_%d.safetensors", m->dim);
}

int mm_checkpoint_state_path(const char *weights_path, char *buf, size_t cap) {
    static const char ext[] = ".safetensors";
    size_t n = strlen(weights_path), e = sizeof ext - 1;
    size_t stem = (n > e && !strcmp(weights_path + n - e, ext)) ? n - e : n;
    int w = snprintf(buf, cap, "%.*s.state.safetensors", (int)stem, weights_path);
    if (w < 0 || (size_t)w >= cap) return mm_errorf("%s: path too long for its resume state name", weights_path);
    return 0;
}

// ---- helpers ------------------------------------------------------------------------------------

static const char *mm_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t off = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}

static int mm_same_shape(int na, const int64_t *a, int nb, const int64_t *b) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

// Index of an earlier parameter sharing params[i]'s data (a tied weight), or -1.
static int mm_alias_of(const mm_named_tensor *params, int i) {
    for (int j = 0; j < i; j++)
        if (params[j].data == params[i].data) return j;
    return -1;
}

// Checks the parameter list: names, shapes, data, and that tied entries agree in shape.
static int mm_check_params(const mm_named_tensor *params, int n, const char *path) {
    char a[128], b[128];
    for (int i = 0; i < n; i++) {
        const mm_named_tensor *p = &params[i];
        if (!p->name || !*p->name) return mm_errorf("%s: parameter %d has no name", path, i);
        if (p->ndim < 0 || p->ndim > 4)
            return mm_errorf("%s: parameter '%s': %d dimensions (at most 4)", path, p->name, p->ndim);
        for (int d = 0; d < p->ndim; d++)
            if (p->shape[d] < 0) return mm_errorf("%s: parameter '%s': negative dimension", path, p->name);
        if (!p->data) return mm_errorf("%s: parameter '%s' has no data", path, p->name);
        for (int j = 0; j < i; j++)
            if (!strcmp(params[j].name, p->name)) return mm_errorf("%s: parameter '%s' listed twice", path, p->name);
        int t = mm_alias_of(params, i);
        if (t >= 0 && !mm_same_shape(p->ndim, p->shape, params[t].ndim, params[t].shape))
            return mm_errorf("%s: parameter '%s' %s shares its data with '%s' %s but not its shape", path, p->name,
                             mm_shape_str(p->ndim, p->shape, a, sizeof a), params[t].name,
                             mm_shape_str(params[t].ndim, params[t].shape, b, sizeof b));
    }
    return 0;
}

// 32 hex digits from the kernel's random source.
static void mm_new_save_id(char out[33]) {
    unsigned char r[16];
    ssize_t got = getrandom(r, sizeof r, 0);
    if (got != (ssize_t)sizeof r) {  // fall back to time and pid mixing
        uint64_t x = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)clock();
        for (size_t i = 0; i < sizeof r; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r[i] = (unsigned char)x;
        }
    }
    for (size_t i = 0; i < sizeof r; i++) snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static int mm_set_meta_i64(mm_safetensors *st, const char *key, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    return mm_st_set_meta(st, key, buf);
}

// Metadata common to both files.
static int mm_common_meta(mm_safetensors *st, const char *kind, const char *save_id, const mm_run_config *cfg) {
    if (mm_st_set_meta(st, "format", "pt") || mm_st_set_meta(st, "mm.kind", kind) ||
        mm_st_set_meta(st, "mm.save_id", save_id) || mm_st_set_meta(st, "mm.version", MM_VERSION_STRING))
        return -1;
    return cfg ? mm_config_to_meta(cfg, st) : 0;
}

// ---- save ---------------------------------------------------------------------------------------

static int mm_build_weights(mm_safetensors *st, const mm_run_config *cfg, const mm_named_tensor *params, int n,
                            const mm_ckpt_extra *extras, int n_extras, const char *save_id) {
    for (int i = 0; i < n; i++)
        if (mm_st_add(st, params[i].name, MM_F32, params[i].ndim, params[i].shape, params[i].data)) return -1;
    for (int i = 0; i < n_extras; i++) {
        const mm_ckpt_extra *e = &extras[i];
        if (!e->name) return mm_errorf("extra tensor %d has no name", i);
        if (mm_st_add(st, e->name, e->dtype, e->ndim, e->shape, e->data)) return -1;
    }
    return mm_common_meta(st, MM_KIND_WEIGHTS, save_id, cfg);
}

static int mm_moment_name(char *buf, size_t cap, const char *which, const char *param) {
    if ((size_t)snprintf(buf, cap, "%s.%s", which, param) >= cap) return mm_errorf("parameter name '%s' too long", param);
    return 0;
}

static int mm_build_state(mm_safetensors *st, const mm_run_config *cfg, const mm_named_tensor *params, int n,
                          const mm_resume_state *r, const char *save_id) {
    if ((r->adam_m == NULL) != (r->adam_v == NULL))
        return mm_errorf("resume state: adam_m and adam_v must both be set or both be NULL");
    for (int i = 0; r->adam_m && i < n; i++) {
        if (mm_alias_of(params, i) >= 0) continue;
        char name[512];
        for (int k = 0; k < 2; k++) {
            const float *data = k ? r->adam_v[i] : r->adam_m[i];
            if (!data) return mm_errorf("resume state: no %s buffer for '%s'", k ? "adam_v" : "adam_m", params[i].name);
            if (mm_moment_name(name, sizeof name, k ? "adam_v" : "adam_m", params[i].name) ||
                mm_st_add(st, name, MM_F32, params[i].ndim, params[i].shape, data))
                return -1;
        }
    }
    int64_t rl = (int64_t)r->rng_len, dl = (int64_t)r->data_pos_len;
    if (mm_st_add(st, "rng", MM_U8, 1, &rl, r->rng) || mm_st_add(st, "data_position", MM_U8, 1, &dl, r->data_pos))
        return -1;
    int64_t el = (int64_t)r->memory_ema_len;
    if (el > 0 && mm_st_add(st, "memory_ema", MM_U8, 1, &el, r->memory_ema)) return -1;
    char hash[17];
    snprintf(hash, sizeof hash, "%016" PRIx64, cfg ? mm_config_hash(cfg, MM_CONFIG_ALL) : (uint64_t)0);
    if (mm_common_meta(st, MM_KIND_RESUME, save_id, cfg) || mm_set_meta_i64(st, "mm.step", r->step) ||
        mm_set_meta_i64(st, "mm.epoch", r->epoch) || mm_set_meta_i64(st, "mm.tokens_seen", r->tokens_seen) ||
        mm_st_set_meta(st, "mm.config_hash", hash))
        return -1;
    return 0;
}

int mm_checkpoint_save(const char *path, const mm_run_config *cfg, const mm_named_tensor *params, int n_params,
                       const mm_ckpt_extra *extras, int n_extras, const mm_resume_state *resume) {
    if (mm_check_params(params, n_params, path)) return -1;
    char save_id[33];
    mm_new_save_id(save_id);
    char state_path[4096];
    mm_safetensors w, s;
    mm_st_init(&w);
    mm_st_init(&s);
    int rc = mm_build_weights(&w, cfg, params, n_params, extras, n_extras, save_id);
    if (rc) mm_error_prefix("%s", path);
    if (!rc && resume) {
        rc = mm_checkpoint_state_path(path, state_path, sizeof state_path);
        if (!rc && mm_build_state(&s, cfg, params, n_params, resume, save_id)) rc = mm_error_prefix("%s", state_path);
    }
    // Everything validated: write the weights, then the state (each atomically).
    if (!rc) rc = mm_st_write(&w, path);
    if (!rc && resume) rc = mm_st_write(&s, state_path);
    mm_st_free(&w);
    mm_st_free(&s);
    return rc;
}

// ---- load ---------------------------------------------------------------------------------------

// Checks one file tensor against an expected dtype and shape.
static int mm_check_tensor(const char *path, const mm_st_tensor *t, mm_dtype dtype, int ndim, const int64_t *shape) {
    char a[128], b[128];
    if (t->dtype != dtype)
        return mm_errorf("%s: tensor '%s': dtype %s in the file, the model expects %s", path, t->name,
                         mm_dtype_name(t->dtype), mm_dtype_name(dtype));
    if (!mm_same_shape(t->ndim, t->shape, ndim, shape))
        return mm_errorf("%s: tensor '%s': shape %s in the file, the model expects %s", path, t->name,
                         mm_shape_str(t->ndim, t->shape, a, sizeof a), mm_shape_str(ndim, shape, b, sizeof b));
    return 0;
}

// Every tensor in the file must be one of the expected names.
static int mm_check_unexpected(const mm_safetensors *st, const char *path, const char *const *names, int n) {
    for (int i = 0; i < st->n_tensors; i++) {
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = !strcmp(st->tensors[i].name, names[j]);
        if (!found) return mm_errorf("%s: unexpected tensor '%s' (not part of this model)", path, st->tensors[i].name);
    }
    return 0;
}

int mm_checkpoint_read_config(const char *path, mm_run_config *cfg) {
    mm_safetensors st;
    if (mm_st_read_header(&st, path)) return -1;
    int rc = mm_config_from_meta(cfg, &st, path);
    mm_st_free(&st);
    return rc;
}

// Validates the weights file against params/extras; fills found[i] with the file tensor (or NULL
// for a tied alias missing from the file).
static int mm_check_weights(const mm_safetensors *st, const char *path, const mm_named_tensor *params, int n,
                            const mm_ckpt_extra *extras, int n_extras, const mm_st_tensor **found) {
    const char **names = mm_malloc((size_t)(n + n_extras + 1) * sizeof *names);
    if (!names) return -1;
    for (int i = 0; i < n; i++) names[i] = params[i].name;
    for (int i = 0; i < n_extras; i++) names[n + i] = extras[i].name;
    int rc = mm_check_unexpected(st, path, names, n + n_extras);
    free(names);
    for (int i = 0; !rc && i < n; i++) {
        int tied = mm_alias_of(params, i);
        const mm_st_tensor *t = mm_st_find(st, params[i].name);
        found[i] = t;
        if (!t) {
            if (tied < 0) rc = mm_errorf("%s: missing tensor '%s'", path, params[i].name);
            continue;
        }
        rc = mm_check_tensor(path, t, MM_F32, params[i].ndim, params[i].shape);
        if (!rc && tied >= 0 && found[tied] && memcmp(t->data, found[tied]->data, t->nbytes) != 0)
            rc = mm_errorf("%s: tensor '%s' differs from '%s', to which it is tied", path, params[i].name,
                           params[tied].name);
    }
    for (int i = 0; !rc && i < n_extras; i++) {
        const mm_st_tensor *t = mm_st_find(st, extras[i].name);
        found[n + i] = t;
        if (!t) rc = mm_errorf("%s: missing tensor '%s'", path, extras[i].name);
        else rc = mm_check_tensor(path, t, extras[i].dtype, extras[i].ndim, extras[i].shape);
        if (!rc && t->nbytes && !extras[i].data) rc = mm_errorf("%s: extra tensor '%s' has no buffer", path, t->name);
    }
    return rc;
}

int mm_checkpoint_load(const char *path, const mm_named_tensor *params, int n_params, const mm_ckpt_extra *extras,
                       int n_extras, mm_run_config *cfg_out) {
    if (mm_check_params(params, n_params, path)) return -1;
    mm_safetensors st;
    if (mm_st_read(&st, path)) return -1;
    const mm_st_tensor **found = mm_calloc((size_t)(n_params + n_extras + 1), sizeof *found);
    int rc = found ? 0 : -1;
    mm_run_config cfg;
    if (!rc) rc = mm_check_weights(&st, path, params, n_params, extras, n_extras, found);
    if (!rc && cfg_out) rc = mm_config_from_meta(&cfg, &st, path);
    if (!rc) {  // all checks passed: copy (tied aliases are filled through their shared data)
        for (int i = 0; i < n_params; i++)
            if (found[i] && mm_alias_of(params, i) < 0) memcpy(params[i].data, found[i]->data, found[i]->nbytes);
        for (int i = 0; i < n_extras; i++)
            if (found[n_params + i]->nbytes) memcpy(extras[i].data, found[n_params + i]->data, found[n_params + i]->nbytes);
        if (cfg_out) *cfg_out = cfg;
    }
    free(found);
    mm_st_free(&st);
    return rc;
}

// ---- resume state -------------------------------------------------------------------------------

void mm_resume_state_free_blobs(mm_resume_state *r) {
    free(r->rng);
    free(r->data_pos);
    free(r->memory_ema);
    r->rng = r->data_pos = r->memory_ema = NULL;
    r->rng_len = r->data_pos_len = r->memory_ema_len = 0;
}

static int mm_meta_i64(const mm_safetensors *st, const char *path, const char *key, int64_t *out) {
    const char *v = mm_st_get_meta(st, key);
    if (!v) return mm_errorf("%s: metadata lacks '%s'", path, key);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) return mm_errorf("%s: metadata '%s': '%s' is not an integer", path, key, v);
    *out = x;
    return 0;
}

static int mm_blob(const mm_safetensors *st, const char *path, const char *name, uint8_t **out, size_t *len) {
    const mm_st_tensor *t = mm_st_find(st, name);
    if (!t) return mm_errorf("%s: missing tensor '%s'", path, name);
    if (t->dtype != MM_U8 || t->ndim != 1) return mm_errorf("%s: tensor '%s' is not a 1-D U8 blob", path, name);
    *len = t->nbytes;
    *out = NULL;
    if (!t->nbytes) return 0;
    *out = mm_malloc(t->nbytes);
    if (!*out) return -1;
    memcpy(*out, t->data, t->nbytes);
    return 0;
}

// Checks the moments in the state file; found[2*i + k] gets adam_m (k=0) / adam_v (k=1) of param i.
static int mm_check_moments(const mm_safetensors *st, const char *path, const mm_named_tensor *params, int n,
                            int want, const mm_st_tensor **found) {
    int expected = 2 + (mm_st_find(st, "memory_ema") != NULL);  // rng, data_position [, memory_ema]
    for (int i = 0; i < n; i++) {
        if (!want || mm_alias_of(params, i) >= 0) continue;
        for (int k = 0; k < 2; k++) {
            char name[512];
            if (mm_moment_name(name, sizeof name, k ? "adam_v" : "adam_m", params[i].name)) return -1;
            const mm_st_tensor *t = mm_st_find(st, name);
            if (!t) return mm_errorf("%s: missing tensor '%s'", path, name);
            if (mm_check_tensor(path, t, MM_F32, params[i].ndim, params[i].shape)) return -1;
            found[2 * i + k] = t;
            expected++;
        }
    }
    if (st->n_tensors != expected) {  // name the first tensor that is not expected
        for (int i = 0; i < st->n_tensors; i++) {
            const char *nm = st->tensors[i].name;
            int ok = !strcmp(nm, "rng") || !strcmp(nm, "data_position") || !strcmp(nm, "memory_ema");
            for (int j = 0; !ok && j < n; j++)
                if (found[2 * j] == &st->tensors[i] || found[2 * j + 1] == &st->tensors[i]) ok = 1;
            if (!ok)
                return mm_errorf("%s: unexpected tensor '%s'%s", path, nm,
                                 want ? "" : " (the caller asked for no optimizer moments)");
        }
    }
    return 0;
}

int mm_checkpoint_load_resume(const char *weights_path, const mm_named_tensor *params, int n_params,
                              mm_resume_state *r, mm_run_config *cfg_out) {
    char path[4096];
    if (mm_check_params(params, n_params, weights_path) || mm_checkpoint_state_path(weights_path, path, sizeof path))
        return -1;
    if ((r->adam_m == NULL) != (r->adam_v == NULL))
        return mm_errorf("%s: adam_m and adam_v must both be set or both be NULL", path);
    mm_safetensors w, st;
    if (mm_st_read_header(&w, weights_path)) return -1;
    if (mm_st_read(&st, path)) {
        mm_st_free(&w);
        return -1;
    }
    int rc = 0;
    const char *wid = mm_st_get_meta(&w, "mm.save_id"), *sid = mm_st_get_meta(&st, "mm.save_id");
    const char *kind = mm_st_get_meta(&st, "mm.kind");
    if (!kind || strcmp(kind, MM_KIND_RESUME)) rc = mm_errorf("%s: not a minimind resume state file (mm.kind is '%s')", path, kind ? kind : "");
    else if (!wid) rc = mm_errorf("%s: no save id in its metadata (not written by minimind?)", weights_path);
    else if (!sid || strlen(sid) != 32) rc = mm_errorf("%s: missing or malformed save id", path);
    else if (strcmp(wid, sid))
        rc = mm_errorf("%s: resume state belongs to a different save than %s (save id %s vs %s): the pair is "
                       "inconsistent (an interrupted save, or files from different runs); cannot resume exactly",
                       path, weights_path, sid, wid);
    const mm_st_tensor **found = rc ? NULL : mm_calloc((size_t)(2 * n_params + 1), sizeof *found);
    if (!rc && !found) rc = -1;
    if (!rc) rc = mm_check_moments(&st, path, params, n_params, r->adam_m != NULL, found);
    mm_resume_state out = *r;
    out.rng = out.data_pos = out.memory_ema = NULL;
    out.memory_ema_len = 0;
    if (!rc && (mm_meta_i64(&st, path, "mm.step", &out.step) || mm_meta_i64(&st, path, "mm.epoch", &out.epoch) ||
                mm_meta_i64(&st, path, "mm.tokens_seen", &out.tokens_seen)))
        rc = -1;
    const char *hash = rc ? NULL : mm_st_get_meta(&st, "mm.config_hash");
    if (!rc) {
        char *end = NULL;
        out.config_hash = hash ? strtoull(hash, &end, 16) : 0;
        if (!hash || strlen(hash) != 16 || *end) rc = mm_errorf("%s: missing or malformed 'mm.config_hash'", path);
    }
    mm_run_config cfg;
    if (!rc && cfg_out) rc = mm_config_from_meta(&cfg, &st, path);
    if (!rc && (mm_blob(&st, path, "rng", &out.rng, &out.rng_len) ||
                mm_blob(&st, path, "data_position", &out.data_pos, &out.data_pos_len) ||
                (mm_st_find(&st, "memory_ema") && mm_blob(&st, path, "memory_ema", &out.memory_ema, &out.memory_ema_len))))
        rc = -1;
    if (!rc) {
        for (int i = 0; r->adam_m && i < n_params; i++) {
            if (!found[2 * i]) continue;  // tied alias
            if (!r->adam_m[i] || !r->adam_v[i]) {
                rc = mm_errorf("%s: no adam_m/adam_v buffer given for '%s'", path, params[i].name);
                break;
            }
        }
    }
    if (!rc) {
        for (int i = 0; r->adam_m && i < n_params; i++) {
            if (!found[2 * i]) continue;
            memcpy(r->adam_m[i], found[2 * i]->data, found[2 * i]->nbytes);
            memcpy(r->adam_v[i], found[2 * i + 1]->data, found[2 * i + 1]->nbytes);
        }
        snprintf(out.save_id, sizeof out.save_id, "%s", sid);
        *r = out;
        if (cfg_out) *cfg_out = cfg;
    } else {
        mm_resume_state_free_blobs(&out);
    }
    free(found);
    mm_st_free(&w);
    mm_st_free(&st);
    return rc;
}
