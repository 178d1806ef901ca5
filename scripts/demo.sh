#!/usr/bin/env bash
# The main job on the built-in demo data: installs what is missing, builds, then runs the real
# pipeline end to end and prints what it produced.
#   demo corpus -> tokenizer training -> pretraining token file + knowledge bank
# Usage: scripts/demo.sh [OUT_DIR]   (default: demo/)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo}
SEED=${MM_DEMO_SEED:-42}

scripts/setup.sh build
MM=build/engine/minimind
mkdir -p "$OUT"

echo "== 1/4 demo corpus (seed $SEED)"
"$MM" demo-data --out "$OUT/data" --seed "$SEED"

echo "== 2/4 tokenizer (byte-level BPE, vocab 6400)"
"$MM" tokenizer train --data "$OUT/data/pretrain.jsonl" --out "$OUT/tokenizer" --vocab-size 6400

echo "== 3/4 pretraining token file"
"$MM" prep pretrain --tokenizer "$OUT/tokenizer" --data "$OUT/data/pretrain.jsonl" \
  --out "$OUT/pretrain.tok" --max-seq-len 512

echo "== 4/4 knowledge bank"
"$MM" prep knowledge --tokenizer "$OUT/tokenizer" --data "$OUT/data/sentence_trex_data.json" \
  --out "$OUT/knowledge.bank" --knowledge-num 4096 --knowledge-length 32

echo
echo "demo: produced"
ls -l "$OUT"/data "$OUT"/tokenizer "$OUT"/pretrain.tok "$OUT"/knowledge.bank* | sed 's/^/  /'
