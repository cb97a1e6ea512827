#!/usr/bin/env bash
# Fault soak (not part of CI): N rounds of a 2-rank LoRA job through `zerotune launch` (tiny
# random-weight Qwen3, ZeRO-2 with CPU offload, a checkpoint every step), each round killing one
# random rank at a random moment with kill -9 or SIGSTOP (a stopped rank misses its heartbeats;
# saves run every step, so many faults land inside one). The coordinator must restart the job
# from its last complete checkpoint and end with the adapter an uninterrupted run writes, byte
# for byte. Prints one line per round and a summary table; exits 1 on any mismatch or failure.
#   bench/fault_soak.sh [--rounds N] [--steps K] [--seed S] [--build DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=20 steps=8 seed=1 build=$root/build
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) echo "fault_soak: unknown flag $1 (expected --rounds, --steps, --seed, --build)" >&2; exit 2 ;;
  esac
done
RANDOM=$seed
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Copies, so a rebuild during the soak cannot swap a binary under a restarting job; the
# launcher takes the zerotune-worker beside it.
mkdir "$work/bin"
cp "$build/coordinator/zerotune" "$build/worker/zerotune-worker" "$work/bin/"
zerotune=$work/bin/zerotune
worker=$work/bin/zerotune-worker
"$worker" init-model --arch qwen3 --preset tiny --seed 1 --dtype fp32 \
  --tokenizer "$root/tests/data/qwen3-tokenizer" --out "$work/model" >/dev/null

# The job; its output_dir is the only argument. Restarts are bounded so a broken recovery ends.
# It replaces its (sub)shell, so the ranks are the children of the pid `$!` names.
job() {
  exec "$zerotune" launch --nproc_per_node 2 --max_restarts 6 --heartbeat_timeout_ms 2000 \
    --rendezvous_timeout_s 20 \
    --abort_grace_ms 500 -- \
    --model_name_or_path "$work/model" --data_path "$root/examples/identity.jsonl" \
    --output_dir "$1" --deepspeed "$root/configs/ds/zero2_offload_auto.json" \
    --use_lora --lora_r 8 --lora_alpha 16 --lora_target_modules all-linear \
    --per_device_train_batch_size 4 --gradient_accumulation_steps 2 --learning_rate 1e-2 \
    --max_steps "$steps" --save_steps 1 --save_total_limit 2 --logging_steps 1 --seed 5
}

start=$(date +%s.%N)
(job "$work/reference") >"$work/reference.log" 2>&1 || { cat "$work/reference.log" >&2; exit 1; }
duration=$(echo "$(date +%s.%N) - $start" | bc)
reference=$(sha256sum "$work/reference/adapter_model.safetensors" | cut -d' ' -f1)
echo "uninterrupted run: ${duration%.*} s, adapter sha256 ${reference:0:16}"

kills=0 stops=0 missed=0 restarts=0 recoveries=0 mismatches=0 failures=0
for ((round = 1; round <= rounds; ++round)); do
  out=$work/round$round
  job "$out" >"$out.log" 2>&1 &
  launcher=$!
  # A moment in the first 90% of an uninterrupted run (the restarted job runs longer).
  percent=$((5 + RANDOM % 85))
  delay=$(echo "scale=2; $duration * $percent / 100" | bc)
  sleep "$delay"
  mapfile -t ranks < <(pgrep -P "$launcher" || true)
  kind=none
  if ((${#ranks[@]} > 0)); then
    victim=${ranks[RANDOM % ${#ranks[@]}]}
    if ((RANDOM % 2)); then kind=kill9; kill -9 "$victim" 2>/dev/null || kind=none
    else kind=sigstop; kill -STOP "$victim" 2>/dev/null || kind=none; fi
  fi
  case $kind in kill9) ((++kills)) ;; sigstop) ((++stops)) ;; *) ((++missed)) ;; esac
  status=0
  wait "$launcher" || status=$?
  n=$(grep -o 'after [0-9]* restart(s)' "$out.log" | grep -o '[0-9]*' | tail -1 || true)
  restarts=$((restarts + ${n:-0}))
  verdict=ok
  if ((status != 0)) || [[ ! -f $out/adapter_model.safetensors ]]; then
    verdict="FAILED (exit $status)"; ((++failures))
  elif [[ $(sha256sum "$out/adapter_model.safetensors" | cut -d' ' -f1) != "$reference" ]]; then
    verdict=MISMATCH; ((++mismatches))
  else
    [[ $kind != none ]] && ((++recoveries))
  fi
  printf 'round %2d: %-7s at %5.1f s, %s restart(s): %s\n' "$round" "$kind" "$delay" "${n:-0}" "$verdict"
  [[ $verdict == ok ]] || tail -20 "$out.log" >&2
done

echo
printf '%-8s %-7s %-9s %-9s %-9s %-11s %-11s %-9s\n' rounds kill-9 SIGSTOP no-fault restarts recoveries mismatches failures
printf '%-8s %-7s %-9s %-9s %-9s %-11s %-11s %-9s\n' "$rounds" "$kills" "$stops" "$missed" "$restarts" \
  "$recoveries" "$mismatches" "$failures"
((mismatches == 0 && failures == 0))
