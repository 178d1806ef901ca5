"""One line per attention implementation, ms per call at MiniMind's shape: this engine's
(from `minimind bench --json --profile` files: their attention_forward* / attention_backward* rows
divided by the calls) and PyTorch's (bench/attention_torch.py --json). For scripts/gpu_check.sh.

usage: attention_compare.py TORCH_JSON BENCH_JSON [BENCH_JSON ...]
"""
import json
import os
import sys


def per_call(profile, prefix):
    """ms per call of the profile's op named prefix (with or without the _bf16 suffix)."""
    for name in (prefix + "_bf16", prefix):
        op = profile.get(name)
        if op and op.get("calls"):
            return op["ms"] / op["calls"], name
    return None, None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        t = json.loads(f.readline())
    print(f"attention_compare: PyTorch SDPA ({t['torch']}, {t['gpu']})        forward {t['forward_ms']:.4f} ms"
          f"  backward {t['backward_ms']:.4f} ms per call")
    for path in sys.argv[2:]:
        try:
            with open(path) as f:
                b = json.loads(f.readline())
        except (OSError, ValueError) as e:
            print(f"attention_compare: {path}: {e}")
            continue
        prof = b.get("profile") or {}
        fwd, fname = per_call(prof, "attention_forward")
        bwd, _ = per_call(prof, "attention_backward")
        if fwd is None or bwd is None:
            continue  # not profiled
        label = f"minimind {b.get('attention')} {b.get('attention_storage') or ''} ({os.path.basename(path)})"
        print(f"attention_compare: {label:46s} forward {fwd:.4f} ms  backward {bwd:.4f} ms per call;"
              f" speed against PyTorch's {t['forward_ms'] / fwd:.2f}x, {t['backward_ms'] / bwd:.2f}x")


if __name__ == "__main__":
    main()
