# Sourced by the scripts: `-j N`, `-jN` or JOBS=N sets the job count (default: every core).
jobs=${JOBS:-$(nproc)}
while (($#)); do
  case "$1" in
    -j) jobs=$2; shift 2 ;;
    -j*) jobs=${1#-j}; shift ;;
    *) echo "usage: $0 [-j N]" >&2; exit 2 ;;
  esac
done
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "$0: the job count must be a positive integer, got '$jobs'" >&2; exit 2; }
