// The CPU backend's op table (minimind/backend.h): OpenBLAS sgemm + OpenMP loops, one file per op.
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_ops.h"
#include "minimind/backend.h"
#include "minimind/error.h"

// OpenMP loops alternate with OpenBLAS's own (pthread) worker threads. libgomp's default makes
// its idle threads spin (GOMP_SPINCOUNT 300000) after every parallel region, stealing the cores
// the BLAS threads need next: on a 2-core machine that made small steps 10-20x slower. libgomp
// reads its settings once, when it is loaded, from the process's initial environment (an
// early setenv is undone by libc before libgomp initialises) and offers no call to change them.
// So the engine's default is OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0, applied by re-executing
// the program once, from the executable's .preinit_array (before any library initialiser), with
// those two variables added. A user who sets either variable keeps their choice and no re-exec
// happens; when /proc/self/exe cannot be executed the program simply continues with the defaults.
static void mm_cpu_preinit(int argc, char **argv, char **envp) {
    (void)argc;
    if (!argv || !argv[0] || !envp) return;
    size_t n = 0;
    for (; envp[n]; n++)
        if (!strncmp(envp[n], "OMP_WAIT_POLICY=", 16) || !strncmp(envp[n], "GOMP_SPINCOUNT=", 15)) return;
    // (setenv is no use here: libc resets environ to the initial array before libgomp reads it.)
    char **env = malloc((n + 3) * sizeof *env);
    if (!env) return;
    memcpy(env, envp, n * sizeof *env);
    env[n] = "OMP_WAIT_POLICY=PASSIVE";
    env[n + 1] = "GOMP_SPINCOUNT=0";
    env[n + 2] = NULL;
    // Exec the executable by its real path (not /proc/self/exe) so the process keeps its name in
    // ps/top and /proc/PID/comm.
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self[len] = '\0';
        execve(self, argv, env);
    }
    free(env);  // exec failed: continue with libgomp's defaults
}
__attribute__((section(".preinit_array"), used)) static void (*const mm_cpu_preinit_entry)(int, char **,
                                                                                           char **) = mm_cpu_preinit;

void mm_cpu_set_threads(int n) {
    if (n <= 0) return;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

// Every precision is accepted and the CPU computes in fp32 regardless: mixed_precision = bf16
// (the config default) or fp16 on the CPU gives fp32 math. (fp16 still runs the trainer's loss
// scaling, on fp32 numbers: the losses equal the fp32 run's, the scale being a power of two.)
static int mm_cpu_set_precision(mm_precision p) {
    (void)p;
    return 0;
}

static void *mm_cpu_alloc(size_t bytes) { return mm_malloc(bytes ? bytes : 1); }
static void mm_cpu_free(void *p) { free(p); }
static void mm_cpu_copy(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) memcpy(dst, src, bytes);
}
static void mm_cpu_zero(void *p, size_t bytes) {
    if (bytes) memset(p, 0, bytes);
}

static const mm_backend mm_cpu_backend = {
    .name = "cpu",
    .set_threads = mm_cpu_set_threads,
    .set_precision = mm_cpu_set_precision,
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
    .scale = mm_cpu_scale,
    .memory_topk = mm_cpu_memory_topk,
    .memory_topk_backward = mm_cpu_memory_topk_backward,
    .memory_weights_forward = mm_cpu_memory_weights_forward,
    .memory_weights_backward = mm_cpu_memory_weights_backward,
    .memory_read_forward = mm_cpu_memory_read_forward,
    .memory_read_backward = mm_cpu_memory_read_backward,
    .copy_rows = mm_cpu_copy_rows,
    .memory_ema_accumulate = mm_cpu_memory_ema_accumulate,
    .host_resident = 1,
    .alloc = mm_cpu_alloc,
    .free = mm_cpu_free,
    .copy_h2d = mm_cpu_copy,
    .copy_d2h = mm_cpu_copy,
    .copy_d2d = mm_cpu_copy,
    .zero = mm_cpu_zero,
    .check = NULL,
};

const mm_backend *mm_backend_cpu(void) { return &mm_cpu_backend; }
