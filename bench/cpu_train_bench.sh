#!/usr/bin/env bash
# zerotune beside HF transformers + PEFT on this machine's CPU, in one run, alternating the two:
# a random-weight preset (default qwen2.5-0.5b), LoRA r 16 alpha 32 on all linears, dropout 0,
# 512-token samples with every token trained, micro batch 1, gradient checkpointing, in fp32
# and in bf16. Per system and dtype: tokens/s over steps 3+ (input tokens of those steps over
# their wall time) and peak RSS (the process's VmHWM), the best of --rounds rounds; then the
# ratios zerotune / HF. HF runs from its own virtual environment (default .venv-bench/,
# installed from PyPI on first use: torch, transformers, peft).
#   bench/cpu_train_bench.sh [--preset P] [--steps K] [--rounds R] [--threads T] [--build DIR]
#                            [--venv DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
preset=qwen2.5-0.5b steps=8 rounds=2 threads=2 build=$root/build venv=$root/.venv-bench
while [[ $# -gt 0 ]]; do
  case $1 in
    --preset) preset=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    *) echo "cpu_train_bench: unknown flag $1 (expected --preset, --steps, --rounds, --threads, --build, --venv)" >&2
       exit 2 ;;
  esac
done
((steps >= 4)) || { echo "cpu_train_bench: --steps must be at least 4 (steps 3+ are timed), got $steps" >&2; exit 2; }
seq_len=512

if ! "$venv/bin/python" -c 'import torch, transformers, peft' 2>/dev/null; then
  echo "cpu_train_bench: installing torch, transformers and peft into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.11.0 transformers peft accelerate
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arch=qwen2; [[ $preset == qwen3* ]] && arch=qwen3
export OMP_NUM_THREADS=$threads

# Pre-tokenized samples (every token trained: no labels key), the same file for both systems.
python3 - "$work/data.jsonl" "$steps" "$seq_len" <<'PY'
import json, random, sys
path, steps, seq_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(1)
with open(path, "w") as f:
    for _ in range(steps):
        f.write(json.dumps({"input_ids": [rng.randrange(100, 30000) for _ in range(seq_len)]}) + "\n")
PY

cat >"$work/hf_train.py" <<'PY'
import json, resource, sys, time
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

model_dir, data, dtype, steps, out, threads = sys.argv[1:7]
steps, threads = int(steps), int(threads)
torch.set_num_threads(threads)
model = AutoModelForCausalLM.from_pretrained(
    model_dir, dtype=torch.float32 if dtype == "fp32" else torch.bfloat16)
model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0,
                                         target_modules="all-linear", task_type="CAUSAL_LM"))
rows = [json.loads(line)["input_ids"] for line in open(data)]

class Samples(torch.utils.data.Dataset):
    def __len__(self):
        return len(rows)
    def __getitem__(self, i):
        ids = torch.tensor(rows[i])
        return {"input_ids": ids, "labels": ids.clone(), "attention_mask": torch.ones_like(ids)}

ends = []
class StepTimes(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        ends.append(time.perf_counter())

args = TrainingArguments(output_dir=out, per_device_train_batch_size=1, max_steps=steps,
                         gradient_checkpointing=True,
                         gradient_checkpointing_kwargs={"use_reentrant": False},
                         bf16=dtype == "bf16", use_cpu=True, learning_rate=1e-4,
                         lr_scheduler_type="constant", logging_steps=1, save_strategy="no",
                         report_to=[], dataloader_num_workers=0, remove_unused_columns=False)
Trainer(model=model, args=args, train_dataset=Samples(), callbacks=[StepTimes()]).train()
seq_len = len(rows[0])
print(json.dumps({"tokens_per_second": seq_len * (len(ends) - 2) / (ends[-1] - ends[1]),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
PY

run_zerotune() {  # run_zerotune DTYPE OUT: prints {"tokens_per_second", "peak_rss_mib"}
  local flags=()
  [[ $1 == bf16 ]] && flags=(--bf16)
  "$build/worker/zerotune-worker" train --model_name_or_path "$work/model-$1" \
    --data_path "$work/data.jsonl" --output_dir "$2" --use_lora --lora_r 16 --lora_alpha 32 \
    --lora_dropout 0 --lora_target_modules all-linear "${flags[@]}" --max_steps "$steps" \
    --per_device_train_batch_size 1 --model_max_length "$seq_len" --gradient_checkpointing \
    --learning_rate 1e-4 --lr_scheduler_type constant --logging_steps 1 --save_strategy no \
    >"$2.log" 2>&1 || { cat "$2.log" >&2; return 1; }
  python3 - "$2/metrics.jsonl" "$seq_len" "$steps" "$2.log" <<'PY'
import json, re, sys
path, seq_len, steps, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rows = [json.loads(l) for l in open(path)]
steps_rows = [r for r in rows if "tokens_per_second" in r and r.get("step", 0) >= 3]
# Each logged window is one step of seq_len - 1 trained tokens; time it from its rate.
seconds = sum((seq_len - 1) / r["tokens_per_second"] for r in steps_rows)
print(json.dumps({"tokens_per_second": seq_len * len(steps_rows) / seconds,
                  "peak_rss_mib": max(r["peak_rss_mib"] for r in rows if "peak_rss_mib" in r)}))
PY
}

run_hf() {  # run_hf DTYPE OUT
  "$venv/bin/python" "$work/hf_train.py" "$work/model-$1" "$work/data.jsonl" "$1" "$steps" "$2" \
    "$threads" >"$2.log" 2>&1 || { cat "$2.log" >&2; return 1; }
  tail -n 1 "$2.log"
}

for dtype in fp32 bf16; do
  "$build/worker/zerotune-worker" init-model --arch "$arch" --preset "$preset" --seed 1 \
    --dtype "$dtype" --tokenizer "$root/tests/data/qwen3-tokenizer" --out "$work/model-$dtype" >/dev/null
done

results=$work/results.jsonl
for round in $(seq 1 "$rounds"); do
  for dtype in fp32 bf16; do
    for system in zerotune hf; do
      echo "cpu_train_bench: round $round, $dtype, $system" >&2
      line=$(run_$system "$dtype" "$work/out-$system-$dtype-$round")
      echo "{\"system\": \"$system\", \"dtype\": \"$dtype\", \"result\": $line}" >>"$results"
    done
  done
done

python3 - "$results" "$preset" "$threads" "$steps" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"preset {sys.argv[2]}, {sys.argv[3]} threads, {sys.argv[4]} steps of 512 tokens, LoRA r16 all-linear, "
      "micro batch 1, gradient checkpointing; best of the rounds")
print(f"{'dtype':6} {'system':9} {'tokens/s':>9} {'peak_rss_mib':>13}")
best = {}
for r in rows:
    key = (r["dtype"], r["system"])
    tps, rss = r["result"]["tokens_per_second"], r["result"]["peak_rss_mib"]
    old = best.get(key)
    best[key] = (max(tps, old[0]) if old else tps, min(rss, old[1]) if old else rss)
for (dtype, system), (tps, rss) in sorted(best.items(), key=lambda kv: (kv[0][0] != "fp32", kv[0][1] != "zerotune")):
    print(f"{dtype:6} {system:9} {tps:9.1f} {rss:13.0f}")
targets = {"fp32": 1.0, "bf16": 1.5}
print(f"{'dtype':6} {'speed zt/hf':>12} {'target':>7} {'rss zt/hf':>10} {'target':>7}")
for dtype, speed_target in targets.items():
    if (dtype, "zerotune") not in best or (dtype, "hf") not in best:
        continue
    zt, hf = best[(dtype, "zerotune")], best[(dtype, "hf")]
    speed, rss = zt[0] / hf[0], zt[1] / hf[1]
    print(f"{dtype:6} {speed:12.2f} {'>=%.1f' % speed_target:>7} {rss:10.2f} {'<=0.5':>7}  "
          f"{'met' if speed >= speed_target and rss <= 0.5 else 'not met'}")
PY
