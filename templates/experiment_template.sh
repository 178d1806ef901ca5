#!/usr/bin/env bash
# Run script of experiment {{VERSION}}: training, then the mandatory evaluation.
#
# Started by the `expt` supervisor (`expt run {{VERSION}}`), from the repository root, with its
# output going to $EXPT_OUT/experiment.log. The supervisor sets:
#   MINIMIND       the engine executable (expt.ini [engine] minimind; default: the built one)
#   EXPT_ROOT      the repository root (the working directory)
#   EXPT_VERSION   the experiment version X.Y.Z
#   EXPT_CONFIG    the configuration, run_file/experiment_X.Y.Z.ini
#   EXPT_OUT       the output directory, out/experiment_X_Y_Z (config.ini, metrics.jsonl,
#                  checkpoints, eval.json, ...)
#   EXPT_RESUME    "1" when `expt resume` continues an interrupted run, else empty
# If this script does not leave a fresh $EXPT_OUT/eval.json, the supervisor runs the evaluation
# itself: evaluation is mandatory. Edit freely (extra flags, several stages); keep the exit status.
set -euo pipefail

: "${MINIMIND:?set by expt (the minimind executable)}"
: "${EXPT_CONFIG:?set by expt (run_file/experiment_X.Y.Z.ini)}"
: "${EXPT_OUT:?set by expt (out/experiment_X_Y_Z)}"
cd "${EXPT_ROOT:-.}"

# ini_get SECTION KEY DEFAULT: a value from the configuration (no shell evaluation of the file).
ini_get() {
  awk -v s="$1" -v k="$2" -v d="$3" '
    /^[ \t]*\[/ { gsub(/[][ \t\r]/, ""); sec = $0; next }
    sec == s { line = $0; sub(/[;#].*/, "", line); n = index(line, "=");
               if (n) { key = substr(line, 1, n - 1); val = substr(line, n + 1);
                        gsub(/^[ \t]+|[ \t\r]+$/, "", key); gsub(/^[ \t]+|[ \t\r]+$/, "", val);
                        if (key == k) { print val; found = 1; exit } } }
    END { if (!found) print d }' "$EXPT_CONFIG"
}

resume=()
if [ "${EXPT_RESUME:-}" = "1" ]; then resume=(--resume); fi

echo "== train ${EXPT_VERSION:-}: $EXPT_CONFIG -> $EXPT_OUT"
"$MINIMIND" train --config "$EXPT_CONFIG" --out "$EXPT_OUT" "${resume[@]}"

echo "== eval ${EXPT_VERSION:-}"
dim=$(ini_get model dim 512)
"$MINIMIND" eval \
  --model_path "$EXPT_OUT/pretrain_${dim}.safetensors" \
  --model_type "$(ini_get model model_type model_original)" \
  --data "$(ini_get data eval_data_path "$(ini_get data data_path '')")" \
  --num_samples "$(ini_get eval num_samples 10)" \
  --prompt_tokens "$(ini_get eval prompt_tokens 30)" \
  --max_new_tokens "$(ini_get eval max_new_tokens 64)" \
  --json "$EXPT_OUT/eval.json"
