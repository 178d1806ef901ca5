"""Runs `minimind bench` and bench/bench_torch.py on the same configuration and thread count and
prints both results and the throughput ratio (processes started with argv lists, no shell).

usage: bench_compare.py [--minimind PATH] [--python PATH] [--rounds R] [bench options...]
  bench options (passed to both): --dim --n-layers --n-heads --n-kv-heads --vocab --seq-len
  --batch --steps --warmup-steps --threads   (defaults: those of `minimind bench`, threads 2)
  --rounds R alternates the two R times and keeps each one's best round (the machine may be shared).
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(argv):
    print("$ " + " ".join(argv), file=sys.stderr, flush=True)
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minimind", default=os.path.join(HERE, "..", "build", "engine", "minimind"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--rounds", type=int, default=1)
    shared = {"dim": 512, "n-layers": 8, "n-heads": 8, "n-kv-heads": 2, "vocab": 6400, "seq-len": 512,
              "batch": 4, "steps": 5, "warmup-steps": 1, "threads": 2}
    for k, v in shared.items():
        ap.add_argument("--" + k, type=int, default=v)
    a = ap.parse_args()
    opts = []
    for k in shared:
        opts += ["--" + k, str(getattr(a, k.replace("-", "_")))]
    best = {}
    for _ in range(a.rounds):
        for name, argv in (("minimind", [a.minimind, "bench", "--json"] + opts),
                           ("pytorch", [a.python, os.path.join(HERE, "bench_torch.py"), "--json"] + opts)):
            r = run(argv)
            if name not in best or r["tokens_per_s"] > best[name]["tokens_per_s"]:
                best[name] = r
    mm, pt = best["minimind"], best["pytorch"]
    print(f"config: dim {a.dim}, {a.n_layers} layers, seq {a.seq_len}, batch {a.batch}, {a.threads} threads, "
          f"{a.steps} timed steps, best of {a.rounds} round(s)")
    print(f"{'engine':10s} {'ms/step':>10s} {'tokens/s':>10s} {'GFLOP/s':>9s}")
    for name, r in (("minimind", mm), ("pytorch", pt)):
        print(f"{name:10s} {r['ms_per_step']:10.1f} {r['tokens_per_s']:10.1f} {r['gflops']:9.2f}")
    print(f"sgemm peak {mm['sgemm_peak_gflops']:.2f} GFLOP/s; minimind MFU {100 * mm['mfu']:.1f}%")
    print(f"speed-up minimind / pytorch: {mm['tokens_per_s'] / pt['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
