#!/usr/bin/env bash
# make_all.sh: regenerates every golden fixture in tests/data/ with the reference Python
# libraries (HF tokenizers/transformers/peft, torch, bitsandbytes), in one command, on a host
# that has them (PYTHON names the interpreter; default python3). Each generator is one line
# below; each writes its fixtures and their SOURCE.md (library versions, this command).
# Afterwards `git status tests/data` shows what changed; the diff must be explained or be empty.
# ZT_WORKER names a built zerotune-worker (default build/worker/zerotune-worker), which
# generation_goldens.py runs for init-model; without it tests/data/generation/cli.json is kept.
# DeepSpeed's pure-Python parts are enough for the schedule and ds_config goldens (no CUDA ops):
# `pip install --no-deps deepspeed hjson py-cpuinfo pydantic` beside torch, DS_ACCELERATOR=cpu.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PYTHON=${PYTHON:-python3}
export ZT_TEST_DATA="$root/tests/data"
export DS_ACCELERATOR=${DS_ACCELERATOR:-cpu}

generators=(
  # one line per generator: "<script relative to tests/golden> [args]"
  "lr_schedules.py"
  "ds_config_goldens.py"
  "decoder_goldens.py"
  # generation_goldens.py reads the tests/data/models that decoder_goldens.py writes
  "generation_goldens.py"
  "tokenizer_parity.py"
  "chat_template_goldens.py"
  "qwen_finetune_labels.py"
  "tensorboard_goldens.py"
  "nf4_goldens.py"
  # bitsandbytes Linear4bit under PEFT LoRA: forward and backward
  "linear4bit_goldens.py"
  # the whole loop: HF Trainer runs, 2- and 4-rank ones under torch.distributed.run (gloo)
  "trainer_goldens.py"
  # QLoRA's loop: HF Trainer + PEFT + bitsandbytes (reads trainer_goldens' train.jsonl)
  "qlora_trainer_goldens.py"
)

start=$SECONDS
for entry in "${generators[@]}"; do
  read -r script args <<<"$entry"
  echo "=== $script"
  t=$SECONDS
  # shellcheck disable=SC2086
  "$PYTHON" "$here/$script" $args
  echo "    $((SECONDS - t)) s"
done
echo "make_all: ${#generators[@]} generator(s) in $((SECONDS - start)) s"
