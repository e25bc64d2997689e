#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root or with sudo) and configures the build directory.
# Idempotent: a second run installs nothing and keeps the build directory's cache.
#   BUILD_DIR=build (default)   extra arguments are passed to cmake, e.g. -DADGRAPH_SANITIZE=address
#   SETUP_EXTRA="pkg ..."       more packages, for one stage only (the fuzz build's clang)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git file
  libboost-container-dev libspdlog-dev
  libgtest-dev libgmock-dev
  libopenblas-dev graphviz
  libdnnl-dev         # oneDNN: float32 GEMM with kernels for the CPU it runs on
  ocl-icd-opencl-dev  # only a recommend of libdnnl-dev, but its dnnl-config.cmake requires OpenCL
  libhwy-dev          # Highway: SIMD elementwise math, one binary for AVX-512, AVX2, SSE4
  nlohmann-json3-dev  # safetensors headers (JSON)
  libcairo2-dev       # pictures: loss curves, decision boundaries, loss surfaces (PNG/SVG)
  wamerican wfrench wngerman wspanish witalian  # word lists in /usr/share/dict, read by example 09_word_language
  libopenmpi-dev openmpi-bin  # dist/: collectives across processes (Open MPI), mpirun for its tests
  libadolc-dev  # the scalar-tape peer in bench/ (ADOL-C)
)
read -r -a extra <<<"${SETUP_EXTRA:-}"
packages+=("${extra[@]+"${extra[@]}"}")
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

build_dir=${BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja "$@" >/dev/null
