// Which compute backends this binary was built with, and which devices it can see.
#ifndef MINIMIND_DEVICE_H
#define MINIMIND_DEVICE_H

#include "minimind/backend.h"
#include "minimind/device_name.h"

// 1 when the CUDA backend was compiled in.
int mm_cuda_built(void);

// Number of usable CUDA devices (0 when not built, no driver or no GPU). When the count is 0 and
// why != NULL, *why points at a static one-line reason ("no CUDA driver", "built without CUDA").
int mm_cuda_device_count(const char **why);

// Name of CUDA device i into buf; returns 0 or -1.
int mm_cuda_device_name(int i, char *buf, int cap);


// The backend for a device name. auto: cuda:0 when a CUDA device works, otherwise the CPU with one
// line on stderr "device: auto -> cpu (no CUDA device: REASON)". cuda[:N] on a build without CUDA
// or a machine without a usable device: -1 with the reason in the message.
int mm_backend_select(const char *device, const mm_backend **be);

// What `be` (selected by mm_backend_select for `device`) runs on, for logs and records:
// "cpu", "cpu-staged", or "cuda:N (NAME (sm_XY, M GiB))". Writes at most cap bytes into buf.
void mm_backend_describe(const mm_backend *be, const char *device, char *buf, size_t cap);

// "fp32" | "bf16" | "fp16" -> *p; -1 with a message naming mixed_precision otherwise.
int mm_precision_parse(const char *name, mm_precision *p);
const char *mm_precision_name(mm_precision p);

// [train] mixed_precision on a backend: parses it (NULL = fp32) and sets the backend's matmul
// precision (a backend without set_precision takes fp32 only). Every value is accepted on the CPU,
// which computes in fp32; CUDA computes bf16/fp16 products on tensor cores (fp32 storage). 0 or -1.
int mm_backend_check_precision(const mm_backend *be, const char *mixed_precision);

#endif
