#!/usr/bin/env bash
# The memory-layer half of the demo: trains the `model` variant (FFN replaced by the
# KnowledgeDataset memory, the demo's knowledge bank as its initial memory) with the same settings
# as the baseline run of scripts/demo.sh, evaluates fact recall of both on the held-out fact
# completions (eval_facts.jsonl: wordings never trained on), on the same facts in a trained
# wording (train_facts.jsonl: memorisation) and on the unseen facts (unseen_facts.jsonl: facts the
# training text never states, which only the knowledge bank holds), and prints them side by side
# with the memory's usage and the memory model's validation loss with its bank emptied or shuffled,
# and with each layer's bank emptied alone (`eval --bank`: what it reads from the bank, and where),
# and whether each layer's lookup finds the entry stating a fact (`memory retrieval`).
#
# Usage: scripts/demo_memory.sh OUT_DIR      (OUT_DIR produced by scripts/demo.sh)
# Needs OUT/demo.ini, OUT/tokenizer, OUT/pretrain.tok, OUT/knowledge.bank,
# OUT/data/{eval,train,unseen}_facts.jsonl and the baseline checkpoint
# OUT/run/pretrain_*.safetensors.
# Writes OUT/run_memory/ (checkpoint, metrics, eval.json with "facts", eval_seen_facts.json,
# eval_unseen_facts.json, eval_bank_{own,empty,shuffle,empty@L}.json: the validation loss by bank,
# retrieval.json) and OUT/run/eval_facts.json, eval_seen_facts.json, eval_unseen_facts.json.
# MM_DEMO_MEMORY_UPDATE=ema switches the bank to EMA updates (default frozen: the bank keeps the
# fact sentences).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ]; then
  echo "usage: scripts/demo_memory.sh OUT_DIR   (run scripts/demo.sh OUT_DIR first)" >&2
  exit 2
fi
OUT=$(cd "$1" && pwd)
MM=${MM_MINIMIND:-$PWD/build/engine/minimind}
for f in demo.ini tokenizer pretrain.tok knowledge.bank data/eval_facts.jsonl data/train_facts.jsonl \
  data/unseen_facts.jsonl; do
  if [ ! -e "$OUT/$f" ]; then
    echo "demo_memory: $OUT/$f is missing (run scripts/demo.sh $1 first)" >&2
    exit 1
  fi
done
BASE=$(ls "$OUT"/run/pretrain_*.safetensors 2>/dev/null | grep -v '\.state\.safetensors$' | head -n1 || true)
if [ -z "$BASE" ]; then
  echo "demo_memory: no baseline checkpoint in $OUT/run (run scripts/demo.sh $1 first)" >&2
  exit 1
fi
[ -x "$MM" ] || scripts/setup.sh build

# The bank's shape from its header (u32 knowledge_num at byte 16, knowledge_length at byte 20).
read -r NUM LEN < <(od -An -tu4 -j16 -N8 "$OUT/knowledge.bank")
UPDATE=${MM_DEMO_MEMORY_UPDATE:-frozen}
FACTS="$OUT/data/eval_facts.jsonl"
SEEN="$OUT/data/train_facts.jsonl"
UNSEEN="$OUT/data/unseen_facts.jsonl"

echo "== 1/3 training model (memory layer: $NUM entries x $LEN tokens from knowledge.bank, $UPDATE)"
"$MM" train --config "$OUT/demo.ini" --out "$OUT/run_memory" \
  --set model.model_type=model \
  --set knowledge.knowledge_num="$NUM" --set knowledge.knowledge_length="$LEN" \
  --set knowledge.database_init_path="$OUT/knowledge.bank" \
  --set knowledge.memory_update="$UPDATE"
MEMCKPT=$(ls "$OUT"/run_memory/pretrain_*.safetensors | grep -v '\.state\.safetensors$' | head -n1)

echo "== 2/3 evaluation: validation text + fact recall ($(wc -l < "$FACTS") items per probe)"
"$MM" eval --model_path "$MEMCKPT" --num_samples 5 --max_new_tokens 24 --quiet \
  --facts "$FACTS" --json "$OUT/run_memory/eval.json" | tee "$OUT/run_memory/facts.txt"
"$MM" eval --model_path "$BASE" --quiet --facts "$FACTS" --num_samples 0 \
  --json "$OUT/run/eval_facts.json" | tee "$OUT/run/facts.txt"
probe() {  # probe NAME FILE: fact recall of both runs on FILE
  echo "   $1 ($2)"
  for run in run_memory run; do
    CK=$(ls "$OUT/$run"/pretrain_*.safetensors | grep -v '\.state\.safetensors$' | head -n1)
    "$MM" eval --model_path "$CK" --quiet --facts "$2" --num_samples 0 \
      --json "$OUT/$run/eval_$1_facts.json" | tee "$OUT/$run/$1_facts.txt"
  done
}
probe seen "$SEEN"
probe unseen "$UNSEEN"
# what the model reads from its bank: the validation loss with each layer's bank emptied alone, the
# whole bank emptied, or its entries shuffled over the keys — each pass compared with the model's own
# bank sample by sample (eval --bank_ablation: the change ± its paired standard error)
ablation() {  # ablation SPEC: the evaluation with the own bank, then the ablation lines
  "$MM" eval --model_path "$MEMCKPT" --num_samples 20 --max_new_tokens 1 --quiet --bank_ablation "$1" \
    --json "$OUT/run_memory/eval_ablation_$1.json" |
    awk '/^eval: [0-9]+ samples/ && !own { own = 1; print } /^eval: ablation / { print }' | sed 's/^eval: //'
}
ABLATED=$(ablation layers)
SHUFFLED=$(ablation shuffle | grep '^ablation ')
LAST=$(( $(grep '^n_layers' "$OUT/run_memory/config.ini" | sed 's/[^0-9]//g') - 1 ))

echo "== 3/3 what the memory read for the first fact prompt (last layer, best entry per token)"
PROMPT=$(head -n1 "$FACTS" | sed -e 's/^{"prompt":"\([^"]*\)".*/\1/')
"$MM" memory inspect --model_path "$MEMCKPT" --prompt "$PROMPT" --layer "$LAST" --top 1 | tail -n 8

facts_line() { grep '^facts: ' "$1" | tail -n1; }
last_metric() { tail -n1 "$OUT/run_memory/metrics.jsonl" | grep -o "\"$1\":[-0-9.e+]*" | cut -d: -f2; }
echo
echo "fact recall (exact match of greedy completions)"
echo " held-out wordings ($FACTS)"
printf '  %-16s %s\n' "model_original" "$(facts_line "$OUT/run/facts.txt")"
printf '  %-16s %s\n' "model" "$(facts_line "$OUT/run_memory/facts.txt")"
echo " trained wordings ($SEEN)"
printf '  %-16s %s\n' "model_original" "$(facts_line "$OUT/run/seen_facts.txt")"
printf '  %-16s %s\n' "model" "$(facts_line "$OUT/run_memory/seen_facts.txt")"
echo " unseen facts, in the bank only ($UNSEEN)"
printf '  %-16s %s\n' "model_original" "$(facts_line "$OUT/run/unseen_facts.txt")"
printf '  %-16s %s\n' "model" "$(facts_line "$OUT/run_memory/unseen_facts.txt")"
echo "the memory model on the validation text (20 samples): its own bank, then each layer's emptied"
echo "alone, the whole bank emptied and its entries shuffled (eval --bank_ablation; a change within"
echo "about two paired standard errors is noise)"
printf '%s\n%s\n' "$ABLATED" "$SHUFFLED" | sed 's/^/  /'

echo "does the lookup find the entry stating the fact? (memory retrieval, trained wordings)"
"$MM" memory retrieval --model_path "$MEMCKPT" --facts "$SEEN" --json "$OUT/run_memory/retrieval.json" \
  | grep -v '^memory retrieval: wrote' | sed 's/^/  /'
echo "memory usage in the last log window of the model run:" \
  "used fraction $(last_metric memory_used_fraction)," \
  "usage entropy $(last_metric memory_usage_entropy) nats," \
  "KL from uniform $(last_metric memory_kl_uniform)"
echo "demo_memory: checkpoint $MEMCKPT"
echo "demo_memory: evaluation $OUT/run_memory/eval.json (baseline: $OUT/run/eval_facts.json)"
