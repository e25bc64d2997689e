#!/usr/bin/env bash
# Sets everything up, then builds and runs every test twice: the normal build (warnings are
# errors) and the AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

echo "== normal build (-Werror) =="
BUILD_DIR=build bash scripts/setup.sh -DAD_WERROR=ON
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
BUILD_DIR=build-asan bash scripts/setup.sh -DAD_WERROR=ON -DAD_SANITIZE=ON -DAD_BUILD_BENCH=OFF
ctest --test-dir build-asan --output-on-failure -j"$jobs"
