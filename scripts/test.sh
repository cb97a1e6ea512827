#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, and runs every CTest
# label this machine can run: unit, multirank, e2e, fuzz, and gpu where a CUDA device answers.
# Prints the wall time of each phase and label. Under CI=true a skipped multirank/e2e test
# fails (see tests/test_main.cc).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${ZT_BUILD_DIR:-$root/build}
fuzz_build=${ZT_FUZZ_BUILD_DIR:-$root/build-fuzz}
declare -a rows=()
failed=0

phase() {  # phase NAME COMMAND...: runs, times and records one phase
  local name=$1; shift
  local start=$SECONDS
  echo "=== $name"
  if "$@"; then rows+=("$(printf '%-22s %6ss  ok' "$name" $((SECONDS - start)))")
  else rows+=("$(printf '%-22s %6ss  FAILED' "$name" $((SECONDS - start)))"); failed=1; fi
}

configure_fuzz() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  [[ -f "$fuzz_build/CMakeCache.txt" ]] ||
    cmake -S "$root" -B "$fuzz_build" "${generator[@]}" -DZT_FUZZ=ON -DZT_CUDA=OFF -DZT_MPI=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14
  cmake --build "$fuzz_build" --parallel "$(nproc)" --target zt_fuzzers
}

run_label() {  # run_label LABEL BUILD_DIR PARALLEL
  ctest --test-dir "$2" -L "^$1\$" --output-on-failure --no-tests=ignore -j "$3"
}

phase setup ./scripts/setup.sh
[[ $failed -eq 0 ]] || { printf '%s\n' "${rows[@]}"; exit 1; }
phase build ./scripts/build.sh
phase build-fuzz configure_fuzz
phase blas-check "$build/tests/tools/zt_blas_probe"

phase "label unit" run_label unit "$build" "$(nproc)"
phase "label multirank" run_label multirank "$build" 1
phase "label e2e" run_label e2e "$build" 1
phase "label fuzz" run_label fuzz "$fuzz_build" "$(nproc)"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  phase "label gpu" run_label gpu "$build" 1
else
  rows+=("$(printf '%-22s %7s  not run (no CUDA device)' "label gpu" "-")")
fi

echo
echo "zerotune test command: wall time per phase"
printf '%s\n' "${rows[@]}"
printf '%-22s %6ss\n' "total" "$SECONDS"
exit $failed
