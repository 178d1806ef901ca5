"""Runs `minimind bench` and bench/bench_torch.py on the same configuration and thread count and
prints both results and the throughput ratio (processes started with argv lists, no shell).

usage: bench_compare.py [--minimind PATH] [--python PATH] [--rounds R] [bench options...]
  bench options (passed to both): --dim --n-layers --n-heads --n-kv-heads --vocab --seq-len
  --batch --steps --warmup-steps --threads   (defaults: those of `minimind bench`, threads 2)
  --rounds R alternates the runs R times and keeps each one's best round (the machine may be shared).
PyTorch runs twice per round: with the inherited environment, and with OMP_WAIT_POLICY=PASSIVE
GOMP_SPINCOUNT=0 — the OpenMP settings minimind applies to itself — and the ratio is taken against
the faster of the two, so the engine gets no advantage from the environment alone.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(argv, extra_env=None):
    env = dict(os.environ)
    env.update(extra_env or {})
    print("$ " + " ".join(f"{k}={v}" for k, v in (extra_env or {}).items()) + " " + " ".join(argv), file=sys.stderr,
          flush=True)
    out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, text=True, env=env).stdout
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
        torch_argv = [a.python, os.path.join(HERE, "bench_torch.py"), "--json"] + opts
        passive = {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}
        for name, argv, env in (("minimind", [a.minimind, "bench", "--json"] + opts, None),
                                ("pytorch", torch_argv, None), ("pytorch-passive", torch_argv, passive)):
            r = run(argv, env)
            if name not in best or r["tokens_per_s"] > best[name]["tokens_per_s"]:
                best[name] = r
    mm = best["minimind"]
    pt = max(best["pytorch"], best["pytorch-passive"], key=lambda r: r["tokens_per_s"])
    print(f"config: dim {a.dim}, {a.n_layers} layers, seq {a.seq_len}, batch {a.batch}, {a.threads} threads, "
          f"{a.steps} timed steps, best of {a.rounds} round(s)")
    print(f"{'engine':15s} {'ms/step':>10s} {'tokens/s':>10s} {'GFLOP/s':>9s}")
    for name in ("minimind", "pytorch", "pytorch-passive"):
        r = best[name]
        print(f"{name:15s} {r['ms_per_step']:10.1f} {r['tokens_per_s']:10.1f} {r['gflops']:9.2f}")
    print(f"sgemm peak {mm['sgemm_peak_gflops']:.2f} GFLOP/s; minimind MFU {100 * mm['mfu']:.1f}%")
    print(f"speed-up minimind / best pytorch: {mm['tokens_per_s'] / pt['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
