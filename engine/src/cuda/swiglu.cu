// SwiGLU gate (fused elementwise): g = silu(h1) * h3 with h13 rows [h1 | h3].
//   N rows (B*T), F hidden; h13 (N,2F), g/dg (N,F)
// Rows on blockIdx.x, columns on blockIdx.y / threadIdx.x: no division per element. With F a
// multiple of 4 and 16-byte aligned buffers (MiniMind: F = 1408) each thread moves 4 columns of
// each operand in 16-byte accesses (VEC = 4); otherwise one column (VEC = 1).
// Storage T: float, or mm_bf16 for the FFN block in bf16 (swiglu_*_bf16: the same math on the
// widened values, each stored value rounded to nearest even; 4 columns in 8-byte accesses, so the
// buffers need only 8-byte alignment).
#include "cuda_common.h"

enum { TPB = 128 };

template <typename T, int VEC>
__global__ static void mm_swiglu_forward_kernel(T *g, const T *h13, int F) {
    const int f = (blockIdx.y * blockDim.x + threadIdx.x) * VEC;
    if (f >= F) return;
    const T *h1 = h13 + (size_t)blockIdx.x * 2 * F + f, *h3 = h1 + F;
    T *out = g + (size_t)blockIdx.x * F + f;
    if (VEC == 4) {
        const float4 a = mm_ld4(h1), b = mm_ld4(h3);
        float4 y;
        y.x = mm_swiglu(a.x, b.x), y.y = mm_swiglu(a.y, b.y), y.z = mm_swiglu(a.z, b.z),
        y.w = mm_swiglu(a.w, b.w);
        mm_st4(out, y);
    } else {
        mm_st1(out, mm_swiglu(mm_ld1(h1), mm_ld1(h3)));
    }
}

template <typename T, int VEC>
__global__ static void mm_swiglu_backward_kernel(T *dh13, const T *dg, const T *h13, int F) {
    const int f = (blockIdx.y * blockDim.x + threadIdx.x) * VEC;
    if (f >= F) return;
    const size_t row = (size_t)blockIdx.x * 2 * F + f;
    const T *h1 = h13 + row, *h3 = h1 + F, *d = dg + (size_t)blockIdx.x * F + f;
    T *d1 = dh13 + row, *d3 = d1 + F;
    if (VEC == 4) {
        const float4 a = mm_ld4(h1), b = mm_ld4(h3), dy = mm_ld4(d);
        float4 o1, o3;
        mm_swiglu_grad(dy.x, a.x, b.x, &o1.x, &o3.x);
        mm_swiglu_grad(dy.y, a.y, b.y, &o1.y, &o3.y);
        mm_swiglu_grad(dy.z, a.z, b.z, &o1.z, &o3.z);
        mm_swiglu_grad(dy.w, a.w, b.w, &o1.w, &o3.w);
        mm_st4(d1, o1);
        mm_st4(d3, o3);
    } else {
        float o1, o3;
        mm_swiglu_grad(mm_ld1(d), mm_ld1(h1), mm_ld1(h3), &o1, &o3);
        mm_st1(d1, o1);
        mm_st1(d3, o3);
    }
}

// 4 columns per thread when every row of every buffer starts 4-element (16 or 8-byte) aligned.
template <typename T>
static bool mm_swiglu_vec4(int F, const T *a, const T *b, const T *c) {
    const size_t v = 4 * sizeof(T);
    return F % 4 == 0 && mm_aligned(a, v) && mm_aligned(b, v) && (!c || mm_aligned(c, v));
}

static dim3 mm_swiglu_grid(int N, int F, int vec) { return dim3((unsigned)N, mm_cdiv((size_t)F / vec, TPB)); }

template <typename T>
static void mm_swiglu_forward_as(T *g, const T *h13, int N, int F) {
    if (N <= 0 || F <= 0) return;
    if (mm_swiglu_vec4<T>(F, g, h13, NULL))
        mm_swiglu_forward_kernel<T, 4><<<mm_swiglu_grid(N, F, 4), TPB>>>(g, h13, F);
    else
        mm_swiglu_forward_kernel<T, 1><<<mm_swiglu_grid(N, F, 1), TPB>>>(g, h13, F);
    MM_CU_LAUNCHED();
}

template <typename T>
static void mm_swiglu_backward_as(T *dh13, const T *dg, const T *h13, int N, int F) {
    if (N <= 0 || F <= 0) return;
    if (mm_swiglu_vec4<T>(F, dh13, dg, h13))
        mm_swiglu_backward_kernel<T, 4><<<mm_swiglu_grid(N, F, 4), TPB>>>(dh13, dg, h13, F);
    else
        mm_swiglu_backward_kernel<T, 1><<<mm_swiglu_grid(N, F, 1), TPB>>>(dh13, dg, h13, F);
    MM_CU_LAUNCHED();
}

void mm_cuda_swiglu_forward(float *g, const float *h13, int N, int F) { mm_swiglu_forward_as(g, h13, N, F); }

void mm_cuda_swiglu_backward(float *dh13, const float *dg, const float *h13, int N, int F) {
    mm_swiglu_backward_as(dh13, dg, h13, N, F);
}

void mm_cuda_swiglu_forward_bf16(mm_bf16 *g, const mm_bf16 *h13, int N, int F) {
    mm_swiglu_forward_as(g, h13, N, F);
}

void mm_cuda_swiglu_backward_bf16(mm_bf16 *dh13, const mm_bf16 *dg, const mm_bf16 *h13, int N, int F) {
    mm_swiglu_backward_as(dh13, dg, h13, N, F);
}
