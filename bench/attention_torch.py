"""PyTorch's attention at MiniMind's shape on a GPU, for the per-op comparison with `minimind bench
--profile` (its attention_forward* / attention_backward* rows, ms per call): MiniMind's own path
(tests/reference/model_ref.py) — q (B,T,H,hs), k, v (B,T,KV,hs) repeated to the query heads
(repeat_kv), transposed to (B,H,T,hs), F.scaled_dot_product_attention(is_causal=True) (PyTorch's
FlashAttention kernels in bf16 / fp16), the output back to (B,T,H*hs) — timed with CUDA events:
the forward alone, then forward + backward (to q, k, v); the backward is their difference. The
inputs are random; the timing waits for the device.

usage: attention_torch.py [--batch 16] [--seq-len 512] [--n-heads 8] [--n-kv-heads 2] [--head-dim 64]
                          [--precision bf16|fp16] [--iters 50] [--json]
"""
import argparse
import json
import sys

import torch
import torch.nn.functional as F


def attention(xq, xk, xv, n_rep):
    """MiniMind's attention from the projections' outputs to the output projection's input."""
    B, T, H, hs = xq.shape
    if n_rep > 1:  # repeat_kv
        KV = xk.shape[2]
        xk = xk[:, :, :, None, :].expand(B, T, KV, n_rep, hs).reshape(B, T, KV * n_rep, hs)
        xv = xv[:, :, :, None, :].expand(B, T, KV, n_rep, hs).reshape(B, T, KV * n_rep, hs)
    q, k, v = xq.transpose(1, 2), xk.transpose(1, 2), xv.transpose(1, 2)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return out.transpose(1, 2).reshape(B, T, H * hs)


def timed_ms(fn, iters):
    """Mean ms of fn() over iters calls after 5 warm-up calls, on the device's clock."""
    for _ in range(5):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--n-heads", type=int, default=8)
    ap.add_argument("--n-kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--precision", choices=["bf16", "fp16"], default="bf16")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("attention_torch: no CUDA device for PyTorch")
    dt = torch.bfloat16 if a.precision == "bf16" else torch.float16
    B, T, H, KV, hs = a.batch, a.seq_len, a.n_heads, a.n_kv_heads, a.head_dim
    gen = torch.Generator(device="cuda").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, device="cuda", dtype=dt, generator=gen).requires_grad_(True)

    xq, xk, xv = rand(B, T, H, hs), rand(B, T, KV, hs), rand(B, T, KV, hs)
    dout = torch.randn(B, T, H * hs, device="cuda", dtype=dt, generator=gen)

    def forward():
        with torch.no_grad():
            attention(xq, xk, xv, H // KV)

    def forward_backward():
        attention(xq, xk, xv, H // KV).backward(dout)

    fwd = timed_ms(forward, a.iters)
    both = timed_ms(forward_backward, a.iters)
    causal_flop = 4.0 * B * H * hs * (T * (T + 1) / 2)  # QK^T and PV over the visible keys
    r = {
        "engine": "pytorch", "torch": torch.__version__, "gpu": torch.cuda.get_device_name(),
        "batch": B, "seq_len": T, "n_heads": H, "n_kv_heads": KV, "head_dim": hs, "precision": a.precision,
        "forward_ms": round(fwd, 4), "backward_ms": round(both - fwd, 4), "forward_backward_ms": round(both, 4),
        "forward_tflops": round(causal_flop / (fwd * 1e-3) / 1e12, 1),
    }
    if a.json:
        print(json.dumps(r))
    else:
        print(f"attention_torch: {r['gpu']}, {a.precision}, B {B} T {T} H {H} KV {KV} hs {hs}: forward "
              f"{fwd:.4f} ms, backward {both - fwd:.4f} ms per call ({r['forward_tflops']} TFLOP/s forward)")


if __name__ == "__main__":
    main()
