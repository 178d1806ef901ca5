#!/usr/bin/env python3
"""The floors of a block's ops on a GPU with their activations stored in fp32 or bf16.

The structural steps of the CUDA backend (docs/benchmarks.md, "Floors of a step"): store a block's
activations in bf16, as PyTorch's autocast does, with bf16 copies of its weights for the products
(cuBLAS multiplies bf16 only by bf16) and the residual gradient's bf16 copy (see below):
  ffn        the SwiGLU block: ln2, h13, g and the gradients dg, dh13 (model_ffn_bf16.c)
  attention  ln1, qkv (after RoPE), the FlashAttention output and the gradients datty, dqkv
             (model_attention_bf16.c); in fp32 the flash state also keeps a copy of O; with GQA
             the per-head dK, dV go through a scratch of the storage's type and a group sum
This counts each op's bytes (each input read once, each output written once) and FLOPs exactly as
`bench --profile` does (attention: the causal half's products, no recomputation) and prices them
at the GPU's datasheet ceilings: per op max(FLOP / peak, bytes / bandwidth), products at the
tensor-core peak, the rest at the fp32 peak. In bf16 the block's input gradient (dln) is stored
in bf16 too, and the norm backward above the block writes the residual gradient's bf16 copy in
the same pass (no separate conversion): the norm backward's row counts that copy (fp32: none).

usage: bench/block_floor.py [--gpu H200] [--batch 16] [--seq-len 512] [--dim 512] [--hidden 1408] [--layers 8]
                            [--heads 8] [--kv-heads 2]
"""
import argparse

# name: (fp32 vector FLOP/s, bf16 tensor FLOP/s, bytes/s) — engine/cli/cmd_bench.c's table
GPUS = {
    "H200": (66.9e12, 989.4e12, 4.8e12),
    "H100": (66.9e12, 989.4e12, 3.35e12),
    "A100-80GB": (19.5e12, 312e12, 2.039e12),
    "RTX4090": (82.6e12, 165.2e12, 1.008e12),
}


def norm_backward(N, C, a):
    """The block's norm backward: dres += f(dln, x); reads dln (a bytes), x and dres, writes dres;
    in bf16 also the bf16 copy of dres the next block down reads."""
    return ("rmsnorm backward", 8 * N * C, N * C * a + 3 * N * C * 4 + (N * C * 2 if a == 2 else 0), False)


def ffn_ops(N, C, F, a):
    """(name, FLOPs, bytes, is_product) of one layer's FFN, activations of a bytes (weights too:
    a = 2 reads their bf16 copies); the residual stream, its gradient and dW stay fp32."""
    w = a
    r = [
        ("rmsnorm forward (ln2)", 4 * N * C, N * C * 4 + C * 4 + N * C * a + N * 4, False),
        ("h13 = ln2 w13^T", 2 * N * 2 * F * C, N * C * a + 2 * F * C * w + N * 2 * F * a, True),
        ("g = swiglu(h13)", 4 * N * F, N * 2 * F * a + N * F * a, False),
        ("out = res + g w2^T", 2 * N * F * C, N * F * a + C * F * w + 2 * N * C * 4, True),
    ]
    r += [
        ("dg = dres w2", 2 * N * F * C, N * C * a + C * F * w + N * F * a, True),
        ("dw2 += dres^T g", 2 * N * F * C, N * C * a + N * F * a + 2 * C * F * 4, True),
        ("dh13 = swiglu'(dg)", 10 * N * F, N * F * a + 2 * N * 2 * F * a, False),
        ("dln2 = dh13 w13", 2 * N * 2 * F * C, N * 2 * F * a + 2 * F * C * w + N * C * a, True),
        ("dw13 += dh13^T ln2", 2 * N * 2 * F * C, N * 2 * F * a + N * C * a + 2 * 2 * F * C * 4, True),
        norm_backward(N, C, a),
    ]
    if a == 2:
        r.append(("w13, w2 to bf16", 0, 3 * F * C * 6, False))
    return r


def attention_ops(B, T, C, H, KV, a):
    """(name, FLOPs, bytes, is_product) of one layer's attention block, activations of a bytes."""
    w, N, hs = a, B * T, C // H
    KVd = KV * hs
    QKV = C + 2 * KVd
    pairs = B * H * T * (T + 1) / 2  # causal query-key pairs
    ocopy = 0 if a == 2 else N * C * 4  # fp32: the flash state keeps O for D = rowsum(dO o O)
    scratch = 2 * (2 * N * C * a) + 2 * N * KVd * a if KV != H else 0  # per-head dK, dV (as stored), the group sum
    r = [
        ("rmsnorm forward (ln1)", 4 * N * C, N * C * 4 + C * 4 + N * C * a + N * 4, False),
        ("qkv = ln1 wqkv^T", 2 * N * QKV * C, N * C * a + QKV * C * w + N * QKV * a, True),
        ("rope forward", 3 * N * (C + KVd), 2 * N * (C + KVd) * a, False),
        ("flash forward", 4 * hs * pairs, N * (C + 2 * KVd) * a + N * C * a + N * H * 4 + ocopy, True),
        ("h = x + atty wo^T", 2 * N * C * C, N * C * a + C * C * w + 2 * N * C * 4, True),
    ]
    r += [
        ("datty = dres wo", 2 * N * C * C, N * C * a + C * C * w + N * C * a, True),
        ("dwo += dres^T atty", 2 * N * C * C, 2 * N * C * a + 2 * C * C * 4, True),
        ("flash backward", 8 * hs * pairs,
         2 * N * C * (a if a == 2 else 4) + N * H * 8  # D from dO and O
         + 2 * (2 * N * C * a + 2 * N * KVd * a) + N * C * a  # dQ and dK/dV kernels' reads, dq
         + (scratch if scratch else 2 * N * KVd * a), True),
        ("rope backward", 3 * N * (C + KVd), 2 * N * (C + KVd) * a, False),
        ("dln1 = dqkv wqkv", 2 * N * QKV * C, N * QKV * a + QKV * C * w + N * C * a, True),
        ("dwqkv += dqkv^T ln1", 2 * N * QKV * C, N * QKV * a + N * C * a + 2 * QKV * C * 4, True),
        norm_backward(N, C, a),
    ]
    if a == 2:
        r.append(("wqkv, wo to bf16", 0, (QKV + C) * C * 6, False))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpu", default="H200", choices=sorted(GPUS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=1408)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=2)
    a = ap.parse_args()
    vector, tensor, bandwidth = GPUS[a.gpu]
    N = a.batch * a.seq_len
    blocks = {
        "FFN": lambda nbytes: ffn_ops(N, a.dim, a.hidden, nbytes),
        "attention": lambda nbytes: attention_ops(a.batch, a.seq_len, a.dim, a.heads, a.kv_heads, nbytes),
    }
    saved = 0.0
    for block, ops in blocks.items():
        total = {}
        for storage, nbytes in (("fp32", 4), ("bf16", 2)):
            print(f"{block}, {storage} activations: {'op':22s} {'GFLOP':>7s} {'MB':>8s} {'floor us':>9s}")
            t = 0.0
            for name, flop, byt, product in ops(nbytes):
                f = max(flop / (tensor if product else vector), byt / bandwidth)
                t += f
                print(f"{'':17s} {name:22s} {flop / 1e9:7.2f} {byt / 1e6:8.1f} {f * 1e6:9.1f}")
            total[storage] = t * a.layers
            print(f"{'':17s} per layer {t * 1e6:.1f} us, {a.layers} layers {total[storage] * 1e3:.3f} ms\n")
        saved += total["fp32"] - total["bf16"]
        print(f"{a.gpu}, batch {a.batch} x {a.seq_len}: the {block} blocks' floor {total['fp32'] * 1e3:.3f} ms (fp32) -> "
              f"{total['bf16'] * 1e3:.3f} ms (bf16), {1e3 * (total['fp32'] - total['bf16']):.3f} ms less per step\n")
    print(f"both blocks in bf16: {saved * 1e3:.3f} ms less per step")


if __name__ == "__main__":
    main()
