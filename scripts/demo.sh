#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing, builds the zerotune CLI and
# resolves the shipped ZeRO-2 + CPU-offload DeepSpeed config for one rank, printing it with
# every default filled in. (The training demo replaces this once the trainer lands.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
./scripts/build.sh zerotune
"${ZT_BUILD_DIR:-$root/build}/coordinator/zerotune" validate-config configs/ds/zero2_offload.json --world-size 1
