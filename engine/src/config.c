// The run configuration (see minimind/config.h): one table of keys drives parsing, validation,
// writing INI, the checkpoint metadata form, comparison and hashing.
#include "minimind/config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/device.h"
#include "minimind/error.h"

// inih's line buffer (INI_MAX_LINE in Debian's build): longer lines are cut, so we reject them.
#define MM_INI_LINE 200

typedef enum mm_key_kind { K_INT, K_I64, K_FLOAT, K_DOUBLE, K_ENUM, K_CHOICE, K_PATH, K_DEVICE } mm_key_kind;

#define K_ARCH 1u        // a field of mm_model_config
#define K_MUST_EXIST 2u  // K_PATH: must exist when set (with MM_CONFIG_CHECK_PATHS)
#define K_MIN_OPEN 4u    // value must be > min (not >=)
#define K_MAX_OPEN 8u    // value must be < max (not <=)

typedef struct mm_key {
    const char *section, *key;
    mm_key_kind kind;
    size_t off, size;  // location in mm_run_config; size for strings
    double min, max;   // numeric range
    const char *const *names;  // K_ENUM / K_CHOICE values, NULL-terminated
    unsigned flags;
} mm_key;

static const char *const mm_model_type_names[] = {"model_original", "model", "model_no_feed", NULL};
static const char *const mm_memory_select_names[] = {"softmax", "gumbel", NULL};
static const char *const mm_memory_update_names[] = {"frozen", "ema", NULL};
static const char *const mm_precision_names[] = {"fp32", "bf16", "fp16", NULL};
static const char *const mm_bank_ablation_names[] = {"none", "empty", "shuffle", "layers", NULL};
static const char *const mm_off_on_names[] = {"off", "on", NULL};

#define OFF(field) offsetof(mm_run_config, field)
#define STR(field) OFF(field), sizeof(((mm_run_config *)0)->field)
#define NUM(field) OFF(field), 0
#define BIG 2147483647.0

static const mm_key mm_keys[] = {
    {"model", "model_type", K_ENUM, NUM(model.model_type), 0, 0, mm_model_type_names, K_ARCH},
    {"model", "dim", K_INT, NUM(model.dim), 1, 65536, NULL, K_ARCH},
    {"model", "n_layers", K_INT, NUM(model.n_layers), 1, 4096, NULL, K_ARCH},
    {"model", "n_heads", K_INT, NUM(model.n_heads), 1, 65536, NULL, K_ARCH},
    {"model", "n_kv_heads", K_INT, NUM(model.n_kv_heads), 1, 65536, NULL, K_ARCH},
    {"model", "vocab_size", K_INT, NUM(model.vocab_size), 1, 65536, NULL, K_ARCH},
    {"model", "hidden_dim", K_INT, NUM(model.hidden_dim), 0, 1 << 24, NULL, K_ARCH},
    {"model", "multiple_of", K_INT, NUM(model.multiple_of), 1, 1 << 16, NULL, K_ARCH},
    {"model", "norm_eps", K_FLOAT, NUM(model.norm_eps), 0, 1, NULL, K_ARCH | K_MIN_OPEN},
    {"model", "rope_theta", K_FLOAT, NUM(model.rope_theta), 0, 1e12, NULL, K_ARCH | K_MIN_OPEN},
    {"model", "max_seq_len", K_INT, NUM(model.max_seq_len), 1, 1 << 24, NULL, K_ARCH},
    {"model", "dropout", K_FLOAT, NUM(model.dropout), 0, 1, NULL, K_ARCH | K_MAX_OPEN},
    {"data", "data_path", K_PATH, STR(data.data_path), 0, 0, NULL, K_MUST_EXIST},
    {"data", "tokenizer_path", K_PATH, STR(data.tokenizer_path), 0, 0, NULL, K_MUST_EXIST},
    {"data", "eval_data_path", K_PATH, STR(data.eval_data_path), 0, 0, NULL, K_MUST_EXIST},
    {"knowledge", "knowledge_num", K_INT, NUM(model.knowledge_num), 1, BIG, NULL, K_ARCH},
    {"knowledge", "knowledge_length", K_INT, NUM(model.knowledge_length), 1, 1 << 20, NULL, K_ARCH},
    {"knowledge", "knowledge_dim", K_INT, NUM(model.knowledge_dim), 1, 1 << 20, NULL, K_ARCH},
    {"knowledge", "num_candidates", K_INT, NUM(knowledge.num_candidates), 1, 1 << 20, NULL, 0},
    {"knowledge", "memory_select", K_ENUM, NUM(knowledge.memory_select), 0, 0, mm_memory_select_names, 0},
    {"knowledge", "database_init_path", K_PATH, STR(knowledge.database_init_path), 0, 0, NULL, K_MUST_EXIST},
    {"knowledge", "cluster_cache_path", K_PATH, STR(knowledge.cluster_cache_path), 0, 0, NULL, 0},
    {"knowledge", "memory_update", K_ENUM, NUM(knowledge.memory_update), 0, 0, mm_memory_update_names, 0},
    {"knowledge", "ema_update_freq", K_INT, NUM(knowledge.ema_update_freq), 1, BIG, NULL, 0},
    {"knowledge", "ema_decay", K_DOUBLE, NUM(knowledge.ema_decay), 0, 1, NULL, 0},
    {"knowledge", "freeze_ratio", K_DOUBLE, NUM(knowledge.freeze_ratio), 0, 1, NULL, 0},
    {"train", "epochs", K_INT, NUM(train.epochs), 1, 1e6, NULL, 0},
    {"train", "batch_size", K_INT, NUM(train.batch_size), 1, 1 << 20, NULL, 0},
    {"train", "accumulation_steps", K_INT, NUM(train.accumulation_steps), 1, 1 << 20, NULL, 0},
    {"train", "learning_rate", K_DOUBLE, NUM(train.learning_rate), 0, 10, NULL, 0},
    {"train", "warmup_iters", K_INT, NUM(train.warmup_iters), 0, BIG, NULL, 0},
    {"train", "weight_decay", K_DOUBLE, NUM(train.weight_decay), 0, 10, NULL, 0},
    {"train", "beta1", K_DOUBLE, NUM(train.beta1), 0, 1, NULL, K_MAX_OPEN},
    {"train", "beta2", K_DOUBLE, NUM(train.beta2), 0, 1, NULL, K_MAX_OPEN},
    {"train", "adam_eps", K_DOUBLE, NUM(train.adam_eps), 0, 1, NULL, K_MIN_OPEN},
    {"train", "grad_clip", K_DOUBLE, NUM(train.grad_clip), 0, 1e9, NULL, 0},
    {"train", "seed", K_I64, NUM(train.seed), 0, 9.2e18, NULL, 0},
    {"train", "log_interval", K_INT, NUM(train.log_interval), 1, BIG, NULL, 0},
    {"train", "save_interval", K_INT, NUM(train.save_interval), 1, BIG, NULL, 0},
    {"train", "mixed_precision", K_CHOICE, STR(train.mixed_precision), 0, 0, mm_precision_names, 0},
    {"train", "device", K_DEVICE, STR(train.device), 0, 0, NULL, 0},
    {"train", "threads", K_INT, NUM(train.threads), 0, 4096, NULL, 0},
    {"train", "max_steps", K_I64, NUM(train.max_steps), 0, 9.2e18, NULL, 0},
    {"train", "eval_interval", K_INT, NUM(train.eval_interval), 0, BIG, NULL, 0},
    {"train", "eval_samples", K_INT, NUM(train.eval_samples), 1, 1 << 24, NULL, 0},
    {"eval", "num_samples", K_INT, NUM(eval.num_samples), 0, 1 << 24, NULL, 0},
    {"eval", "prompt_tokens", K_INT, NUM(eval.prompt_tokens), 1, 1 << 24, NULL, 0},
    {"eval", "max_new_tokens", K_INT, NUM(eval.max_new_tokens), 1, 1 << 24, NULL, 0},
    {"eval", "temperature", K_DOUBLE, NUM(eval.temperature), 0, 100, NULL, 0},
    {"eval", "top_p", K_DOUBLE, NUM(eval.top_p), 0, 1, NULL, K_MIN_OPEN},
    {"eval", "facts_path", K_PATH, STR(eval.facts_path), 0, 0, NULL, K_MUST_EXIST},
    {"eval", "facts_max", K_INT, NUM(eval.facts_max), 0, 1 << 30, NULL, 0},
    {"eval", "bank_ablation", K_CHOICE, STR(eval.bank_ablation), 0, 0, mm_bank_ablation_names, 0},
    {"eval", "retrieval", K_CHOICE, STR(eval.retrieval), 0, 0, mm_off_on_names, 0},
};
_Static_assert(sizeof(mm_model_type) == sizeof(int) && sizeof(mm_memory_select) == sizeof(int) &&
                   sizeof(mm_memory_update) == sizeof(int),
               "K_ENUM fields are stored as int");

#define MM_N_KEYS ((int)(sizeof mm_keys / sizeof mm_keys[0]))

static const char *const mm_sections[] = {"model", "data", "knowledge", "train", "eval"};
#define MM_N_SECTIONS 5

static int mm_section_index(const char *s) {
    for (int i = 0; i < MM_N_SECTIONS; i++)
        if (!strcmp(s, mm_sections[i])) return i;
    return -1;
}

static int mm_key_index(const char *section, const char *key) {
    for (int i = 0; i < MM_N_KEYS; i++)
        if (!strcmp(mm_keys[i].section, section) && !strcmp(mm_keys[i].key, key)) return i;
    return -1;
}

int mm_config_key_count(void) { return MM_N_KEYS; }

void mm_config_key_at(int i, const char **section, const char **key) {
    *section = mm_keys[i].section;
    *key = mm_keys[i].key;
}

const char *mm_memory_select_name(mm_memory_select m) {
    return (unsigned)m < 2 ? mm_memory_select_names[m] : "unknown";
}

// ---- defaults -----------------------------------------------------------------------------------

static void mm_copy_str(char *dst, size_t cap, const char *src) {
    memset(dst, 0, cap);
    snprintf(dst, cap, "%s", src);
}

void mm_config_default(mm_run_config *c) {
    memset(c, 0, sizeof *c);
    mm_model_config_default(&c->model);
    c->knowledge.num_candidates = 16;
    c->knowledge.memory_select = MM_MEMORY_SELECT_SOFTMAX;
    c->knowledge.memory_update = MM_MEMORY_UPDATE_FROZEN;
    c->knowledge.ema_update_freq = 100;
    c->knowledge.ema_decay = 0.9;
    c->knowledge.freeze_ratio = 0.0;
    mm_train_config *t = &c->train;
    t->epochs = 1;
    t->batch_size = 32;
    t->accumulation_steps = 8;
    t->learning_rate = 5e-4;
    t->warmup_iters = 0;
    t->weight_decay = 0.01;
    t->beta1 = 0.9;
    t->beta2 = 0.999;
    t->adam_eps = 1e-8;
    t->grad_clip = 1.0;
    t->seed = 42;
    t->log_interval = 100;
    t->save_interval = 100;
    mm_copy_str(t->mixed_precision, sizeof t->mixed_precision, "bf16");
    mm_copy_str(t->device, sizeof t->device, "auto");
    t->threads = 0;
    t->max_steps = 0;
    t->eval_interval = 0;
    t->eval_samples = 20;
    c->eval.num_samples = 10;
    c->eval.prompt_tokens = 30;
    c->eval.max_new_tokens = 100;
    c->eval.temperature = 0.85;
    c->eval.top_p = 0.85;
    mm_copy_str(c->eval.bank_ablation, sizeof c->eval.bank_ablation, "none");
    mm_copy_str(c->eval.retrieval, sizeof c->eval.retrieval, "off");
}

// ---- setting one key ----------------------------------------------------------------------------

// "[train] batch_size" style naming used in every value error.
#define KEYFMT "key '%s' in section [%s]"

static int mm_range_ok(const mm_key *k, double v) {
    if ((k->flags & K_MIN_OPEN) ? !(v > k->min) : !(v >= k->min)) return 0;
    if ((k->flags & K_MAX_OPEN) ? !(v < k->max) : !(v <= k->max)) return 0;
    return 1;
}

static int mm_range_error(const mm_key *k, const char *value) {
    return mm_errorf(KEYFMT ": %s is out of range %c%.9g, %.9g%c", k->key, k->section, value,
                     (k->flags & K_MIN_OPEN) ? '(' : '[', k->min, k->max, (k->flags & K_MAX_OPEN) ? ')' : ']');
}

static int mm_parse_integer(const mm_key *k, const char *value, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (end == value || *end != '\0') return mm_errorf(KEYFMT ": '%s' is not an integer", k->key, k->section, value);
    if (errno == ERANGE || !mm_range_ok(k, (double)v)) return mm_range_error(k, value);
    *out = v;
    return 0;
}

static int mm_parse_real(const mm_key *k, const char *value, double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end != '\0') return mm_errorf(KEYFMT ": '%s' is not a number", k->key, k->section, value);
    if (!isfinite(v) || errno == ERANGE || !mm_range_ok(k, v)) return mm_range_error(k, value);
    if (k->kind == K_FLOAT && (!isfinite((float)v) || !mm_range_ok(k, (float)v))) return mm_range_error(k, value);
    *out = v;
    return 0;
}

static int mm_parse_name(const mm_key *k, const char *value, int *out) {
    for (int i = 0; k->names[i]; i++)
        if (!strcmp(value, k->names[i])) {
            *out = i;
            return 0;
        }
    char list[256] = "";
    for (int i = 0; k->names[i]; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", k->names[i]);
    return mm_errorf(KEYFMT ": '%s' is not one of %s", k->key, k->section, value, list);
}

// "auto", "cpu", "cuda", "cuda:N" or "cpu-staged" (mm_device_parse).
static int mm_parse_device(const mm_key *k, const char *value) {
    int kind, index;
    if (*value && mm_device_parse(value, &kind, &index) == 0) return 0;
    return mm_errorf(KEYFMT ": '%s' is not one of auto, cpu, cuda, cuda:N, cpu-staged", k->key, k->section, value);
}

// A string must survive being written back as one INI line: printable, no surrounding spaces, no
// inline comment (" ;"), short enough for inih's buffer.
static int mm_check_string(const mm_key *k, const char *value) {
    size_t n = strlen(value);
    if (strlen(k->key) + 3 + n > MM_INI_LINE - 1 || n >= k->size)
        return mm_errorf(KEYFMT ": value is %zu bytes, longer than an INI line allows (%zu)", k->key, k->section, n,
                         MM_INI_LINE - 4 - strlen(k->key));
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch < 0x20 || ch == 0x7f)
            return mm_errorf(KEYFMT ": value contains a control character", k->key, k->section);
        if (ch == ';' && i > 0 && (value[i - 1] == ' ' || value[i - 1] == '\t'))
            return mm_errorf(KEYFMT ": value contains ' ;', which INI reads as a comment", k->key, k->section);
    }
    if (n && (value[0] == ' ' || value[0] == '\t' || value[n - 1] == ' ' || value[n - 1] == '\t'))
        return mm_errorf(KEYFMT ": value '%s' has leading or trailing spaces", k->key, k->section, value);
    return 0;
}

static int mm_set_key(mm_run_config *c, const mm_key *k, const char *value, unsigned flags) {
    char *base = (char *)c + k->off;
    long long iv;
    double dv;
    int ev;
    switch (k->kind) {
    case K_INT:
        if (mm_parse_integer(k, value, &iv)) return -1;
        *(int *)(void *)base = (int)iv;
        return 0;
    case K_I64:
        if (mm_parse_integer(k, value, &iv)) return -1;
        *(int64_t *)(void *)base = (int64_t)iv;
        return 0;
    case K_FLOAT:
        if (mm_parse_real(k, value, &dv)) return -1;
        *(float *)(void *)base = (float)dv;
        return 0;
    case K_DOUBLE:
        if (mm_parse_real(k, value, &dv)) return -1;
        *(double *)(void *)base = dv;
        return 0;
    case K_ENUM:
        if (mm_parse_name(k, value, &ev)) return -1;
        memcpy(base, &ev, sizeof ev);  // the enums are int-sized
        return 0;
    case K_CHOICE:
        if (mm_parse_name(k, value, &ev)) return -1;
        mm_copy_str(base, k->size, value);
        return 0;
    case K_DEVICE:
        if (mm_parse_device(k, value) || mm_check_string(k, value)) return -1;
        mm_copy_str(base, k->size, value);
        return 0;
    case K_PATH:
        if (mm_check_string(k, value)) return -1;
        if ((flags & MM_CONFIG_CHECK_PATHS) && (k->flags & K_MUST_EXIST) && *value && access(value, F_OK) != 0)
            return mm_errorf(KEYFMT ": path '%s' does not exist (%s)", k->key, k->section, value, strerror(errno));
        mm_copy_str(base, k->size, value);
        return 0;
    }
    return mm_errorf(KEYFMT ": internal error (kind %d)", k->key, k->section, (int)k->kind);
}

// Sets section/key from text; the error is left unprefixed.
static int mm_set_raw(mm_run_config *c, const char *section, const char *key, const char *value, unsigned flags) {
    if (mm_section_index(section) < 0)
        return mm_errorf("unknown section [%s] (expected [model], [data], [knowledge], [train] or [eval])", section);
    int i = mm_key_index(section, key);
    if (i < 0) return mm_errorf("unknown key '%s' in section [%s]", key, section);
    return mm_set_key(c, &mm_keys[i], value, flags);
}

int mm_config_set(mm_run_config *c, const char *section, const char *key, const char *value, unsigned flags,
                  const char *origin) {
    if (mm_set_raw(c, section, key, value, flags) != 0) return origin ? mm_error_prefix("%s", origin) : -1;
    return 0;
}

int mm_config_override(mm_run_config *c, const char *assignment, unsigned flags) {
    const char *eq = strchr(assignment, '=');
    const char *dot = eq ? memchr(assignment, '.', (size_t)(eq - assignment)) : NULL;
    if (!eq || !dot || dot == assignment || dot + 1 == eq)
        return mm_errorf("--set %s: expected SECTION.KEY=VALUE (e.g. train.batch_size=16)", assignment);
    char section[64], key[64];
    size_t sn = (size_t)(dot - assignment), kn = (size_t)(eq - dot - 1);
    if (sn >= sizeof section || kn >= sizeof key)
        return mm_errorf("--set %s: section or key name too long", assignment);
    memcpy(section, assignment, sn);
    section[sn] = '\0';
    memcpy(key, dot + 1, kn);
    key[kn] = '\0';
    if (mm_set_raw(c, section, key, eq + 1, flags) != 0) return mm_error_prefix("--set %s", assignment);
    return 0;
}

// ---- value text ---------------------------------------------------------------------------------

// Shortest "%.Ng" text that reads back to exactly v (as float when is_float).
static void mm_format_real(double v, int is_float, char *buf, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v) return;
    }
}

static void mm_format_key(const mm_run_config *c, const mm_key *k, char *buf, size_t cap) {
    const char *base = (const char *)c + k->off;
    int ev;
    switch (k->kind) {
    case K_INT: snprintf(buf, cap, "%d", *(const int *)(const void *)base); break;
    case K_I64: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)(const void *)base); break;
    case K_FLOAT: mm_format_real(*(const float *)(const void *)base, 1, buf, cap); break;
    case K_DOUBLE: mm_format_real(*(const double *)(const void *)base, 0, buf, cap); break;
    case K_ENUM: {
        memcpy(&ev, base, sizeof ev);
        int n = 0;
        while (k->names[n]) n++;
        snprintf(buf, cap, "%s", ev >= 0 && ev < n ? k->names[ev] : "unknown");
        break;
    }
    case K_CHOICE:
    case K_PATH:
    case K_DEVICE: snprintf(buf, cap, "%s", base); break;
    }
}

int mm_config_get(const mm_run_config *c, const char *section, const char *key, char *buf, size_t cap) {
    int i = mm_key_index(section, key);
    if (i < 0) return mm_errorf("unknown key '%s' in section [%s]", key, section);
    mm_format_key(c, &mm_keys[i], buf, cap);
    return 0;
}

// ---- INI parsing --------------------------------------------------------------------------------

typedef struct mm_ini_ctx {
    mm_run_config *c;
    unsigned flags;
    const char *name;   // file name for messages
    const char *text;   // string source (or NULL)
    FILE *fp;           // file source (or NULL)
    int line;           // physical line being parsed
    int err_line;       // first error's line (0 = none)
    char err[1024];     // first error's message (without FILE:LINE)
    int first_line[MM_N_KEYS];  // line where each key was set (duplicates are errors)
} mm_ini_ctx;

static void mm_ini_fail(mm_ini_ctx *x, const char *msg) {
    if (x->err_line) return;
    x->err_line = x->line;
    snprintf(x->err, sizeof x->err, "%s", msg);
}

// Reports "[name]" headers of unknown sections (inih only calls the handler for keys).
static void mm_ini_check_section(mm_ini_ctx *x, const char *line) {
    if (x->line == 1 && !strncmp(line, "\xEF\xBB\xBF", 3)) line += 3;
    while (*line == ' ' || *line == '\t') line++;
    if (*line != '[') return;
    const char *end = strchr(line, ']');
    if (!end) return;  // inih reports the syntax error
    char name[MM_INI_LINE];
    snprintf(name, sizeof name, "%.*s", (int)(end - line - 1), line + 1);
    if (mm_section_index(name) < 0) {
        char msg[MM_INI_LINE + 128];
        snprintf(msg, sizeof msg, "unknown section [%s] (expected [model], [data], [knowledge], [train] or [eval])",
                 name);
        mm_ini_fail(x, msg);
    }
}

// inih reader: one physical line per call; a line that does not fit inih's buffer is an error.
static char *mm_ini_reader(char *str, int num, void *stream) {
    mm_ini_ctx *x = stream;
    if (x->err_line) return NULL;  // stop at the first error
    size_t n = 0, cap = (size_t)num - 1;
    int ch = EOF, more = 0;
    if (x->fp) {
        while (n < cap && (ch = fgetc(x->fp)) != EOF) {
            str[n++] = (char)ch;
            if (ch == '\n') break;
        }
        if (n == cap && str[n - 1] != '\n') {
            int peek = fgetc(x->fp);
            if (peek != EOF && peek != '\n') more = 1;
        }
    } else {
        while (n < cap && *x->text) {
            ch = (unsigned char)*x->text++;
            str[n++] = (char)ch;
            if (ch == '\n') break;
        }
        if (n == cap && str[n - 1] != '\n') {
            if (*x->text == '\n') x->text++;
            else if (*x->text) more = 1;
        }
    }
    if (n == 0) return NULL;
    str[n] = '\0';
    x->line++;
    if (more) {
        char msg[128];
        snprintf(msg, sizeof msg, "line longer than %d bytes (inih's line limit)", MM_INI_LINE - 1);
        mm_ini_fail(x, msg);
        return NULL;
    }
    mm_ini_check_section(x, str);
    return x->err_line ? NULL : str;
}

static int mm_ini_handler(void *user, const char *section, const char *name, const char *value) {
    mm_ini_ctx *x = user;
    if (x->err_line) return 0;
    if (!*section) {
        char msg[MM_INI_LINE + 64];
        snprintf(msg, sizeof msg, "key '%s' outside any section", name);
        mm_ini_fail(x, msg);
        return 0;
    }
    int i = mm_section_index(section) < 0 ? -1 : mm_key_index(section, name);
    if (i >= 0 && x->first_line[i]) {
        char msg[MM_INI_LINE + 128];
        snprintf(msg, sizeof msg, "key '%s' in section [%s] set twice (first on line %d)", name, section,
                 x->first_line[i]);
        mm_ini_fail(x, msg);
        return 0;
    }
    if (mm_set_raw(x->c, section, name, value, x->flags) != 0) {
        mm_ini_fail(x, mm_error_message());
        return 0;
    }
    x->first_line[i] = x->line;
    return 1;
}

static int mm_ini_run(mm_ini_ctx *x) {
    int rc = ini_parse_stream(mm_ini_reader, x, mm_ini_handler, x);
    // inih numbers lines by reader calls, which are physical lines here, so rc is comparable.
    if (rc > 0 && (!x->err_line || rc < x->err_line))
        return mm_errorf("%s:%d: syntax error (expected 'key = value', '[section]' or a comment)", x->name, rc);
    if (x->err_line) return mm_errorf("%s:%d: %s", x->name, x->err_line, x->err);
    if (rc < 0) return mm_errorf("%s: cannot parse (inih error %d)", x->name, rc);
    return 0;
}

static void mm_ini_init(mm_ini_ctx *x, mm_run_config *c, const char *name, unsigned flags) {
    memset(x, 0, sizeof *x);
    x->c = c;
    x->flags = flags;
    x->name = name;
}

int mm_config_load(mm_run_config *c, const char *path, unsigned flags) {
    mm_ini_ctx *x = mm_malloc(sizeof *x);
    if (!x) return -1;
    mm_ini_init(x, c, path, flags);
    x->fp = fopen(path, "rb");
    if (!x->fp) {
        free(x);
        return mm_errorf_errno("%s: cannot open", path);
    }
    int rc = mm_ini_run(x);
    if (!rc && ferror(x->fp)) rc = mm_errorf_errno("%s: read failed", path);
    fclose(x->fp);
    free(x);
    if (rc == 0) mm_copy_str(c->source, sizeof c->source, path);
    return rc;
}

int mm_config_load_string(mm_run_config *c, const char *text, const char *name, unsigned flags) {
    mm_ini_ctx *x = mm_malloc(sizeof *x);
    if (!x) return -1;
    mm_ini_init(x, c, name, flags);
    x->text = text;
    int rc = mm_ini_run(x);
    free(x);
    if (rc == 0) mm_copy_str(c->source, sizeof c->source, name);
    return rc;
}

// ---- finalize -----------------------------------------------------------------------------------

int mm_config_finalize(mm_run_config *c, unsigned flags) {
    const char *src = c->source[0] ? c->source : "configuration";
    if (mm_model_config_validate(&c->model) != 0) return mm_error_prefix("%s", src);
    if ((flags & MM_CONFIG_FOR_TRAINING) && !c->data.data_path[0])
        return mm_errorf("%s: key 'data_path' in section [data] is required for training (not set)", src);
    if ((flags & MM_CONFIG_FOR_TRAINING) && c->train.eval_interval > 0)
        for (int i = 0; i < 2; i++)
            if (!(i ? c->data.tokenizer_path : c->data.eval_data_path)[0])
                return mm_errorf(
                    "%s: [train] eval_interval = %d needs key '%s' in section [data] (the validation "
                    "documents and their tokenizer; not set)",
                    src, c->train.eval_interval, i ? "tokenizer_path" : "eval_data_path");
    return 0;
}

// ---- writing ------------------------------------------------------------------------------------

char *mm_config_to_ini(const mm_run_config *c) {
    size_t cap = 8192, len = 0;
    char *out = mm_malloc(cap);
    if (!out) return NULL;
    len += (size_t)snprintf(out, cap, "# MiniMind run configuration, fully resolved (minimind %s)\n", MM_VERSION_STRING);
    for (int s = 0; s < MM_N_SECTIONS; s++) {
        len += (size_t)snprintf(out + len, cap - len, "\n[%s]\n", mm_sections[s]);
        for (int i = 0; i < MM_N_KEYS; i++) {
            if (strcmp(mm_keys[i].section, mm_sections[s])) continue;
            char val[MM_CONFIG_STR_MAX + 64];
            mm_format_key(c, &mm_keys[i], val, sizeof val);
            size_t need = strlen(mm_keys[i].key) + strlen(val) + 8;
            if (len + need >= cap) {
                char *bigger = mm_realloc(out, cap *= 2);
                if (!bigger) {
                    free(out);
                    return NULL;
                }
                out = bigger;
            }
            len += (size_t)snprintf(out + len, cap - len, "%s =%s%s\n", mm_keys[i].key, *val ? " " : "", val);
        }
    }
    return out;
}

int mm_config_write(const mm_run_config *c, const char *path) {
    char *text = mm_config_to_ini(c);
    if (!text) return mm_error_prefix("%s", path);
    int rc = mm_write_file_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

// ---- metadata -----------------------------------------------------------------------------------

int mm_config_to_meta(const mm_run_config *c, mm_safetensors *st) {
    for (int i = 0; i < MM_N_KEYS; i++) {
        char name[128], val[MM_CONFIG_STR_MAX + 64];
        snprintf(name, sizeof name, "%s.%s", mm_keys[i].section, mm_keys[i].key);
        mm_format_key(c, &mm_keys[i], val, sizeof val);
        if (mm_st_set_meta(st, name, val) != 0) return -1;
    }
    return 0;
}

int mm_config_from_meta(mm_run_config *c, const mm_safetensors *st, const char *file) {
    mm_config_default(c);
    int seen[MM_N_KEYS] = {0};
    for (int m = 0; m < st->n_meta; m++) {
        const char *name = st->meta[m].key, *dot = strchr(name, '.');
        if (!dot) continue;
        char section[64];
        snprintf(section, sizeof section, "%.*s", (int)(dot - name), name);
        if (mm_section_index(section) < 0) continue;  // not a configuration key ("mm.save_id", ...)
        int i = mm_key_index(section, dot + 1);
        if (i < 0) return mm_errorf("%s: metadata '%s': unknown key '%s' in section [%s]", file, name, dot + 1, section);
        if (mm_set_key(c, &mm_keys[i], st->meta[m].value, 0) != 0) return mm_error_prefix("%s: metadata '%s'", file, name);
        seen[i] = 1;
    }
    for (int i = 0; i < MM_N_KEYS; i++)
        if ((mm_keys[i].flags & K_ARCH) && !seen[i])
            return mm_errorf("%s: metadata lacks '%s.%s' (not a minimind checkpoint?)", file, mm_keys[i].section,
                             mm_keys[i].key);
    if (mm_model_config_validate(&c->model) != 0) return mm_error_prefix("%s: metadata", file);
    return 0;
}

// ---- compare / hash -----------------------------------------------------------------------------

static int mm_key_selected(const mm_key *k, unsigned mask) {
    int s = mm_section_index(k->section);
    return ((mask >> s) & 1u) || ((mask & MM_CONFIG_ARCH) && (k->flags & K_ARCH));
}

int mm_config_compare(const mm_run_config *a, const char *a_what, const mm_run_config *b, const char *b_what,
                      unsigned mask) {
    for (int i = 0; i < MM_N_KEYS; i++) {
        if (!mm_key_selected(&mm_keys[i], mask)) continue;
        char va[MM_CONFIG_STR_MAX + 64], vb[MM_CONFIG_STR_MAX + 64];
        mm_format_key(a, &mm_keys[i], va, sizeof va);
        mm_format_key(b, &mm_keys[i], vb, sizeof vb);
        if (strcmp(va, vb))
            return mm_errorf("[%s] %s differs: %s (%s) vs %s (%s)", mm_keys[i].section, mm_keys[i].key, va, a_what, vb,
                             b_what);
    }
    return 0;
}

uint64_t mm_config_hash(const mm_run_config *c, unsigned mask) {
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < MM_N_KEYS; i++) {
        if (!mm_key_selected(&mm_keys[i], mask)) continue;
        char line[MM_CONFIG_STR_MAX + 192];
        char val[MM_CONFIG_STR_MAX + 64];
        mm_format_key(c, &mm_keys[i], val, sizeof val);
        snprintf(line, sizeof line, "%s.%s=%s\n", mm_keys[i].section, mm_keys[i].key, val);
        for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
            h ^= *p;
            h *= 1099511628211ull;
        }
    }
    return h;
}
