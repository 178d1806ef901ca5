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
# Evaluation is mandatory: when this script leaves no fresh $EXPT_OUT/eval.json, the supervisor
# runs `minimind eval` itself with the [eval] and [data] settings of $EXPT_CONFIG (see
# `expt run X.Y.Z --dry-run` for the exact command). Edit freely (extra flags, several stages, your
# own evaluation writing $EXPT_OUT/eval.json); keep the exit status: 0 finished, 3 stopped with a
# checkpoint saved (resumable), anything else failed.
set -euo pipefail

: "${MINIMIND:?set by expt (the minimind executable)}"
: "${EXPT_CONFIG:?set by expt (run_file/experiment_X.Y.Z.ini)}"
: "${EXPT_OUT:?set by expt (out/experiment_X_Y_Z)}"
cd "${EXPT_ROOT:-.}"

resume=()
if [ "${EXPT_RESUME:-}" = "1" ]; then resume=(--resume); fi

echo "== train ${EXPT_VERSION:-}: $EXPT_CONFIG -> $EXPT_OUT"
# exec: the engine takes the script's place, so a stop (SIGTERM to the process group) reaches it
# directly and its exit status (0, 3 stopped, 4 NaN, ...) is the script's.
exec "$MINIMIND" train --config "$EXPT_CONFIG" --out "$EXPT_OUT" ${resume[@]+"${resume[@]}"}
