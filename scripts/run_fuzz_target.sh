#!/usr/bin/env bash
# run_fuzz_target.sh FUZZER SCRATCH_DIR SEED_DIR [libFuzzer flags...]
# Runs one libFuzzer target over its committed seeds. New inputs land in SCRATCH_DIR, emptied
# first, so the seed corpus is never modified and repeated runs are identical.
set -euo pipefail
fuzzer=$1 scratch=$2 seeds=$3
shift 3
rm -rf "$scratch" && mkdir -p "$scratch"
exec "$fuzzer" -seed=1 -max_len=4096 -timeout=10 -rss_limit_mb=4096 "$@" "$scratch" "$seeds"
