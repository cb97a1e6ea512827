#!/usr/bin/env bash
# build.sh [cmake --build targets...]: configures build/ (once) and builds. Extra configure
# options come from ZT_CMAKE_ARGS, e.g. ZT_CMAKE_ARGS="-DZT_CUDA=OFF".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${ZT_BUILD_DIR:-$root/build}
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${ZT_CMAKE_ARGS:-}
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" --parallel "$(nproc)" "${targets[@]}"
