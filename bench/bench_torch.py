"""PyTorch eager baseline for `minimind bench`: the same training step (forward, masked
cross-entropy, backward, clip_grad_norm_ 1.0, AdamW) of the same model (tests/reference/model_ref.py)
on random tokens, with torch.set_num_threads(--threads). --attention sdpa is MiniMind's flash path
(its default: F.scaled_dot_product_attention, FlashAttention kernels on a GPU), math its written-out
path (scores, mask, softmax); default sdpa on a GPU, math on the CPU (and wherever torch lacks
scaled_dot_product_attention, as 1.13 does).
On a GPU (--device cuda) the step runs under torch.autocast in --precision bf16 or fp16 (fp32
master weights; fp16 with GradScaler, the original MiniMind recipe) or in fp32;
the timing synchronises the device.

usage: bench_torch.py [--dim 512] [--n-layers 8] [--n-heads 8] [--n-kv-heads 2] [--vocab 6400]
                      [--seq-len 512] [--batch 4] [--steps 5] [--warmup-steps 1] [--threads N]
                      [--device cpu|cuda] [--precision fp32|bf16|fp16] [--attention sdpa|math] [--json]
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from model_ref import Transformer, get_lr, masked_loss  # noqa: E402


def train_flops(cfg, B, T):
    """Same count as mm_model_train_flops: exact matmuls, causal half of attention, x3 for fwd+bwd."""
    C, F, V, L = cfg["dim"], cfg["hidden_dim"], cfg["vocab_size"], cfg["n_layers"]
    qkv = C + 2 * cfg["n_kv_heads"] * (C // cfg["n_heads"])
    N = B * T
    per_layer = 2.0 * N * C * (qkv + C + 3 * F) + 4.0 * B * C * (T * (T + 1) / 2)
    return 3.0 * (L * per_layer + 2.0 * N * C * V)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--n-layers", type=int, default=8)
    ap.add_argument("--n-heads", type=int, default=8)
    ap.add_argument("--n-kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=6400)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup-steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--attention", choices=["sdpa", "math"], default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    device = torch.device(a.device)
    on_gpu = device.type == "cuda"
    have_sdpa = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    attention = a.attention or ("sdpa" if on_gpu and have_sdpa else "math")
    if attention == "sdpa" and not have_sdpa:
        sys.exit(f"bench_torch: --attention sdpa needs torch >= 2.0 (this is {torch.__version__})")
    if on_gpu and not torch.cuda.is_available():
        sys.exit("bench_torch: --device cuda but torch.cuda.is_available() is False")
    if a.precision != "fp32" and not on_gpu:
        sys.exit("bench_torch: --precision bf16/fp16 needs --device cuda (CPU runs are fp32)")
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(a.precision)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    hidden = int(2 * 4 * a.dim / 3)
    hidden = 64 * ((hidden + 63) // 64)
    cfg = dict(dim=a.dim, n_layers=a.n_layers, n_heads=a.n_heads, n_kv_heads=a.n_kv_heads, vocab_size=a.vocab,
               hidden_dim=hidden, norm_eps=1e-5, rope_theta=1e6, max_seq_len=max(512, a.seq_len),
               attention=attention)
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    # torch.amp.GradScaler(device) since torch 2.3, which deprecates torch.cuda.amp.GradScaler (1.13 has only that)
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        scaler = torch.amp.GradScaler(device.type, enabled=a.precision == "fp16")
    else:
        scaler = torch.cuda.amp.GradScaler(enabled=a.precision == "fp16")
    g = torch.Generator().manual_seed(1)
    X = torch.randint(0, a.vocab, (a.batch, a.seq_len), generator=g).to(device)
    Y = torch.randint(0, a.vocab, (a.batch, a.seq_len), generator=g).to(device)
    mask = torch.ones(a.batch, a.seq_len, device=device)

    def sync():
        if on_gpu:
            torch.cuda.synchronize(device)

    total = a.warmup_steps + a.steps
    t0 = None
    for step in range(total):
        if step == a.warmup_steps:
            sync()
            t0 = time.perf_counter()
        for group in opt.param_groups:
            group["lr"] = get_lr(step, total, 5e-4, 0)
        with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = masked_loss(model(X), Y, mask)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        print(f"bench_torch: step {step + 1}/{total} loss {loss.item():.4f}", file=sys.stderr)
    sync()
    dt = (time.perf_counter() - t0) / a.steps
    flops = train_flops(cfg, a.batch, a.seq_len)
    res = {"engine": "pytorch", "torch": torch.__version__, "dim": a.dim, "n_layers": a.n_layers,
           "n_heads": a.n_heads, "n_kv_heads": a.n_kv_heads, "seq_len": a.seq_len, "batch": a.batch, "threads": torch.get_num_threads(), "params": params,
           "device": torch.cuda.get_device_name(device) if on_gpu else "cpu", "precision": a.precision,
           "attention": attention,
           "steps": a.steps, "ms_per_step": dt * 1e3, "tokens_per_s": a.batch * a.seq_len / dt,
           "gflop_per_step": flops / 1e9, "gflops": flops / dt / 1e9}
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:15s} {v}")


if __name__ == "__main__":
    main()
