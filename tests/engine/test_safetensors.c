// safetensors reader/writer: round trip, interchange with the Python `safetensors` package (the
// format's reference implementation) in both directions, and strict rejection of corrupt files.
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "minimind/safetensors.h"
#include "test_util.h"

#define REF_SCRIPT MM_SOURCE_DIR "/tests/reference/safetensors_ref.py"

// ---- helpers ------------------------------------------------------------------------------------

// Runs the reference script; returns its stdout (malloc'd), asserting success.
static char *run_ref(const char *mode, const char *path) {
    const char *argv[] = {mm_test_python(), REF_SCRIPT, mode, path, NULL};
    mm_proc_result r;
    cr_assert_eq(mm_test_run(argv, NULL, &r), 0, "cannot start %s", mm_test_python());
    cr_assert_eq(r.status, 0, "%s %s failed:\n%s", REF_SCRIPT, mode, r.err);
    char *out = r.out;
    r.out = NULL;
    mm_proc_result_free(&r);
    return out;
}

static double f16_to_double(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? m / 1024.0 / 16384.0 : (1 + m / 1024.0) * ((e >= 15) ? (double)(1 << (e - 15)) : 1.0 / (double)(1 << (15 - e)));
    return (h & 0x8000) ? -v : v;
}

static float bf16_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static const mm_st_tensor *must_find(const mm_safetensors *st, const char *name, mm_dtype dtype, int ndim,
                                     const int64_t *shape) {
    const mm_st_tensor *t = mm_st_find(st, name);
    cr_assert_not_null(t, "tensor '%s' missing", name);
    cr_assert_eq(t->dtype, dtype, "tensor '%s': dtype %s", name, mm_dtype_name(t->dtype));
    cr_assert_eq(t->ndim, ndim, "tensor '%s': ndim %d", name, t->ndim);
    for (int i = 0; i < ndim; i++) cr_assert_eq(t->shape[i], shape[i], "tensor '%s' dim %d", name, i);
    return t;
}

// Element i of a tensor as a double (memcpy: no alignment assumption).
static double elem(const mm_st_tensor *t, size_t i) {
    const unsigned char *p = (const unsigned char *)t->data + i * mm_dtype_size(t->dtype);
    switch (t->dtype) {
    case MM_F32: { float v; memcpy(&v, p, 4); return v; }
    case MM_F16: { uint16_t v; memcpy(&v, p, 2); return f16_to_double(v); }
    case MM_BF16: { uint16_t v; memcpy(&v, p, 2); return bf16_to_float(v); }
    case MM_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case MM_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case MM_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case MM_U8: return *p;
    }
    return 0;
}

// ---- the tensors we write -----------------------------------------------------------------------

static float f32_data[2 * 3] = {-1.0f, 0.1f, 2.5f, 1e-30f, -3.4e38f, 7.0f};
static uint16_t u16_data[5] = {7, 1007, 2007, 3007, 65535};
static int64_t i64_data[4] = {-(1LL << 40), -1, 0, (1LL << 40) + 3};
static int32_t i32_data[3] = {-5, 0, 2147483647};
static uint8_t u8_data[3] = {0, 128, 255};
static uint16_t f16_data[3] = {0x3800 /* 0.5 */, 0xC000 /* -2 */, 0x7BFF /* 65504 */};
static uint16_t bf16_data[2] = {0x3F80 /* 1 */, 0xBF00 /* -0.5 */};
static float scalar_data = 3.25f;

static void build_ours(mm_safetensors *st) {
    mm_st_init(st);
    int64_t s23[] = {2, 3}, s5[] = {5}, s22[] = {2, 2}, s3[] = {3}, s2[] = {2}, s03[] = {0, 3};
    // Mixed element sizes in insertion order: the writer must still produce valid, aligned layout.
    cr_assert_eq(mm_st_add(st, "u8", MM_U8, 1, s3, u8_data), 0);
    cr_assert_eq(mm_st_add(st, "layers.0.attention.wq.weight", MM_F32, 2, s23, f32_data), 0);
    cr_assert_eq(mm_st_add(st, "u16", MM_U16, 1, s5, u16_data), 0);
    cr_assert_eq(mm_st_add(st, "i64", MM_I64, 2, s22, i64_data), 0);
    cr_assert_eq(mm_st_add(st, "i32", MM_I32, 1, s3, i32_data), 0);
    cr_assert_eq(mm_st_add(st, "f16", MM_F16, 1, s3, f16_data), 0);
    cr_assert_eq(mm_st_add(st, "bf16", MM_BF16, 1, s2, bf16_data), 0);
    cr_assert_eq(mm_st_add(st, "scalar", MM_F32, 0, NULL, &scalar_data), 0);
    cr_assert_eq(mm_st_add(st, "empty", MM_F32, 2, s03, NULL), 0);
    cr_assert_eq(mm_st_set_meta(st, "format", "pt"), 0);
    cr_assert_eq(mm_st_set_meta(st, "model.dim", "64"), 0);
    cr_assert_eq(mm_st_set_meta(st, "model.dim", "512"), 0);  // replaces
    cr_assert_eq(mm_st_set_meta(st, "note", "h\xc3\xa9llo \"quoted\" \\ \xe2\x9c\x93"), 0);
}

// ---- tests --------------------------------------------------------------------------------------

Test(safetensors, round_trip_all_dtypes) {
    char *dir = mm_test_tmpdir("st");
    char *path = mm_test_path(dir, "rt.safetensors");
    mm_safetensors w;
    build_ours(&w);
    cr_assert_eq(mm_st_add(&w, "u8", MM_U8, 1, (int64_t[]){3}, u8_data), -1, "duplicate name accepted");
    cr_assert(strstr(mm_error_message(), "'u8' added twice"), "%s", mm_error_message());
    cr_assert_eq(mm_st_add(&w, "__metadata__", MM_U8, 1, (int64_t[]){3}, u8_data), -1);
    cr_assert_eq(mm_st_add(&w, "neg", MM_U8, 1, (int64_t[]){-3}, u8_data), -1);
    cr_assert_eq(mm_st_write(&w, path), 0, "%s", mm_error_message());

    mm_safetensors r;
    cr_assert_eq(mm_st_read(&r, path), 0, "%s", mm_error_message());
    cr_assert_eq(r.n_tensors, w.n_tensors);
    for (int i = 0; i < w.n_tensors; i++) {
        const mm_st_tensor *a = &w.tensors[i];
        const mm_st_tensor *b = must_find(&r, a->name, a->dtype, a->ndim, a->shape);
        cr_assert_eq(b->nbytes, a->nbytes, "%s", a->name);
        if (a->nbytes) cr_assert_eq(memcmp(a->data, b->data, a->nbytes), 0, "tensor '%s' bytes differ", a->name);
        // Every tensor is aligned to its element size in memory (header padded to 8, size-grouped).
        if (a->nbytes)
            cr_assert_eq((uintptr_t)b->data % mm_dtype_size(b->dtype), 0, "tensor '%s' misaligned", a->name);
    }
    cr_assert_eq(r.n_meta, 3);
    cr_assert_str_eq(mm_st_get_meta(&r, "format"), "pt");
    cr_assert_str_eq(mm_st_get_meta(&r, "model.dim"), "512");
    cr_assert_str_eq(mm_st_get_meta(&r, "note"), "h\xc3\xa9llo \"quoted\" \\ \xe2\x9c\x93");
    cr_assert_null(mm_st_get_meta(&r, "absent"));
    cr_assert_null(mm_st_find(&r, "absent"));
    // File layout: 8-byte length, header padded with spaces to a multiple of 8.
    const unsigned char *f = r.file_buf;
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)f[i] << (8 * i);
    cr_assert_eq(n % 8, 0, "header length %llu not a multiple of 8", (unsigned long long)n);
    cr_assert_eq(f[8], '{');
    size_t data_bytes = 0;
    for (int i = 0; i < w.n_tensors; i++) data_bytes += w.tensors[i].nbytes;
    cr_assert_eq(r.file_len, 8 + n + data_bytes);

    // Header-only read: same tensors, no data.
    mm_safetensors h;
    cr_assert_eq(mm_st_read_header(&h, path), 0, "%s", mm_error_message());
    cr_assert_eq(h.n_tensors, w.n_tensors);
    cr_assert_null(mm_st_find(&h, "u16")->data);
    cr_assert_str_eq(mm_st_get_meta(&h, "model.dim"), "512");
    mm_st_free(&h);
    mm_st_free(&r);
    mm_st_free(&w);
    // No temporary file left next to it.
    char tmpname[4200];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", path, (long)getpid());
    cr_assert_neq(access(tmpname, F_OK), 0);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(safetensors, reads_files_written_by_python_numpy) {
    MM_NEED_PYTHON("safetensors,numpy");
    char *dir = mm_test_tmpdir("st");
    char *path = mm_test_path(dir, "np.safetensors");
    free(run_ref("write_np", path));
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, path), 0, "%s", mm_error_message());
    cr_assert_eq(st.n_tensors, 8);
    const mm_st_tensor *t = must_find(&st, "f32", MM_F32, 2, (int64_t[]){2, 3});
    for (int i = 0; i < 6; i++) cr_assert_eq(elem(t, (size_t)i), i * 0.5 - 1, "f32[%d]", i);
    t = must_find(&st, "u16", MM_U16, 1, (int64_t[]){5});
    double u16[] = {7, 1007, 2007, 3007, 65535};
    for (int i = 0; i < 5; i++) cr_assert_eq(elem(t, (size_t)i), u16[i]);
    t = must_find(&st, "i64", MM_I64, 2, (int64_t[]){2, 2});
    int64_t i64[4];
    memcpy(i64, t->data, sizeof i64);
    cr_assert(i64[0] == -(1LL << 40) && i64[1] == -1 && i64[2] == 0 && i64[3] == (1LL << 40) + 3);
    t = must_find(&st, "i32", MM_I32, 1, (int64_t[]){3});
    cr_assert(elem(t, 0) == -5 && elem(t, 1) == 0 && elem(t, 2) == 2147483647);
    t = must_find(&st, "u8", MM_U8, 1, (int64_t[]){4});
    cr_assert(elem(t, 0) == 0 && elem(t, 1) == 1 && elem(t, 2) == 128 && elem(t, 3) == 255);
    t = must_find(&st, "f16", MM_F16, 1, (int64_t[]){3});
    cr_assert(elem(t, 0) == 0.5 && elem(t, 1) == -2.0 && elem(t, 2) == 65504.0);
    t = must_find(&st, "scalar", MM_F32, 0, NULL);
    cr_assert_eq(elem(t, 0), 3.25);
    t = must_find(&st, "empty", MM_F32, 2, (int64_t[]){0, 3});
    cr_assert_eq(t->nbytes, 0);
    cr_assert_eq(st.n_meta, 3);
    cr_assert_str_eq(mm_st_get_meta(&st, "format"), "np");
    cr_assert_str_eq(mm_st_get_meta(&st, "model.dim"), "512");
    cr_assert_str_eq(mm_st_get_meta(&st, "unicode"), "h\xc3\xa9llo \xe2\x9c\x93");
    mm_st_free(&st);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(safetensors, reads_files_written_by_python_torch_bf16) {
    MM_NEED_PYTHON("safetensors,torch");
    char *dir = mm_test_tmpdir("st");
    char *path = mm_test_path(dir, "pt.safetensors");
    free(run_ref("write_pt", path));
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, path), 0, "%s", mm_error_message());
    const mm_st_tensor *t = must_find(&st, "bf16", MM_BF16, 1, (int64_t[]){4});
    double want[] = {1.0, -0.5, 3.0, 0.0078125};
    for (int i = 0; i < 4; i++) cr_assert_eq(elem(t, (size_t)i), want[i], "bf16[%d] = %g", i, elem(t, (size_t)i));
    t = must_find(&st, "w", MM_F32, 2, (int64_t[]){3, 2});
    for (int i = 0; i < 6; i++) cr_assert_eq(elem(t, (size_t)i), i * 0.25);
    cr_assert_str_eq(mm_st_get_meta(&st, "format"), "pt");
    mm_st_free(&st);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(safetensors, python_reads_files_we_write) {
    MM_NEED_PYTHON("safetensors,numpy,torch");
    char *dir = mm_test_tmpdir("st");
    char *path = mm_test_path(dir, "ours.safetensors");
    mm_safetensors w;
    build_ours(&w);
    cr_assert_eq(mm_st_write(&w, path), 0, "%s", mm_error_message());
    char *out = run_ref("read", path);
    json_error_t jerr;
    json_t *root = json_loads(out, 0, &jerr);
    cr_assert_not_null(root, "bad JSON from the reference script: %s\n%s", jerr.text, out);
    json_t *tensors = json_object_get(root, "tensors"), *meta = json_object_get(root, "metadata");
    cr_assert_eq(json_object_size(tensors), (size_t)w.n_tensors);
    for (int i = 0; i < w.n_tensors; i++) {
        const mm_st_tensor *a = &w.tensors[i];
        json_t *e = json_object_get(tensors, a->name);
        cr_assert_not_null(e, "python did not see tensor '%s'", a->name);
        cr_assert_str_eq(json_string_value(json_object_get(e, "dtype")), mm_dtype_name(a->dtype), "%s", a->name);
        json_t *shape = json_object_get(e, "shape");
        cr_assert_eq(json_array_size(shape), (size_t)a->ndim, "%s", a->name);
        size_t count = 1;
        for (int d = 0; d < a->ndim; d++) {
            cr_assert_eq(json_integer_value(json_array_get(shape, (size_t)d)), a->shape[d]);
            count *= (size_t)a->shape[d];
        }
        json_t *vals = json_object_get(e, "values");
        cr_assert_eq(json_array_size(vals), count, "%s", a->name);
        for (size_t k = 0; k < count; k++) {
            json_t *v = json_array_get(vals, k);
            if (a->dtype == MM_I64) {
                cr_assert_eq(json_integer_value(v), ((const int64_t *)a->data)[k]);
            } else {
                double got = json_number_value(v);
                cr_assert_eq(got, elem(a, k), "tensor '%s'[%zu]: python %.17g, we wrote %.17g", a->name, k, got,
                             elem(a, k));
            }
        }
    }
    cr_assert_eq(json_object_size(meta), 3);
    cr_assert_str_eq(json_string_value(json_object_get(meta, "model.dim")), "512");
    cr_assert_str_eq(json_string_value(json_object_get(meta, "note")), "h\xc3\xa9llo \"quoted\" \\ \xe2\x9c\x93");
    json_decref(root);
    free(out);
    mm_st_free(&w);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

// ---- corrupt files ------------------------------------------------------------------------------

// Writes the 8-byte length hdr_len, the header bytes and data_len zero bytes.
static void write_raw(const char *path, uint64_t hdr_len, const char *header, size_t data_len) {
    size_t hn = strlen(header);
    size_t total = 8 + hn + data_len;
    unsigned char *buf = calloc(1, total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hdr_len >> (8 * i));
    memcpy(buf + 8, header, hn);
    mm_test_write_file(path, (const char *)buf, total);
    free(buf);
}

static void expect_error(const char *path, const char *want1, const char *want2) {
    mm_safetensors st;
    memset(&st, 0x5a, sizeof st);  // the reader must initialise it
    cr_assert_eq(mm_st_read(&st, path), -1, "corrupt file accepted (wanted: %s)", want1);
    const char *msg = mm_error_message();
    cr_assert(strstr(msg, path) != NULL, "error does not name the file: %s", msg);
    cr_assert(strstr(msg, want1) != NULL, "error '%s' lacks '%s'", msg, want1);
    if (want2) cr_assert(strstr(msg, want2) != NULL, "error '%s' lacks '%s'", msg, want2);
    cr_assert_eq(st.n_tensors, 0);
    cr_assert_null(st.file_buf);
    mm_st_free(&st);
    cr_assert_eq(mm_st_read_header(&st, path), -1, "header-only read accepted a corrupt file (%s)", want1);
    mm_st_free(&st);
}

static void expect_header_error(const char *dir, const char *header, size_t data_len, const char *want1,
                                const char *want2) {
    char *path = mm_test_path(dir, "bad.safetensors");
    write_raw(path, strlen(header), header, data_len);
    expect_error(path, want1, want2);
    free(path);
}

Test(safetensors, corrupt_files_give_named_errors) {
    char *dir = mm_test_tmpdir("st");
    char *path = mm_test_path(dir, "ckpt.safetensors");
    // The message format from the design note, with the full path in front.
    const char *hdr = "{\"layers.0.attention.wq.weight\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[0,12]}}   ";
    write_raw(path, strlen(hdr), hdr, 12);
    char want[4400];
    snprintf(want, sizeof want,
             "%s: tensor 'layers.0.attention.wq.weight': data_offsets [0, 12] do not match shape [4, 4] of F32 "
             "(64 bytes)",
             path);
    expect_error(path, want, NULL);

    // Header length larger than the file / than the 100 MB limit.
    write_raw(path, 1000, "{}", 0);
    expect_error(path, "header length 1000 exceeds the file size (10 bytes", NULL);
    write_raw(path, UINT64_MAX, "{}", 0);
    expect_error(path, "header length 18446744073709551615 is larger than the 100 MB limit", NULL);
    // Too short for the length itself; empty file.
    mm_test_write_file(path, "\x02\0\0", 3);
    expect_error(path, "file too short (3 bytes)", NULL);
    mm_test_write_file(path, "", 0);
    expect_error(path, "file too short (0 bytes)", NULL);

    expect_header_error(dir, "{\"a\": {\"dtype\": ", 0, "malformed JSON header", NULL);
    expect_header_error(dir, "[1, 2]", 0, "does not start with a JSON object", NULL);
    expect_header_error(dir, "", 0, "does not start with a JSON object", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                             "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2,
                        "malformed JSON header", "duplicate");
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16,
                        "tensor 'a': unsupported dtype 'F64'", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                        "tensor 'a': field 'dtype' is not a string", NULL);
    expect_header_error(dir,
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24,
                        "tensor 'b': data_offsets [8, 24] overlap tensor 'a' [0, 16]", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[4,20]}}", 20,
                        "tensor 'a': data_offsets [4, 20] leave a gap of 4 unused bytes", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 20,
                        "4 bytes after the last tensor's data", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12,
                        "tensor 'a': data_offsets [0, 16] exceed the data section (12 bytes", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, "tensor 'a': missing field 'data_offsets'",
                        NULL);
    expect_header_error(dir, "{\"a\":{\"shape\":[4],\"data_offsets\":[0,16]}}", 16, "tensor 'a': missing field 'dtype'",
                        NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,16]}}", 16, "tensor 'a': missing field 'shape'",
                        NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16],\"x\":1}}", 16,
                        "tensor 'a': unexpected field 'x'", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16,
                        "tensor 'a': shape entry 0 is not a non-negative integer", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                        "tensor 'a': shape has 5 dimensions (at most 4)", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16,
                        "tensor 'a': data_offsets [16, 0] end before they begin", NULL);
    expect_header_error(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0]}}", 16,
                        "tensor 'a': field 'data_offsets' is not [begin, end]", NULL);
    expect_header_error(dir,
                        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 16,
                        "tensor 'a': shape [4611686018427387904, 4] is too large", NULL);
    expect_header_error(dir, "{\"a\":[1]}", 0, "tensor 'a': entry is not a JSON object", NULL);
    expect_header_error(dir, "{\"__metadata__\":{\"k\":1}}", 0, "'__metadata__' value of 'k' is not a string", NULL);
    expect_header_error(dir, "{\"__metadata__\":[\"k\"]}", 0, "'__metadata__' is not a JSON object", NULL);

    // Not there / a directory.
    char *missing = mm_test_path(dir, "missing.safetensors");
    expect_error(missing, "cannot open", NULL);
    expect_error(dir, "not a regular file", NULL);
    free(missing);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(safetensors, every_truncation_of_a_valid_file_is_rejected) {
    char *dir = mm_test_tmpdir("st");
    char *path = mm_test_path(dir, "full.safetensors");
    char *cut = mm_test_path(dir, "cut.safetensors");
    mm_safetensors w;
    build_ours(&w);
    cr_assert_eq(mm_st_write(&w, path), 0, "%s", mm_error_message());
    mm_st_free(&w);
    size_t len;
    char *bytes = mm_read_file(path, &len);
    cr_assert_not_null(bytes);
    for (size_t n = 0; n < len; n++) {
        mm_test_write_file(cut, bytes, n);
        mm_safetensors st;
        cr_assert_eq(mm_st_read(&st, cut), -1, "file cut to %zu of %zu bytes accepted", n, len);
        cr_assert_eq(mm_st_read_header(&st, cut), -1, "header read of a file cut to %zu bytes accepted", n);
    }
    // One byte too many is rejected too.
    mm_test_write_file(cut, bytes, len);
    FILE *fp = fopen(cut, "ab");
    fputc(0, fp);
    fclose(fp);
    mm_safetensors st;
    cr_assert_eq(mm_st_read(&st, cut), -1);
    cr_assert(strstr(mm_error_message(), "1 bytes after the last tensor's data"), "%s", mm_error_message());
    free(bytes);
    mm_test_rmtree(dir);
    free(cut);
    free(path);
    free(dir);
}
