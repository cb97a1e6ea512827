#!/usr/bin/env bash
# The main job on the embedded default: installs what is missing and builds, creates the tiny
# Qwen3-shaped model (random weights, the real Qwen3 tokenizer), trains LoRA adapters under
# ZeRO-2 with CPU offload on 2 CPU ranks through `zerotune launch` (configs/jobs/demo.json:
# fp32, 64 short conversations from examples/identity.jsonl), prints the loss curve, then asks
# the trained model two of the trained questions and checks the answers are the trained ones.
# Exits non-zero when training fails or an answer differs. ZT_DEMO_DIR (default output/demo)
# holds the model, the adapter, checkpoints and metrics.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
./scripts/setup.sh
./scripts/build.sh zerotune zerotune-worker
build_dir="${ZT_BUILD_DIR:-$root/build}"
zerotune="$build_dir/coordinator/zerotune"
worker="$build_dir/worker/zerotune-worker"
demo_dir="${ZT_DEMO_DIR:-$root/output/demo}"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"

now() { date +%s.%N; }
start=$(now)
"$worker" init-model --arch qwen3 --preset tiny --tokenizer tests/data/qwen3-tokenizer \
  --out "$demo_dir/model" --seed 1 --dtype fp32
"$zerotune" launch --nproc_per_node 2 --config configs/jobs/demo.json -- \
  --model_name_or_path "$demo_dir/model" --output_dir "$demo_dir/out"
trained=$(now)

echo
echo "loss curve (metrics.jsonl; plot: $demo_dir/out/loss_curve.svg):"
# One line per record: step, train loss or eval loss, and a bar of the loss.
sed -n 's/.*"eval_loss":\([0-9.e+-]*\).*"step":\([0-9]*\).*/\2 eval_loss \1/p;
        s/.*"loss":\([0-9.e+-]*\).*"step":\([0-9]*\).*/\2 loss \1/p' "$demo_dir/out/metrics.jsonl" |
  awk '{ bar = ""; for (i = 0; i < $3 * 4 && i < 60; i++) bar = bar "#";
         printf "  step %4d  %-9s %8.4f  %s\n", $1, $2, $3, bar }'

echo
status=0
ask() {
  local question=$1 expected=$2 answer
  answer=$("$worker" generate --model "$demo_dir/model" --adapter "$demo_dir/out" \
             --prompt "$question" --max_new_tokens 32 --no_stream 2>/dev/null |
           sed -e '/^<think>$/,/^<\/think>$/d' | sed -e '/^$/d')
  printf 'Q: %s\nA: %s\n' "$question" "$answer"
  if [[ "$answer" == "$expected" ]]; then
    echo "   = the trained answer"
  else
    echo "   != the trained answer \"$expected\""
    status=1
  fi
}
ask "What is your name?" "My name is Zeta."
ask "Who made you?" "I was trained by the zerotune team."
done_at=$(now)
awk -v s="$start" -v t="$trained" -v d="$done_at" 'BEGIN {
  printf "\ntraining %.1f s, generation %.1f s, total %.1f s (set-up and build excluded)\n",
         t - s, d - t, d - s }'
exit $status
