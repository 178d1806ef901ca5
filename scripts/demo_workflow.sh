#!/usr/bin/env bash
# The experiment workflow (expt) on the demo corpus, in a scratch git repository:
#   git init -> expt init -> demo data (reused from OUT_DIR when there) -> expt new 1.0.0
#   -> the human/AI fields from templates/examples/human_fields_1.0.0.md (expt fill)
#   -> the run configuration -> expt check -> expt run --foreground (supervised training, then the
#   mandatory evaluation, the record filled) -> expt check (the gates) -> the filled record's path
#   and expt status.
# Usage: scripts/demo_workflow.sh OUT_DIR
#   Uses build/engine/minimind and build/expt/expt of this checkout (scripts/setup.sh builds them;
#   this script never builds). Reuses OUT_DIR/data, OUT_DIR/tokenizer and OUT_DIR/pretrain.tok when
#   present (scripts/demo.sh makes them), else makes them. The scratch repository is
#   OUT_DIR/workflow; rerunning starts it over. MM_DEMO_WORKFLOW_STEPS (default 200) sets the
#   training steps.
set -euo pipefail

if [ $# -ne 1 ] || [ "$1" = --help ] || [ "$1" = -h ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  [ $# -eq 1 ] && exit 0 || exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MM=$ROOT/build/engine/minimind
EXPT=$ROOT/build/expt/expt
STEPS=${MM_DEMO_WORKFLOW_STEPS:-200}
for exe in "$MM" "$EXPT"; do
  [ -x "$exe" ] || { echo "demo_workflow: error: $exe is not built (run scripts/setup.sh)" >&2; exit 1; }
done
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
REPO=$OUT/workflow
start=$(date +%s)

echo "== demo data in $OUT"
if [ -f "$OUT/data/pretrain.jsonl" ] && [ -f "$OUT/data/valid.jsonl" ]; then
  echo "   reusing $OUT/data"
else
  "$MM" demo-data --out "$OUT/data" --seed 42
fi
if [ -f "$OUT/tokenizer/tokenizer.json" ]; then
  echo "   reusing $OUT/tokenizer"
else
  "$MM" tokenizer train --data "$OUT/data/pretrain.jsonl" --out "$OUT/tokenizer" --vocab-size 2048
fi
if [ -f "$OUT/pretrain.tok" ]; then
  echo "   reusing $OUT/pretrain.tok"
else
  "$MM" prep pretrain --tokenizer "$OUT/tokenizer" --data "$OUT/data/pretrain.jsonl" \
    --out "$OUT/pretrain.tok" --max-seq-len 128
fi
# The model's vocabulary must hold every token id: 2048, or more for a larger reused tokenizer.
MAXID=$(grep -o '": *[0-9][0-9]*' "$OUT/tokenizer/tokenizer.json" | grep -o '[0-9]*$' | sort -n | tail -1 || true)
VOCAB=$((${MAXID:-0} + 1 > 2048 ? ${MAXID:-0} + 1 : 2048))

echo "== scratch repository $REPO"
rm -rf "$REPO"
mkdir -p "$REPO/demo"
cd "$REPO"
git init -q
git config user.name "Demo Researcher"
git config user.email "researcher@example.com"
git config commit.gpgsign false
# The data stays out of git, as in a real project: demo/ holds links to OUT_DIR's files, at the
# paths the configuration template uses.
ln -s "$OUT/data" demo/data
ln -s "$OUT/tokenizer" demo/tokenizer
ln -s "$OUT/pretrain.tok" demo/pretrain.tok
printf 'demo/\n' > .gitignore

echo
echo "\$ expt init"
"$EXPT" init
# Settings: this checkout's engine (the built-in default too, but explicit is clearer).
cat > expt.ini <<INI
; expt settings (see experiment/README.md)
[engine]
minimind = $MM

[record]
lang = zh
INI
git add -A
git commit -q -m "expt init: templates, workflow guide, settings"

echo
echo "\$ expt new 1.0.0"
"$EXPT" new 1.0.0

echo
echo "\$ expt fill 1.0.0 templates/examples/human_fields_1.0.0.md   # the human's and the AI's fields"
"$EXPT" fill 1.0.0 "$ROOT/templates/examples/human_fields_1.0.0.md"

# The AI's configuration: a small model that trains on two CPU cores in a minute or two.
cat > run_file/experiment_1.0.0.ini <<INI
; Experiment 1.0.0: the baseline on the demo corpus (see the record's 配置选择).
[model]
model_type = model_original
dim = 64
n_layers = 2
n_heads = 4
n_kv_heads = 2
vocab_size = $VOCAB
max_seq_len = 128

[data]
data_path = demo/pretrain.tok
tokenizer_path = demo/tokenizer
eval_data_path = demo/data/valid.jsonl

[train]
epochs = 5
batch_size = 16
accumulation_steps = 1
learning_rate = 3e-3
seed = 42
log_interval = 10
save_interval = 100
eval_interval = 50
eval_samples = 20
max_steps = $STEPS
threads = 2

[eval]
num_samples = 5
prompt_tokens = 16
max_new_tokens = 24
facts_path = demo/data/train_facts.jsonl
facts_max = 40
INI

echo
echo "\$ expt check 1.0.0   # before the run: the pre-run gates pass"
"$EXPT" check 1.0.0 || true

echo
echo "\$ expt run 1.0.0 --foreground"
"$EXPT" run 1.0.0 --foreground

echo
echo "\$ expt check 1.0.0   # after the run: analysis and conclusion are the AI's next task"
"$EXPT" check 1.0.0 || true

echo
echo "\$ expt status"
"$EXPT" status

echo
echo "training (from the record):"
sed -n '/<!-- expt:training:begin -->/,/<!-- expt:training:end -->/p' experiment/experiment_1.0.0.md |
  grep -E '^\| (final loss|best loss|validation loss|best validation loss|logged points) ' | sed 's/^/  /'
echo "evaluation (from the record):"
sed -n '/<!-- expt:evaluation:begin -->/,/<!-- expt:evaluation:end -->/p' experiment/experiment_1.0.0.md |
  grep -E '^\| (mean loss|perplexity|fact recall) ' | sed 's/^/  /'
echo
echo "demo_workflow: filled record  $REPO/experiment/experiment_1.0.0.md"
echo "demo_workflow: loss curve     $REPO/experiment/assets/experiment_1.0.0_loss.svg"
echo "demo_workflow: run outputs    $REPO/out/experiment_1_0_0/"
echo "demo_workflow: done in $(($(date +%s) - start)) s"
