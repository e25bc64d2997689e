#!/usr/bin/env bash
# Sets everything up, builds, and runs the main demo (writes its pictures to out/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
./build/examples/demo out
