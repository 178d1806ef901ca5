// cusim: a kernel launch runs block after block; a block's threads are fibers (context.h) on a
// private stack each, switched only at barriers. The scheduler runs every ready fiber until it
// blocks or ends, then releases the barriers that are complete:
//   warp collectives (__syncwarp, __shfl*_sync, __ballot_sync): the lanes named by a mask, all
//     waiting on the same collective with that mask; the scheduler computes each lane's result.
//   __syncthreads: every thread of the block that has not exited.
// Nothing releasable while fibers wait = the kernel deadlocks on a GPU too: an error that names
// the kernel and the waiting lanes. The order of the fibers changes from pass to pass (forward,
// reverse, a seeded shuffle: MM_CUSIM_SEED), so results that depend on it show up as mismatches.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <unordered_map>
#include <vector>

#include "context.h"
#include "cusim_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define CUSIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUSIM_ASAN 1
#endif
#endif
#ifdef CUSIM_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace {

enum { STACK_BYTES = 256 * 1024, MAX_THREADS = 1024, MAX_DYN_SHARED = 48 * 1024 };
enum fiber_state { READY, AT_BLOCK_BARRIER, AT_WARP_COLLECTIVE, DONE };
enum collective { SYNC, SHUFFLE, BALLOT, MMA, LDMATRIX };

// One cp.async of a thread, not landed yet: `bytes` bytes into dst, the first src_bytes of them
// from src, the rest zeros; `group`: the commit group it belongs to (the thread's count of commits
// when it was issued).
struct async_copy {
    void *dst;
    const void *src;
    unsigned bytes, src_bytes;
    unsigned long group;
};

struct fiber {
    cusim_context ctx;
    cusim_thread_coords coords;
    fiber_state state;
    // the pending warp collective: its kind, mask, the lane's value and source lane; result after release
    collective op;
    unsigned mask;
    uint64_t value, result;
    int src;
    const char *what;
    void *asan_fake_stack;
    std::vector<async_copy> copies;  // cp.async issued and not landed
    unsigned long commits;           // cp.async.commit_group so far
};

struct block_run {
    const char *kernel;
    void (*body)(void *);
    void *ctx;
    int nthreads;
    std::vector<fiber> fibers;
    char *stacks = nullptr;  // MAX_THREADS * STACK_BYTES, mapped once
    cusim_context scheduler;
    int current = -1;
    void *sched_fake_stack = nullptr;
    const void *sched_stack_bottom = nullptr;
    size_t sched_stack_size = 0;
    std::vector<unsigned char> dyn_shared;
    unsigned long pass = 0;
    unsigned long block_serial = 0;                               // blocks run so far
    std::unordered_map<void *, unsigned long> shared_filled_at;  // static __shared__ array -> block
    uint64_t seed = 0x9E3779B97F4A7C15ull;
};

block_run g_run;
const cusim_thread_coords g_host_coords = {};

#ifdef CUSIM_ASAN
void asan_enter(void **fake, const void *bottom, size_t size) { __sanitizer_start_switch_fiber(fake, bottom, size); }
void asan_entered(void *fake, const void **bottom, size_t *size) { __sanitizer_finish_switch_fiber(fake, bottom, size); }
#else
void asan_enter(void **, const void *, size_t) {}
void asan_entered(void *, const void **, size_t *) {}
#endif

fiber &self(const char *what) {
    if (g_run.current < 0) {
        fprintf(stderr, "cusim: %s called outside a kernel\n", what);
        abort();
    }
    return g_run.fibers[(size_t)g_run.current];
}

// From the running fiber back to the scheduler; returns when the scheduler resumes it.
void yield_to_scheduler(fiber &f) {
    asan_enter(&f.asan_fake_stack, g_run.sched_stack_bottom, g_run.sched_stack_size);
    cusim_context_switch(&f.ctx, &g_run.scheduler);
    asan_entered(f.asan_fake_stack, &g_run.sched_stack_bottom, &g_run.sched_stack_size);
    cusim_current = &f.coords;
}

// Lands the thread's copies of the groups before `group` (all of them: ~0ul), in issue order.
void land_copies(fiber &f, unsigned long group) {
    size_t kept = 0;
    for (const async_copy &c : f.copies) {
        if (c.group >= group) {
            f.copies[kept++] = c;
            continue;
        }
        memcpy(c.dst, c.src, c.src_bytes);
        memset((char *)c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
    }
    f.copies.resize(kept);
}

void fiber_main(void) {
    asan_entered(nullptr, &g_run.sched_stack_bottom, &g_run.sched_stack_size);
    fiber &f = g_run.fibers[(size_t)g_run.current];
    cusim_current = &f.coords;
    g_run.body(g_run.ctx);
    land_copies(f, ~0ul);  // a GPU completes them after the thread exits
    f.state = DONE;
    asan_enter(nullptr, g_run.sched_stack_bottom, g_run.sched_stack_size);  // this stack is finished
    cusim_context_switch(&f.ctx, &g_run.scheduler);
    abort();  // a finished fiber is never resumed
}

void resume(int i) {
    fiber &f = g_run.fibers[(size_t)i];
    g_run.current = i;
    cusim_current = &f.coords;
    asan_enter(&g_run.sched_fake_stack, g_run.stacks + (size_t)i * STACK_BYTES, STACK_BYTES);
    cusim_context_switch(&g_run.scheduler, &f.ctx);
    asan_entered(g_run.sched_fake_stack, nullptr, nullptr);
    g_run.current = -1;
    cusim_current = &g_host_coords;
}

// The fiber order of one pass: forward, reverse, then shuffles (xorshift, seeded per launch).
void pass_order(std::vector<int> &order, int n) {
    order.resize((size_t)n);
    for (int i = 0; i < n; i++) order[(size_t)i] = i;
    const unsigned long p = g_run.pass++;
    if (p % 3 == 1) {
        for (int i = 0; i < n / 2; i++) std::swap(order[(size_t)i], order[(size_t)(n - 1 - i)]);
    } else if (p % 3 == 2) {
        for (int i = n - 1; i > 0; i--) {
            uint64_t &s = g_run.seed;
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            std::swap(order[(size_t)i], order[(size_t)(s % (uint64_t)(i + 1))]);
        }
    }
}

// One lane's operands of mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32.
struct mma_call {
    int f16;
    float *d;
    const uint32_t *a, *b;  // 4 and 2 registers of two 16-bit values (low half: the lower index)
    const float *c;
};

float half_bits_to_float(uint32_t bits, int f16) {
    float x;
    if (f16) {
        const uint16_t h = (uint16_t)bits;
        _Float16 v;
        memcpy(&v, &h, 2);
        return (float)v;
    }
    const uint32_t u = bits << 16;  // bf16: the high half of an fp32
    memcpy(&x, &u, 4);
    return x;
}

// The PTX ISA's fragments for m16n8k16 with 16-bit inputs (g = lane / 4, t = lane % 4), written
// from the specification independently of the kernels' helpers (engine/src/cuda/mma.h):
//   A (16 x 16, row major): register r of lane holds row g + 8 (r % 2), columns 2t + 8 (r / 2) + {0, 1}
//   B (16 x 8, k x n):      register r of lane holds column n = g, rows k = 2t + 8 r + {0, 1}
//   C, D (16 x 8, f32):     element i of lane is row g + 8 (i / 2), column 2t + i % 2
float mma_a(const fiber *warp, int row, int k, int f16) {
    const mma_call *m = (const mma_call *)warp[(row % 8) * 4 + (k % 8) / 2].value;
    const uint32_t reg = m->a[row / 8 + 2 * (k / 8)];
    return half_bits_to_float(k % 2 ? reg >> 16 : reg & 0xFFFFu, f16);
}
float mma_b(const fiber *warp, int k, int n, int f16) {
    const mma_call *m = (const mma_call *)warp[n * 4 + (k % 8) / 2].value;
    const uint32_t reg = m->b[k / 8];
    return half_bits_to_float(k % 2 ? reg >> 16 : reg & 0xFFFFu, f16);
}

// Every lane's D of one warp-wide mma (all 32 lanes wait on it): exact products, fp32 sums in k order.
void run_mma(const fiber *warp) {
    const int f16 = ((const mma_call *)warp[0].value)->f16;
    for (int lane = 0; lane < 32; lane++) {
        const mma_call *m = (const mma_call *)warp[lane].value;
        float d[4];
        for (int i = 0; i < 4; i++) {
            const int row = lane / 4 + 8 * (i / 2), col = 2 * (lane % 4) + i % 2;
            float acc = m->c[i];
            for (int k = 0; k < 16; k++) acc += mma_a(warp, row, k, f16) * mma_b(warp, k, col, f16);
            d[i] = acc;
        }
        memcpy(m->d, d, sizeof d);  // d may be c
    }
}

// One lane's operands of ldmatrix.sync.aligned.m8n8.{x1|x2|x4}{.trans}.shared.b16.
struct ldmatrix_call {
    int num, trans;
    const void *row;  // the row this lane addresses (read from lanes 0 .. 8 num - 1)
    uint32_t *r;      // num registers
};

// Shared-memory bank conflicts of an ldmatrix: each 8 x 8 matrix is one 128-byte wavefront when
// its 8 rows (16 bytes each: 4 of the 32 4-byte banks) fall in 8 distinct bank groups, address /
// 16 mod 8; rows in the same group at different addresses take one wavefront more each (one
// address is read once). The simulator's shared arrays are host arrays: their addresses mod 128
// are the GPU's only for arrays aligned to 128 bytes (the flash kernels' tiles: smem_tile.h).
unsigned long g_ldmatrix_extra;

void count_ldmatrix_wavefronts(const fiber *warp, int num) {
    unsigned long extra = 0;
    for (int i = 0; i < num; i++) {
        const char *rows[8];
        int in_group[8] = {0}, most = 0;
        for (int j = 0; j < 8; j++) {
            rows[j] = (const char *)((const ldmatrix_call *)warp[8 * i + j].value)->row;
            bool again = false;
            for (int k = 0; k < j; k++) again = again || rows[k] == rows[j];
            const int g = (int)(((uintptr_t)rows[j] / 16) % 8);
            if (!again && ++in_group[g] > most) most = in_group[g];
        }
        extra += (unsigned long)(most - 1);
    }
    g_ldmatrix_extra += extra;
    cusim_count_n("ldmatrix", g_run.kernel, (unsigned long)num);
    if (extra) cusim_count_n("ldmatrix_conflict", g_run.kernel, extra);
}

// The PTX ISA's ldmatrix (m8n8, 16-bit values), written from the specification independently of
// the kernels' helpers: row j of matrix i is the 8 values (16 bytes, 16-byte aligned, in shared
// memory) at the address lane 8i + j gives; lane l receives in register i two values of matrix i
// (low half: the first): row l / 4, columns 2 (l % 4) + {0, 1} — or, with .trans, column l / 4 of
// rows 2 (l % 4) + {0, 1}. False (why filled) when an address is misaligned or not shared memory.
bool run_ldmatrix(const fiber *warp, int warp_id, char *why, size_t cap) {
    const ldmatrix_call *c0 = (const ldmatrix_call *)warp[0].value;
    for (int j = 0; j < 32; j++) {
        const ldmatrix_call *c = (const ldmatrix_call *)warp[j].value;
        if (c->num != c0->num || c->trans != c0->trans) {
            snprintf(why, cap, "warp %d: lanes 0 and %d run different ldmatrix forms", warp_id, j);
            return false;
        }
        if (j >= 8 * c0->num) continue;  // an address nobody reads
        if ((uintptr_t)c->row % 16 != 0 || cusim_is_device(c->row, 16)) {
            snprintf(why, cap, "warp %d lane %d: ldmatrix row at %p: %s", warp_id, j, c->row,
                     (uintptr_t)c->row % 16 ? "misaligned address (needs 16 bytes)" : "not shared memory");
            return false;
        }
    }
    count_ldmatrix_wavefronts(warp, c0->num);
    uint16_t m[4][8][8];  // matrix, row, column: read before any register is written
    for (int i = 0; i < c0->num; i++)
        for (int j = 0; j < 8; j++) memcpy(m[i][j], ((const ldmatrix_call *)warp[8 * i + j].value)->row, 16);
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < c0->num; i++) {
            const int a = l / 4, b = 2 * (l % 4);
            const uint16_t lo = c0->trans ? m[i][b][a] : m[i][a][b], hi = c0->trans ? m[i][b + 1][a] : m[i][a][b + 1];
            ((const ldmatrix_call *)warp[l].value)->r[i] = (uint32_t)lo | (uint32_t)hi << 16;
        }
    return true;
}

// Result of lane l's collective once its whole group waits.
uint64_t collective_result(const fiber *warp, int l, int nlanes) {
    const fiber &f = warp[l];
    if (f.op == SHUFFLE) return warp[f.src].value;
    if (f.op == BALLOT) {
        uint64_t bits = 0;
        for (int j = 0; j < nlanes; j++)
            if ((f.mask >> j) & 1u) bits |= (uint64_t)(warp[j].value != 0) << j;
        return bits;
    }
    return 0;
}

// Releases every complete group of one warp; -1 (with the reason in `why`) when a waiting lane's
// group can never complete.
int release_warp(fiber *warp, int nlanes, int warp_id, char *why, size_t cap) {
    int released = 0;
    for (int l = 0; l < nlanes; l++) {
        const fiber &f = warp[l];
        if (f.state != AT_WARP_COLLECTIVE) continue;
        const int leader = __builtin_ffs((int)f.mask) - 1;  // lowest lane of the mask checks the group
        if (leader >= 0 && leader < l && warp[leader].state == AT_WARP_COLLECTIVE && warp[leader].mask == f.mask)
            continue;  // the leader found the group incomplete
        bool complete = true;
        for (int j = 0; j < 32; j++) {
            if (!((f.mask >> j) & 1u)) continue;
            const fiber *g = j < nlanes ? &warp[j] : nullptr;
            if (!g || g->state == DONE) {
                snprintf(why, cap, "warp %d lane %d: %s with mask 0x%08x names lane %d, which %s", warp_id, l, f.what,
                         f.mask, j, g ? "has exited" : "does not exist");
                return -1;
            }
            if (g->state != AT_WARP_COLLECTIVE || g->mask != f.mask) {
                complete = false;
                continue;
            }
            if (g->op != f.op) {
                snprintf(why, cap, "warp %d: lanes %d and %d wait on different collectives (%s, %s) with mask 0x%08x",
                         warp_id, l, j, f.what, g->what, f.mask);
                return -1;
            }
        }
        if (!complete) continue;
        const unsigned mask = f.mask;
        if (f.op == MMA) {
            const int f16 = ((const mma_call *)f.value)->f16;
            for (int j = 0; j < 32; j++)
                if (((const mma_call *)warp[j].value)->f16 != f16) {
                    snprintf(why, cap, "warp %d: lanes %d and %d run mma with different input types", warp_id, l, j);
                    return -1;
                }
            run_mma(warp);
        }
        if (f.op == LDMATRIX && !run_ldmatrix(warp, warp_id, why, cap)) return -1;
        for (int j = 0; j < nlanes; j++)
            if ((mask >> j) & 1u) warp[j].result = collective_result(warp, j, nlanes);
        for (int j = 0; j < nlanes; j++)
            if ((mask >> j) & 1u) warp[j].state = READY;
        released++;
    }
    return released;
}

// Describes the waiting lanes of a block that cannot go on.
void describe_deadlock(char *why, size_t cap) {
    int at_block = 0, at_warp = 0, first_warp = -1, first_block = -1;
    for (int i = 0; i < g_run.nthreads; i++) {
        const fiber &f = g_run.fibers[(size_t)i];
        if (f.state == AT_BLOCK_BARRIER) at_block++, first_block = first_block < 0 ? i : first_block;
        if (f.state == AT_WARP_COLLECTIVE) at_warp++, first_warp = first_warp < 0 ? i : first_warp;
    }
    if (first_warp >= 0) {
        const fiber &f = g_run.fibers[(size_t)first_warp];
        snprintf(why, cap, "deadlock: %d thread(s) at __syncthreads, %d in warp collectives (thread %d: %s, mask 0x%08x)",
                 at_block, at_warp, first_warp, f.what, f.mask);
    } else {
        snprintf(why, cap, "deadlock: %d thread(s) at __syncthreads (first: thread %d)", at_block, first_block);
    }
}

// Runs one block to the end; false (why filled) on a synchronisation error.
bool run_block(dim3 grid, dim3 block, dim3 b, char *why, size_t cap) {
    const int n = g_run.nthreads;
    g_run.block_serial++;
    memset(g_run.dyn_shared.data(), 0xFF, g_run.dyn_shared.size());
    for (int i = 0; i < n; i++) {
        fiber &f = g_run.fibers[(size_t)i];
        f.coords.thread = {(unsigned)i % block.x, ((unsigned)i / block.x) % block.y, (unsigned)i / (block.x * block.y)};
        f.coords.block = {b.x, b.y, b.z};
        f.coords.block_dim = {block.x, block.y, block.z};
        f.coords.grid_dim = {grid.x, grid.y, grid.z};
        f.state = READY;
        f.asan_fake_stack = nullptr;
        f.copies.clear();
        f.commits = 0;
        cusim_context_init(&f.ctx, g_run.stacks + (size_t)i * STACK_BYTES, STACK_BYTES, fiber_main);
    }
    std::vector<int> order;
    // Every other block has a slow warp: its collectives are released only when nothing else can
    // go on, so the other warps run ahead to the next __syncthreads (as a GPU may schedule them)
    // and a shared-memory tile overwritten without a barrier is read stale.
    const int nwarps = (n + 31) / 32;
    const int slow = nwarps > 1 && g_run.block_serial % 2 == 0 ? (int)((g_run.block_serial / 2) % nwarps) : -1;
    for (;;) {
        pass_order(order, n);
        for (int i : order)
            if (g_run.fibers[(size_t)i].state == READY) resume(i);
        int live = 0, at_block = 0, released = 0;
        for (int pass = 0; pass < 2 && !released; pass++)  // pass 1: the slow warp, if nothing else moved
            for (int w = 0; w < nwarps; w++) {
                if ((w == slow) != (pass == 1) && slow >= 0) continue;
                if (pass == 1 && slow < 0) break;
                const int lanes = n - w * 32 < 32 ? n - w * 32 : 32;
                const int r = release_warp(&g_run.fibers[(size_t)w * 32], lanes, w, why, cap);
                if (r < 0) return false;
                released += r;
            }
        if (released) continue;
        for (int i = 0; i < n; i++) {
            const fiber_state s = g_run.fibers[(size_t)i].state;
            live += s != DONE;
            at_block += s == AT_BLOCK_BARRIER;
        }
        if (live == 0) return true;
        if (at_block == live) {
            for (int i = 0; i < n; i++)
                if (g_run.fibers[(size_t)i].state == AT_BLOCK_BARRIER) g_run.fibers[(size_t)i].state = READY;
            continue;
        }
        describe_deadlock(why, cap);
        return false;
    }
}

bool config_ok(const char *kernel, dim3 grid, dim3 block, size_t dyn_shared) {
    const unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    const bool ok = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
                    grid.z <= 65535 && threads >= 1 && threads <= MAX_THREADS && block.z <= 64 &&
                    dyn_shared <= MAX_DYN_SHARED;
    if (!ok)
        cusim_fail(cudaErrorInvalidConfiguration, 0, kernel,
                   "launch grid (%u,%u,%u) block (%u,%u,%u) dynamic shared %zu bytes: outside the limits "
                   "(grid >= 1, block 1..1024 threads, dynamic shared <= 48 KiB)",
                   grid.x, grid.y, grid.z, block.x, block.y, block.z, dyn_shared);
    return ok;
}

bool ensure_stacks(void) {
    if (g_run.stacks) return true;
    void *p = mmap(nullptr, (size_t)MAX_THREADS * STACK_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    g_run.stacks = (char *)p;
    g_run.fibers.resize(MAX_THREADS);
    return true;
}

// Blocks the running fiber on a warp collective and returns its result.
uint64_t warp_collective(collective op, unsigned mask, uint64_t value, int src, const char *what) {
    fiber &f = self(what);
    const int lane = (int)(f.coords.thread.x + f.coords.thread.y * f.coords.block_dim.x +
                           f.coords.thread.z * f.coords.block_dim.x * f.coords.block_dim.y) & 31;
    if (!((mask >> lane) & 1u) || (op == SHUFFLE && (src < 0 || src > 31 || !((mask >> src) & 1u)))) {
        cusim_fail(cudaErrorLaunchFailure, 1, g_run.kernel, "%s: lane %d, mask 0x%08x, source lane %d: %s", what, lane,
                   mask, src, (mask >> lane) & 1u ? "the source lane is not in the mask" : "the lane is not in its own mask");
    }
    f.op = op, f.mask = mask, f.value = value, f.src = src & 31, f.what = what;
    f.state = AT_WARP_COLLECTIVE;
    yield_to_scheduler(f);
    return f.result;
}

}  // namespace

unsigned long cusim_ldmatrix_conflicts(void) { return g_ldmatrix_extra; }

const cusim_thread_coords *cusim_current = &g_host_coords;

void *cusim_dynamic_shared(void) {
    self("extern __shared__ memory");
    return g_run.dyn_shared.data();
}

void cusim_check_aligned(const void *p, size_t align, const char *what) {
    if ((uintptr_t)p % align == 0) return;
    fiber &f = self(what);
    cusim_fail(cudaErrorLaunchFailure, 1, g_run.kernel, "thread (%u,%u,%u): %s at %p: misaligned address (needs %zu bytes)",
               f.coords.thread.x, f.coords.thread.y, f.coords.thread.z, what, p, align);
}

void cusim_shared_fresh(void *p, size_t bytes) {
    self("a __shared__ declaration");
    unsigned long &at = g_run.shared_filled_at[p];
    if (at == g_run.block_serial) return;
    at = g_run.block_serial;
    memset(p, 0xFF, bytes);
}

void __syncthreads(void) {
    fiber &f = self("__syncthreads");
    f.state = AT_BLOCK_BARRIER;
    yield_to_scheduler(f);
}

void __syncwarp(unsigned mask) { warp_collective(SYNC, mask, 0, 0, "__syncwarp"); }

unsigned __ballot_sync(unsigned mask, int pred) {
    return (unsigned)warp_collective(BALLOT, mask, pred != 0, 0, "__ballot_sync");
}

uint64_t cusim_shfl(unsigned mask, uint64_t v, int src_lane, const char *what) {
    return warp_collective(SHUFFLE, mask, v, src_lane, what);
}

void cusim_mma_m16n8k16(int f16, float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    const mma_call call = {f16, d, a, b, c};
    warp_collective(MMA, 0xffffffffu, (uint64_t)(uintptr_t)&call, 0, f16 ? "mma.m16n8k16 f16" : "mma.m16n8k16 bf16");
}

void cusim_ldmatrix(int num, int trans, uint32_t *r, const void *row) {
    const ldmatrix_call call = {num, trans, row, r};
    warp_collective(LDMATRIX, 0xffffffffu, (uint64_t)(uintptr_t)&call, 0, trans ? "ldmatrix.trans" : "ldmatrix");
}

void cusim_cp_async(void *dst, const void *src, unsigned bytes, unsigned src_bytes) {
    fiber &f = self("cp.async");
    const char *bad = bytes != 4 && bytes != 8 && bytes != 16 ? "size not 4, 8 or 16 bytes"
                      : src_bytes > bytes                        ? "source size over the copy size"
                      : (uintptr_t)dst % bytes                   ? "shared address misaligned"
                      : cusim_is_device(dst, bytes)              ? "destination not shared memory"
                      : (uintptr_t)src % bytes                   ? "global address misaligned"
                      : src_bytes && !cusim_is_device(src, src_bytes) ? "source not device memory"
                                                                  : nullptr;
    if (bad) {
        cusim_fail(cudaErrorLaunchFailure, 1, g_run.kernel, "thread (%u,%u,%u): cp.async of %u bytes from %p to %p: %s",
                   f.coords.thread.x, f.coords.thread.y, f.coords.thread.z, bytes, src, dst, bad);
        return;
    }
    f.copies.push_back({dst, src, bytes, src_bytes, f.commits});
}

void cusim_cp_async_commit(void) { self("cp.async.commit_group").commits++; }

void cusim_cp_async_wait(int n) {
    fiber &f = self("cp.async.wait_group");
    land_copies(f, f.commits > (unsigned long)n ? f.commits - (unsigned long)n : 0);
}

void cusim_run(const char *kernel, dim3 grid, dim3 block, size_t dyn_shared, void (*body)(void *), void *ctx) {
    if (!config_ok(kernel, grid, block, dyn_shared)) return;
    cusim_count("launch", kernel);
    if (g_run.current >= 0) {
        cusim_fail(cudaErrorLaunchFailure, 1, kernel, "launched from inside kernel %s", g_run.kernel);
        return;
    }
    if (!ensure_stacks()) {
        cusim_fail(cudaErrorMemoryAllocation, 0, kernel, "no memory for %d fiber stacks", MAX_THREADS);
        return;
    }
    if (const char *s = getenv("MM_CUSIM_SEED")) g_run.seed = strtoull(s, nullptr, 0) | 1u;
    g_run.kernel = kernel, g_run.body = body, g_run.ctx = ctx;
    g_run.nthreads = (int)(block.x * block.y * block.z);
    g_run.dyn_shared.assign(dyn_shared ? dyn_shared : 1, 0xFF);  // uninitialised: NaN floats, -1 ints
    char why[512];
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++)
                if (!run_block(grid, block, dim3(x, y, z), why, sizeof why)) {
                    cusim_fail(cudaErrorLaunchFailure, 1, kernel, "block (%u,%u,%u): %s", x, y, z, why);
                    return;  // the other fibers of this block are abandoned mid-kernel
                }
}
