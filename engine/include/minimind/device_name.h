// Device names ([train] device, --device): the syntax only, shared by the engine and `expt` (which
// checks run configs without linking the engine; see minimind/device.h for selecting a backend).
#ifndef MINIMIND_DEVICE_NAME_H
#define MINIMIND_DEVICE_NAME_H

enum { MM_DEVICE_AUTO, MM_DEVICE_CPU, MM_DEVICE_CUDA, MM_DEVICE_CPU_STAGED };

// Parses "auto" (also NULL/""), "cpu", "cuda", "cuda:N" (N < 1024), "cpu-staged" (the CPU kernels
// behind the device code paths, for testing: mm_backend_cpu_staged) into *kind (MM_DEVICE_*) and
// *index. -1 with the message set otherwise.
int mm_device_parse(const char *device, int *kind, int *index);

#endif
