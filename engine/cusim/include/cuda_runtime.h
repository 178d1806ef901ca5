// cusim: the subset of the CUDA runtime and device language that engine/src/cuda/*.cu uses, for
// running those kernels on the CPU in tests (engine/cusim/README.md). The .cu files are compiled
// as C++ after cu2cpp.cmake rewrote `k<<<grid, block, shm>>>(args)` into
// `cusim_launch(k, "k", grid, block, shm)(args)` and the __shared__ declarations (dynamic shared
// memory and static arrays are filled with 0xFF bytes at each block: stale data shows).
// Each CUDA thread of a block runs as a fiber; the fibers switch only at barriers
// (__syncthreads, __syncwarp, the warp shuffles and votes), in an order that changes from phase
// to phase, so code that relies on unsynchronised ordering gives different results from run to
// run. Misuse a GPU would punish is an error that names the kernel: a launch configuration
// outside the limits, a host pointer passed to a kernel or to cuBLAS, a warp collective whose
// mask names a lane that exited or waits elsewhere, a deadlock, a copy in the wrong direction.
#ifndef CUSIM_CUDA_RUNTIME_H
#define CUSIM_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

// ---- qualifiers
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// __shared__ declarations are rewritten by cu2cpp.cmake (static arrays: one block runs at a time)
#define __launch_bounds__(...)

// ---- launch geometry
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
// Vector types (CUDA's vector_types.h: 16- and 8-byte aligned).
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(8) uint2 {
    unsigned x, y;
};
struct cusim_uint3 {
    unsigned x, y, z;
};
struct cusim_thread_coords {
    cusim_uint3 thread, block, block_dim, grid_dim;
};
extern const cusim_thread_coords *cusim_current;  // the running fiber's coordinates
#define threadIdx (cusim_current->thread)
#define blockIdx (cusim_current->block)
#define blockDim (cusim_current->block_dim)
#define gridDim (cusim_current->grid_dim)
static const int warpSize = 32;

// ---- runtime API
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorNotReady = 600,
    cudaErrorLaunchFailure = 719,
} cudaError_t;
typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
} cudaMemcpyKind;
typedef struct cusim_stream *cudaStream_t;
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int major, minor;
    int multiProcessorCount;
    int l2CacheSize;
};

cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaMalloc(void **p, size_t bytes);
template <typename T> cudaError_t cudaMalloc(T **p, size_t bytes) { return cudaMalloc((void **)p, bytes); }
cudaError_t cudaFree(void *p);
// free = the simulated device's total (8 GiB) less what cudaMalloc handed out.
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
// Pinned host memory (page-locked on a GPU): cudaMemcpyAsync from it does not wait for the
// queue; from any other host memory it does (counted as a host wait, as on a GPU).
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = 0);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaGetLastError(void);
// Events: the simulated device runs each call to completion, so an event records the host clock
// when it is recorded (timings in the simulator say nothing about a GPU; they only run the code).
typedef struct cusim_event *cudaEvent_t;
cudaError_t cudaEventCreate(cudaEvent_t *e);
enum { cudaEventDefault = 0, cudaEventDisableTiming = 2 };
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
// cudaSuccess: everything before the record is done; cudaErrorNotReady (also left as the last
// error) until the host has waited for it or for the whole queue since (runtime.cpp).
cudaError_t cudaEventQuery(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
const char *cudaGetErrorString(cudaError_t err);

// ---- device intrinsics (fiber barriers underneath)
void __syncthreads(void);
void __syncwarp(unsigned mask = 0xffffffffu);
unsigned __ballot_sync(unsigned mask, int pred);
uint64_t cusim_shfl(unsigned mask, uint64_t v, int src_lane, const char *what);
// The tensor-core instruction mma.sync.aligned.m16n8k16.row.col.f32.{bf16|f16}.{bf16|f16}.f32
// (inline PTX on a GPU): d = a b + c for the whole warp, in the PTX ISA's fragment layout (see
// threads.cpp). A warp collective: all 32 lanes must execute it (.aligned). f16: 1 for fp16
// inputs, 0 for bf16; a and b hold two 16-bit values per register (low half: the lower index).
void cusim_mma_m16n8k16(int f16, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]);
// ldmatrix.sync.aligned.m8n8.{x1|x2|x4}{.trans}.shared.b16 (inline PTX on a GPU): num (1, 2, 4)
// 8 x 8 matrices of 16-bit values from shared memory into num registers of every lane; `row` is the
// row this lane addresses (lane 8i + j: row j of matrix i; 16-byte aligned). A warp collective:
// all 32 lanes must execute it. trans: 1 for .trans. The layout: threads.cpp.
void cusim_ldmatrix(int num, int trans, uint32_t *r, const void *row);
// The shared-memory wavefronts every ldmatrix so far took beyond one per 8 x 8 matrix (bank
// conflicts: threads.cpp), in this process; per kernel in MM_CUSIM_STATS (stats.cpp).
unsigned long cusim_ldmatrix_conflicts(void);
// cp.async.{ca|cg}.shared.global [dst], [src], bytes, src_bytes (inline PTX on a GPU): an
// asynchronous copy of `bytes` (4, 8 or 16; both addresses aligned to it) from device memory into
// shared memory, the first src_bytes read from src and the rest zeros. Here it lands when the
// thread waits for its group (cusim_cp_async_wait) — exactly then, never earlier, so a tile read
// before the wait and the barrier after it is read stale — or when the thread exits.
void cusim_cp_async(void *dst, const void *src, unsigned bytes, unsigned src_bytes);
// cp.async.commit_group: the copies issued since the last commit form one group.
void cusim_cp_async_commit(void);
// cp.async.wait_group n: the thread's committed groups have landed, but for the n most recent.
void cusim_cp_async_wait(int n);
#define CUSIM_SIMULATED 1
template <typename T> static inline uint64_t cusim_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a value over 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof v);
    return b;
}
template <typename T> static inline T cusim_from_bits(uint64_t b) {
    T v;
    memcpy(&v, &b, sizeof v);
    return v;
}
template <typename T> T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    const int lane = (int)(threadIdx.x & 31), base = lane & ~(width - 1);
    return cusim_from_bits<T>(cusim_shfl(mask, cusim_bits(v), base + (src & (width - 1)), "__shfl_sync"));
}
template <typename T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    const int lane = (int)(threadIdx.x & 31);
    int src = lane ^ lane_mask;
    if (src >= ((lane & ~(width - 1)) + width)) src = lane;
    return cusim_from_bits<T>(cusim_shfl(mask, cusim_bits(v), src, "__shfl_xor_sync"));
}
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
template <typename T> static inline T __ldg(const T *p) { return *p; }

// ---- launches
// Checks the configuration (cudaGetLastError reports a bad one, as on a GPU) and runs `body` once
// per thread of every block; `dyn_shared` bytes of dynamic shared memory per block.
void cusim_run(const char *kernel, dim3 grid, dim3 block, size_t dyn_shared, void (*body)(void *), void *ctx);
// A kernel pointer argument must be null or point into memory from cudaMalloc.
void cusim_check_device_pointer(const char *kernel, int arg, const void *p);
void *cusim_dynamic_shared(void);
// An access a GPU faults on unless p is a multiple of `align` bytes ("misaligned address").
void cusim_check_aligned(const void *p, size_t align, const char *what);
// Fills a static __shared__ array with 0xFF bytes the first time a thread of a new block gets to it.
void cusim_shared_fresh(void *p, size_t bytes);

template <typename Args, size_t... I> static void cusim_check_args(const char *kernel, const Args &a,
                                                                   std::index_sequence<I...>) {
    (void)kernel, (void)a;
    (
        [&] {
            using T = std::tuple_element_t<I, Args>;
            if constexpr (std::is_pointer<T>::value) cusim_check_device_pointer(kernel, (int)I, (const void *)std::get<I>(a));
        }(),
        ...);
}

template <typename... P> struct cusim_launcher {
    void (*kernel)(P...);
    const char *name;
    dim3 grid, block;
    size_t shm;
    template <typename... A> void operator()(A &&...args) const {
        struct call {
            void (*kernel)(P...);
            std::tuple<std::decay_t<P>...> args;
            static void run(void *self) {
                call *c = (call *)self;
                std::apply(c->kernel, c->args);
            }
        } c{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
        cusim_check_args(name, c.args, std::index_sequence_for<P...>());
        cusim_run(name, grid, block, shm, &call::run, &c);
    }
};
template <typename... P>
cusim_launcher<P...> cusim_launch(void (*kernel)(P...), const char *name, dim3 grid, dim3 block, size_t shm = 0,
                                  cudaStream_t stream = 0) {
    (void)stream;
    return cusim_launcher<P...>{kernel, name, grid, block, shm};
}

#endif
