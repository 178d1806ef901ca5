// The safetensors format (see minimind/safetensors.h): writer with the reference layout (tensors
// grouped by element size, largest first, so every tensor is naturally aligned; header padded with
// spaces to a multiple of 8 bytes) and a strict reader whose errors name the file and the tensor.
#include "minimind/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the file format is little-endian)"
#endif

// The reference implementation refuses headers above 100 MB; so do we.
#define MM_ST_MAX_HEADER 100000000ull

static const struct {
    const char *name;
    size_t size;
} mm_dtypes[] = {
    [MM_F32] = {"F32", 4}, [MM_F16] = {"F16", 2}, [MM_BF16] = {"BF16", 2}, [MM_U16] = {"U16", 2},
    [MM_I32] = {"I32", 4}, [MM_I64] = {"I64", 8}, [MM_U8] = {"U8", 1},
};
#define MM_N_DTYPES ((int)(sizeof mm_dtypes / sizeof mm_dtypes[0]))

size_t mm_dtype_size(mm_dtype t) { return (unsigned)t < (unsigned)MM_N_DTYPES ? mm_dtypes[t].size : 0; }

const char *mm_dtype_name(mm_dtype t) {
    return (unsigned)t < (unsigned)MM_N_DTYPES ? mm_dtypes[t].name : "unknown";
}

int mm_dtype_parse(const char *s, mm_dtype *t) {
    for (int i = 0; i < MM_N_DTYPES; i++)
        if (!strcmp(s, mm_dtypes[i].name)) {
            *t = (mm_dtype)i;
            return 0;
        }
    return -1;
}

// ---- shapes -------------------------------------------------------------------------------------

// Number of bytes of a tensor, or -1 on a negative dimension or overflow.
static int mm_st_nbytes(mm_dtype dtype, int ndim, const int64_t *shape, size_t *out) {
    uint64_t n = mm_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > UINT64_MAX / d) return -1;
        n *= d;
    }
    if (n > SIZE_MAX) return -1;
    *out = (size_t)n;
    return 0;
}

// "[4, 4]" into buf.
static const char *mm_st_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t off = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}

// ---- writer -------------------------------------------------------------------------------------

void mm_st_init(mm_safetensors *st) { memset(st, 0, sizeof *st); }

int mm_st_add(mm_safetensors *st, const char *name, mm_dtype dtype, int ndim, const int64_t *shape,
              const void *data) {
    char sbuf[128];
    if (!name || !*name) return mm_errorf("safetensors: tensor name must not be empty");
    if (!strcmp(name, "__metadata__")) return mm_errorf("safetensors: '__metadata__' is not a valid tensor name");
    if ((unsigned)dtype >= (unsigned)MM_N_DTYPES)
        return mm_errorf("safetensors: tensor '%s': unknown dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > MM_MAX_DIMS)
        return mm_errorf("safetensors: tensor '%s': %d dimensions (at most %d)", name, ndim, MM_MAX_DIMS);
    if (mm_st_find(st, name)) return mm_errorf("safetensors: tensor '%s' added twice", name);
    size_t nbytes;
    if (mm_st_nbytes(dtype, ndim, shape, &nbytes) != 0)
        return mm_errorf("safetensors: tensor '%s': invalid shape %s", name,
                         mm_st_shape_str(ndim, shape, sbuf, sizeof sbuf));
    if (nbytes && !data) return mm_errorf("safetensors: tensor '%s': no data", name);
    if (st->n_tensors == st->cap_tensors) {
        int cap = st->cap_tensors ? 2 * st->cap_tensors : 16;
        mm_st_tensor *t = mm_realloc(st->tensors, (size_t)cap * sizeof *t);
        if (!t) return -1;
        st->tensors = t;
        st->cap_tensors = cap;
    }
    mm_st_tensor *t = &st->tensors[st->n_tensors];
    memset(t, 0, sizeof *t);
    t->name = mm_strdup(name);
    if (!t->name) return -1;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->data = data;
    t->nbytes = nbytes;
    st->n_tensors++;
    return 0;
}

int mm_st_set_meta(mm_safetensors *st, const char *key, const char *value) {
    if (!key || !value) return mm_errorf("safetensors: metadata key and value must not be NULL");
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) {
            char *v = mm_strdup(value);
            if (!v) return -1;
            free(st->meta[i].value);
            st->meta[i].value = v;
            return 0;
        }
    if (st->n_meta == st->cap_meta) {
        int cap = st->cap_meta ? 2 * st->cap_meta : 16;
        mm_st_meta *m = mm_realloc(st->meta, (size_t)cap * sizeof *m);
        if (!m) return -1;
        st->meta = m;
        st->cap_meta = cap;
    }
    char *k = mm_strdup(key), *v = mm_strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    st->meta[st->n_meta].key = k;
    st->meta[st->n_meta].value = v;
    st->n_meta++;
    return 0;
}

// Layout order: element size descending (as the reference writer, so that every tensor starts at a
// multiple of its element size), insertion order within a size.
static int *mm_st_layout_order(const mm_safetensors *st) {
    int *order = mm_malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *order);
    if (!order) return NULL;
    int k = 0;
    for (size_t size = 8; size >= 1; size /= 2)
        for (int i = 0; i < st->n_tensors; i++)
            if (mm_dtype_size(st->tensors[i].dtype) == size) order[k++] = i;
    return order;
}

// The JSON header (without padding) for the given layout order, malloc'd.
static char *mm_st_header_json(const mm_safetensors *st, const int *order) {
    json_t *root = json_object();
    int bad = root == NULL;
    if (!bad && st->n_meta > 0) {
        json_t *meta = json_object();
        bad = json_object_set_new(root, "__metadata__", meta) != 0;
        for (int i = 0; !bad && i < st->n_meta; i++)
            bad = json_object_set_new(meta, st->meta[i].key, json_string(st->meta[i].value)) != 0;
    }
    uint64_t off = 0;
    for (int k = 0; !bad && k < st->n_tensors; k++) {
        const mm_st_tensor *t = &st->tensors[order[k]];
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *info = json_pack("{s:s, s:o, s:[I, I]}", "dtype", mm_dtype_name(t->dtype), "shape", shape,
                                 "data_offsets", (json_int_t)off, (json_int_t)(off + t->nbytes));
        bad = !info || json_object_set_new(root, t->name, info) != 0;
        off += t->nbytes;
    }
    char *s = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(root);
    if (!s) mm_errorf("safetensors: cannot build the JSON header (invalid UTF-8 in a name or metadata?)");
    return s;
}

int mm_st_write(const mm_safetensors *st, const char *path) {
    int *order = mm_st_layout_order(st);
    if (!order) return mm_error_prefix("%s", path);
    char *json = mm_st_header_json(st, order);
    if (!json) {
        free(order);
        return mm_error_prefix("%s", path);
    }
    size_t n = strlen(json);
    size_t padded = n + (8 - n % 8) % 8;  // data section starts at a multiple of 8
    unsigned char len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    mm_atomic_file af;
    int rc = mm_atomic_open(&af, path);
    if (rc == 0) {
        int ok = fwrite(len_le, 1, 8, af.fp) == 8 && fwrite(json, 1, n, af.fp) == n;
        for (size_t i = n; ok && i < padded; i++) ok = fputc(' ', af.fp) != EOF;
        for (int k = 0; ok && k < st->n_tensors; k++) {
            const mm_st_tensor *t = &st->tensors[order[k]];
            ok = t->nbytes == 0 || fwrite(t->data, 1, t->nbytes, af.fp) == t->nbytes;
        }
        if (!ok) {
            rc = mm_errorf_errno("%s: write failed", path);
            mm_atomic_abort(&af);
        } else {
            rc = mm_atomic_commit(&af);
        }
    }
    free(json);
    free(order);
    return rc;
}

// ---- reader -------------------------------------------------------------------------------------

void mm_st_free(mm_safetensors *st) {
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    free(st->file_buf);
    memset(st, 0, sizeof *st);
}

const mm_st_tensor *mm_st_find(const mm_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *mm_st_get_meta(const mm_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

// Parses "__metadata__": an object of strings.
static int mm_st_parse_meta(mm_safetensors *st, json_t *meta, const char *path) {
    if (!json_is_object(meta)) return mm_errorf("%s: '__metadata__' is not a JSON object", path);
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return mm_errorf("%s: '__metadata__' value of '%s' is not a string", path, key);
        if (mm_st_set_meta(st, key, json_string_value(v)) != 0) return mm_error_prefix("%s", path);
    }
    return 0;
}

// A non-negative JSON integer.
static int mm_st_uint(json_t *v, int64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = json_integer_value(v);
    return 0;
}

// Parses one tensor entry; t->data stays NULL (set once the data section is known) and
// offsets[0..1] receive data_offsets.
static int mm_st_parse_tensor(const char *path, const char *name, json_t *info, mm_st_tensor *t,
                              uint64_t *begin, uint64_t *end) {
    if (!json_is_object(info)) return mm_errorf("%s: tensor '%s': entry is not a JSON object", path, name);
    json_t *dtype = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape"),
           *offs = json_object_get(info, "data_offsets");
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing) return mm_errorf("%s: tensor '%s': missing field '%s'", path, name, missing);
    const char *key;
    json_t *v;
    json_object_foreach(info, key, v) {
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return mm_errorf("%s: tensor '%s': unexpected field '%s'", path, name, key);
    }
    if (!json_is_string(dtype)) return mm_errorf("%s: tensor '%s': field 'dtype' is not a string", path, name);
    if (mm_dtype_parse(json_string_value(dtype), &t->dtype) != 0)
        return mm_errorf("%s: tensor '%s': unsupported dtype '%s' (expected F32, F16, BF16, U16, I32, I64 or U8)",
                         path, name, json_string_value(dtype));
    if (!json_is_array(shape)) return mm_errorf("%s: tensor '%s': field 'shape' is not an array", path, name);
    if (json_array_size(shape) > MM_MAX_DIMS)
        return mm_errorf("%s: tensor '%s': shape has %zu dimensions (at most %d)", path, name,
                         json_array_size(shape), MM_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    for (int d = 0; d < t->ndim; d++)
        if (mm_st_uint(json_array_get(shape, (size_t)d), &t->shape[d]) != 0)
            return mm_errorf("%s: tensor '%s': shape entry %d is not a non-negative integer", path, name, d);
    int64_t b, e;
    if (!json_is_array(offs) || json_array_size(offs) != 2 || mm_st_uint(json_array_get(offs, 0), &b) != 0 ||
        mm_st_uint(json_array_get(offs, 1), &e) != 0)
        return mm_errorf("%s: tensor '%s': field 'data_offsets' is not [begin, end] (non-negative integers)", path,
                         name);
    char sbuf[128];
    mm_st_shape_str(t->ndim, t->shape, sbuf, sizeof sbuf);
    if (e < b) return mm_errorf("%s: tensor '%s': data_offsets [%lld, %lld] end before they begin", path, name,
                                (long long)b, (long long)e);
    if (mm_st_nbytes(t->dtype, t->ndim, t->shape, &t->nbytes) != 0)
        return mm_errorf("%s: tensor '%s': shape %s is too large", path, name, sbuf);
    if ((uint64_t)(e - b) != (uint64_t)t->nbytes)
        return mm_errorf("%s: tensor '%s': data_offsets [%lld, %lld] do not match shape %s of %s (%zu bytes)", path,
                         name, (long long)b, (long long)e, sbuf, mm_dtype_name(t->dtype), t->nbytes);
    *begin = (uint64_t)b;
    *end = (uint64_t)e;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int index;
} mm_st_span;

static int mm_st_span_cmp(const void *a, const void *b) {
    const mm_st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index - y->index;
}

// Checks that the tensors tile the data section exactly: no gap, no overlap, nothing past the end.
static int mm_st_check_spans(const mm_safetensors *st, mm_st_span *spans, uint64_t data_len, const char *path) {
    for (int i = 0; i < st->n_tensors; i++)
        if (spans[i].end > data_len)
            return mm_errorf("%s: tensor '%s': data_offsets [%llu, %llu] exceed the data section (%llu bytes; "
                             "file truncated?)",
                             path, st->tensors[spans[i].index].name, (unsigned long long)spans[i].begin,
                             (unsigned long long)spans[i].end, (unsigned long long)data_len);
    qsort(spans, (size_t)st->n_tensors, sizeof *spans, mm_st_span_cmp);
    uint64_t at = 0;
    for (int i = 0; i < st->n_tensors; i++) {
        const mm_st_span *s = &spans[i];
        const char *name = st->tensors[s->index].name;
        if (s->begin < at)
            return mm_errorf("%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s' [%llu, %llu]", path,
                             name, (unsigned long long)s->begin, (unsigned long long)s->end,
                             st->tensors[spans[i - 1].index].name, (unsigned long long)spans[i - 1].begin,
                             (unsigned long long)spans[i - 1].end);
        if (s->begin > at)
            return mm_errorf("%s: tensor '%s': data_offsets [%llu, %llu] leave a gap of %llu unused bytes before it",
                             path, name, (unsigned long long)s->begin, (unsigned long long)s->end,
                             (unsigned long long)(s->begin - at));
        at = s->end;
    }
    if (at != data_len)
        return mm_errorf("%s: %llu bytes after the last tensor's data (the data section is %llu bytes)", path,
                         (unsigned long long)(data_len - at), (unsigned long long)data_len);
    return 0;
}

// Parses and validates the header JSON; data_len is the size of the data section.
static int mm_st_parse_header(mm_safetensors *st, const char *json, size_t n, uint64_t data_len,
                              const char *path) {
    if (n == 0 || json[0] != '{') return mm_errorf("%s: header does not start with a JSON object '{'", path);
    json_error_t jerr;
    json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return mm_errorf("%s: malformed JSON header at byte %d: %s", path, jerr.position, jerr.text);
    int rc = 0;
    if (!json_is_object(root)) rc = mm_errorf("%s: header is not a JSON object", path);
    size_t count = json_object_size(root);
    mm_st_span *spans = NULL;
    if (rc == 0) {
        st->tensors = mm_calloc(count ? count : 1, sizeof *st->tensors);
        spans = mm_calloc(count ? count : 1, sizeof *spans);
        st->cap_tensors = (int)(count ? count : 1);
        if (!st->tensors || !spans) rc = mm_error_prefix("%s", path);
    }
    const char *key;
    json_t *v;
    if (rc == 0) json_object_foreach(root, key, v) {
            if (!strcmp(key, "__metadata__")) {
                rc = mm_st_parse_meta(st, v, path);
            } else {
                mm_st_tensor *t = &st->tensors[st->n_tensors];
                mm_st_span *s = &spans[st->n_tensors];
                rc = mm_st_parse_tensor(path, key, v, t, &s->begin, &s->end);
                if (rc == 0) {
                    t->name = mm_strdup(key);
                    s->index = st->n_tensors++;
                    if (!t->name) rc = -1;
                }
            }
            if (rc != 0) break;
        }
    if (rc == 0) rc = mm_st_check_spans(st, spans, data_len, path);
    // Data pointers are resolved by the caller once the data section is in memory; stash offsets.
    if (rc == 0)
        for (int i = 0; i < st->n_tensors; i++) st->tensors[spans[i].index].data = (const void *)(uintptr_t)spans[i].begin;
    free(spans);
    json_decref(root);
    return rc;
}

// Reads the 8-byte header length and checks it against the file size.
static int mm_st_header_len(const unsigned char *p, uint64_t file_len, const char *path, uint64_t *n) {
    if (file_len < 8)
        return mm_errorf("%s: file too short (%llu bytes) to hold the 8-byte header length", path,
                         (unsigned long long)file_len);
    uint64_t len = 0;
    for (int i = 0; i < 8; i++) len |= (uint64_t)p[i] << (8 * i);
    if (len > MM_ST_MAX_HEADER)
        return mm_errorf("%s: header length %llu is larger than the 100 MB limit (not a safetensors file?)", path,
                         (unsigned long long)len);
    if (len > file_len - 8)
        return mm_errorf("%s: header length %llu exceeds the file size (%llu bytes; file truncated?)", path,
                         (unsigned long long)len, (unsigned long long)file_len);
    *n = len;
    return 0;
}

// Reads exactly len bytes at the current position.
static int mm_st_fread(FILE *fp, void *buf, size_t len, const char *path) {
    if (len && fread(buf, 1, len, fp) != len)
        return ferror(fp) ? mm_errorf_errno("%s: read failed", path)
                          : mm_errorf("%s: unexpected end of file", path);
    return 0;
}

// Opens path and returns its size.
static FILE *mm_st_open(const char *path, uint64_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        mm_errorf_errno("%s: cannot open", path);
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (errno == 0 || S_ISDIR(sb.st_mode)) errno = EISDIR;
        mm_errorf_errno("%s: not a regular file", path);
        fclose(fp);
        return NULL;
    }
    *len = (uint64_t)sb.st_size;
    return fp;
}

static int mm_st_load(mm_safetensors *st, const char *path, int with_data) {
    mm_st_init(st);
    uint64_t file_len;
    FILE *fp = mm_st_open(path, &file_len);
    if (!fp) return -1;
    int rc = 0;
    unsigned char lenbuf[8] = {0};
    uint64_t n = 0;
    if (file_len >= 8) rc = mm_st_fread(fp, lenbuf, 8, path);
    if (rc == 0) rc = mm_st_header_len(lenbuf, file_len, path, &n);
    size_t keep = with_data ? (size_t)file_len : (size_t)(8 + n);
    if (rc == 0 && (uint64_t)keep != (with_data ? file_len : 8 + n))
        rc = mm_errorf("%s: file too large for this machine", path);
    unsigned char *buf = NULL;
    if (rc == 0) {
        buf = mm_malloc(keep + 1);
        if (!buf) rc = mm_error_prefix("%s", path);
    }
    if (rc == 0) {
        memcpy(buf, lenbuf, 8);
        rc = mm_st_fread(fp, buf + 8, keep - 8, path);
    }
    fclose(fp);
    if (rc == 0) rc = mm_st_parse_header(st, (const char *)buf + 8, (size_t)n, file_len - 8 - n, path);
    if (rc != 0) {
        free(buf);
        mm_st_free(st);
        return -1;
    }
    for (int i = 0; i < st->n_tensors; i++) {
        uintptr_t off = (uintptr_t)st->tensors[i].data;
        st->tensors[i].data = with_data ? buf + 8 + n + off : NULL;
    }
    st->file_buf = buf;
    st->file_len = (size_t)file_len;
    return 0;
}

int mm_st_read(mm_safetensors *st, const char *path) { return mm_st_load(st, path, 1); }

int mm_st_read_header(mm_safetensors *st, const char *path) { return mm_st_load(st, path, 0); }
