// The CPU backend's op table (minimind/backend.h): OpenBLAS sgemm + OpenMP loops, one file per op.
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu_ops.h"
#include "minimind/backend.h"

// OpenMP loops alternate with OpenBLAS's own (pthread) worker threads. libgomp's default wait
// policy spins after every parallel region, stealing the cores the BLAS threads need next — on a
// 2-core machine that made steps 10-20x slower. So the default here is OMP_WAIT_POLICY=PASSIVE,
// GOMP_SPINCOUNT=0 (unless the user set either). libgomp reads the variable when it is loaded, and an
// executable's .preinit_array runs before any shared library's initialiser, so that is where the
// default is set (this object is linked into every executable that uses the CPU backend).
static void mm_cpu_omp_passive_default(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("GOMP_SPINCOUNT", "0", 1);  // this libgomp still spins briefly under PASSIVE alone
}
__attribute__((section(".preinit_array"), used)) static void (*const mm_cpu_preinit)(int, char **, char **) =
    mm_cpu_omp_passive_default;

void mm_cpu_set_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static const mm_backend mm_cpu_backend = {
    .name = "cpu",
    .set_threads = mm_cpu_set_threads,
    .matmul_forward = mm_cpu_matmul_forward,
    .matmul_backward = mm_cpu_matmul_backward,
    .embedding_forward = mm_cpu_embedding_forward,
    .embedding_backward = mm_cpu_embedding_backward,
    .rmsnorm_forward = mm_cpu_rmsnorm_forward,
    .rmsnorm_backward = mm_cpu_rmsnorm_backward,
    .rope_forward = mm_cpu_rope_forward,
    .rope_backward = mm_cpu_rope_backward,
    .attention_forward = mm_cpu_attention_forward,
    .attention_backward = mm_cpu_attention_backward,
    .swiglu_forward = mm_cpu_swiglu_forward,
    .swiglu_backward = mm_cpu_swiglu_backward,
    .crossentropy_forward = mm_cpu_crossentropy_forward,
    .crossentropy_backward = mm_cpu_crossentropy_backward,
    .adamw_update = mm_cpu_adamw_update,
    .gradnorm_clip = mm_cpu_gradnorm_clip,
    .memory_topk = mm_cpu_memory_topk,
    .memory_topk_backward = mm_cpu_memory_topk_backward,
    .memory_weights_forward = mm_cpu_memory_weights_forward,
    .memory_weights_backward = mm_cpu_memory_weights_backward,
    .memory_read_forward = mm_cpu_memory_read_forward,
    .memory_read_backward = mm_cpu_memory_read_backward,
};

const mm_backend *mm_backend_cpu(void) { return &mm_cpu_backend; }
