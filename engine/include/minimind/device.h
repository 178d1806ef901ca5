// Which compute backends this binary was built with, and which devices it can see.
#ifndef MINIMIND_DEVICE_H
#define MINIMIND_DEVICE_H

#include "minimind/backend.h"

// 1 when the CUDA backend was compiled in.
int mm_cuda_built(void);

// Number of usable CUDA devices (0 when not built, no driver or no GPU). When the count is 0 and
// why != NULL, *why points at a static one-line reason ("no CUDA driver", "built without CUDA").
int mm_cuda_device_count(const char **why);

// Name of CUDA device i into buf; returns 0 or -1.
int mm_cuda_device_name(int i, char *buf, int cap);

enum { MM_DEVICE_AUTO, MM_DEVICE_CPU, MM_DEVICE_CUDA };

// Parses "auto" (also NULL/""), "cpu", "cuda", "cuda:N" into *kind (MM_DEVICE_*) and *index.
int mm_device_parse(const char *device, int *kind, int *index);

// The backend for a device name. auto: cuda:0 when a CUDA device works, otherwise the CPU with one
// line on stderr "device: auto -> cpu (no CUDA device: REASON)". cuda[:N] on a build without CUDA
// or a machine without a usable device: -1 with the reason in the message.
int mm_backend_select(const char *device, const mm_backend **be);

// [train] mixed_precision on a backend: every value is accepted on the CPU (which computes in
// fp32); other backends support fp32 only for now (-1 with a message otherwise).
int mm_backend_check_precision(const mm_backend *be, const char *mixed_precision);

#endif
