#!/usr/bin/env bash
# Cost of the memory layer against the bank size N (docs/benchmarks.md, "Memory layer: cost vs N").
#   1. one memory layer alone (forward + backward, softmax, random full-length entries) for
#      N = 2^10, 2^12, ..., 2^20 (N must be a perfect square): microseconds per token, and the
#      product-key scoring + top-K part separately;
#   2. a whole training step (forward, backward, clip, AdamW) of `model` at N = 2^20 against
#      `model_original` of the same size (dim, layers, heads, vocab, batch, sequence).
# Usage: bench/memory_scaling.sh [ROWS] [BATCH] [SEQ]     (defaults 512, 1, 256)
# Prints JSON lines (from `minimind memory bench` / `minimind bench --json`) and a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
MM=${MM_MINIMIND:-$PWD/build/engine/minimind}
ROWS=${1:-512}
BATCH=${2:-1}
SEQ=${3:-256}
STEPS=${MM_BENCH_STEPS:-3}

echo "# 1. one memory layer, $ROWS rows (dim 512, knowledge_dim 128, 16 candidates, 32 tokens per entry)"
for e in 10 12 14 16 18 20; do
  "$MM" memory bench --knowledge_num $((1 << e)) --rows "$ROWS" --reps 3
done | tee /tmp/mm_memory_scaling.jsonl

echo "# 2. training step at N = 2^20: model vs model_original (batch $BATCH x seq $SEQ, defaults otherwise)"
common=(--batch "$BATCH" --seq-len "$SEQ" --steps "$STEPS" --warmup-steps 1 --peak-size 512 --json)
base=$("$MM" bench "${common[@]}" --model-type model_original 2>/dev/null)
mem=$("$MM" bench "${common[@]}" --model-type model --knowledge-num 1048576 2>/dev/null)
echo "$base"
echo "$mem"
ms() { echo "$1" | grep -o '"ms_per_step": [0-9.e+-]*' | cut -d' ' -f2; }
awk -v b="$(ms "$base")" -v m="$(ms "$mem")" \
  'BEGIN { printf "step time: model_original %.1f ms, model (N = 2^20) %.1f ms, ratio %.2f\n", b, m, m / b }'
