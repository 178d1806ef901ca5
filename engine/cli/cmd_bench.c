// `minimind bench`: training-step throughput of the baseline model on random tokens
// (forward + backward + grad clipping + AdamW), with FLOP counts and MFU against this machine's
// measured sgemm peak.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "minimind/backend.h"
#include "minimind/device.h"
#include "minimind/error.h"
#include "minimind/model.h"
#include "minimind/optim.h"
#include "minimind/profile.h"
#include "minimind/progress.h"

static const char mm_bench_usage[] =
    "usage: minimind bench [--dim 512] [--n-layers 8] [--n-heads 8] [--n-kv-heads 2] [--vocab 6400]\n"
    "                      [--seq-len 512] [--batch 4] [--steps 5] [--warmup-steps 1] [--threads N]\n"
    "                      [--peak-size 2048] [--json] [--profile]\n"
    "                      [--model-type model_original|model|model_no_feed] [--knowledge-num 1048576]\n"
    "                      [--knowledge-length 32] [--knowledge-dim 128] [--num-candidates 16]\n"
    "                      [--device auto|cpu|cuda[:N]] [--precision fp32|bf16|fp16]\n"
    "Runs training steps (forward, backward, clip 1.0, AdamW) on random tokens and prints tokens/s,\n"
    "ms/step, achieved GFLOP/s (exact matmul FLOPs, causal attention) and MFU against the sgemm\n"
    "peak measured at start (a peak-size^3 cblas_sgemm). --json prints one JSON object instead.\n"
    "The memory variants read a bank of random full-length entries (softmax selection).\n"
    "--device (default cpu): on a CUDA device MFU is against the GPU's dense peak for the precision\n"
    "from a table (A100, RTX 4090, H100, H200; other GPUs: no MFU). --precision: the matmul\n"
    "precision as [train] mixed_precision (default bf16 on a GPU; fp32 on the CPU, which computes\n"
    "in fp32 whatever is asked); storage stays fp32; fp16 here has no loss scaling.\n"
    "--profile: after the timed steps, as many again with every backend op timed (on a GPU by device\n"
    "events around each op, not waiting; on the CPU each op waited for, on the host's clock): a\n"
    "per-op table on stderr (ms and calls per step, share, the work the\n"
    "op's arguments ask for in GFLOP and MB, its floor max(GFLOP / peak, MB / bandwidth) and the\n"
    "time over it), or a \"profile\" object in the JSON line. Peaks: the GPU table (datasheet FLOP/s\n"
    "and bandwidth), on the CPU the measured sgemm peak and memcpy bandwidth. The timed steps'\n"
    "figures are not affected.\n";

// Peaks of known GPUs (datasheets): dense GFLOP/s, fp32 without tensor cores and bf16/fp16 tensor
// cores with fp32 accumulation (no sparsity), and memory bandwidth in GB/s. NULL when unknown.
typedef struct mm_gpu_peaks {
    const char *key;  // matched against the device name, first match wins
    double fp32, tensor16, bandwidth;
} mm_gpu_peaks;

static const mm_gpu_peaks *mm_gpu_peak_row(const char *name) {
    static const mm_gpu_peaks table[] = {
        {"H200", 66900, 989400, 4800},           {"H100 PCIe", 51200, 756000, 2000},
        {"H100 NVL", 60000, 835000, 3900},       {"H100", 66900, 989400, 3350},
        {"A100-SXM4-80GB", 19500, 312000, 2039}, {"A100 80GB", 19500, 312000, 1935},
        {"A100", 19500, 312000, 1555},           {"4090", 82600, 165200, 1008}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strstr(name, table[i].key)) return &table[i];
    return NULL;
}

static double mm_gpu_peak(const char *name, mm_precision p) {
    const mm_gpu_peaks *row = mm_gpu_peak_row(name);
    return !row ? 0.0 : p == MM_PRECISION_FP32 ? row->fp32 : row->tensor16;
}

// Best GB/s (bytes read + written) of a few 64 MiB memcpys: this machine's memory bandwidth as one
// thread sees it (the CPU ops' floors).
static double mm_measure_bandwidth(void) {
    const size_t n = (size_t)64 << 20;
    char *a = mm_malloc(2 * n);
    if (!a) return 0.0;
    memset(a, 1, 2 * n);  // touch every page before timing
    double best = 0.0;
    for (int rep = 0; rep < 4; rep++) {
        const double t0 = mm_now_s();
        memcpy(a + (rep & 1 ? 0 : n), a + (rep & 1 ? n : 0), n);
        const double g = 2.0 * n / (mm_now_s() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    return best;
}

// Best GFLOP/s of a few (n x n) @ (n x n) sgemms.
static double mm_measure_sgemm_peak(int n) {
    float *a = mm_malloc(sizeof(float) * (size_t)n * n * 3);
    if (!a) return 0.0;
    float *b = a + (size_t)n * n, *c = b + (size_t)n * n;
    for (size_t i = 0; i < (size_t)n * n * 2; i++) a[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    double best = 0.0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = mm_now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = mm_now_s() - t0, g = 2.0 * n * n * (double)n / dt / 1e9;
        if (rep > 0 && g > best) best = g;  // rep 0 warms up the threads and caches
    }
    free(a);
    return best;
}

typedef struct mm_bench_opts {
    mm_model_config cfg;
    int B, T, steps, warmup, threads, peak_n, json, profile;
    int num_candidates;
    const char *device;
    const char *precision;  // NULL: bf16 on a GPU, fp32 on the CPU
} mm_bench_opts;

// Parses the options into o. Returns MM_CLI_CONTINUE, or the exit status (0 after --help, 2).
static int mm_bench_parse(int argc, char **argv, mm_bench_opts *o) {
    mm_model_config_default(&o->cfg);
    o->B = 4, o->T = 512, o->steps = 5, o->warmup = 1, o->threads = 0, o->peak_n = 2048, o->json = 0;
    o->profile = 0;
    o->num_candidates = 16;
    o->device = "cpu";
    o->precision = NULL;
    const char *model_type = NULL;
    const int big = 1 << 30;
    mm_opt opts[] = {
        mm_opt_int("--dim", &o->cfg.dim, 2, big),
        mm_opt_int("--n-layers", &o->cfg.n_layers, 1, big),
        mm_opt_int("--n-heads", &o->cfg.n_heads, 1, big),
        mm_opt_int("--n-kv-heads", &o->cfg.n_kv_heads, 1, big),
        mm_opt_int("--vocab", &o->cfg.vocab_size, 2, big),
        mm_opt_int("--seq-len", &o->T, 1, big),
        mm_opt_int("--batch", &o->B, 1, big),
        mm_opt_int("--steps", &o->steps, 1, big),
        mm_opt_int("--warmup-steps", &o->warmup, 0, big),
        mm_opt_int("--threads", &o->threads, 1, big),
        mm_opt_int("--peak-size", &o->peak_n, 64, big),
        mm_opt_flag("--json", &o->json),
        mm_opt_flag("--profile", &o->profile),
        mm_opt_str("--model-type T", &model_type),
        mm_opt_int("--knowledge-num", &o->cfg.knowledge_num, 1, big),
        mm_opt_int("--knowledge-length", &o->cfg.knowledge_length, 1, big),
        mm_opt_int("--knowledge-dim", &o->cfg.knowledge_dim, 2, big),
        mm_opt_int("--num-candidates", &o->num_candidates, 1, big),
        mm_opt_str("--device D", &o->device),
        mm_opt_str("--precision P", &o->precision),
    };
    int rc = mm_cli_parse("bench", mm_bench_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != MM_CLI_CONTINUE) return rc;
    if (model_type && mm_model_type_parse(model_type, &o->cfg.model_type) != 0)
        return mm_cli_usage_error("bench: --model-type: %s (see --help)", mm_error_message());
    mm_precision p;
    if (o->precision && mm_precision_parse(o->precision, &p) != 0)
        return mm_cli_usage_error("bench: --precision: %s (see --help)", mm_error_message());
    o->cfg.max_seq_len = o->T > o->cfg.max_seq_len ? o->T : o->cfg.max_seq_len;
    return MM_CLI_CONTINUE;
}

// Runs warmup + o->steps training steps (forward, backward, clip 1.0, AdamW); *t_start is the time
// the first step after the warm-up began. Returns 0 or the CLI failure status.
static int mm_bench_steps(mm_model *m, mm_adamw *opt, const int32_t *X, const int32_t *Y, const mm_bench_opts *o,
                          int warmup, double *t_start) {
    mm_progress prog;
    mm_progress_begin(&prog, "bench", warmup + o->steps, "steps", 1.0);
    int rc = 0;
    for (int step = 0; step < warmup + o->steps; step++) {
        if (step == warmup) *t_start = mm_now_s();
        float loss;
        mm_model_zero_grad(m);
        if (mm_model_forward(m, X, Y, NULL, o->B, o->T, &loss, NULL) || mm_model_backward(m, 1.0f)) {
            rc = mm_cli_fail();
            break;
        }
        mm_model_clip_grad_norm(m, 1.0f);
        mm_adamw_step(opt, m->params, m->grads, mm_lr_schedule(step, warmup + o->steps, 5e-4f, 0));
        char extra[64];
        snprintf(extra, sizeof extra, "loss %.4f", loss);
        mm_progress_update(&prog, step + 1, extra);
    }
    mm_progress_end(&prog, warmup + o->steps, NULL);
    return rc;
}

// --profile: o->steps more steps on the timed view of the backend (minimind/profile.h); *wall:
// their seconds. The per-op split is printed by the caller once the peaks are known.
static int mm_bench_profile(mm_model *m, mm_adamw *opt, const int32_t *X, const int32_t *Y,
                            const mm_bench_opts *o, double *wall) {
    const mm_backend *plain = m->be;
    m->be = opt->be = mm_backend_profiled(plain);
    double t0 = 0.0;
    int rc = mm_bench_steps(m, opt, X, Y, o, 0, &t0);
    if (rc == 0 && mm_profile_flush() != 0) rc = mm_cli_fail();  // the device-timed ops' spans
    *wall = mm_now_s() - t0;
    m->be = opt->be = plain;
    return rc;
}

// The device's ceilings: GFLOP/s of the products in the precision and of fp32 vector work, memory
// GB/s (0: unknown, no floor).
typedef struct mm_bench_roof {
    double products, vector, bandwidth;
} mm_bench_roof;

// The ceilings for `peak` (the products' GFLOP/s in the precision): a GPU's fp32 rate and bandwidth
// from the table (0 when it is not there), the CPU's sgemm peak for all arithmetic and its
// measured memcpy bandwidth.
static mm_bench_roof mm_bench_roof_of(int on_gpu, const char *gpu, double peak) {
    mm_bench_roof roof = {peak, peak, 0.0};
    if (!on_gpu) {
        roof.bandwidth = mm_measure_bandwidth();
        return roof;
    }
    const mm_gpu_peaks *row = mm_gpu_peak_row(gpu);
    roof.vector = row ? row->fp32 : 0.0;
    roof.bandwidth = row ? row->bandwidth : 0.0;
    return roof;
}

// An op's floor in seconds: its arithmetic at the peak rate of its kind or its bytes at the
// bandwidth, whichever takes longer; 0 when a ceiling is unknown or for host copies.
static double mm_bench_floor_s(const mm_profile_op *op, const mm_bench_roof *roof) {
    const double rate = op->rate == MM_RATE_PRODUCTS ? roof->products : roof->vector;
    if (op->rate == MM_RATE_HOST || rate <= 0 || roof->bandwidth <= 0) return 0.0;
    const double compute = op->flops / (rate * 1e9), memory = op->bytes / (roof->bandwidth * 1e9);
    return compute > memory ? compute : memory;
}

// One line of the per-op split: calls, ms and share per step, the work (GFLOP, MB) and the floor
// per step, and how many times the floor the op took. total: the ops' seconds.
static void mm_bench_profile_row(const char *name, const mm_profile_op *op, int steps, double total,
                                 const mm_bench_roof *roof) {
    const double fl = mm_bench_floor_s(op, roof);
    fprintf(stderr, "  %-38s %10.1f %10.3f %6.1f%% %9.3f %9.1f", name, (double)op->calls / steps,
            1e3 * op->seconds / steps, total > 0 ? 100.0 * op->seconds / total : 0.0, op->flops / 1e9 / steps,
            op->bytes / 1e6 / steps);
    if (fl > 0)
        fprintf(stderr, " %9.3f %8.1f\n", 1e3 * fl / steps, op->seconds / fl);
    else
        fprintf(stderr, " %9s %8s\n", "-", "-");
}

// The per-op split on stderr (one row per op, then the products by shape).
static void mm_bench_profile_print(int steps, double wall, const mm_bench_roof *roof) {
    int n;
    const mm_profile_op *ops = mm_profile_ops(&n);
    double total = 0.0, floors = 0.0;
    for (int i = 0; i < n; i++) total += ops[i].seconds, floors += mm_bench_floor_s(&ops[i], roof);
    const int device = !strcmp(mm_profile_clock(), "device");
    fprintf(stderr, "profile (%d steps, %s; %.1f ms/step, ops %.1f ms/step, their floors %.2f ms/step):\n",
            steps,
            device ? "each op on the device's clock, not waited for: the rest of the step is launch gaps and "
                     "host work"
                   : "each op waited for, on the host's clock",
            1e3 * wall / steps, 1e3 * total / steps, 1e3 * floors / steps);
    fprintf(stderr, "  %-38s %10s %10s %7s %9s %9s %9s %8s\n", "op", "calls/step", "ms/step", "share",
            "GFLOP", "MB", "floor ms", "x floor");
    for (int i = 0; i < n; i++)
        if (ops[i].calls) mm_bench_profile_row(ops[i].name, &ops[i], steps, total, roof);
    int np;
    const mm_profile_product *pr = mm_profile_products(&np);
    if (np) fprintf(stderr, "  the linear layers' products by shape, out (M,N) = inp (M,K) w^T:\n");
    for (int i = 0; i < np; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s %dx%dx%d%s", pr[i].op.name, pr[i].M, pr[i].K, pr[i].N,
                 strncmp(pr[i].op.name, "matmul_backward", 15) ? ""
                 : pr[i].dinp                                  ? " dinp+dw"
                                                               : " dw");
        mm_bench_profile_row(name, &pr[i].op, steps, total, roof);
    }
    if (roof->products > 0 && roof->vector > 0 && roof->bandwidth > 0)
        fprintf(stderr,
                "  (floor: max(GFLOP / peak, MB / bandwidth) at %.0f GFLOP/s products, %.0f GFLOP/s vector, "
                "%.0f GB/s)\n",
                roof->products, roof->vector, roof->bandwidth);
    else
        fprintf(stderr, "  (no floors: this device's peaks are not in the table)\n");
}

// An op's JSON fields per step, and the object's closing brace ("floor_ms": null when a ceiling is
// unknown or for host copies).
static void mm_bench_profile_fields(const mm_profile_op *op, int steps, const mm_bench_roof *roof) {
    const double fl = mm_bench_floor_s(op, roof);
    printf("\"calls\": %.6g, \"ms\": %.6g, \"gflop\": %.6g, \"mb\": %.6g, \"floor_ms\": ", (double)op->calls / steps,
           1e3 * op->seconds / steps, op->flops / 1e9 / steps, op->bytes / 1e6 / steps);
    if (fl > 0)
        printf("%.6g}", 1e3 * fl / steps);
    else
        printf("null}");
}

// The JSON form of the profile: "profile": {"op": {"calls", "ms", "gflop", "mb", "floor_ms"}, ...},
// "profile_products": [{"op", "M", "K", "N", "dinp", the same fields}, ...], per step.
static void mm_bench_profile_json(int steps, const mm_bench_roof *roof) {
    int n;
    const mm_profile_op *ops = mm_profile_ops(&n);
    printf(", \"profile\": {");
    const char *sep = "";
    for (int i = 0; i < n; i++) {
        if (!ops[i].calls) continue;
        printf("%s\"%s\": {", sep, ops[i].name);
        mm_bench_profile_fields(&ops[i], steps, roof);
        sep = ", ";
    }
    int np;
    const mm_profile_product *pr = mm_profile_products(&np);
    printf("}, \"profile_products\": [");
    for (int i = 0; i < np; i++) {
        printf("%s{\"op\": \"%s\", \"M\": %d, \"K\": %d, \"N\": %d, \"dinp\": %s, ", i ? ", " : "",
               pr[i].op.name, pr[i].M, pr[i].K, pr[i].N, pr[i].dinp ? "true" : "false");
        mm_bench_profile_fields(&pr[i].op, steps, roof);
    }
    printf(
        "], \"profile_clock\": \"%s\", \"roof\": {\"products_gflops\": %.6g, \"vector_gflops\": %.6g, "
        "\"bandwidth_gbs\": %.6g}",
        mm_profile_clock(), roof->products, roof->vector, roof->bandwidth);
}

int mm_cmd_bench(int argc, char **argv) {
    mm_bench_opts o;
    int prc = mm_bench_parse(argc, argv, &o);
    if (prc != MM_CLI_CONTINUE) return prc;
    const mm_backend *be = NULL;
    if (mm_backend_select(o.device, &be) != 0) return mm_cli_fail();
    if (o.threads > 0) be->set_threads(o.threads);
    const int on_gpu = !strcmp(be->name, "cuda");  // (cpu-staged runs the CPU kernels)
    const char *precision = o.precision ? o.precision : on_gpu ? "bf16" : "fp32";
    mm_precision prec = MM_PRECISION_FP32;
    if (mm_precision_parse(precision, &prec) != 0 || mm_backend_check_precision(be, precision) != 0)
        return mm_cli_fail();
    if (!on_gpu) prec = MM_PRECISION_FP32;  // the CPU computes in fp32 whatever is asked
    int threads = openblas_get_num_threads();
    char gpu[320] = "";
    if (on_gpu) mm_backend_describe(be, o.device, gpu, sizeof gpu);
    double peak = on_gpu ? mm_gpu_peak(gpu, prec) : mm_measure_sgemm_peak(o.peak_n);
    mm_model m;
    if (mm_model_init_memory(&m, &o.cfg, o.num_candidates, MM_MEMORY_SELECT_SOFTMAX, be, 42)) return mm_cli_fail();
    uint64_t bs = 0x2545F4914F6CDD1Dull;  // memory variants: random full-length entries (every value costs)
    for (size_t i = 0; m.mem && i < (size_t)m.ms.num * m.ms.LK; i++) {
        bs ^= bs << 13, bs ^= bs >> 7, bs ^= bs << 17;
        m.bank[i] = (uint16_t)(1 + bs % (uint64_t)(m.V - 1));
    }
    if (mm_model_sync_bank(&m) != 0) {
        mm_model_free(&m);
        return mm_cli_fail();
    }
    mm_adamw opt;
    if (mm_adamw_init(&opt, m.num_params, MM_ADAMW_BETA1, MM_ADAMW_BETA2, MM_ADAMW_EPS, MM_ADAMW_WEIGHT_DECAY, be)) {
        mm_model_free(&m);
        return mm_cli_fail();
    }
    const int N = o.B * o.T;
    int32_t *X = mm_malloc(sizeof(int32_t) * (size_t)N * 2);
    if (!X) {
        mm_adamw_free(&opt);
        mm_model_free(&m);
        return mm_cli_fail();
    }
    int32_t *Y = X + N;
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 2 * N; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        X[i] = (int32_t)(s % (uint64_t)m.V);
    }

    double t_start = 0.0;
    int rc = mm_bench_steps(&m, &opt, X, Y, &o, o.warmup, &t_start);
    if (rc == 0 && be->check && be->check() != 0) rc = mm_cli_fail();  // waits for the device
    double t_end = mm_now_s();
    double prof_wall = 0.0;
    if (rc == 0 && o.profile) rc = mm_bench_profile(&m, &opt, X, Y, &o, &prof_wall);
    // The peak again, now that the threads and caches are as warm as the steps had them: MFU is
    // against the better of the two measurements (a cold start alone under-reads the peak).
    if (rc == 0 && !on_gpu) {
        double again = mm_measure_sgemm_peak(o.peak_n);
        if (again > peak) peak = again;
    }
    mm_bench_roof roof = {0.0, 0.0, 0.0};
    if (rc == 0 && o.profile) {
        roof = mm_bench_roof_of(on_gpu, gpu, peak);
        if (!o.json) mm_bench_profile_print(o.steps, prof_wall, &roof);
    }
    const char *attention = mm_model_attention_implementation(&m, o.B, o.T);  // NULL on the CPU
    const char *att_storage = mm_model_attention_storage(&m, o.B, o.T);       // "bf16" or NULL
    const char *ffn = mm_model_ffn_storage(&m);                                 // "bf16" or NULL
    const char *head = mm_model_head_storage(&m);                               // "bf16" or NULL
    size_t dev_used = 0, dev_total = 0;  // device memory after the steps (every buffer is allocated by then)
    if (rc == 0 && be->memory_info && be->memory_info(&dev_used, &dev_total) != 0) rc = mm_cli_fail();
    if (rc == 0) {
        double dt = (t_end - t_start) / o.steps;
        double flops = mm_model_train_flops(&m, o.B, o.T), gflops = flops / dt / 1e9;
        double tps = N / dt, mfu = peak > 0 ? gflops / peak : 0.0;
        if (o.json) {
            printf("{\"engine\": \"minimind\", \"model_type\": \"%s\", \"knowledge_num\": %d, \"dim\": %d, \"n_layers\": %d, \"n_heads\": %d, \"n_kv_heads\": %d, \"seq_len\": %d, \"batch\": %d, "
                   "\"device\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"params\": %zu, \"steps\": %d, \"ms_per_step\": %.6g, \"tokens_per_s\": %.6g, "
                   "\"gflop_per_step\": %.9g, \"gflops\": %.6g, ",
                   mm_model_type_name(m.config.model_type), m.mem ? m.ms.num : 0, m.C, m.L, m.H, m.KV, o.T, o.B, gpu[0] ? gpu : be->name, mm_precision_name(prec), threads, m.num_params, o.steps, dt * 1e3, tps, flops / 1e9, gflops);
            if (attention) printf("\"attention\": \"%s\", ", attention);
            if (att_storage) printf("\"attention_storage\": \"%s\", ", att_storage);
            if (ffn) printf("\"ffn\": \"%s\", ", ffn);
            if (head) printf("\"head\": \"%s\", ", head);
            if (dev_total) printf("\"device_memory_mib\": %.1f, ", dev_used / 1048576.0);
            if (peak > 0)
                printf("\"sgemm_peak_gflops\": %.6g, \"mfu\": %.4f", peak, mfu);
            else  // a GPU missing from the peak table
                printf("\"sgemm_peak_gflops\": null, \"mfu\": null");
            if (o.profile) mm_bench_profile_json(o.steps, &roof);
            printf("}\n");
        } else {
            printf("model      %s, dim %d, %d layers, %d heads (%d kv), vocab %d: %zu parameters\n",
                   mm_model_type_name(m.config.model_type), m.C, m.L, m.H, m.KV, m.V, m.num_params);
            if (m.mem)
                printf("memory     %d entries x %d tokens, knowledge_dim %d, %d candidates\n", m.ms.num, m.ms.LK,
                       m.ms.D, m.ms.K);
            printf(
                "step       batch %d x seq %d = %d tokens, %d threads, %d timed steps (+%d warm-up), "
                "%s%s%s%s%s%s\n",
                o.B, o.T, N, threads, o.steps, o.warmup, mm_precision_name(prec),
                attention ? ", attention: " : "", attention ? attention : "",
                att_storage ? " stored in bf16" : "", ffn ? ", feed-forward stored in bf16" : "",
                head ? ", head stored in bf16" : "");
            printf("time       %.1f ms/step, %.1f tokens/s\n", dt * 1e3, tps);
            if (dev_total)
                printf("memory     %.1f of %.1f MiB in use on the device\n", dev_used / 1048576.0, dev_total / 1048576.0);
            printf("compute    %.2f GFLOP/step, %.2f GFLOP/s achieved\n", flops / 1e9, gflops);
            if (gpu[0] && peak <= 0)
                printf("peak       unknown for %s (not in the peak table): no MFU\n", gpu);
            else if (gpu[0])
                printf("peak       %.2f GFLOP/s (%s, dense %s, from the table), MFU %.1f%%\n", peak, gpu,
                       prec == MM_PRECISION_FP32 ? "fp32" : "bf16/fp16 tensor cores", 100.0 * mfu);
            else
                printf("peak       %.2f GFLOP/s (cblas_sgemm %d^3), MFU %.1f%%\n", peak, o.peak_n, 100.0 * mfu);
        }
    }
    free(X);
    mm_adamw_free(&opt);
    mm_model_free(&m);
    return rc;
}
