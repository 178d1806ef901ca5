#!/usr/bin/env bash
# The prepared check for a machine with an NVIDIA GPU (see docs/cuda.md): uses the prebuilt bundle
# .gpubin/ (scripts/gpu_bundle.sh, carried by the device call) or else builds with CUDA, then runs
# by priority, each stage under its own time limit cut to what is left of one total budget:
#   the flash kernels' device primitives and the CUDA parity tests (MM_REQUIRE_GPU=1: a missing GPU
#   FAILS here, instead of skipping as in CI), the key figures (bench bf16 with --profile and
#   PyTorch eager SDPA at batch 16: the tokens/s ratio, MFU), the remaining tests (attention on the
#   GEMM path, host-side CUDA math, the CLI stop/resume test on the GPU), cuda_gemm_modes, the
#   remaining benches (fp32, the MM_CUDA_* variants, batch 64, CPU, memory model), the remaining
#   PyTorch runs, Nsight Compute on the flash kernels and a compute-sanitizer pass (memcheck,
#   racecheck, synccheck), each if installed.
# Output: stdout, and the logs in build-gpu/gpu_check/; on the device machine also
# $OUT/gpu_check.tar.gz, renewed after every stage (the device call returns at most 8 files from
# $OUT, and whatever a stage had written when a time limit struck).
#   usage: [MM_GPU_CHECK_BUDGET_S=500] scripts/gpu_check.sh [BUILD_DIR]      (default build-gpu)
# MM_GPU_CHECK_BUDGET_S: seconds from the start for everything (default 500: the device call's
# 600 s a command, less margin); the last RESERVE of them are kept for the summary. A stage gets
# min(its limit, what is left) seconds, and is skipped (one line) when fewer than its minimum are
# left: a hang costs its own stage's limit, never the stages after it all.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
LOGS=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)/gpu_check
PY_LD=${LD_LIBRARY_PATH-}  # PyTorch runs with the machine's own library path
rm -rf "$LOGS"
mkdir -p "$LOGS"
JOBS=$(nproc 2>/dev/null || echo 4)
BUDGET=${MM_GPU_CHECK_BUDGET_S:-500}
case $BUDGET in '' | *[!0-9]*)
    echo "gpu_check: MM_GPU_CHECK_BUDGET_S must be whole seconds, not '$BUDGET'" >&2
    exit 2
    ;;
esac
RESERVE=20
SECONDS=0
exec 3>&1 # the script's stdout: the stage lines (a stage's own stdout is often a pipe into its log)
echo "gpu_check: budget $BUDGET s (MM_GPU_CHECK_BUDGET_S), the last $RESERVE s kept for the summary"
status=0

# The logs so far as one archive in $OUT (written beside, then renamed: never half an archive).
saved() {
    if [ -n "${OUT:-}" ]; then
        tar czf "$OUT/.gpu_check.tar.gz" -C "$LOGS" . && mv "$OUT/.gpu_check.tar.gz" "$OUT/gpu_check.tar.gz"
    fi
}
# One line on the script's stdout and in stages.txt.
note() {
    echo "gpu_check: $*" >&3
    echo "$*" >>"$LOGS/stages.txt"
}
# stage_limit LIMIT: LIMIT seconds, or what is left of the budget less the reserve when that is less
# (zero or negative once the budget is spent).
stage_limit() {
    local left=$((BUDGET - RESERVE - SECONDS))
    echo $(($1 < left ? $1 : left))
}
# stage NAME LIMIT MIN COMMAND...: COMMAND under `timeout` for stage_limit LIMIT seconds (then
# SIGTERM to its process group, SIGKILL 5 s later), or skipped when fewer than MIN (≥ 1) seconds
# are left. Returns COMMAND's status (124 or 137 when its limit struck), 0 when skipped.
stage() {
    local name=$1 min=$3 limit start rc=0
    limit=$(stage_limit "$2")
    shift 3
    if [ "$limit" -lt "$min" ]; then
        note "skipped $name: $((limit > 0 ? limit : 0)) s of the budget left"
        echo "$name" >>"$LOGS/skipped.txt"
        return 0
    fi
    start=$SECONDS
    timeout -k 5 "$limit" "$@" 3>&- || rc=$?
    case $rc in
        0) note "$name ok in $((SECONDS - start)) s (limit $limit s)" ;;
        124 | 137) note "$name timed out after $limit s" ;;
        *) note "$name failed (exit $rc) after $((SECONDS - start)) s" ;;
    esac
    return $rc
}

# (a) the GPU, the binaries
timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$LOGS/gpu.txt" || true
date -u +%Y-%m-%dT%H:%M:%SZ | tee -a "$LOGS/gpu.txt"

if [ -x .gpubin/minimind ]; then
    # The prebuilt bundle (scripts/gpu_bundle.sh; the device image lacks the build dependencies).
    # Its binaries name the directory they were built in: make that path lead here.
    SRC=$(cat .gpubin/SOURCE_DIR)
    if [ "$SRC" != "$PWD" ]; then
        if [ ! -e "$SRC" ]; then mkdir -p "$(dirname "$SRC")" && ln -s "$PWD" "$SRC"; fi
        [ "$(cd "$SRC" && pwd -P)" = "$(pwd -P)" ] || echo "gpu_check: warning: $SRC exists and is not this tree"
    fi
    BUILD=$(cat .gpubin/BUILD_DIR)
    mkdir -p "$BUILD/engine" "$BUILD/tests"
    cp .gpubin/minimind "$BUILD/engine/"
    cp .gpubin/cuda_gemm_modes "$BUILD/engine/"
    cp .gpubin/engine_test_cuda_fragments .gpubin/engine_test_cuda .gpubin/engine_test_cuda_host \
        .gpubin/engine_test_train "$BUILD/tests/"
    # cuBLAS 13 from the device machine: the CUDA toolkit or the pip wheels PyTorch uses
    CUBLAS=$(find -H /usr/local/cuda*/lib64 /usr/local/cuda*/targets /usr/lib/x86_64-linux-gnu /opt /usr/local/lib \
        -name 'libcublas.so.13*' 2>/dev/null | head -n1 || true)
    echo "gpu_check: prebuilt bundle; cuBLAS: ${CUBLAS:-not found}" | tee "$LOGS/configure.log"
    # for our binaries only (PyTorch below runs without them)
    export LD_LIBRARY_PATH="$PWD/.gpubin/lib${CUBLAS:+:$(dirname "$CUBLAS")}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    ldd "$BUILD/tests/engine_test_cuda" | grep 'not found' | tee -a "$LOGS/configure.log" || true
else
    # Only this GPU's architecture (e.g. 9.0 -> 90) and only the targets used here: the build is
    # part of the device time (and of the budget: its stages get what the build left).
    ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
    cmake -S . -B "$BUILD" -DMM_CUDA=ON -DMM_WERROR=ON -DMM_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release \
        ${ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$ARCH} >"$LOGS/configure.log" 2>&1 || { tail -30 "$LOGS/configure.log"; exit 1; }
    cmake --build "$BUILD" -j"$JOBS" --target minimind cuda_gemm_modes engine_test_cuda_fragments engine_test_cuda engine_test_cuda_host \
        engine_test_train \
        >"$LOGS/build.log" 2>&1 ||
        { tail -50 "$LOGS/build.log"; exit 1; }
fi
timeout 30 "$BUILD/engine/minimind" --version | tee "$LOGS/version.txt" || status=1
saved

TESTTMP=$(mkdir -p "$BUILD/tmp" && cd "$BUILD/tmp" && pwd)
GPU_TEST=(env MM_REQUIRE_GPU=1 MM_QUIET=1 TMPDIR="$TESTTMP")
# (b) The flash kernels' device primitives first (ldmatrix's layout, the fragment helpers through
# tensor-core products, the 16-bit packing's rounding against the host's, cp.async groups): where
# the simulator's model of them and this GPU disagree, it says which, by name.
stage test_cuda_fragments 60 10 "${GPU_TEST[@]}" "$BUILD/tests/engine_test_cuda_fragments" --jobs 1 --verbose=1 2>&1 |
    tee "$LOGS/test_cuda_fragments.log" || status=1
saved
# (c) CUDA parity tests (every kernel vs CPU, whole model, 20 steps, resume exactness; bf16/fp16).
stage test_cuda 240 30 "${GPU_TEST[@]}" "$BUILD/tests/engine_test_cuda" --jobs 1 --verbose=1 2>&1 |
    tee "$LOGS/test_cuda.log" || status=1
saved

# (d) The key figures: MiniMind-26M at T = 512 on the GPU in bf16 (the default: tensor cores, the
# attention and feed-forward blocks' activations in bf16, FlashAttention kernels) with the per-op
# split (--profile: 10 more steps, each op waited for; the JSON's "profile" object: where the time
# goes decides the next optimisation), then PyTorch eager on the same GPU, same model and step,
# bf16 autocast, SDPA (MiniMind's default flash path: the ratio's basis), when a CUDA PyTorch exists.
# bench NAME LIMIT ARGS...: one `minimind bench --json` line into NAME.json (and stdout); the
# MM_CUDA_* switches as assignments before it.
bench() {
    local name=$1 limit=$2
    shift 2
    stage "$name" "$limit" 20 "$BUILD/engine/minimind" bench --json "$@" 2>>"$LOGS/bench_stderr.txt" |
        tee "$LOGS/$name.json"
}
BF16=(--device cuda --precision bf16 --seq-len 512 --steps 10 --warmup-steps 2)
bench bench_cuda_bf16 90 "${BF16[@]}" --batch 16 --profile || status=1
saved
PY=
for py in python3 /usr/bin/python3; do
    if timeout 60 env LD_LIBRARY_PATH="$PY_LD" "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        PY=$py
        break
    fi
done
echo "gpu_check: CUDA PyTorch: ${PY:-none}"
# torch NAME LIMIT SCRIPT ARGS...: a PyTorch script with the machine's own library path
torch() {
    local name=$1 limit=$2
    shift 2
    stage "$name" "$limit" 30 env LD_LIBRARY_PATH="$PY_LD" "$PY" "$@"
}
TORCH_BF16=(bench/bench_torch.py --device cuda --precision bf16 --seq-len 512 --steps 10 --warmup-steps 2 --json)
if [ -n "$PY" ]; then
    torch bench_torch_bf16 90 "${TORCH_BF16[@]}" --attention sdpa --batch 16 2>>"$LOGS/bench_stderr.txt" |
        tee "$LOGS/bench_torch_bf16.json" || true
fi
saved
# ratios: one line per batch with both JSONs (minimind bf16 against PyTorch eager SDPA)
ratios() {
    local b
    tps() { grep -o '"tokens_per_s": *[0-9.e+-]*' "$1" | head -n1 | sed 's/.*: *//'; }
    for b in "" _b64; do
        if [ -s "$LOGS/bench_cuda_bf16$b.json" ] && [ -s "$LOGS/bench_torch_bf16$b.json" ]; then
            awk -v c="$(tps "$LOGS/bench_cuda_bf16$b.json")" -v t="$(tps "$LOGS/bench_torch_bf16$b.json")" \
                -v b="$([ -n "$b" ] && echo 64 || echo 16)" \
                'BEGIN { printf "gpu_check: batch %d, bf16 tokens/s minimind %.0f, PyTorch eager (SDPA) %.0f, ratio %.2f\n", b, c, t, c / t }'
        fi
    done
}
ratios # now already, in case the device call ends before (j)

# (e) The remaining tests: the attention tests once more on the GEMM path (bf16 / fp16 default to
# the FlashAttention kernels), the host-side CUDA math, the trainer on the GPU through the CLI
# (memory model, EMA, fp16, SIGTERM + --resume bit-exact).
MM_CUDA_ATTENTION=gemm stage test_cuda_gemm_attention 120 20 "${GPU_TEST[@]}" "$BUILD/tests/engine_test_cuda" \
    --jobs 1 --verbose=1 --filter 'cuda/attention*' 2>&1 | tee "$LOGS/test_cuda_gemm_attention.log" || status=1
saved
stage test_cuda_host 120 20 "$BUILD/tests/engine_test_cuda_host" --jobs 1 2>&1 | tee "$LOGS/test_cuda_host.log" || status=1
saved
stage test_train_cuda 240 30 "${GPU_TEST[@]}" "$BUILD/tests/engine_test_train" --jobs 1 --verbose=1 \
    --filter 'device_cuda/*' 2>&1 | tee "$LOGS/test_train_cuda.log" || status=1
saved

# (f) The step's matrix products in each operand storage (fp32 with cuBLAS rounding to bf16 — what
# the backend does — against operands stored in bf16, with and without the conversion): decides
# whether activations should be kept in bf16 for the products (docs/benchmarks.md).
stage gemm_modes 120 20 "$BUILD/engine/cuda_gemm_modes" 2>&1 | tee "$LOGS/gemm_modes.txt" || status=1
saved

# (g) The remaining benches. fp32:
bench bench_cuda_fp32 120 --device cuda --precision fp32 --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 || status=1
saved
# bf16 with the attention as batched cuBLAS GEMMs instead of the FlashAttention kernels: which is
# faster here (the profiles' attention_forward / attention_backward rows compare the two directly)
MM_CUDA_ATTENTION=gemm bench bench_cuda_bf16_gemm_attention 120 "${BF16[@]}" --batch 16 --profile || status=1
saved
# bf16 with the residual products as copy + cublasGemmEx instead of one cuBLASLt matmul each: what
# the 16 copies per step cost (tokens/s against bench_cuda_bf16.json)
MM_CUDA_RESIDUAL=copy bench bench_cuda_bf16_residual_copy 120 "${BF16[@]}" --batch 16 || status=1
saved
# bf16 with the feed-forward block's activations in fp32 (the default stores them in bf16): what the
# bf16 storage gains (docs/benchmarks.md, "the feed-forward block in bf16"), with the per-op split
MM_CUDA_FFN=fp32 bench bench_cuda_bf16_ffn_fp32 120 "${BF16[@]}" --batch 16 --profile || status=1
saved
# bf16 with the attention block's activations in fp32 (the default stores ln1, qkv, the attention
# output and their gradients in bf16 on the flash path): what that storage gains, per op
MM_CUDA_ATTN=fp32 bench bench_cuda_bf16_attn_fp32 120 "${BF16[@]}" --batch 16 --profile || status=1
saved
# bf16 with the head's logits in fp32 (the default stores the final norm's output, the logits and
# dlogits in bf16): what that storage gains (tokens/s against bench_cuda_bf16.json)
MM_CUDA_HEAD=fp32 bench bench_cuda_bf16_head_fp32 120 "${BF16[@]}" --batch 16 || status=1
saved
# batch 64 × 512 (the issue fixes T only): the larger products' share of the step (floors: 49 %
# MFU at batch 64 against 45 % at 16 with fp32 activations)
bench bench_cuda_bf16_b64 120 "${BF16[@]}" --batch 64 || status=1
saved
bench bench_cpu 120 --device cpu --seq-len 512 --batch 1 --steps 1 || true
saved
# The memory variant (`model`: 1M-entry bank, 16 candidates) on the GPU.
bench bench_cuda_memory 120 --device cuda --model-type model --seq-len 512 --batch 16 --steps 5 --warmup-steps 1 || status=1
saved

# (h) The remaining PyTorch runs: its written-out attention (scores, softmax) for reference, SDPA at
# batch 64, and PyTorch's attention alone (SDPA's FlashAttention) at the step's shape against the
# profiled benches' attention rows: ms per call, forward and backward.
if [ -n "$PY" ]; then
    torch bench_torch_bf16_math 120 "${TORCH_BF16[@]}" --attention math --batch 16 2>>"$LOGS/bench_stderr.txt" |
        tee "$LOGS/bench_torch_bf16_math.json" || true
    saved
    torch bench_torch_bf16_b64 120 "${TORCH_BF16[@]}" --attention sdpa --batch 64 2>>"$LOGS/bench_stderr.txt" |
        tee "$LOGS/bench_torch_bf16_b64.json" || true
    saved
    if torch attention_torch 120 bench/attention_torch.py --json 2>>"$LOGS/bench_stderr.txt" >"$LOGS/attention_torch.json" &&
        [ -s "$LOGS/attention_torch.json" ]; then
        timeout 30 env LD_LIBRARY_PATH="$PY_LD" "$PY" bench/attention_compare.py "$LOGS/attention_torch.json" "$LOGS/bench_cuda_bf16.json" \
            "$LOGS/bench_cuda_bf16_attn_fp32.json" "$LOGS/bench_cuda_bf16_gemm_attention.json" |
            tee "$LOGS/attention_compare.txt" || true
    fi
    saved
fi

# find_tool NAME: the CUDA tool NAME on PATH or where CUDA and Nsight install it (empty: none).
find_tool() {
    local t
    t=$(command -v "$1" 2>/dev/null || true)
    if [ -z "$t" ]; then
        for t in /usr/local/cuda*/bin/"$1" /usr/local/cuda*/"$1"/"$1" /opt/nvidia/*/"$1" /opt/nvidia/*/bin/"$1" \
            /opt/nvidia/*/*/"$1" /opt/nvidia/*/"$1"/"$1"; do
            [ -x "$t" ] && break
            t=
        done
    fi
    echo "$t"
}

# (h2) Nsight Compute on the flash kernels, one launch each of the forward, dQ and dK/dV at the
# benchmark's shape in bf16 (the first of each in one training step): duration, achieved occupancy
# and what limits it, the pipes' and memories' throughput, shared-memory bank conflicts per
# instruction kind — what the per-op profile cannot say. Informative: a failure (e.g. no access to
# the counters) does not fail the check.
NCU=$(find_tool ncu)
if [ -n "$NCU" ]; then
    echo "gpu_check: ncu: $NCU"
    for k in forward dq dkv; do
        stage "ncu_flash_$k" 90 30 "$NCU" --clock-control none --target-processes all -k "regex:mm_fa_${k}_kernel" -c 1 \
            --section SpeedOfLight --section Occupancy --section LaunchStats --section ComputeWorkloadAnalysis \
            --section MemoryWorkloadAnalysis_Tables "$BUILD/engine/minimind" bench --device cuda --precision bf16 \
            --seq-len 512 --batch 16 --steps 1 --warmup-steps 0 >"$LOGS/ncu_flash_$k.txt" 2>&1 || true
        saved
    done
else
    note "skipped ncu: not found"
fi

# (i) compute-sanitizer, when installed and budget is left: memcheck (out-of-bounds and misaligned
# accesses), racecheck (shared-memory hazards: the flash kernels' tiles), synccheck (barriers) over
# the fragments test and the attention tests; Criterion's test processes are followed
# (--target-processes all). A report fails the check (--error-exitcode); a time limit does not
# (the tools slow kernels 10-100×).
SAN=$(find_tool compute-sanitizer)
# sanitize NAME LIMIT SANITIZER_ARGS... TEST ARGS...: the test with the GPU tests' environment under
# compute-sanitizer, its output in sanitizer_NAME.log; on a report, the log's last 40 lines.
sanitize() {
    local name=$1 limit=$2 rc=0
    shift 2
    stage "sanitizer_$name" "$limit" 30 "${GPU_TEST[@]}" "$SAN" --target-processes all --error-exitcode 1 --print-limit 100 "$@" \
        >"$LOGS/sanitizer_$name.log" 2>&1 || rc=$?
    case $rc in
        0 | 124 | 137) ;;
        *)
            status=1
            tail -n 40 "$LOGS/sanitizer_$name.log"
            ;;
    esac
    saved
}
if [ -n "$SAN" ]; then
    echo "gpu_check: compute-sanitizer: $SAN"
    FRAGMENTS=("$BUILD/tests/engine_test_cuda_fragments" --jobs 1 --verbose=1)
    sanitize memcheck_fragments 60 --tool memcheck "${FRAGMENTS[@]}"
    sanitize memcheck_attention 150 --tool memcheck "$BUILD/tests/engine_test_cuda" --jobs 1 --verbose=1 \
        --filter 'cuda/attention*'
    sanitize racecheck_fragments 90 --tool racecheck --racecheck-report all "${FRAGMENTS[@]}"
    sanitize racecheck_attention_bf16 150 --tool racecheck --racecheck-report all "$BUILD/tests/engine_test_cuda" \
        --jobs 1 --verbose=1 --filter 'cuda/attention_bf16*'
    sanitize synccheck_fragments 60 --tool synccheck "${FRAGMENTS[@]}"
else
    note "skipped compute-sanitizer: not found"
fi

# (j) The ratios, one line per benchmark JSON, the status (the output tail is what a device call
# returns first).
if [ -z "$PY" ]; then
    echo "gpu_check: no CUDA PyTorch on this machine: no PyTorch ratio" | tee "$LOGS/ratio.txt"
elif [ -s "$LOGS/bench_torch_bf16.json" ] && [ -s "$LOGS/bench_cuda_bf16.json" ]; then
    ratios | tee "$LOGS/ratio.txt"
else
    echo "gpu_check: no PyTorch ratio: bench_cuda_bf16.json or bench_torch_bf16.json is empty" | tee "$LOGS/ratio.txt"
fi
field() { grep -o "\"$2\": *\"\{0,1\}[^,\"}]*" "$1" | head -n1 | sed 's/.*: *"\{0,1\}//'; }
for f in "$LOGS"/bench_*.json; do
    [ -s "$f" ] || continue
    printf 'gpu_check: %-36s %9s ms/step %9s tokens/s  mfu %-7s attention %s %s  ffn %s  head %s\n' \
        "$(basename "$f" .json)" "$(field "$f" ms_per_step)" "$(field "$f" tokens_per_s)" "$(field "$f" mfu)" \
        "$(field "$f" attention)" "$(field "$f" attention_storage)" "$(field "$f" ffn)" "$(field "$f" head)"
done | tee "$LOGS/summary.txt"
if [ -s "$LOGS/attention_compare.txt" ]; then cat "$LOGS/attention_compare.txt"; fi
skipped=$([ -s "$LOGS/skipped.txt" ] && wc -l <"$LOGS/skipped.txt" || echo 0)
echo "gpu_check: elapsed $SECONDS s of the $BUDGET s budget, $skipped stages skipped" | tee -a "$LOGS/stages.txt"
echo "gpu_check: status $status (logs in $LOGS${OUT:+, $OUT/gpu_check.tar.gz})"
saved
exit $status
