#!/usr/bin/env bash
# The prepared check for a machine with an NVIDIA GPU (see docs/cuda.md): uses the prebuilt bundle
# .gpubin/ (scripts/gpu_bundle.sh, carried by the device call) or else builds with CUDA, runs
# the CUDA parity tests with MM_REQUIRE_GPU=1 (a missing GPU FAILS here, instead of skipping as
# in CI; the attention tests also on the GEMM path), the host-side CUDA math tests, the CLI stop/resume test on the GPU, then the benchmark on the GPU (bf16 and fp32) and, for
# comparison, one CPU-backend number. Output: stdout, and the logs in build-gpu/gpu_check/; on
# the device machine also $OUT/gpu_check.tar.gz, renewed after every stage (the device call
# returns at most 8 files from $OUT, and whatever a stage had written when a time limit struck).
#   usage: scripts/gpu_check.sh [BUILD_DIR]      (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
LOGS=$(mkdir -p "$BUILD" && cd "$BUILD" && pwd)/gpu_check
PY_LD=${LD_LIBRARY_PATH-}  # PyTorch runs with the machine's own library path
rm -rf "$LOGS"
mkdir -p "$LOGS"
JOBS=$(nproc 2>/dev/null || echo 4)
# The logs so far as one archive in $OUT (written beside, then renamed: never half an archive).
saved() {
    if [ -n "${OUT:-}" ]; then
        tar czf "$OUT/.gpu_check.tar.gz" -C "$LOGS" . && mv "$OUT/.gpu_check.tar.gz" "$OUT/gpu_check.tar.gz"
    fi
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$LOGS/gpu.txt" || true
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
    # part of the device time.
    ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
    cmake -S . -B "$BUILD" -DMM_CUDA=ON -DMM_WERROR=ON -DMM_NATIVE=OFF -DCMAKE_BUILD_TYPE=Release \
        ${ARCH:+-DCMAKE_CUDA_ARCHITECTURES=$ARCH} >"$LOGS/configure.log" 2>&1 || { tail -30 "$LOGS/configure.log"; exit 1; }
    cmake --build "$BUILD" -j"$JOBS" --target minimind cuda_gemm_modes engine_test_cuda_fragments engine_test_cuda engine_test_cuda_host \
        engine_test_train \
        >"$LOGS/build.log" 2>&1 ||
        { tail -50 "$LOGS/build.log"; exit 1; }
fi
"$BUILD/engine/minimind" --version | tee "$LOGS/version.txt"

status=0
TESTTMP=$(mkdir -p "$BUILD/tmp" && cd "$BUILD/tmp" && pwd)
# The flash kernels' device primitives first (ldmatrix's layout, the fragment helpers through
# tensor-core products, the 16-bit packing's rounding against the host's, cp.async groups): where
# the simulator's model of them and this GPU disagree, it says which, by name.
MM_REQUIRE_GPU=1 timeout 60 "$BUILD/tests/engine_test_cuda_fragments" --jobs 1 --verbose=1 2>&1 |
    tee "$LOGS/test_cuda_fragments.log" || status=1
# CUDA parity tests (every kernel vs CPU, whole model, 20 steps, resume exactness; bf16/fp16).
MM_REQUIRE_GPU=1 MM_QUIET=1 TMPDIR="$TESTTMP" timeout 300 "$BUILD/tests/engine_test_cuda" --jobs 1 --verbose=1 \
    2>&1 | tee "$LOGS/test_cuda.log" || status=1
# The attention tests once more on the GEMM path (bf16 / fp16 default to the FlashAttention kernels).
MM_CUDA_ATTENTION=gemm MM_REQUIRE_GPU=1 MM_QUIET=1 TMPDIR="$TESTTMP" timeout 120 "$BUILD/tests/engine_test_cuda" \
    --jobs 1 --verbose=1 --filter 'cuda/attention*' 2>&1 | tee "$LOGS/test_cuda_gemm_attention.log" || status=1
timeout 120 "$BUILD/tests/engine_test_cuda_host" --jobs 1 2>&1 | tee "$LOGS/test_cuda_host.log" || status=1
# The trainer on the GPU through the CLI: memory model, EMA, fp16, SIGTERM + --resume bit-exact.
MM_REQUIRE_GPU=1 MM_QUIET=1 TMPDIR="$TESTTMP" timeout 240 "$BUILD/tests/engine_test_train" --jobs 1 --verbose=1 \
    --filter 'device_cuda/*' 2>&1 | tee "$LOGS/test_train_cuda.log" || status=1
saved

# The step's matrix products in each operand storage (fp32 with cuBLAS rounding to bf16 — what the
# backend does — against operands stored in bf16, with and without the conversion): decides
# whether activations should be kept in bf16 for the products (docs/benchmarks.md).
timeout 120 "$BUILD/engine/cuda_gemm_modes" 2>&1 | tee "$LOGS/gemm_modes.txt" || status=1
saved

# Benchmark: MiniMind-26M at T = 512 on the GPU in bf16 (the default: tensor cores, the attention and
# feed-forward blocks' activations in bf16, FlashAttention kernels), bf16 with
# MM_CUDA_ATTENTION=gemm, and fp32 (one JSON line each), then a short CPU reference.
bench() { timeout 300 "$BUILD/engine/minimind" bench --json "$@" 2>>"$LOGS/bench_stderr.txt"; }
# bf16 also with the per-op split (--profile: 10 more steps, each op waited for; the JSON's
# "profile" object) — where the time goes decides the next optimisation.
for prec in bf16 fp32; do
    bench --device cuda --precision "$prec" --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 \
        $([ "$prec" = bf16 ] && echo --profile) | tee "$LOGS/bench_cuda_$prec.json" || status=1
done
# bf16 with the attention as batched cuBLAS GEMMs instead of the FlashAttention kernels: which is faster
# here (the profiles' attention_forward / attention_backward rows compare the two directly)
MM_CUDA_ATTENTION=gemm bench --device cuda --precision bf16 --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 \
    --profile | tee "$LOGS/bench_cuda_bf16_gemm_attention.json" || status=1
saved
# bf16 with the residual products as copy + cublasGemmEx instead of one cuBLASLt matmul each: what
# the 16 copies per step cost (tokens/s against bench_cuda_bf16.json)
MM_CUDA_RESIDUAL=copy bench --device cuda --precision bf16 --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 \
    | tee "$LOGS/bench_cuda_bf16_residual_copy.json" || status=1
# bf16 with the feed-forward block's activations in fp32 (the default stores them in bf16): what the
# bf16 storage gains (docs/benchmarks.md, "the feed-forward block in bf16"), with the per-op split
MM_CUDA_FFN=fp32 bench --device cuda --precision bf16 --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 \
    --profile | tee "$LOGS/bench_cuda_bf16_ffn_fp32.json" || status=1
# bf16 with the attention block's activations in fp32 (the default stores ln1, qkv, the attention
# output and their gradients in bf16 on the flash path): what that storage gains, per op
MM_CUDA_ATTN=fp32 bench --device cuda --precision bf16 --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 \
    --profile | tee "$LOGS/bench_cuda_bf16_attn_fp32.json" || status=1
# bf16 with the head's logits in fp32 (the default stores the final norm's output, the logits and
# dlogits in bf16): what that storage gains (tokens/s against bench_cuda_bf16.json)
MM_CUDA_HEAD=fp32 bench --device cuda --precision bf16 --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 \
    | tee "$LOGS/bench_cuda_bf16_head_fp32.json" || status=1
# batch 64 × 512 (the issue fixes T only): the larger products' share of the step (floors: 49 %
# MFU at batch 64 against 45 % at 16 with fp32 activations)
bench --device cuda --precision bf16 --seq-len 512 --batch 64 --steps 10 --warmup-steps 2 \
    | tee "$LOGS/bench_cuda_bf16_b64.json" || status=1
saved
bench --device cpu --seq-len 512 --batch 1 --steps 1 | tee "$LOGS/bench_cpu.json" || true
# The memory variant (`model`: 1M-entry bank, 16 candidates) on the GPU.
bench --device cuda --model-type model --seq-len 512 --batch 16 --steps 5 --warmup-steps 1 \
    | tee "$LOGS/bench_cuda_memory.json" || status=1

# PyTorch eager on the same GPU, same model and step, bf16 autocast (when a CUDA PyTorch exists).
for py in python3 /usr/bin/python3; do
    if env LD_LIBRARY_PATH="$PY_LD" "$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        # MiniMind's default flash path (F.scaled_dot_product_attention): the ratio's basis; then
        # its written-out attention (scores, softmax) for reference
        for att in sdpa math; do
            timeout 300 env LD_LIBRARY_PATH="$PY_LD" "$py" bench/bench_torch.py --device cuda --precision bf16 \
                --attention "$att" --seq-len 512 --batch 16 --steps 10 --warmup-steps 2 --json \
                2>>"$LOGS/bench_stderr.txt" | tee "$LOGS/bench_torch_bf16$([ "$att" = math ] && echo _math).json" || true
        done
        timeout 300 env LD_LIBRARY_PATH="$PY_LD" "$py" bench/bench_torch.py --device cuda --precision bf16 \
            --attention sdpa --seq-len 512 --batch 64 --steps 10 --warmup-steps 2 --json \
            2>>"$LOGS/bench_stderr.txt" | tee "$LOGS/bench_torch_bf16_b64.json" || true
        # PyTorch's attention alone (SDPA's FlashAttention) at the step's shape, against the
        # profiled benches' attention rows: ms per call, forward and backward
        timeout 120 env LD_LIBRARY_PATH="$PY_LD" "$py" bench/attention_torch.py --json \
            2>>"$LOGS/bench_stderr.txt" >"$LOGS/attention_torch.json" &&
            "$py" bench/attention_compare.py "$LOGS/attention_torch.json" "$LOGS/bench_cuda_bf16.json" \
                "$LOGS/bench_cuda_bf16_attn_fp32.json" "$LOGS/bench_cuda_bf16_gemm_attention.json" |
            tee "$LOGS/attention_compare.txt" || true
        break
    fi
done
if [ -s "$LOGS/bench_torch_bf16.json" ] && [ -s "$LOGS/bench_cuda_bf16.json" ]; then
    tps() { grep -o '"tokens_per_s": *[0-9.e+-]*' "$1" | head -n1 | sed 's/.*: *//'; }
    for b in "" _b64; do
        [ -s "$LOGS/bench_cuda_bf16$b.json" ] && [ -s "$LOGS/bench_torch_bf16$b.json" ] || continue
        awk -v c="$(tps "$LOGS/bench_cuda_bf16$b.json")" -v t="$(tps "$LOGS/bench_torch_bf16$b.json")" \
            -v b="$([ -n "$b" ] && echo 64 || echo 16)" \
            'BEGIN { printf "gpu_check: batch %d, bf16 tokens/s minimind %.0f, PyTorch eager (SDPA) %.0f, ratio %.2f\n", b, c, t, c / t }'
    done | tee "$LOGS/ratio.txt"
else
    echo "gpu_check: no CUDA PyTorch on this machine: no PyTorch ratio" | tee "$LOGS/ratio.txt"
fi
# One line per benchmark JSON (the output tail is what a device call returns first)
field() { grep -o "\"$2\": *\"\{0,1\}[^,\"}]*" "$1" | head -n1 | sed 's/.*: *"\{0,1\}//'; }
for f in "$LOGS"/bench_*.json; do
    [ -s "$f" ] || continue
    printf 'gpu_check: %-36s %9s ms/step %9s tokens/s  mfu %-7s attention %s %s  ffn %s  head %s\n' \
        "$(basename "$f" .json)" "$(field "$f" ms_per_step)" "$(field "$f" tokens_per_s)" "$(field "$f" mfu)" \
        "$(field "$f" attention)" "$(field "$f" attention_storage)" "$(field "$f" ffn)" "$(field "$f" head)"
done | tee "$LOGS/summary.txt"
if [ -s "$LOGS/attention_compare.txt" ]; then cat "$LOGS/attention_compare.txt"; fi
echo "gpu_check: status $status (logs in $LOGS${OUT:+, $OUT/gpu_check.tar.gz})"
saved
exit $status
