#!/usr/bin/env python3
"""The feed-forward block's floor on a GPU with its activations stored in fp32 (today) or bf16.

The plan for the next structural step of the CUDA backend (docs/benchmarks.md, "Floors of a
step"): store the SwiGLU block's activations (ln2, h13, g and their gradients dg, dh13) in bf16,
as PyTorch's autocast does, with bf16 copies of w13 / w2 for the products (cuBLAS multiplies bf16
only by bf16) and the residual gradient converted once per layer for w2's backward. This counts
each op's bytes (each input read once, each output written once) and FLOPs exactly as
`bench --profile` does and prices them at the GPU's datasheet ceilings: per op
max(FLOP / peak, bytes / bandwidth), products at the tensor-core peak, the rest at the fp32 peak.

usage: bench/ffn_floor.py [--gpu H200] [--batch 16] [--seq-len 512] [--dim 512] [--hidden 1408] [--layers 8]
"""
import argparse

# name: (fp32 vector FLOP/s, bf16 tensor FLOP/s, bytes/s) — engine/cli/cmd_bench.c's table
GPUS = {
    "H200": (66.9e12, 989.4e12, 4.8e12),
    "H100": (66.9e12, 989.4e12, 3.35e12),
    "A100-80GB": (19.5e12, 312e12, 2.039e12),
    "RTX4090": (82.6e12, 165.2e12, 1.008e12),
}


def ops(N, C, F, a):
    """(name, FLOPs, bytes, is_product) of one layer's FFN, activations of a bytes (weights too:
    a = 2 reads their bf16 copies); the residual stream, its gradient and dW stay fp32."""
    w = a
    r = [
        ("rmsnorm forward (ln2)", 4 * N * C, N * C * 4 + C * 4 + N * C * a + N * 4, False),
        ("h13 = ln2 w13^T", 2 * N * 2 * F * C, N * C * a + 2 * F * C * w + N * 2 * F * a, True),
        ("g = swiglu(h13)", 4 * N * F, N * 2 * F * a + N * F * a, False),
        ("out = res + g w2^T", 2 * N * F * C, N * F * a + C * F * w + 2 * N * C * 4, True),
    ]
    if a == 2:
        r.append(("dres to bf16", 0, N * C * 6, False))
    r += [
        ("dg = dres w2", 2 * N * F * C, N * C * a + C * F * w + N * F * a, True),
        ("dw2 += dres^T g", 2 * N * F * C, N * C * a + N * F * a + 2 * C * F * 4, True),
        ("dh13 = swiglu'(dg)", 10 * N * F, N * F * a + 2 * N * 2 * F * a, False),
        ("dln2 = dh13 w13", 2 * N * 2 * F * C, N * 2 * F * a + 2 * F * C * w + N * C * 4, True),
        ("dw13 += dh13^T ln2", 2 * N * 2 * F * C, N * 2 * F * a + N * C * a + 2 * 2 * F * C * 4, True),
    ]
    if a == 2:
        r.append(("w13, w2 to bf16", 0, 3 * F * C * 6, False))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpu", default="H200", choices=sorted(GPUS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=1408)
    ap.add_argument("--layers", type=int, default=8)
    a = ap.parse_args()
    vector, tensor, bandwidth = GPUS[a.gpu]
    N = a.batch * a.seq_len
    total = {}
    for storage, nbytes in (("fp32", 4), ("bf16", 2)):
        print(f"{storage} activations: {'op':22s} {'GFLOP':>7s} {'MB':>8s} {'floor us':>9s}")
        t = 0.0
        for name, flop, byt, product in ops(N, a.dim, a.hidden, nbytes):
            f = max(flop / (tensor if product else vector), byt / bandwidth)
            t += f
            print(f"{'':17s} {name:22s} {flop / 1e9:7.2f} {byt / 1e6:8.1f} {f * 1e6:9.1f}")
        total[storage] = t * a.layers
        print(f"{'':17s} per layer {t * 1e6:.1f} us, {a.layers} layers {total[storage] * 1e3:.3f} ms\n")
    print(f"{a.gpu}, batch {a.batch} x {a.seq_len}: the FFN blocks' floor {total['fp32'] * 1e3:.3f} ms (fp32) -> "
          f"{total['bf16'] * 1e3:.3f} ms (bf16), {1e3 * (total['fp32'] - total['bf16']):.3f} ms less per step")


if __name__ == "__main__":
    main()
