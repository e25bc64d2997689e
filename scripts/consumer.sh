#!/usr/bin/env bash
# Builds and runs the consumer project tests/consumer four ways, none setting an adgraph option:
#   1. find_package against `cmake --install build` in a temporary prefix (and pkg-config there),
#   2. FetchContent of this git checkout (its HEAD commit),
#   3. add_subdirectory of this checkout,
#   4. find_package against the .deb that `cpack -G DEB` makes, installed with apt-get (removed after).
# Also checks that the libraries export nothing outside namespace ad.
# Needs build/ built (scripts/test.sh does that first).   scripts/consumer.sh [-j N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/jobs.sh
root=$PWD
work=$(mktemp -d /tmp/adgraph-consumer.XXXXXX)
deb_installed=0
cleanup() {
  if ((deb_installed)); then dpkg -r libadgraph-dev >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# consumer NAME CMAKE-ARGS...: configure, build and run the consumer project in $work/NAME.
consumer() {
  local name=$1
  shift
  echo "-- consumer via $name"
  cmake -S tests/consumer -B "$work/$name" -G Ninja "$@" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
  cmake --build "$work/$name" -j"$jobs" >>"$work/$name.log" 2>&1 || { cat "$work/$name.log"; return 1; }
  ctest --test-dir "$work/$name" --output-on-failure
}

# Names nested in namespace ad, Itanium-mangled: functions, data, typeinfo, vtables, thunks, guards.
ad_symbol='^_Z(TI|TS|TV|TT|TH|TW|GV|Th[n0-9]+_|Tv[n0-9_]+_)?Z?N[KRO]*2ad'

echo "-- install into a temporary prefix"
cmake --install build --prefix "$work/prefix" >/dev/null
foreign=$(for lib in "$work"/prefix/lib/libadgraph_*.so; do
  nm -D --defined-only "$lib" | awk '{print $3}' | grep -vE "$ad_symbol" || true
done)
objects=$(find build/autodiff build/nn build/optim build/data build/plot -name '*.o' -print0 |
  xargs -0 nm -g --defined-only | awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}' | grep -vE "$ad_symbol" || true)
if [ -n "$foreign$objects" ]; then
  echo "symbols outside namespace ad:" >&2
  printf '%s\n%s\n' "$foreign" "$objects" | c++filt >&2
  exit 1
fi
echo "   every exported symbol of $(ls "$work"/prefix/lib/libadgraph_*.so | wc -l) libraries is in namespace ad"
consumer installed -DCMAKE_PREFIX_PATH="$work/prefix"

echo "-- pkg-config against the temporary prefix"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ tests/consumer/main.cpp tests/consumer/plot.cpp -I tests/consumer -o "$work/pkgconfig-consumer" \
  $(pkg-config --cflags --libs adgraph)
LD_LIBRARY_PATH="$work/prefix/lib" "$work/pkgconfig-consumer"
unset PKG_CONFIG_PATH

if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
  head=$(git -C "$root" rev-parse HEAD)
  if [ -n "$(git -C "$root" status --porcelain)" ]; then
    echo "   note: FetchContent builds the last commit ($head); uncommitted changes are not in it"
  fi
  consumer fetchcontent -DADGRAPH_FROM=fetchcontent -DADGRAPH_SOURCE="$root" -DADGRAPH_GIT_TAG="$head"
else
  echo "-- consumer via fetchcontent: skipped, $root is not a git checkout" >&2
  exit 1
fi

consumer subdirectory -DADGRAPH_FROM=subdirectory -DADGRAPH_SOURCE="$root"

echo "-- Debian package"
(cd build && cpack -G DEB -B "$work/deb" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/deb/libadgraph-dev_*.deb)
dpkg-deb -I "$deb" | grep -E "Package|Version|Depends"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$deb" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log"; exit 1; }
deb_installed=1
consumer deb
echo "consumer builds: all passed"
