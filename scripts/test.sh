#!/usr/bin/env bash
# Sets everything up, then builds and runs every test:
#   1. the normal build in build/ (the demo command's build directory, reused; warnings are errors),
#   2. the consumer project built against the installed package, FetchContent, add_subdirectory
#      and the .deb (scripts/consumer.sh),
#   3. the AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/ (clang): every test,
#      then the libFuzzer harnesses of the file readers, 20 s each (scripts/fuzz.sh),
#   4. the ThreadSanitizer build of the concurrency tests and the dist tests (a communication
#      thread beside the compute thread, under mpirun) in build-tsan/.
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

echo "== sanitizer build (clang, ASan + UBSan): every test, then the fuzzers =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# One clang build serves both: the whole suite runs under ASan + UBSan, and the same libraries
# (with libFuzzer's coverage instrumentation, static: clang links the sanitizer runtimes into
# executables) feed the fuzz harnesses. The libraries at -O1, as the sanitizers' authors advise;
# the test code at -O0 (half the compile time); each test binary as 8 GoogleTest shards instead of
# a process per test (a sanitizer runtime takes ~0.2 s to start).
SETUP_EXTRA="clang libclang-rt-14-dev" BUILD_DIR=build-asan CC=clang CXX=clang++ bash scripts/setup.sh \
  -DADGRAPH_FUZZ=ON -DADGRAPH_BUILD_BENCH=OFF -DBUILD_SHARED_LIBS=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DADGRAPH_TEST_OPTIMIZE=-O0 -DADGRAPH_TEST_SHARDS=8
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE isa_cap
took "sanitizer build and tests"
echo "== fuzzing the safetensors and CSV readers (libFuzzer, the sanitizer build's harnesses) =="
bash scripts/fuzz.sh -b build-asan -j "$jobs" -t 20
took "fuzz runs"
echo "== thread sanitizer build (TSan): the concurrency tests and the dist tests =="
BUILD_DIR=build-tsan bash scripts/setup.sh -DADGRAPH_SANITIZE=thread -DADGRAPH_BUILD_BENCH=OFF \
  -DADGRAPH_BUILD_EXAMPLES=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"
cmake --build build-tsan -j"$jobs" --target concurrency_tests dist_tests dist_abort
# OpenBLAS's and OpenMP's (oneDNN's) own threads are not instrumented: one thread each, so every
# race TSan sees is ours.
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -R '^(Concurrency[.]|dist_)'
took "thread sanitizer build and tests"

echo "== test.sh: every stage passed, $SECONDS s in all =="
