#!/usr/bin/env python3
"""The floor of a training step on a GPU from a profile measured anywhere (docs/benchmarks.md).

`minimind bench --json --profile` counts each op's work from its arguments (GFLOP, MB); the work
does not depend on the device, except the attention state (the CPU keeps the probabilities,
B*H*T*T floats per layer; the CUDA backend's FlashAttention kernels in bf16 keep (B,H,T)*(1+hs)).
This prices that work at a GPU's datasheet ceilings, the same table and rule as `bench --profile`
on the device: per op max(GFLOP / peak, MB / bandwidth), products at the tensor-core peak, the
rest at the fp32 vector peak, host copies free. --storage bf16 estimates the floor if activations
and their gradients were stored in bf16 (half their bytes; parameters, gradients and AdamW state
stay fp32).

usage: bench/floors.py PROFILE.json [--gpu H200] [--storage fp32|bf16] [--flash-state]
  PROFILE.json  one line of `minimind bench --json --profile` (e.g. on the CPU)
  --flash-state the profile's attention state is the CPU's: price it as the flash kernels' instead
"""
import argparse
import json
import sys

# name: (fp32 vector GFLOP/s, bf16/fp16 tensor GFLOP/s, GB/s) — engine/cli/cmd_bench.c's table
GPUS = {
    "H200": (66900, 989400, 4800),
    "H100": (66900, 989400, 3350),
    "A100-80GB": (19500, 312000, 2039),
    "RTX4090": (82600, 165200, 1008),
}
PRODUCTS = ("matmul_", "attention_", "crossentropy_", "memory_read_")
FP32_STATE = ("adamw_update", "gradnorm_clip", "zero")  # parameters, gradients, optimizer state


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("profile")
    ap.add_argument("--gpu", default="H200", choices=sorted(GPUS))
    ap.add_argument("--storage", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--flash-state", action="store_true")
    a = ap.parse_args()
    with open(a.profile) as f:
        run = json.loads(f.readline())
    if "profile" not in run:
        sys.exit(f"floors: {a.profile}: no \"profile\" object (run bench with --json --profile)")
    vector, tensor, bandwidth = GPUS[a.gpu]
    B, T, L, C = run["batch"], run["seq_len"], run["n_layers"], run["dim"]
    H = run.get("n_heads", C // 64)  # older JSON lines: MiniMind's head size 64
    hs = C // H
    extra_mb = 4 * (B * H * T * T - B * H * T * (1 + hs)) / 1e6 if a.flash_state else 0.0
    total = 0.0
    print(f"{'op':24s} {'GFLOP':>9s} {'MB':>9s} {'floor ms':>9s}")
    for op, w in run["profile"].items():
        mb = w["mb"]
        if op == "attention_forward":
            mb -= L * extra_mb  # att written
        elif op == "attention_backward":
            mb -= 2 * L * extra_mb  # att read, datt written
        if a.storage == "bf16" and op not in FP32_STATE:
            mb /= 2
        if op in ("copy_h2d", "copy_d2h"):
            floor = 0.0
        else:
            rate = tensor if op.startswith(PRODUCTS) else vector
            floor = max(w["gflop"] / rate, mb / 1e3 / bandwidth) * 1e3
        total += floor
        print(f"{op:24s} {w['gflop']:9.2f} {mb:9.1f} {floor:9.3f}")
    mfu = run["gflop_per_step"] / (total / 1e3) / tensor
    print(f"step floor on {a.gpu}, {a.storage} storage: {total:.2f} ms "
          f"({run['batch'] * run['seq_len'] / (total / 1e3):.0f} tokens/s, MFU {100 * mfu:.1f} % at the floor)")


if __name__ == "__main__":
    main()
