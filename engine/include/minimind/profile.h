// Per-op timing of a backend (`minimind bench --profile`): a backend table that forwards every op
// to an inner backend and measures it. With the backend's timer ops (CUDA: events) each op is
// timed on the device's clock between marks issued before and after it, without waiting: the
// span of the work it launched, not the host's launch cost nor the gaps between ops (the
// difference between the ops' total and the wall time). Without them (the CPU) each op waits for
// the device before and after (inner->check) and is timed on the host's clock. Use the profile
// for the split, the plain steps for the speed.
// Each op also counts the work its arguments ask for: the arithmetic (the products' 2 flops per
// multiply-add; a few per element for the elementwise ops) and the fewest bytes it must move
// through device memory (each input read once, each output written once, an accumulated output
// read and written; fp32 4 bytes). Against a device's peaks (`bench --profile`) they give each op
// its floor: max(flops / peak rate, bytes / bandwidth), the time no implementation goes below.
#ifndef MM_PROFILE_H
#define MM_PROFILE_H

#include "minimind/backend.h"

// Which rate bounds an op's arithmetic.
typedef enum mm_profile_rate {
    MM_RATE_PRODUCTS,  // matrix products in the training precision (bf16/fp16: tensor cores)
    MM_RATE_VECTOR,    // fp32 elementwise and reductions
    MM_RATE_HOST,      // host <-> device copies (the bus, not device memory: no floor)
} mm_profile_rate;

typedef struct mm_profile_op {
    const char *name;  // the backend op, e.g. "matmul_forward"
    mm_profile_rate rate;
    long calls;
    double seconds;
    double flops, bytes;  // the work asked for, summed over the calls
} mm_profile_op;

// The timed view of `inner` (same name, memory model and results). One at a time per process:
// a second call re-targets it. Totals start at zero.
const mm_backend *mm_backend_profiled(const mm_backend *inner);
void mm_profile_reset(void);
// The per-op totals since the last reset, in the backend table's order; *n = number of ops.
// Device-timed ops are added when read: call mm_profile_flush first.
const mm_profile_op *mm_profile_ops(int *n);
// Reads the device timer marks not read yet (waits for them) into the totals; 0, or -1 with the
// message set. Nothing to do on the host clock.
int mm_profile_flush(void);
// "device" (the backend's timer) or "host" (each op waited for).
const char *mm_profile_clock(void);

// The linear layers' products (matmul_forward, matmul_forward_residual, matmul_backward and their
// _bf16 forms) split by shape, in order of first call: which layer's product is slow against its
// floor. Each entry's op.name is the backend op; its totals sum, over the entries of that op, to
// the op's (once MM_PROFILE_PRODUCTS shapes are in use, further shapes count in the op's totals only).
typedef struct mm_profile_product {
    mm_profile_op op;
    int M, K, N;  // out (M,N) = inp (M,K) w^T, w (N,K); the backward: the forward's shape
    int dinp;     // matmul_backward: 1 when it computed the input gradient too
} mm_profile_product;
enum { MM_PROFILE_PRODUCTS = 32 };
const mm_profile_product *mm_profile_products(int *n);

#endif
