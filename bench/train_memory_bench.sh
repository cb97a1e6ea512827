#!/usr/bin/env bash
# Per-rank peak memory and speed of `zerotune-worker train` through `zerotune launch` at ZeRO
# stages 2 and 3: a random-weight preset (default qwen2.5-0.5b, bf16), LoRA r 16 on all
# linears, gradient checkpointing, a few steps on the shipped conversations. Prints one row per
# stage: rank 0's peak resident set (VmHWM, what the trainer reports as peak_rss_mib) and the
# last logging window's tokens/s.
#   bench/train_memory_bench.sh [--preset P] [--ranks N] [--steps K] [--build DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=qwen2.5-0.5b ranks=2 steps=4 build=$root/build
while [[ $# -gt 0 ]]; do
  case $1 in
    --preset) preset=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "train_memory_bench: unknown flag $1 (expected --preset, --ranks, --steps, --build)" >&2; exit 2 ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arch=qwen2; [[ $preset == qwen3* ]] && arch=qwen3
"$build/worker/zerotune-worker" init-model --arch "$arch" --preset "$preset" --seed 1 --dtype bf16 \
  --tokenizer "$root/tests/data/qwen3-tokenizer" --out "$work/model" >/dev/null
printf '%-8s %6s %16s %12s\n' stage ranks peak_rss_mib tokens/s
for stage in 2 3; do
  out=$work/out$stage
  "$build/coordinator/zerotune" launch --nproc_per_node "$ranks" -- \
    --model_name_or_path "$work/model" --data_path "$root/examples/identity.jsonl" --output_dir "$out" \
    --use_lora --lora_r 16 --lora_alpha 32 --lora_target_modules all-linear --bf16 \
    --max_steps "$steps" --per_device_train_batch_size 1 --model_max_length 64 \
    --gradient_checkpointing --logging_steps 1 --deepspeed "$root/configs/ds/zero$stage.json" \
    >"$work/log$stage" 2>&1 || { cat "$work/log$stage" >&2; exit 1; }
  python3 - "$out/metrics.jsonl" "$stage" "$ranks" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"peak_rss_mib"' in l]
print('%-8s %6s %16.1f %12.1f' % (sys.argv[2], sys.argv[3], max(r['peak_rss_mib'] for r in rows),
                                   rows[-1]['tokens_per_second']))
PY
done
