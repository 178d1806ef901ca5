// Which compute backends this binary was built with, and which devices it can see.
#ifndef MINIMIND_DEVICE_H
#define MINIMIND_DEVICE_H

// 1 when the CUDA backend was compiled in.
int mm_cuda_built(void);

// Number of usable CUDA devices (0 when not built, no driver or no GPU). When the count is 0 and
// why != NULL, *why points at a static one-line reason ("no CUDA driver", "built without CUDA").
int mm_cuda_device_count(const char **why);

// Name of CUDA device i into buf; returns 0 or -1.
int mm_cuda_device_name(int i, char *buf, int cap);

#endif
