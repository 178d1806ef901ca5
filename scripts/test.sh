#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every Criterion suite with CTest,
# then the same suites under AddressSanitizer + UndefinedBehaviorSanitizer.
# Tests needing a peer (PyTorch, Hugging Face tokenizers, ../shared data) skip with a reason when
# it is absent; MM_REQUIRE_PEERS=1 makes them fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh build -DMM_WERROR=ON
(cd build && ctest --output-on-failure -j "$jobs")

if [ "${MM_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "test: ASan+UBSan build"
  scripts/setup.sh build-asan -DMM_SANITIZE=ON -DMM_WERROR=ON -DMM_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 MM_SANITIZED=1 ctest --output-on-failure -j "$jobs")
fi
echo "test: all suites passed"
