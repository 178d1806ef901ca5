// Asynchronous copies from device memory into shared memory (PTX cp.async, sm_80 and later; on the
// simulator engine/cusim's model of them, which lands a copy exactly when its thread waits): a
// thread issues copies, commits them as a group, and waits for all but its N most recent groups;
// a __syncthreads after the wait makes every thread's copies everyone's. The copies need no
// registers, so a whole tile's rows are in flight at once while the warps compute on the tile
// before (attention_flash.cu). C++ only.
#ifndef MM_CUDA_CP_ASYNC_H
#define MM_CUDA_CP_ASYNC_H

#include <cuda_runtime.h>  // on the simulator its own (engine/cusim/include)

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "cp.async needs sm_80 or later (CMAKE_CUDA_ARCHITECTURES 80, 89, 90)"
#endif

#if defined(__CUDACC__) || defined(CUSIM_SIMULATED)
// 16 bytes from src into dst (shared memory), both 16-byte aligned; when !in, 16 zero bytes and
// nothing read (src must still be a valid address).
__device__ __forceinline__ void mm_cp_async16(void *dst, const void *src, bool in) {
#if defined(CUSIM_SIMULATED)
    cusim_cp_async(dst, src, 16, in ? 16 : 0);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    const unsigned at = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(at), "l"(src), "r"(in ? 16 : 0)
                 : "memory");
#endif
}

// The copies issued since the last commit form one group.
__device__ __forceinline__ void mm_cp_async_commit(void) {
#if defined(CUSIM_SIMULATED)
    cusim_cp_async_commit();
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

// Every committed group of this thread has landed but the N most recent.
template <int N>
__device__ __forceinline__ void mm_cp_async_wait(void) {
#if defined(CUSIM_SIMULATED)
    cusim_cp_async_wait(N);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}
#endif

#endif
