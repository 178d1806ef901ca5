// cusim: the runtime API (one simulated device), device memory and the error state.
// Device memory is host memory from the allocator, registered so that copies, memsets, kernel
// arguments and cuBLAS operands can be checked against it; new allocations are filled with 0xFF
// bytes (NaN floats, -1 ints) so reads of memory nobody wrote show.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <map>
#include <new>

#include "cusim_internal.h"

namespace {

std::map<uintptr_t, size_t> g_allocs;  // base -> bytes
cudaError_t g_last = cudaSuccess;      // returned and cleared by cudaGetLastError
cudaError_t g_sticky = cudaSuccess;    // a failed kernel: returned by every synchronising call
int g_device = 0;
const size_t DEVICE_BYTES = (size_t)8 << 30;  // what the simulated device reports

int device_count(void) {
    const char *v = getenv("MM_CUSIM_DEVICES");  // 0 simulates a machine without a GPU
    return v ? atoi(v) : 1;
}

}  // namespace

void cusim_fail(cudaError_t err, int sticky, const char *what, const char *fmt, ...) {
    if (g_sticky != cudaSuccess) return;  // the first failure is the one that matters
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cusim: %s: %s\n", what, msg);
    if (g_last == cudaSuccess) g_last = err;
    if (sticky) g_sticky = err;
}

int cusim_is_device(const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return 0;
    --it;
    return a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

void cusim_check_device_pointer(const char *kernel, int arg, const void *p) {
    if (p && !cusim_is_device(p, 0))
        cusim_fail(cudaErrorLaunchFailure, 1, kernel, "argument %d (%p) is not device memory", arg, p);
}

cudaError_t cudaGetDeviceCount(int *n) {
    *n = device_count();
    return *n > 0 ? cudaSuccess : cudaErrorNoDevice;
}

cudaError_t cudaSetDevice(int device) {
    if (device < 0 || device >= device_count()) return g_last = cudaErrorInvalidDevice;
    g_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device) {
    if (device < 0 || device >= device_count()) return g_last = cudaErrorInvalidDevice;
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cusim %d (CUDA kernels simulated on the CPU)", device);
    prop->totalGlobalMem = DEVICE_BYTES;
    prop->major = 9, prop->minor = 0;
    prop->multiProcessorCount = 1;
    prop->l2CacheSize = 1 << 20;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = nullptr;
    if (g_sticky != cudaSuccess) return g_sticky;
    const size_t n = (bytes + 255) / 256 * 256;
    void *q = aligned_alloc(256, n ? n : 256);
    if (!q) return g_last = cudaErrorMemoryAllocation;
    memset(q, 0xFF, n ? n : 256);
    g_allocs[(uintptr_t)q] = bytes;
    *p = q;
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    size_t used = 0;
    for (const auto &a : g_allocs) used += a.second;
    *total_bytes = DEVICE_BYTES;
    *free_bytes = used < DEVICE_BYTES ? DEVICE_BYTES - used : 0;
    return g_sticky;
}

cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end()) {
        cusim_fail(cudaErrorInvalidValue, 0, "cudaFree", "%p is not the start of a device allocation", p);
        return cudaErrorInvalidValue;
    }
    g_allocs.erase(it);
    free(p);
    cusim_count("wait", "cudaFree");
    return g_sticky;
}

static bool side_ok(const void *p, size_t bytes, bool device) {
    return device ? cusim_is_device(p, bytes) != 0 : cusim_is_device(p, 0) == 0;
}

namespace {

std::map<uintptr_t, size_t> g_pinned;  // cudaMallocHost: base -> bytes
// Host waits for the whole queue so far (cudaDeviceSynchronize, synchronous copies): an event
// recorded before the latest one is complete (cudaEventQuery).
unsigned long g_waits;

bool is_pinned(const void *p, size_t bytes) {
    const uintptr_t a = (uintptr_t)p;
    auto it = g_pinned.upper_bound(a);
    if (it == g_pinned.begin()) return false;
    --it;
    return a - it->first <= it->second && bytes <= it->second - (a - it->first);
}

cudaError_t copy(const char *what, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                 bool async) {
    if (g_sticky != cudaSuccess) return g_sticky;
    const bool dd = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool sd = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind == cudaMemcpyDefault || kind == cudaMemcpyHostToHost || !side_ok(dst, bytes, dd) ||
        !side_ok(src, bytes, sd)) {
        cusim_fail(
            cudaErrorInvalidValue, 0, what,
            "%zu bytes %p -> %p, kind %d: a side is not what the kind says (or runs past its allocation)",
            bytes, src, dst, (int)kind);
        return cudaErrorInvalidValue;
    }
    memmove(dst, src, bytes);
    static const char *const names[] = {"host to host", "host to device", "device to host", "device to device"};
    cusim_count("copy", names[kind]);
    // The host waits for the queue before a copy from or to pageable host memory (device to
    // device does not, nor an asynchronous one on the pinned side).
    const bool pinned = (kind == cudaMemcpyHostToDevice && is_pinned(src, bytes)) ||
                        (kind == cudaMemcpyDeviceToHost && is_pinned(dst, bytes));
    if (kind != cudaMemcpyDeviceToDevice && !(async && pinned)) {
        cusim_count("wait", what);
        g_waits++;
    }
    return cudaSuccess;
}

}  // namespace

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    return copy("cudaMemcpy", dst, src, bytes, kind, false);
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
    return copy("cudaMemcpyAsync", dst, src, bytes, kind, true);
}

cudaError_t cudaMallocHost(void **p, size_t bytes) {
    *p = malloc(bytes ? bytes : 1);
    if (!*p) return g_last = cudaErrorMemoryAllocation;
    g_pinned[(uintptr_t)*p] = bytes;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *p) {
    if (!p) return cudaSuccess;
    auto it = g_pinned.find((uintptr_t)p);
    if (it == g_pinned.end()) {
        cusim_fail(cudaErrorInvalidValue, 0, "cudaFreeHost", "%p is not the start of a cudaMallocHost buffer",
                   p);
        return cudaErrorInvalidValue;
    }
    g_pinned.erase(it);
    free(p);
    cusim_count("wait", "cudaFreeHost");
    return g_sticky;
}

cudaError_t cudaMemset(void *p, int value, size_t bytes) {
    if (g_sticky != cudaSuccess) return g_sticky;
    if (!cusim_is_device(p, bytes)) {
        cusim_fail(cudaErrorInvalidValue, 0, "cudaMemset", "%zu bytes at %p: not inside one device allocation", bytes, p);
        return cudaErrorInvalidValue;
    }
    memset(p, value, bytes);
    cusim_count("launch", "cudaMemset");
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t) { return cudaMemset(p, value, bytes); }

cudaError_t cudaDeviceSynchronize(void) {
    cusim_count("wait", "cudaDeviceSynchronize");
    g_waits++;
    return g_sticky;
}

// The simulated device finishes each call at once, but the host may not know it: an event counts
// as complete for cudaEventQuery only once the host has waited for it (cudaEventSynchronize) or
// for everything queued after its record (g_waits) — a GPU can always be that far behind. Until
// then the query answers cudaErrorNotReady, which here is also left as the last error
// (cudaGetLastError), the stricter reading of the runtime's documentation.
struct cusim_event {
    double seconds;       // host clock when recorded; < 0 before the first record
    bool recorded;        // since the last wait for it
    unsigned long waits;  // g_waits at the record
};

cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new (std::nothrow) cusim_event{-1.0, false, 0};
    return *e ? cudaSuccess : g_last = cudaErrorMemoryAllocation;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned) { return cudaEventCreate(e); }

cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t) {
    if (!e) return g_last = cudaErrorInvalidValue;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->seconds = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    e->recorded = true;
    e->waits = g_waits;
    return g_sticky;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!e) return g_last = cudaErrorInvalidValue;
    cusim_count("wait", "cudaEventSynchronize");
    e->recorded = false;
    return g_sticky;
}

cudaError_t cudaEventQuery(cudaEvent_t e) {
    if (!e) return g_last = cudaErrorInvalidValue;
    if (g_sticky != cudaSuccess) return g_sticky;
    if (e->recorded && e->waits == g_waits) return g_last = cudaErrorNotReady;
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end) {
    if (!start || !end || start->seconds < 0 || end->seconds < 0) return g_last = cudaErrorInvalidValue;
    *ms = (float)(1e3 * (end->seconds - start->seconds));
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    const cudaError_t e = g_sticky != cudaSuccess ? g_sticky : g_last;
    g_last = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t err) {
    switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorNotReady:
        return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}
