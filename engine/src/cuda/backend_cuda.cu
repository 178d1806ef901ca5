// The CUDA backend's op table (minimind/backend.h): device memory, cuBLAS for the matmuls, one
// .cu file per op; matmul precision fp32 (default), bf16 or fp16 (gemm.cu); in bf16 the
// feed-forward block's activations in bf16 too (ffn_bf16.cu, MM_CUDA_FFN), the attention
// block's where its FlashAttention path applies (attention.cu, MM_CUDA_ATTN), and the head's
// logits (crossentropy.cu, MM_CUDA_HEAD). One device per process: mm_backend_cuda(d) selects
// device d and creates the cuBLAS handle; the ops run on the default stream, in order, so every
// host copy (copy_d2h, the losses and norms returned) sees the results of the ops issued before it.
// Failures of CUDA calls are recorded (first one wins, with file:line) and reported by `check`;
// so are the calls an op refuses (mm_cuda_notef).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.h"

extern "C" {
#include "minimind/backend.h"
#include "minimind/error.h"
}

static struct {
    int device;
    cublasHandle_t blas;
    char error[512];  // first failure since the last check ("" when none)
    void *scratch[MM_SCRATCH_N];
    size_t scratch_cap[MM_SCRATCH_N];
} g_cuda = {-1, NULL, "", {NULL}, {0}};

cublasHandle_t mm_cuda_blas(void) { return g_cuda.blas; }

void mm_cuda_note(cudaError_t err, const char *file, int line) {
    if (err == cudaSuccess || g_cuda.error[0]) return;
    snprintf(g_cuda.error, sizeof g_cuda.error, "cuda: %s:%d: %s", file, line, cudaGetErrorString(err));
}

void mm_cuda_notef(const char *fmt, ...) {
    if (g_cuda.error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_cuda.error, sizeof g_cuda.error, fmt, ap);
    va_end(ap);
}

int mm_cuda_switch(const char *var, const char *env, const char *first, const char *second, int *is_first) {
    if (!env || !*env || strcmp(env, first) == 0)
        *is_first = 1;
    else if (strcmp(env, second) == 0)
        *is_first = 0;
    else
        return mm_errorf("%s=%s: expected %s or %s", var, env, first, second);
    return 0;
}

void mm_cuda_note_blas(cublasStatus_t st, const char *file, int line) {
    if (st == CUBLAS_STATUS_SUCCESS || g_cuda.error[0]) return;
    snprintf(g_cuda.error, sizeof g_cuda.error, "cublas: %s:%d: %s", file, line, cublasGetStatusString(st));
}

void *mm_cuda_scratch(int slot, size_t bytes) {
    if (bytes <= g_cuda.scratch_cap[slot]) return g_cuda.scratch[slot];
    if (g_cuda.scratch[slot]) MM_CU(cudaFree(g_cuda.scratch[slot]));
    g_cuda.scratch[slot] = NULL;
    g_cuda.scratch_cap[slot] = 0;
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        mm_cuda_note(err, __FILE__, __LINE__);
        return NULL;
    }
    g_cuda.scratch[slot] = p;
    g_cuda.scratch_cap[slot] = bytes;
    return p;
}

// ---- memory hooks
static void *mm_cuda_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) {
        mm_errorf("cuda: allocating %.1f MB on device %d: %s", bytes / 1e6, g_cuda.device, cudaGetErrorString(err));
        cudaGetLastError();
        return NULL;
    }
    return p;
}
static void mm_cuda_free(void *p) {
    if (p) MM_CU(cudaFree(p));
}
// ---- host -> device copies. cudaMemcpy from pageable memory first waits for every queued op: the
// GPU drains, then idles while the host queues the next ones. Copies of up to MM_STAGE_MAX bytes
// (a step's tokens, the memory layer's noise and EMA rows) go through a ring of pinned buffers
// instead: the host copies into the next buffer (waiting only if that buffer's previous upload,
// MM_STAGE_RING uploads ago, is still queued), queues cudaMemcpyAsync and returns; the source may
// be reused at once, as with cudaMemcpy. Bigger copies (weights, optimizer state) stay
// synchronous, and so does every copy when pinned memory cannot be had.
enum { MM_STAGE_RING = 4 };
static const size_t MM_STAGE_MAX = (size_t)8 << 20;

typedef struct mm_stage {
    void *host;  // pinned, cap bytes
    size_t cap;
    cudaEvent_t done;  // recorded after the buffer's last upload
} mm_stage;

static mm_stage g_stage[MM_STAGE_RING];
static int g_stage_next;

// The next ring buffer, free and at least `bytes` large; NULL: copy synchronously.
static mm_stage *mm_cuda_stage_take(size_t bytes) {
    mm_stage *s = &g_stage[g_stage_next];
    if (!s->done && cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        s->done = NULL;
        return NULL;
    }
    g_stage_next = (g_stage_next + 1) % MM_STAGE_RING;
    const cudaError_t q = cudaEventQuery(s->done);
    if (q == cudaErrorNotReady) {  // still queued: wait (not an error, but clear it as one, as
        cudaGetLastError();        // PyTorch does: the next launch check must not report it)
        MM_CU(cudaEventSynchronize(s->done));
    } else {
        MM_CU(q);
    }
    if (s->cap < bytes) {
        if (s->host) MM_CU(cudaFreeHost(s->host));
        s->host = NULL;
        s->cap = 0;
        const size_t cap = bytes < ((size_t)64 << 10) ? (size_t)64 << 10 : bytes;
        if (cudaMallocHost(&s->host, cap) != cudaSuccess) {
            cudaGetLastError();
            s->host = NULL;
            return NULL;
        }
        s->cap = cap;
    }
    return s;
}

static void mm_cuda_copy_h2d(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    mm_stage *s = bytes <= MM_STAGE_MAX ? mm_cuda_stage_take(bytes) : NULL;
    if (!s) {
        MM_CU(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
        return;
    }
    memcpy(s->host, src, bytes);
    MM_CU(cudaMemcpyAsync(dst, s->host, bytes, cudaMemcpyHostToDevice, 0));
    MM_CU(cudaEventRecord(s->done, 0));
}
static void mm_cuda_copy_d2h(void *dst, const void *src, size_t bytes) {
    if (bytes) MM_CU(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}
static void mm_cuda_copy_d2d(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) MM_CU(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}
static void mm_cuda_zero(void *p, size_t bytes) {
    if (bytes) MM_CU(cudaMemset(p, 0, bytes));
}
static int mm_cuda_check(void) {
    MM_CU(cudaDeviceSynchronize());  // kernel faults surface here
    if (!g_cuda.error[0]) return 0;
    int rc = mm_errorf("%s", g_cuda.error);
    g_cuda.error[0] = '\0';
    return rc;
}
static int mm_cuda_memory_info(size_t *used, size_t *total) {
    size_t free_b = 0, total_b = 0;
    const cudaError_t err = cudaMemGetInfo(&free_b, &total_b);
    if (err != cudaSuccess) {
        cudaGetLastError();
        return mm_errorf("cuda: device memory: %s", cudaGetErrorString(err));
    }
    *used = total_b - free_b;
    *total = total_b;
    return 0;
}
// ---- device timer: one CUDA event per slot, created on first use, kept until the process ends.
static cudaEvent_t g_timer[MM_TIMER_SLOTS];

static void mm_cuda_timer_mark(int slot) {
    if (slot < 0 || slot >= MM_TIMER_SLOTS) return;
    if (!g_timer[slot]) MM_CU(cudaEventCreate(&g_timer[slot]));
    if (g_timer[slot]) MM_CU(cudaEventRecord(g_timer[slot]));
}

static double mm_cuda_timer_elapsed_ms(int from, int to) {
    if (from < 0 || to < 0 || from >= MM_TIMER_SLOTS || to >= MM_TIMER_SLOTS || !g_timer[from] ||
        !g_timer[to]) {
        mm_errorf("cuda: timer slots %d, %d were not marked", from, to);
        return -1.0;
    }
    float ms = 0.0f;
    cudaError_t err = cudaEventSynchronize(g_timer[to]);
    if (err == cudaSuccess) err = cudaEventElapsedTime(&ms, g_timer[from], g_timer[to]);
    if (err != cudaSuccess) {
        cudaGetLastError();
        mm_errorf("cuda: timer: %s", cudaGetErrorString(err));
        return -1.0;
    }
    return ms;
}

static void mm_cuda_set_threads(int n) { (void)n; }

static const mm_backend mm_cuda_backend = {
    .name = "cuda",
    .set_threads = mm_cuda_set_threads,
    .set_precision = mm_cuda_set_precision,
    .matmul_forward = mm_cuda_matmul_forward,
    .matmul_backward = mm_cuda_matmul_backward,
    .matmul_forward_residual = mm_cuda_matmul_forward_residual,
    .embedding_forward = mm_cuda_embedding_forward,
    .embedding_backward = mm_cuda_embedding_backward,
    .rmsnorm_forward = mm_cuda_rmsnorm_forward,
    .rmsnorm_backward = mm_cuda_rmsnorm_backward,
    .rope_forward = mm_cuda_rope_forward,
    .rope_backward = mm_cuda_rope_backward,
    .attention_forward = mm_cuda_attention_forward,
    .attention_backward = mm_cuda_attention_backward,
    .attention_state_floats = mm_cuda_attention_state_floats,
    .attention_implementation = mm_cuda_attention_implementation,
    .swiglu_forward = mm_cuda_swiglu_forward,
    .swiglu_backward = mm_cuda_swiglu_backward,
    .crossentropy_forward = mm_cuda_crossentropy_forward,
    .crossentropy_backward = mm_cuda_crossentropy_backward,
    .adamw_update = mm_cuda_adamw_update,
    .gradnorm_clip = mm_cuda_gradnorm_clip,
    .scale = mm_cuda_scale,
    .memory_topk = mm_cuda_memory_topk,
    .memory_topk_backward = mm_cuda_memory_topk_backward,
    .memory_weights_forward = mm_cuda_memory_weights_forward,
    .memory_weights_backward = mm_cuda_memory_weights_backward,
    .memory_read_forward = mm_cuda_memory_read_forward,
    .memory_read_backward = mm_cuda_memory_read_backward,
    .ffn_bf16 = mm_cuda_ffn_bf16,
    .to_bf16 = mm_cuda_to_bf16,
    .to_bf16_rows = mm_cuda_to_bf16_rows,
    .rmsnorm_forward_bf16 = mm_cuda_rmsnorm_forward_bf16,
    .rmsnorm_backward_bf16 = mm_cuda_rmsnorm_backward_bf16,
    .swiglu_forward_bf16 = mm_cuda_swiglu_forward_bf16,
    .swiglu_backward_bf16 = mm_cuda_swiglu_backward_bf16,
    .matmul_forward_bf16 = mm_cuda_matmul_forward_bf16,
    .matmul_forward_residual_bf16 = mm_cuda_matmul_forward_residual_bf16,
    .matmul_backward_bf16 = mm_cuda_matmul_backward_bf16,
    .attention_bf16 = mm_cuda_attention_bf16,
    .rope_forward_bf16 = mm_cuda_rope_forward_bf16,
    .rope_backward_bf16 = mm_cuda_rope_backward_bf16,
    .attention_forward_bf16 = mm_cuda_attention_forward_bf16,
    .attention_backward_bf16 = mm_cuda_attention_backward_bf16,
    .attention_state_floats_bf16 = mm_cuda_attention_state_floats_bf16,
    .head_bf16 = mm_cuda_head_bf16,
    .crossentropy_forward_bf16 = mm_cuda_crossentropy_forward_bf16,
    .crossentropy_backward_bf16 = mm_cuda_crossentropy_backward_bf16,
    .copy_rows = mm_cuda_copy_rows,
    .memory_ema_accumulate = mm_cuda_memory_ema_accumulate,
    .host_resident = 0,
    .alloc = mm_cuda_alloc,
    .free = mm_cuda_free,
    .copy_h2d = mm_cuda_copy_h2d,
    .copy_d2h = mm_cuda_copy_d2h,
    .copy_d2d = mm_cuda_copy_d2d,
    .zero = mm_cuda_zero,
    .check = mm_cuda_check,
    .memory_info = mm_cuda_memory_info,
    .timer_mark = mm_cuda_timer_mark,
    .timer_elapsed_ms = mm_cuda_timer_elapsed_ms,
};

extern "C" const mm_backend *mm_backend_cuda(int device) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        cudaGetLastError();
        mm_errorf("device cuda:%d: %s", device, cudaGetErrorString(err));
        return NULL;
    }
    if (device < 0 || device >= n) {
        mm_errorf("device cuda:%d: this machine has %d CUDA device%s", device, n, n == 1 ? "" : "s");
        return NULL;
    }
    if (mm_cuda_attention_configure(getenv("MM_CUDA_ATTENTION")) != 0 ||
        mm_cuda_residual_configure(getenv("MM_CUDA_RESIDUAL")) != 0 ||
        mm_cuda_ffn_configure(getenv("MM_CUDA_FFN")) != 0 ||
        mm_cuda_attn_configure(getenv("MM_CUDA_ATTN")) != 0 ||
        mm_cuda_head_configure(getenv("MM_CUDA_HEAD")) != 0)
        return NULL;
    if (g_cuda.blas) {
        if (g_cuda.device == device) return &mm_cuda_backend;
        mm_errorf("device cuda:%d: this process already uses cuda:%d (one device per process)", device, g_cuda.device);
        return NULL;
    }
    if ((err = cudaSetDevice(device)) != cudaSuccess) {
        mm_errorf("device cuda:%d: %s", device, cudaGetErrorString(err));
        return NULL;
    }
    cublasStatus_t st = cublasCreate(&g_cuda.blas);
    if (st != CUBLAS_STATUS_SUCCESS) {
        g_cuda.blas = NULL;
        mm_errorf("device cuda:%d: cuBLAS: %s", device, cublasGetStatusString(st));
        return NULL;
    }
    // fp32 parity with the CPU: no TF32 tensor-op math (bf16/fp16 ask for tensor cores through the
    // compute type of each product, gemm.cu).
    if ((st = cublasSetMathMode(g_cuda.blas, CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS) {
        cublasDestroy(g_cuda.blas);
        g_cuda.blas = NULL;
        mm_errorf("device cuda:%d: cuBLAS math mode: %s", device, cublasGetStatusString(st));
        return NULL;
    }
    g_cuda.device = device;
    return &mm_cuda_backend;
}
