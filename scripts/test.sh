#!/usr/bin/env bash
# Sets everything up, then builds and runs every test:
#   1. the normal build in build/ (the demo command's build directory, reused; warnings are errors),
#   2. the consumer project built against the installed package, FetchContent, add_subdirectory
#      and the .deb (scripts/consumer.sh),
#   3. the AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/,
#   4. the ThreadSanitizer build of the concurrency tests in build-tsan/,
#   5. the libFuzzer harnesses of the file readers, 20 s each (scripts/fuzz.sh, build-fuzz/).
#   scripts/test.sh [-j N]   (default: every core)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jobs.sh
stage_start=$SECONDS
took() { echo "   ($1: $((SECONDS - stage_start)) s)"; stage_start=$SECONDS; }

echo "== normal build (-Werror) =="
bash scripts/setup.sh
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
took "normal build and tests"

echo "== consumer builds: installed package, FetchContent, add_subdirectory, .deb =="
bash scripts/consumer.sh -j "$jobs"
took "consumer builds"

echo "== sanitizer build (ASan + UBSan) =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# -O1, as the sanitizers' authors advise: every check stays, the build takes 40% less time than -O3.
BUILD_DIR=build-asan bash scripts/setup.sh -DADGRAPH_SANITIZE=address -DADGRAPH_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE isa_cap
took "sanitizer build and tests"
echo "== thread sanitizer build (TSan): the concurrency tests =="
BUILD_DIR=build-tsan bash scripts/setup.sh -DADGRAPH_SANITIZE=thread -DADGRAPH_BUILD_BENCH=OFF \
  -DADGRAPH_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"
cmake --build build-tsan -j"$jobs" --target concurrency_tests
# OpenBLAS's and OpenMP's (oneDNN's) own threads are not instrumented: one thread each, so every
# race TSan sees is ours.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R '^Concurrency[.]'
took "thread sanitizer build and tests"

echo "== fuzzing the safetensors and CSV readers (clang, libFuzzer, ASan + UBSan) =="
bash scripts/fuzz.sh -j "$jobs" -t 20
took "fuzz build and runs"
echo "== test.sh: every stage passed, $SECONDS s in all =="
