#!/usr/bin/env bash
# Registers, spills and shared memory of the FlashAttention kernels (engine/src/cuda/attention_flash.cu)
# as ptxas allocates them, and the blocks of 128 threads that fit per SM on the GPU of that
# architecture — what decides their occupancy, known without a GPU (docs/cuda.md, the attention
# row). One line per kernel instance: format (0 bf16, 1 fp16), head size, storage.
#   usage: bench/flash_registers.sh [ARCH ...]      (default: 90 89 80; needs nvcc)
set -euo pipefail
cd "$(dirname "$0")/.."
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "flash_registers: nvcc not found (set NVCC)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ $# -gt 0 ] || set -- 90 89 80
for a in "$@"; do
    # per SM: 64 K registers everywhere; shared memory 228 KB (sm_90), 100 KB (sm_89), 164 KB (sm_80)
    case $a in
        90) smem=233472 ;;
        89) smem=102400 ;;
        80) smem=167936 ;;
        *) echo "flash_registers: sm_$a: no shared-memory size here (80, 89, 90)" >&2 && exit 1 ;;
    esac
    echo "== sm_$a"
    "$NVCC" -D_GNU_SOURCE -Iengine/include -Iengine/src -O3 -DNDEBUG -std=c++17 \
        "--generate-code=arch=compute_$a,code=sm_$a" -Xptxas -v -c engine/src/cuda/attention_flash.cu \
        -o "$tmp/a.o" 2>&1 |
        awk -v smem="$smem" '
            /Compiling entry function/ { match($0, /_Z[0-9]+mm_fa_[a-z]+_kernel[^ '"'"']*/); k = substr($0, RSTART, RLENGTH); sp = 0 }
            /spill stores/ { sp = $5 }
            /Used [0-9]+ registers/ && k != "" {
                match($0, /Used [0-9]+ registers/); r = substr($0, RSTART + 5, RLENGTH - 15) + 0
                sh = 0; if (match($0, /[0-9]+ bytes smem/)) sh = substr($0, RSTART, RLENGTH) + 0
                regs = int((r + 7) / 8) * 8; by_regs = int(65536 / (regs * 128))
                by_smem = int(smem / (sh + 1024))
                printf "%s\t%d registers, %d bytes spilled, %.1f KB shared: %d blocks/SM (registers %d, shared memory %d)\n",
                    k, r, sp, sh / 1000, (by_regs < by_smem ? by_regs : by_smem), by_regs, by_smem
                k = ""
            }' | c++filt | sed -E 's/\([^\t]*\)\t/\t/; s/^void //; s/unsigned short/bf16/g' | sort
done
