// Backend discovery and selection for the CPU-only build and the CUDA build (see minimind/device.h).
#include "minimind/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

#ifdef MM_HAVE_CUDA
// Implemented in src/cuda/device.cu.
int mm_cuda_query_count(const char **why);
int mm_cuda_query_name(int i, char *buf, int cap);

int mm_cuda_built(void) { return 1; }
int mm_cuda_device_count(const char **why) { return mm_cuda_query_count(why); }
int mm_cuda_device_name(int i, char *buf, int cap) { return mm_cuda_query_name(i, buf, cap); }
#else
int mm_cuda_built(void) { return 0; }
int mm_cuda_device_count(const char **why) {
    if (why) *why = "built without CUDA (nvcc was not found at build time)";
    return 0;
}
int mm_cuda_device_name(int i, char *buf, int cap) {
    (void)i;
    if (cap > 0) buf[0] = '\0';
    return -1;
}
const mm_backend *mm_backend_cuda(int device) {
    mm_errorf("device cuda:%d: this minimind was built without CUDA (nvcc was not found at build time)", device);
    return NULL;
}
#endif

int mm_backend_select(const char *device, const mm_backend **be) {
    int kind, index;
    *be = NULL;
    if (mm_device_parse(device, &kind, &index) != 0) return -1;
    if (kind == MM_DEVICE_CPU || kind == MM_DEVICE_CPU_STAGED) {
        *be = kind == MM_DEVICE_CPU ? mm_backend_cpu() : mm_backend_cpu_staged();
        return 0;
    }
    if (kind == MM_DEVICE_AUTO) {
        const char *why = "no CUDA device";
        if (mm_cuda_device_count(&why) <= 0) {
            fprintf(stderr, "device: auto -> cpu (no CUDA device: %s)\n", why ? why : "none found");
            *be = mm_backend_cpu();
            return 0;
        }
        *be = mm_backend_cuda(0);
        if (!*be) return mm_error_prefix("device auto");
        fprintf(stderr, "device: auto -> cuda:0\n");
        return 0;
    }
    if (!mm_cuda_built())
        return mm_errorf("device '%s': this minimind was built without CUDA (nvcc was not found at build time); "
                         "use --device cpu or auto",
                         device);
    const char *why = "no CUDA device";
    int n = mm_cuda_device_count(&why);
    if (n <= 0) return mm_errorf("device '%s': no CUDA device: %s", device, why ? why : "none found");
    *be = mm_backend_cuda(index);
    return *be ? 0 : -1;
}

void mm_backend_describe(const mm_backend *be, const char *device, char *buf, size_t cap) {
    int kind = MM_DEVICE_AUTO, index = 0;
    if (mm_device_parse(device, &kind, &index) != 0) index = 0;  // auto and errors: cuda:0
    char name[256];
    if (strcmp(be->name, "cuda") != 0)
        snprintf(buf, cap, "%s", be->name);
    else if (mm_cuda_device_name(index, name, (int)sizeof name) == 0)
        snprintf(buf, cap, "cuda:%d (%s)", index, name);
    else
        snprintf(buf, cap, "cuda:%d", index);
}

int mm_precision_parse(const char *name, mm_precision *p) {
    static const struct {
        const char *name;
        mm_precision p;
    } names[] = {{"fp32", MM_PRECISION_FP32}, {"bf16", MM_PRECISION_BF16}, {"fp16", MM_PRECISION_FP16}};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *p = names[i].p;
            return 0;
        }
    return mm_errorf("mixed_precision = '%s': expected fp32, bf16 or fp16", name ? name : "");
}

const char *mm_precision_name(mm_precision p) {
    return p == MM_PRECISION_BF16 ? "bf16" : p == MM_PRECISION_FP16 ? "fp16" : "fp32";
}

int mm_backend_check_precision(const mm_backend *be, const char *mixed_precision) {
    mm_precision p = MM_PRECISION_FP32;
    if (mixed_precision && mm_precision_parse(mixed_precision, &p) != 0) return -1;
    if (be->set_precision) return be->set_precision(p);
    if (p == MM_PRECISION_FP32) return 0;
    return mm_errorf("mixed_precision = %s is not available on the %s backend (fp32 only); "
                     "set [train] mixed_precision = fp32 (--set train.mixed_precision=fp32)",
                     mixed_precision, be->name);
}
