#!/usr/bin/env bash
# zerotune beside HF transformers + PEFT on this machine's CPU, in one run, alternating the two:
# a random-weight preset (default qwen2.5-0.5b), LoRA r 16 alpha 32 on all linears, dropout 0,
# 512-token samples with every token trained, micro batch 1, gradient checkpointing, in fp32
# and in bf16. Per system and dtype: tokens/s over steps 3+ (input tokens of those steps over
# their wall time) and peak RSS (the process's VmHWM), the best of --rounds rounds; then the
# ratios zerotune / HF. HF runs from its own virtual environment (default .venv-bench/,
# installed from PyPI on first use: torch, transformers, peft; bitsandbytes for --mode qlora).
# --mode qlora instead runs QLoRA (NF4, double quantization, bf16 compute): zerotune --q_lora
# --bf16 beside zerotune bf16 LoRA and beside HF + PEFT + bitsandbytes (BitsAndBytesConfig,
# prepare_model_for_kbit_training, bf16 autocast: the QLoRA recipe of PEFT's docs), the same
# model folder, data and flags otherwise.
#   bench/cpu_train_bench.sh [--mode lora|qlora] [--preset P] [--steps K] [--rounds R]
#                            [--threads T] [--build DIR] [--venv DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mode=lora preset=qwen2.5-0.5b steps=8 rounds=2 threads=2 build=$root/build venv=$root/.venv-bench
while [[ $# -gt 0 ]]; do
  case $1 in
    --mode) mode=$2; shift 2 ;;
    --preset) preset=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    *) echo "cpu_train_bench: unknown flag $1 (expected --mode, --preset, --steps, --rounds, --threads, --build, --venv)" >&2
       exit 2 ;;
  esac
done
((steps >= 4)) || { echo "cpu_train_bench: --steps must be at least 4 (steps 3+ are timed), got $steps" >&2; exit 2; }
seq_len=512
# The runs of a mode, system:variant; a variant is zerotune's flags and HF's set-up (fp32, bf16:
# LoRA in that dtype; qlora: QLoRA with bf16 compute), run_* below.
case $mode in
  lora) runs=(zerotune:fp32 hf:fp32 zerotune:bf16 hf:bf16) hf_modules=(torch transformers peft) ;;
  qlora) runs=(zerotune:qlora hf:qlora zerotune:bf16) hf_modules=(torch transformers peft bitsandbytes) ;;
  *) echo "cpu_train_bench: --mode must be lora or qlora, got $mode" >&2; exit 2 ;;
esac

if ! "$venv/bin/python" -c "import $(IFS=,; echo "${hf_modules[*]}")" 2>/dev/null; then
  echo "cpu_train_bench: installing ${hf_modules[*]} into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check torch==2.11.0 transformers peft accelerate \
    bitsandbytes==0.50.2
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
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

model_dir, data, dtype, steps, out, threads = sys.argv[1:7]
steps, threads = int(steps), int(threads)
torch.set_num_threads(threads)
checkpointing = {"use_reentrant": False}
if dtype == "qlora":
    from transformers import BitsAndBytesConfig
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, quantization_config=bnb,
                                                 device_map="cpu")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True,
                                            gradient_checkpointing_kwargs=checkpointing)
else:
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
                         gradient_checkpointing_kwargs=checkpointing,
                         bf16=dtype != "fp32", use_cpu=True, learning_rate=1e-4,
                         lr_scheduler_type="constant", logging_steps=1, save_strategy="no",
                         report_to=[], dataloader_num_workers=0, remove_unused_columns=False)
Trainer(model=model, args=args, train_dataset=Samples(), callbacks=[StepTimes()]).train()
seq_len = len(rows[0])
print(json.dumps({"tokens_per_second": seq_len * (len(ends) - 2) / (ends[-1] - ends[1]),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
PY

model_of() {  # model_of VARIANT: the folder it trains (QLoRA quantizes the bf16 one)
  if [[ $1 == fp32 ]]; then echo "$work/model-fp32"; else echo "$work/model-bf16"; fi
}

run_zerotune() {  # run_zerotune VARIANT OUT: prints {"tokens_per_second", "peak_rss_mib"}
  local flags=()
  [[ $1 == bf16 ]] && flags=(--bf16)
  [[ $1 == qlora ]] && flags=(--bf16 --q_lora)
  "$build/worker/zerotune-worker" train --model_name_or_path "$(model_of "$1")" \
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

run_hf() {  # run_hf VARIANT OUT
  "$venv/bin/python" "$work/hf_train.py" "$(model_of "$1")" "$work/data.jsonl" "$1" "$steps" "$2" \
    "$threads" >"$2.log" 2>&1 || { cat "$2.log" >&2; return 1; }
  tail -n 1 "$2.log"
}

dtypes=(bf16)
[[ $mode == lora ]] && dtypes=(fp32 bf16)
for dtype in "${dtypes[@]}"; do
  "$build/worker/zerotune-worker" init-model --arch "$arch" --preset "$preset" --seed 1 \
    --dtype "$dtype" --tokenizer "$root/tests/data/qwen3-tokenizer" --out "$work/model-$dtype" >/dev/null
done

results=$work/results.jsonl
for round in $(seq 1 "$rounds"); do
  for run in "${runs[@]}"; do
    system=${run%%:*} dtype=${run#*:}
    echo "cpu_train_bench: round $round, $dtype, $system" >&2
    line=$(run_$system "$dtype" "$work/out-$system-$dtype-$round")
    echo "{\"system\": \"$system\", \"dtype\": \"$dtype\", \"result\": $line}" >>"$results"
  done
done

python3 - "$results" "$preset" "$threads" "$steps" "$mode" "${runs[@]}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mode, order = sys.argv[5], [tuple(r.split(":")[::-1]) for r in sys.argv[6:]]
print(f"preset {sys.argv[2]}, {sys.argv[3]} threads, {sys.argv[4]} steps of 512 tokens, LoRA r16 all-linear, "
      "micro batch 1, gradient checkpointing; best of the rounds"
      + ("; qlora: NF4, double quantization, bf16 compute" if mode == "qlora" else ""))
print(f"{'dtype':6} {'system':9} {'tokens/s':>9} {'peak_rss_mib':>13}")
best = {}
for r in rows:
    key = (r["dtype"], r["system"])
    tps, rss = r["result"]["tokens_per_second"], r["result"]["peak_rss_mib"]
    old = best.get(key)
    best[key] = (max(tps, old[0]) if old else tps, min(rss, old[1]) if old else rss)
for dtype, system in order:
    tps, rss = best[(dtype, system)]
    print(f"{dtype:6} {system:9} {tps:9.1f} {rss:13.0f}")
# (label, measured, against, speed target or None); the RSS target is <= 0.5 wherever one is set.
if mode == "lora":
    ratios = [("fp32", ("fp32", "zerotune"), ("fp32", "hf"), 1.0), ("bf16", ("bf16", "zerotune"), ("bf16", "hf"), 1.5)]
else:
    ratios = [("qlora zt/hf", ("qlora", "zerotune"), ("qlora", "hf"), 1.5),
              ("qlora/bf16 zt", ("qlora", "zerotune"), ("bf16", "zerotune"), None)]
width = max(len(r[0]) for r in ratios)
print(f"{'ratio':{width}} {'speed':>6} {'target':>7} {'rss':>6} {'target':>7}")
for label, measured, against, speed_target in ratios:
    if measured not in best or against not in best:
        continue
    speed, rss = best[measured][0] / best[against][0], best[measured][1] / best[against][1]
    if speed_target is None:
        print(f"{label:{width}} {speed:6.2f} {'-':>7} {rss:6.2f} {'-':>7}")
        continue
    print(f"{label:{width}} {speed:6.2f} {'>=%.1f' % speed_target:>7} {rss:6.2f} {'<=0.5':>7}  "
          f"{'met' if speed >= speed_target and rss <= 0.5 else 'not met'}")
PY
