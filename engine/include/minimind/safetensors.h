// The safetensors file format: 8-byte little-endian header length N, N bytes of JSON header
// {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "string value", ...}}, then the raw little-endian tensor bytes.
#ifndef MINIMIND_SAFETENSORS_H
#define MINIMIND_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

typedef enum mm_dtype { MM_F32, MM_F16, MM_BF16, MM_U16, MM_I32, MM_I64, MM_U8 } mm_dtype;

#define MM_MAX_DIMS 4

typedef struct mm_st_tensor {
    char *name;
    mm_dtype dtype;
    int ndim;
    int64_t shape[MM_MAX_DIMS];
    const void *data;  // writer: caller-owned bytes; reader: points into the loaded file
    size_t nbytes;
} mm_st_tensor;

typedef struct mm_st_meta {
    char *key;
    char *value;
} mm_st_meta;

// A loaded file (whole file read into memory) or a list being assembled for writing.
typedef struct mm_safetensors {
    mm_st_tensor *tensors;
    int n_tensors, cap_tensors;
    mm_st_meta *meta;
    int n_meta, cap_meta;
    void *file_buf;  // reader only
    size_t file_len;
} mm_safetensors;

size_t mm_dtype_size(mm_dtype t);
const char *mm_dtype_name(mm_dtype t);  // "F32", "U16", ...
// Parses a dtype name ("F32", "BF16", ...); returns 0, or -1 (no message set) for an unknown name.
int mm_dtype_parse(const char *s, mm_dtype *t);

// Writer: add tensors (data is borrowed until write) and metadata, then write atomically.
void mm_st_init(mm_safetensors *st);
int mm_st_add(mm_safetensors *st, const char *name, mm_dtype dtype, int ndim, const int64_t *shape,
              const void *data);
int mm_st_set_meta(mm_safetensors *st, const char *key, const char *value);
int mm_st_write(const mm_safetensors *st, const char *path);

// Writer layout: tensors grouped by element size (8, 4, 2, 1 bytes: the reference writer's order,
// so each tensor starts aligned to its element size), insertion order within a group; the header
// lists "__metadata__" first, then the tensors in that order, padded with spaces to a multiple of
// 8 bytes. A tensor name may be added only once; mm_st_set_meta replaces an existing key.

// Reader: validates the header (sizes, offsets in range and non-overlapping, known dtypes);
// errors name the file and the tensor or field.
// Strict: header length <= 100 MB and within the file; a JSON object (no duplicate keys); every
// tensor has exactly dtype/shape/data_offsets; shape product * dtype size == end - begin; the
// tensors tile the data section exactly (no gap, overlap or trailing bytes); metadata values are
// strings. Tensor data points into file_buf (8-byte aligned for files whose header is padded, as
// both writers do); for other files use memcpy. On error st is left empty (safe to mm_st_free).
int mm_st_read(mm_safetensors *st, const char *path);
// As mm_st_read but reads only the header (same validation against the file size); every
// tensor's data is NULL. For reading metadata (the model configuration) cheaply.
int mm_st_read_header(mm_safetensors *st, const char *path);
const mm_st_tensor *mm_st_find(const mm_safetensors *st, const char *name);
const char *mm_st_get_meta(const mm_safetensors *st, const char *key);

void mm_st_free(mm_safetensors *st);

#endif
