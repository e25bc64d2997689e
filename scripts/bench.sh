#!/usr/bin/env bash
# Installs the peers (ADOL-C via setup.sh, libtorch here), builds, and prints every benchmark
# figure side by side with its peer.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=""
for pkg in libtorch-dev python3-torch; do  # the peers: libtorch (C++) and PyTorch's DDP (Python)
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then missing="$missing $pkg"; fi
done
if [ -n "$missing" ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
bash scripts/setup.sh -UTorch_DIR -UCaffe2_DIR  # forget a "not found" cached before libtorch was installed
cmake --build build --target bench_engine bench_tape bench_kernels bench_mlp bench_cnn bench_ddp
./build/bench/bench_engine
./build/bench/bench_tape
./build/bench/bench_kernels
./build/bench/bench_mlp
./build/bench/bench_cnn
# Data-parallel steps: one rank, then two (the second run's "alone" rows are the same steps
# without communication, on the machine loaded alike).
mpirun --allow-run-as-root --oversubscribe -np 1 ./build/bench/bench_ddp
mpirun --allow-run-as-root --oversubscribe -np 2 ./build/bench/bench_ddp
# The peer: PyTorch's DistributedDataParallel (gloo) on the same model, batches and bucket caps.
/usr/bin/python3 bench/ddp_torch.py 1
/usr/bin/python3 bench/ddp_torch.py 2
