// cuda_gemm_modes: what the matrix products of one MiniMind training step cost in each way the
// CUDA backend could ask cuBLAS for them — the measurement behind the choice of operand storage
// (docs/benchmarks.md, "GPU: products by operand storage").
//
// The backend keeps activations and master weights in fp32 and, in bf16 / fp16, asks cuBLAS to
// round the fp32 operands itself (gemm.cu: CUBLAS_COMPUTE_32F_FAST_16BF). Whether cuBLAS then runs
// as fast as on operands stored in bf16 is not documented; this times, for each product of the
// model's linear layers (forward, input gradient, weight gradient; the same column-major calls as
// matmul.cu), five ways:
//   fp32          fp32 A, B, C, CUBLAS_COMPUTE_32F (the fp32 precision)
//   tf32          fp32 A, B, C, CUBLAS_COMPUTE_32F_FAST_TF32
//   bf16_fast     fp32 A, B, C, CUBLAS_COMPUTE_32F_FAST_16BF (the bf16 precision today)
//   bf16_stored   bf16 A, B, fp32 C, CUBLAS_COMPUTE_32F (operands already in bf16: the conversion
//                 is not timed — what producers writing bf16 copies would give)
//   bf16_convert  a conversion kernel fp32 -> bf16 for A and for B, then bf16_stored (timed together)
// Each time is the median of --reps runs, each timed alone with CUDA events after a write of 4x
// the L2 that evicts the operands from it (cold operands: the upper end; inside a training step
// an activation is often still in L2 when its product reads it).
// The three bf16 ways compute the same function up to cuBLAS's rounding of fp32 inputs (ours: to
// nearest even) and its summation order: each product prints how far bf16_stored is from bf16_fast
// and bf16_fast from fp32 (relative L2). The program fails (exit 1) if a result is not finite, if
// a reduced-precision way is further from fp32 than its input rounding allows, or if any CUDA or
// cuBLAS call fails.
//
// usage: cuda_gemm_modes [--tokens N] [--dim C] [--hidden F] [--qkv Q] [--vocab V] [--layers L]
//                        [--reps R] [--json]
// Defaults: MiniMind-26M at batch 16 x 512 (N 8192, C 512, F 1408, Q 768 = 8 heads + 2 x 2 kv heads
// of 64, V 6400, L 8). The step totals count each product once per layer (the head once).
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cuda/mma.h"  // mm_bf16_bits: the same rounding as the backend's kernels

namespace {

enum { FP32, TF32, BF16_FAST, BF16_STORED, BF16_CONVERT, NMODES };
const char *const MODE_NAMES[NMODES] = {"fp32", "tf32", "bf16_fast", "bf16_stored", "bf16_convert"};

struct options {
    int tokens = 8192, dim = 512, hidden = 1408, qkv = 768, vocab = 6400, layers = 8, reps = 20;
    bool json = false;
};

// One cuBLAS product, column-major: C (m, n) = op(A) (m, k) op(B) (k, n) [+ C].
struct product {
    const char *layer, *what;
    int ta, tb, m, n, k, lda, ldb, ldc;
    float beta;
    int per_step;  // how many a training step runs
};

[[noreturn]] void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("cuda_gemm_modes: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void cu(cudaError_t e, const char *what) {
    if (e != cudaSuccess) die("%s: %s", what, cudaGetErrorString(e));
}
void blas(cublasStatus_t s, const char *what) {
    if (s != CUBLAS_STATUS_SUCCESS) die("%s: %s", what, cublasGetStatusString(s));
}

int parse_int(const char *name, const char *v) {
    char *end = NULL;
    const long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x <= 0 || x > (1 << 24)) die("%s needs a positive integer, got '%s'", name, v ? v : "");
    return (int)x;
}

options parse(int argc, char **argv) {
    options o;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *dst = !strcmp(a, "--tokens")   ? &o.tokens
                   : !strcmp(a, "--dim")    ? &o.dim
                   : !strcmp(a, "--hidden") ? &o.hidden
                   : !strcmp(a, "--qkv")    ? &o.qkv
                   : !strcmp(a, "--vocab")  ? &o.vocab
                   : !strcmp(a, "--layers") ? &o.layers
                   : !strcmp(a, "--reps")   ? &o.reps
                                            : NULL;
        if (dst) {
            *dst = parse_int(a, v);
            i++;
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else {
            die("unknown option '%s' (--tokens --dim --hidden --qkv --vocab --layers --reps --json)", a);
        }
    }
    return o;
}

// A linear layer (rows M, in K, out N) as matmul.cu's three products.
void add_linear(std::vector<product> &ps, const char *layer, int M, int K, int N, int count) {
    ps.push_back({layer, "forward", 1, 0, N, M, K, K, K, N, 0.0f, count});  // out^T = w^T^T inp^T
    ps.push_back({layer, "dinp", 0, 0, K, M, N, K, N, K, 0.0f, count});     // dinp^T = w^T dout^T
    ps.push_back({layer, "dw", 0, 1, K, N, M, K, N, K, 1.0f, count});       // dw^T += inp^T dout
}

std::vector<product> step_products(const options &o) {
    std::vector<product> ps;
    add_linear(ps, "wqkv", o.tokens, o.dim, o.qkv, o.layers);
    add_linear(ps, "wo", o.tokens, o.dim, o.dim, o.layers);
    add_linear(ps, "w13", o.tokens, o.dim, 2 * o.hidden, o.layers);
    add_linear(ps, "w2", o.tokens, o.hidden, o.dim, o.layers);
    add_linear(ps, "head", o.tokens, o.dim, o.vocab, 1);
    return ps;
}

size_t a_elems(const product &p) { return (size_t)p.lda * (p.ta ? p.m : p.k); }
size_t b_elems(const product &p) { return (size_t)p.ldb * (p.tb ? p.k : p.n); }
size_t c_elems(const product &p) { return (size_t)p.ldc * p.n; }

__global__ void mm_to_bf16_kernel(const float *x, uint16_t *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = (uint16_t)mm_bf16_bits(x[i]);
}

void to_bf16(const float *x, uint16_t *y, size_t n) {
    const unsigned blocks = (unsigned)std::min<size_t>((n + 255) / 256, 4096);
    mm_to_bf16_kernel<<<blocks, 256>>>(x, y, n);
    cu(cudaGetLastError(), "conversion kernel");
}

// Device buffers of one product in every storage; inputs uniform in [-1, 1) (never zeros: a
// product of zeros can run faster than real data).
struct operands {
    float *A = NULL, *B = NULL, *C = NULL;
    uint16_t *A16 = NULL, *B16 = NULL;
};

void fill_random(float *d, size_t n, uint64_t seed) {
    std::vector<float> h(n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = (float)((seed >> 40) * (2.0 / 16777216.0) - 1.0);
    }
    cu(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice), "upload");
}

operands make_operands(const product &p, uint64_t seed) {
    operands o;
    cu(cudaMalloc(&o.A, a_elems(p) * 4), "cudaMalloc A");
    cu(cudaMalloc(&o.B, b_elems(p) * 4), "cudaMalloc B");
    cu(cudaMalloc(&o.C, c_elems(p) * 4), "cudaMalloc C");
    cu(cudaMalloc(&o.A16, a_elems(p) * 2), "cudaMalloc A (bf16)");
    cu(cudaMalloc(&o.B16, b_elems(p) * 2), "cudaMalloc B (bf16)");
    fill_random(o.A, a_elems(p), seed);
    fill_random(o.B, b_elems(p), seed + 1);
    to_bf16(o.A, o.A16, a_elems(p));
    to_bf16(o.B, o.B16, b_elems(p));
    return o;
}

void free_operands(operands &o) {
    cudaFree(o.A), cudaFree(o.B), cudaFree(o.C), cudaFree(o.A16), cudaFree(o.B16);
}

// One product in one mode (C starts from zero when beta is 1, so every mode computes the same).
void run_mode(cublasHandle_t h, const product &p, const operands &o, int mode) {
    const float alpha = 1.0f;
    const cublasOperation_t ta = p.ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb = p.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (mode == BF16_CONVERT) {
        to_bf16(o.A, o.A16, a_elems(p));
        to_bf16(o.B, o.B16, b_elems(p));
    }
    if (mode == BF16_STORED || mode == BF16_CONVERT) {
        blas(cublasGemmEx(h, ta, tb, p.m, p.n, p.k, &alpha, o.A16, CUDA_R_16BF, p.lda, o.B16, CUDA_R_16BF,
                          p.ldb, &p.beta, o.C, CUDA_R_32F, p.ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
             MODE_NAMES[mode]);
        return;
    }
    const cublasComputeType_t ct = mode == TF32        ? CUBLAS_COMPUTE_32F_FAST_TF32
                                   : mode == BF16_FAST ? CUBLAS_COMPUTE_32F_FAST_16BF
                                                       : CUBLAS_COMPUTE_32F;
    blas(cublasGemmEx(h, ta, tb, p.m, p.n, p.k, &alpha, o.A, CUDA_R_32F, p.lda, o.B, CUDA_R_32F, p.ldb,
                      &p.beta, o.C, CUDA_R_32F, p.ldc, ct, CUBLAS_GEMM_DEFAULT),
         MODE_NAMES[mode]);
}

std::vector<float> result(const product &p, const operands &o) {
    std::vector<float> h(c_elems(p));
    cu(cudaMemcpy(h.data(), o.C, h.size() * 4, cudaMemcpyDeviceToHost), "download");
    return h;
}

double rel_diff(const std::vector<float> &x, const std::vector<float> &ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); i++) {
        const double d = (double)x[i] - ref[i];
        num += d * d, den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : (num > 0 ? INFINITY : 0.0);
}

struct agreement {
    double fast_vs_fp32, stored_vs_fast;
};

// Every mode once from C = 0; the reduced-precision ways against fp32 and the bf16 ways against
// each other. NaN fails (the comparisons are false).
agreement check_agreement(cublasHandle_t h, const product &p, const operands &o) {
    std::vector<float> out[NMODES];
    for (int mode = 0; mode < NMODES; mode++) {
        cu(cudaMemset(o.C, 0, c_elems(p) * 4), "cudaMemset");
        run_mode(h, p, o, mode);
        out[mode] = result(p, o);
    }
    const agreement a = {rel_diff(out[BF16_FAST], out[FP32]), rel_diff(out[BF16_STORED], out[BF16_FAST])};
    const double stored = rel_diff(out[BF16_STORED], out[FP32]),
                 convert = rel_diff(out[BF16_CONVERT], out[FP32]), tf32 = rel_diff(out[TF32], out[FP32]);
    // inputs rounded to bf16 (2^-9 relative, to nearest) or tf32 (2^-12) on random data: the
    // result's relative error is of that order; 4x margin for a truncating rounding
    if (!(a.fast_vs_fp32 < 1e-2 && stored < 1e-2 && convert < 1e-2 && tf32 < 2e-3))
        die("%s %s: a way is too far from fp32: bf16_fast %.2e, bf16_stored %.2e, bf16_convert %.2e, tf32 "
            "%.2e",
            p.layer, p.what, a.fast_vs_fp32, stored, convert, tf32);
    return a;
}

// Median milliseconds of one product in one mode, operands evicted from L2 before each run.
double time_mode(cublasHandle_t h, const product &p, const operands &o, int mode, int reps, void *flush,
                 size_t flush_bytes, cudaEvent_t start, cudaEvent_t end) {
    std::vector<float> ms;
    for (int r = -2; r < reps; r++) {  // two warm-up runs: cuBLAS picks and loads its kernels
        cu(cudaMemsetAsync(flush, r & 0xFF, flush_bytes), "L2 flush");
        cu(cudaEventRecord(start), "cudaEventRecord");
        run_mode(h, p, o, mode);
        cu(cudaEventRecord(end), "cudaEventRecord");
        cu(cudaEventSynchronize(end), "cudaEventSynchronize");
        float t = 0;
        cu(cudaEventElapsedTime(&t, start, end), "cudaEventElapsedTime");
        if (r >= 0) ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

void print_row(const options &opt, const product &p, const double ms[NMODES], agreement a) {
    const double flop = 2.0 * p.m * p.n * p.k;
    if (opt.json) {
        printf(
            "{\"layer\": \"%s\", \"product\": \"%s\", \"m\": %d, \"n\": %d, \"k\": %d, \"per_step\": %d, "
            "\"bf16_fast_vs_fp32\": %.3g, \"bf16_stored_vs_fast\": %.3g",
            p.layer, p.what, p.m, p.n, p.k, p.per_step, a.fast_vs_fp32, a.stored_vs_fast);
        for (int mode = 0; mode < NMODES; mode++)
            printf(", \"%s_us\": %.2f, \"%s_tflops\": %.1f", MODE_NAMES[mode], 1e3 * ms[mode],
                   MODE_NAMES[mode], flop / (ms[mode] * 1e9));
        printf("}\n");
        return;
    }
    printf("%-5s %-8s %6d %6d %6d", p.layer, p.what, p.m, p.n, p.k);
    for (int mode = 0; mode < NMODES; mode++)
        printf("  %12.1f %6.0f", 1e3 * ms[mode], flop / (ms[mode] * 1e9));
    printf("  %9.2e %9.2e\n", a.fast_vs_fp32, a.stored_vs_fast);
}

void print_totals(const options &opt, const double total_ms[NMODES], double step_flop) {
    if (opt.json) {
        printf("{\"step_products\": true, \"tokens\": %d, \"gflop\": %.3f", opt.tokens, step_flop / 1e9);
        for (int mode = 0; mode < NMODES; mode++)
            printf(", \"%s_ms\": %.4f, \"%s_tflops\": %.1f", MODE_NAMES[mode], total_ms[mode],
                   MODE_NAMES[mode], step_flop / (total_ms[mode] * 1e9));
        printf("}\n");
        return;
    }
    printf("%-5s %-8s %20s", "step", "(sum)", "");
    for (int mode = 0; mode < NMODES; mode++)
        printf("  %12.1f %6.0f", 1e3 * total_ms[mode], step_flop / (total_ms[mode] * 1e9));
    printf(
        "\n(us: median microseconds per product; TF/s: its TFLOP/s; step: every product x its count per "
        "step, %.1f GFLOP;\n fast-fp32: relative L2 distance of bf16_fast from fp32; stored-fast: of "
        "bf16_stored from "
        "bf16_fast)\n",
        step_flop / 1e9);
}

}  // namespace

int main(int argc, char **argv) {
    const options opt = parse(argc, argv);
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) die("no CUDA device");
    cudaDeviceProp prop;
    cu(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    cublasHandle_t h;
    blas(cublasCreate(&h), "cublasCreate");
    const size_t flush_bytes = 4 * (size_t)std::max(prop.l2CacheSize, 1 << 20);  // 4x the L2
    void *flush = NULL;
    cu(cudaMalloc(&flush, flush_bytes), "cudaMalloc (L2 flush)");
    cudaEvent_t start, end;
    cu(cudaEventCreate(&start), "cudaEventCreate");
    cu(cudaEventCreate(&end), "cudaEventCreate");

    if (!opt.json) {
        printf(
            "cuda_gemm_modes: %s, tokens %d, dim %d, hidden %d, qkv %d, vocab %d, layers %d, median of %d\n",
            prop.name, opt.tokens, opt.dim, opt.hidden, opt.qkv, opt.vocab, opt.layers, opt.reps);
        printf("%-5s %-8s %6s %6s %6s", "layer", "product", "m", "n", "k");
        for (int mode = 0; mode < NMODES; mode++) printf("  %12s %6s", MODE_NAMES[mode], "TF/s");
        printf("  %9s %9s\n", "fast-fp32", "stored-fast");
    }
    double total_ms[NMODES] = {0}, step_flop = 0;
    uint64_t seed = 1;
    for (const product &p : step_products(opt)) {
        operands o = make_operands(p, seed += 2);
        const agreement a = check_agreement(h, p, o);
        double ms[NMODES];
        for (int mode = 0; mode < NMODES; mode++) {
            ms[mode] = time_mode(h, p, o, mode, opt.reps, flush, flush_bytes, start, end);
            total_ms[mode] += p.per_step * ms[mode];
        }
        step_flop += p.per_step * 2.0 * p.m * p.n * p.k;
        print_row(opt, p, ms, a);
        free_operands(o);
    }
    print_totals(opt, total_ms, step_flop);
    cu(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    cudaEventDestroy(start), cudaEventDestroy(end);
    cudaFree(flush);
    cublasDestroy(h);
    return 0;
}
