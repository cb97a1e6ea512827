#!/usr/bin/env bash
# fuzz_long.sh [SECONDS]: runs every fuzz target open-ended (default 600 s each), starting from
# its committed seeds and keeping what it finds in build-fuzz/corpus/<target>/. Crashes are
# written as build-fuzz/crash-*; add a minimised one to the seeds with the fix.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_build=${ZT_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${1:-600}
[[ -f "$fuzz_build/CMakeCache.txt" ]] ||
  cmake -S "$root" -B "$fuzz_build" -G Ninja -DZT_FUZZ=ON -DZT_CUDA=OFF -DZT_MPI=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14
cmake --build "$fuzz_build" --target zt_fuzzers
# The fuzz tests' command lines name each target and its seed folder.
ctest --test-dir "$fuzz_build" -L '^fuzz$' --show-only=json-v1 |
  python3 -c 'import json,sys
for t in json.load(sys.stdin)["tests"]:
    c = t["command"]; print(c[1], c[3])' |
  while read -r target seeds; do
    name=$(basename "$target")
    mkdir -p "$fuzz_build/corpus/$name"
    echo "=== $name for $seconds s"
    (cd "$fuzz_build" && "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
       "$fuzz_build/corpus/$name" "$seeds")
  done
