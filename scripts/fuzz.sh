#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz) with clang, ASan and UBSan, and runs each for a
# fixed time from the seed corpus (static libraries: clang links the sanitizer runtimes into
# executables only). Any crash, sanitizer report, leak or input slower than the timeout fails the
# run and leaves the input in <build>/findings/.
#   scripts/fuzz.sh [-j N] [-t SECONDS_PER_HARNESS] [-b BUILD_DIR]
#   default: 20 s each, in build-fuzz/ configured here with the harnesses only; -b names a build
#   directory already configured with -DADGRAPH_FUZZ=ON (scripts/test.sh's sanitizer build).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=20
build=""
args=()
while (($#)); do
  case "$1" in
    -t) seconds=$2; shift 2 ;;
    -b) build=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
set -- "${args[@]+"${args[@]}"}"
source scripts/jobs.sh

if [ -z "$build" ]; then
  build=build-fuzz
  SETUP_EXTRA="clang libclang-rt-14-dev" BUILD_DIR=$build CC=clang CXX=clang++ bash scripts/setup.sh \
    -DADGRAPH_FUZZ=ON -DADGRAPH_BUILD_TESTS=OFF -DADGRAPH_BUILD_EXAMPLES=OFF -DADGRAPH_BUILD_BENCH=OFF \
    -DADGRAPH_INSTALL=OFF -DBUILD_SHARED_LIBS=OFF -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG"
fi
cmake --build "$build" -j"$jobs" --target fuzz_safetensors fuzz_csv

export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run() {  # run <harness> <corpus> [libFuzzer flags...]
  local name=$1 seeds=$2
  shift 2
  local work=$build/corpus/$name findings=$build/findings/$name
  rm -rf "$work" && mkdir -p "$work" "$findings"
  cp "$seeds"/* "$work"/
  echo "-- $name: ${seconds} s"
  # -timeout: an input taking 5 s is a hang; -rss_limit_mb: runaway allocations are findings.
  if ! "$build/tests/fuzz/$name" "$work" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
    -max_len=4096 -artifact_prefix="$findings/" -print_final_stats=1 "$@" 2>"$build/$name.log"; then
    tail -n 60 "$build/$name.log"
    echo "fuzz.sh: $name found a failing input in $findings/"
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/$name.log" | tr '\n' ' '
  echo
}
run fuzz_safetensors tests/fuzz/corpus/safetensors -dict=tests/fuzz/safetensors.dict
run fuzz_csv tests/fuzz/corpus/csv
