#!/usr/bin/env bash
# Prepares the GPU check for a device machine that cannot build it. The machines lent here run an
# image with nvcc, CMake and PyTorch but without this project's build dependencies (pkg-config,
# jansson, inih, OpenBLAS, Criterion) and cannot fetch anything. So this builds HERE minimind and
# the programs it runs (portable CPU code: MM_NATIVE=OFF; CUDA for sm_90 only, the H100 / H200
# the device tool lends — CI's builds cover sm_80/89/90) and copies them, stripped, with the
# shared libraries they use apart from the C/C++ runtime, zlib, OpenSSL (in every base image) and
# CUDA (cuBLAS comes from the device machine), into .gpubin/ (git-ignored; it and the working tree
# must fit the device call's 64 MiB: the script says how much is left). The device call carries it:
#     scripts/gpu_bundle.sh
#     device run: command "scripts/gpu_check.sh", carry [".gpubin"]
# scripts/gpu_check.sh uses the bundle when it is there (nothing is compiled on the device).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-gpubin
TARGETS=(minimind cuda_gemm_modes engine_test_cuda_fragments engine_test_cuda engine_test_cuda_host engine_test_train)
[ -x build/engine/minimind ] || scripts/setup.sh build  # installs the build dependencies if missing
cmake -S . -B "$BUILD" -DMM_CUDA=ON -DMM_NATIVE=OFF -DMM_WERROR=ON -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}"

rm -rf .gpubin
mkdir -p .gpubin/lib
cp "$BUILD/engine/minimind" "$BUILD/engine/cuda_gemm_modes" "$BUILD/tests/engine_test_cuda_fragments" \
    "$BUILD/tests/engine_test_cuda" "$BUILD/tests/engine_test_cuda_host" "$BUILD/tests/engine_test_train" .gpubin/
# The binaries name their source and build directories (test fixtures, the minimind they run).
echo "$PWD" >.gpubin/SOURCE_DIR
echo "$BUILD" >.gpubin/BUILD_DIR
for b in .gpubin/minimind .gpubin/cuda_gemm_modes .gpubin/engine_test_*; do ldd "$b"; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u | while read -r lib; do
    case "$(basename "$lib")" in
        libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | libresolv.so* | ld-linux* | libstdc++.so* | \
            libgcc_s.so* | libz.so* | libcrypto.so* | libssl.so* | libcublas* | libcudart* | libcuda.so*) ;;
        *) cp -L "$lib" .gpubin/lib/ ;;
    esac
done
strip --strip-unneeded .gpubin/minimind .gpubin/cuda_gemm_modes .gpubin/engine_test_* .gpubin/lib/*
echo "gpu_bundle: .gpubin/ ($(du -sh .gpubin | cut -f1)): $(ls .gpubin | tr '\n' ' ')"
tree=$(git ls-files -z | xargs -0 du -cb | tail -n1 | cut -f1)
bundle=$(du -sb .gpubin | cut -f1)
echo "gpu_bundle: with the working tree $(((tree + bundle) >> 20)) MiB of the device call's 64 MiB"
[ $((tree + bundle)) -lt $((64 << 20)) ] || { echo "gpu_bundle: too large for the device call" >&2; exit 1; }
echo "gpu_bundle: libraries: $(ls .gpubin/lib | tr '\n' ' ')"
