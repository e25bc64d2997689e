#!/usr/bin/env bash
# Sets everything up, builds the libraries and the demo only, and runs it (pictures go to out/).
# The examples build on demand: cmake --build build --target 07_digits
#   scripts/demo.sh [-j N]   (default: every core)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jobs.sh
bash scripts/setup.sh
cmake --build build -j"$jobs" --target demo
./build/examples/demo out
