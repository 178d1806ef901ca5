#!/usr/bin/env bash
# The main job on the built-in demo data: installs what is missing, builds, then runs the real
# pipeline end to end and prints what it produced:
#   demo corpus -> tokenizer -> token file + knowledge bank -> training (a few minutes on the CPU)
#   -> mandatory evaluation on the validation text (eval.json) -> the memory-layer variant `model`
#   trained the same way, fact recall of both side by side -> the expt workflow on a scratch
#   repository
# Usage: scripts/demo.sh [OUT_DIR]   (default: demo/; rerunning starts the demo over)
# Environment: MM_DEMO_SEED (42), MM_DEMO_STEPS (400 per model, at most MM_DEMO_EPOCHS (2) epochs),
# MM_DEMO_FACTS (2400).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo}
SEED=${MM_DEMO_SEED:-42}
STEPS=${MM_DEMO_STEPS:-400}
FACTS=${MM_DEMO_FACTS:-2400}
EPOCHS=${MM_DEMO_EPOCHS:-2}

scripts/setup.sh build
MM=$PWD/build/engine/minimind
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

echo "== 1/6 demo corpus (seed $SEED, $FACTS facts)"
"$MM" demo-data --out "$OUT/data" --seed "$SEED" --facts "$FACTS"

echo "== 2/6 tokenizer (byte-level BPE)"
"$MM" tokenizer train --data "$OUT/data/pretrain.jsonl" --out "$OUT/tokenizer" --vocab-size 2048

echo "== 3/6 pretraining token file"
"$MM" prep pretrain --tokenizer "$OUT/tokenizer" --data "$OUT/data/pretrain.jsonl" \
  --out "$OUT/pretrain.tok" --max-seq-len 128

echo "== 4/6 knowledge bank (for the memory-layer variants)"
"$MM" prep knowledge --tokenizer "$OUT/tokenizer" --data "$OUT/data/sentence_trex_data.json" \
  --out "$OUT/knowledge.bank" --knowledge-num 4096 --knowledge-length 32

echo "== 5/6 training model_original on the CPU ($STEPS steps)"
cat > "$OUT/demo.ini" <<INI
[model]
model_type = model_original
dim = 128
n_layers = 4
n_heads = 4
n_kv_heads = 2
vocab_size = 2048
max_seq_len = 128

[data]
data_path = $OUT/pretrain.tok
tokenizer_path = $OUT/tokenizer
eval_data_path = $OUT/data/valid.jsonl

[train]
epochs = $EPOCHS
batch_size = 16
accumulation_steps = 1
learning_rate = 3e-3
log_interval = 25
save_interval = 100
max_steps = $STEPS
INI
"$MM" train --config "$OUT/demo.ini" --out "$OUT/run"

echo "== 6/6 evaluation (validation text: facts the training text never states, in its wordings)"
"$MM" eval --model_path "$OUT/run/pretrain_128.safetensors" --num_samples 5 --max_new_tokens 24 \
  --json "$OUT/run/eval.json"

echo "== the memory layer: model (FFN replaced by the KnowledgeDataset memory) vs model_original"
scripts/demo_memory.sh "$OUT"

echo "== the experiment workflow (expt) on a scratch repository"
scripts/demo_workflow.sh "$OUT"

echo
echo "demo: checkpoint   $OUT/run/pretrain_128.safetensors"
echo "demo: metrics      $OUT/run/metrics.jsonl"
echo "demo: evaluation   $OUT/run/eval.json"
