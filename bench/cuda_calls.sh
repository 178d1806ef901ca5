#!/usr/bin/env bash
# What one training step of the CUDA backend asks of the device, counted exactly in the simulator
# (engine/cusim, MM_CUSIM_STATS): kernel launches, cuBLAS calls, copies and host waits per step
# (docs/benchmarks.md, "GPU: device calls per step"). On a GPU each of these costs the host a few
# microseconds whatever it computes, which bounds a small model's step from below.
# The counts depend on the layer and head structure, not on the sizes, so the model is the
# MiniMind-26M structure (8 layers, 8 heads, 2 kv heads) at toy sizes (the simulator is slow;
# head size 16, so bf16 takes the FlashAttention kernels as MiniMind's 64 does).
# Usage: bench/cuda_calls.sh [extra `minimind bench` options, e.g. --model-type model]
# Needs the simulator CLI: build/engine/cusim/minimind_cusim (MM_CUSIM=ON, the default).
set -euo pipefail
cd "$(dirname "$0")/.."
MM=${MM_MINIMIND_CUSIM:-$PWD/build/engine/cusim/minimind_cusim}
[ -x "$MM" ] || { echo "cuda_calls: $MM not built (cmake -DMM_CUSIM=ON)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shape=(--device cuda --precision bf16 --dim 128 --n-layers 8 --n-heads 8 --n-kv-heads 2 --vocab 256 --seq-len 32
  --batch 2 --warmup-steps 0 --knowledge-num 1024 --knowledge-dim 32 --knowledge-length 8 "$@")
# per step = (counts after 3 steps - counts after 1 step) / 2: start-up (weights upload,
# allocations, the first step's scratch growth) cancels out
for s in 1 3; do
  MM_CUSIM_STATS="$tmp/$s.tsv" "$MM" bench "${shape[@]}" --steps "$s" >/dev/null 2>"$tmp/$s.log" ||
    { cat "$tmp/$s.log" >&2; exit 1; }
done
awk -F'\t' -v totals="$tmp/totals" '
  FNR == NR { one[$1 "\t" $2] = $3; next }
  $1 !~ /^(launch|cublas|copy|wait)$/ { next }  # the ldmatrix counts: bench.flash_smem_sim
  { d = ($3 - one[$1 "\t" $2]) / 2; if (d > 0) { printf "%6g  %-7s %s\n", d, $1, $2; kind[$1] += d } }
  END {
    printf "total: %g kernel launches, %g cuBLAS calls, %g copies, %g host waits per step\n",
      kind["launch"], kind["cublas"], kind["copy"], kind["wait"] > totals
  }' "$tmp/1.tsv" "$tmp/3.tsv" | sort -k1,1nr -k2,2 -k3,3
cat "$tmp/totals"
