#!/usr/bin/env python3
"""Whole-loop goldens from the HF Trainer (+ PEFT), for tests/worker/train/trainer_golden_test.cc.

Writes tests/data/trainer_goldens/:
  model/            a tiny random Qwen2 (vocab 64, hidden 16, 2 layers, q/k/v bias, GQA 2/1,
                    untied lm_head, random norms and biases), fp32, save_pretrained
  adapter_init/     a PEFT adapter for it with random non-zero A and B (save_pretrained), the
                    start of the --adapter_name_or_path case
  train.jsonl       8 pre-tokenized samples of 5-15 tokens, 0-4 prompt tokens labelled -100
                    (one without "labels": every token trained)
  train7.jsonl      its first 7 (an epoch whose last micro-batch is short)
  same.jsonl        one sample 5 times (the cases whose last window is short, see below)
  eval.jsonl        4 samples
  cases.json        per case: ranks, zerotune's flags (HF's arguments under their zerotune names)
  <case>.safetensors  per logged step loss, grad_norm, learning_rate (float64 [steps]) and
                    eval_loss where the case evaluates, as HF's log_history has them; the final
                    weights ("final.<HF name>") or adapter ("final.<PEFT name>", PEFT's
                    adapter_model.safetensors names); for LoRA cases the initial adapter
                    ("init.<PEFT name>")

Order independence: zerotune's sampler order is not HF's (docs/training.md, "Sample order"),
so every case is built so that the order cannot matter. Either every optimizer step covers the
whole data set (one step per epoch; with --loss_normalization per_micro_batch micro-batch 1,
since its per-micro-batch means depend on the grouping), or, where the last window of an epoch
is short, every sample is the same (same.jsonl), so which samples fill which window cannot
matter either (at 2 ranks also HF's padding, which repeats samples until every micro-batch
is full where zerotune leaves the last one short). The short last micro-batch (train7.jsonl,
micro-batch 2) sits inside the one window of its epoch; with token normalisation the grouping of samples into micro-batches
does not change the window's summed loss or token count (right padding never reaches a real
token under causal attention).

LoRA starts as zerotune's does (no adapter file): A ~ U(+-1/sqrt(in)) drawn in decoder order
(layer, then q k v o gate up down) from a CPU generator seeded with --seed, B = 0 (PEFT's
init_lora_weights=True distribution, zerotune's draws); the test checks zerotune's initial A
against init.* first.

Multi-rank cases run the HF Trainer as real processes: python -m torch.distributed.run
--standalone --nproc_per_node W (CPU, gloo), DDP, accelerate's data sharding.

eval_loss is HF's evaluation_loop value. At 1 rank: the mean over eval samples of their batch's
mean token loss. At W ranks transformers 5.25 counts each eval step's target tokens over all
ranks (prediction_step -> _get_num_items_in_batch gathers them) and compute_loss multiplies by
W, so a rank's value is W * its summed loss / the step's tokens on all ranks; gathered and
averaged, eval_loss is the mean over eval steps of each step's token-weighted loss (its W
batches together), not a per-sample mean (full_w2_eval: 4.147565 against 4.147300 per sample).

Run: python3 tests/golden/trainer_goldens.py  (or tests/golden/make_all.sh)
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data")),
                    "trainer_goldens")
SEED = 42
VOCAB = 64
LORA = dict(r=4, lora_alpha=16)
# k_proj's bias has no gradient (softmax ignores a constant added to a query's scores), only
# rounding noise of ~1e-10, which Adam divides by sqrt(v) + eps: with eps 1e-8 that noise moves
# the bias by up to lr * 1e-2 per step on both sides, differently. eps 1e-6 keeps it at ~1e-4 of
# that while true gradients (>= 1e-4 here) step as with any eps.
ADAM_EPSILON = 1e-6

# Every case: the HF run and zerotune's flags follow from these keys.
BASE = dict(world=1, data="train.jsonl", eval=None, eval_batch=1, batch=8, accumulation=1, epochs=3,
            max_steps=-1, lr=2e-3, scheduler="linear", warmup_ratio=0.0, weight_decay=0.0,
            max_grad_norm=1.0, normalization="token", lora=False, adapter=False)
CASES = {
    # 1 rank
    "full_gas1": dict(),
    "full_gas2_cosine": dict(batch=4, accumulation=2, epochs=5, scheduler="cosine", warmup_ratio=0.3,
                             weight_decay=0.1),
    "full_gas4_constant": dict(batch=2, accumulation=4, epochs=5, scheduler="constant_with_warmup",
                               warmup_ratio=0.3, max_grad_norm=0.5),
    "full_gas8_max_steps": dict(batch=1, accumulation=8, epochs=1, max_steps=4, warmup_ratio=0.25,
                                weight_decay=0.1),
    "full_gas8_per_micro_batch": dict(batch=1, accumulation=8, normalization="per_micro_batch"),
    "full_short_micro_batch": dict(data="train7.jsonl", batch=2, accumulation=4),
    "full_short_window": dict(data="same.jsonl", batch=1, accumulation=4, epochs=2),
    "full_short_window_per_micro_batch": dict(data="same.jsonl", batch=1, accumulation=4, epochs=2,
                                              normalization="per_micro_batch"),
    "full_eval": dict(eval="eval.jsonl", eval_batch=2, max_grad_norm=0.0),
    "lora_gas1": dict(lora=True, lr=1e-2, epochs=4),
    "lora_gas4_cosine": dict(lora=True, lr=1e-2, batch=2, accumulation=4, epochs=5, scheduler="cosine",
                             warmup_ratio=0.3, weight_decay=0.1),
    "lora_adapter": dict(lora=True, adapter=True, lr=1e-2),
    # 2 and 4 ranks
    "full_w2_gas1": dict(world=2, batch=4, accumulation=1, weight_decay=0.1),
    "full_w2_gas4": dict(world=2, batch=1, accumulation=4, weight_decay=0.1),
    "full_w2_per_micro_batch": dict(world=2, batch=1, accumulation=4, normalization="per_micro_batch"),
    "full_w2_eval": dict(world=2, batch=4, accumulation=1, epochs=2, eval="eval.jsonl", eval_batch=1),
    "full_w2_eval_batch2": dict(world=2, batch=4, accumulation=1, epochs=2, eval="eval.jsonl", eval_batch=2),
    "full_w2_short_window": dict(world=2, data="same.jsonl", batch=1, accumulation=2, epochs=2),
    # HF fills the last micro-batches up to full ones, zerotune leaves one short: same samples.
    "full_w2_short_micro_batch": dict(world=2, data="same.jsonl", batch=2, accumulation=2, epochs=2),
    "full_w4_gas2": dict(world=4, batch=1, accumulation=2, epochs=4, scheduler="cosine", warmup_ratio=0.25),
    "lora_w2_gas2": dict(world=2, lora=True, lr=1e-2, batch=2, accumulation=2),
}


def case_spec(name):
    spec = dict(BASE)
    spec.update(CASES[name])
    return spec


def zerotune_flags(spec):
    """The zerotune command line of a case; {data} is the fixture folder, output_dir is the test's."""
    flags = ["--model_name_or_path", "{data}/model", "--data_path", "{data}/" + spec["data"],
             "--per_device_train_batch_size", str(spec["batch"]),
             "--gradient_accumulation_steps", str(spec["accumulation"]),
             "--learning_rate", repr(spec["lr"]), "--lr_scheduler_type", spec["scheduler"],
             "--warmup_ratio", repr(spec["warmup_ratio"]), "--weight_decay", repr(spec["weight_decay"]),
             "--max_grad_norm", repr(spec["max_grad_norm"]), "--loss_normalization", spec["normalization"],
             "--seed", str(SEED), "--logging_steps", "1", "--save_strategy", "no", "--model_max_length", "64",
             "--optim", "adamw_torch", "--adam_epsilon", repr(ADAM_EPSILON), "--report_to", "none"]
    flags += ["--max_steps", str(spec["max_steps"])] if spec["max_steps"] > 0 else ["--num_train_epochs",
                                                                                     str(spec["epochs"])]
    if spec["eval"]:
        flags += ["--eval_data_path", "{data}/" + spec["eval"], "--eval_steps", "1",
                  "--per_device_eval_batch_size", str(spec["eval_batch"])]
    if spec["lora"]:
        flags += ["--use_lora", "true", "--lora_r", str(LORA["r"]), "--lora_alpha", str(LORA["lora_alpha"]),
                  "--lora_dropout", "0", "--lora_target_modules", "all-linear"]
    if spec["adapter"]:
        flags += ["--adapter_name_or_path", "{data}/adapter_init"]
    return flags


# ---------------------------------------------------------------- fixtures (the parent process)

def write_fixtures():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1,
                         eos_token_id=2, attention_dropout=0.0)
    torch.manual_seed(SEED)
    model = Qwen2ForCausalLM(config).float()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # HF initialises norms to 1 and biases to 0, which would hide misplaced ones.
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    model.save_pretrained(os.path.join(ROOT, "model"), safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(ROOT, "model", extra)
        if os.path.exists(path):
            os.remove(path)

    lora = LoraConfig(task_type="CAUSAL_LM", r=LORA["r"], lora_alpha=LORA["lora_alpha"], lora_dropout=0.0,
                      target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(Qwen2ForCausalLM(config), lora)
    g = torch.Generator().manual_seed(SEED + 2)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    peft_model.save_pretrained(os.path.join(ROOT, "adapter_init"))
    # PEFT writes all-linear's target_modules in set order; sorted, regenerating gives the same file.
    config_path = os.path.join(ROOT, "adapter_init", "adapter_config.json")
    with open(config_path) as f:
        adapter_config = json.load(f)
    adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    with open(config_path, "w") as f:
        json.dump(adapter_config, f, indent=2, sort_keys=True)
    for extra in ("README.md",):
        path = os.path.join(ROOT, "adapter_init", extra)
        if os.path.exists(path):
            os.remove(path)

    g = torch.Generator().manual_seed(SEED + 3)

    def sample(length, prompt, with_labels=True):
        ids = torch.randint(3, VOCAB, (length,), generator=g).tolist()
        record = {"input_ids": ids}
        if with_labels:
            record["labels"] = [-100] * prompt + ids[prompt:]
        return record

    shapes = [(9, 2), (5, 0), (14, 4), (7, 3), (11, 1), (6, 2), (15, 3), (8, 0)]
    train = [sample(n, p, with_labels=i != 4) for i, (n, p) in enumerate(shapes)]
    evals = [sample(n, p) for n, p in [(7, 2), (12, 3), (5, 1), (9, 0)]]
    same = [sample(10, 3)] * 5
    for name, records in (("train.jsonl", train), ("train7.jsonl", train[:7]), ("same.jsonl", same),
                          ("eval.jsonl", evals)):
        with open(os.path.join(ROOT, name), "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")


# ---------------------------------------------------------------- one HF run (any rank)

def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def collate(features):
    """Right padding: pad id 0, label -100, attention mask 0."""
    import torch
    longest = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros(len(features), longest, dtype=torch.long)
    mask = torch.zeros(len(features), longest, dtype=torch.long)
    labels = torch.full((len(features), longest), -100, dtype=torch.long)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(f.get("labels", f["input_ids"]))
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def zerotune_lora_init(peft_model, seed):
    """zerotune's LoRA start (worker/model/lora_model.cc): A ~ U(+-1/sqrt(in)) per adapted linear in
    decoder order from one CPU generator seeded with `seed`, B = 0."""
    import torch
    g = torch.Generator().manual_seed(seed)
    base = peft_model.base_model.model.model
    with torch.no_grad():
        for layer in base.layers:
            for module in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj,
                           layer.self_attn.o_proj, layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj):
                a = module.lora_A["default"].weight
                bound = 1.0 / math.sqrt(a.shape[1])
                a.copy_(torch.empty(a.shape).uniform_(-bound, bound, generator=g))
                module.lora_B["default"].weight.zero_()


def adapter_tensors(peft_model):
    from peft import get_peft_model_state_dict
    # The names PEFT's save_pretrained writes into adapter_model.safetensors.
    return {k: v.detach().clone().contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}


def run_case(name, out_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import Qwen2ForCausalLM, Trainer, TrainingArguments, set_seed

    spec = case_spec(name)
    set_seed(SEED)
    model = Qwen2ForCausalLM.from_pretrained(os.path.join(ROOT, "model"), dtype=torch.float32,
                                             attn_implementation="eager")
    init = {}
    if spec["adapter"]:
        model = PeftModel.from_pretrained(model, os.path.join(ROOT, "adapter_init"), is_trainable=True)
    elif spec["lora"]:
        model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=LORA["r"], lora_alpha=LORA["lora_alpha"],
                                                 lora_dropout=0.0, target_modules="all-linear"))
        zerotune_lora_init(model, SEED)
    if spec["lora"]:
        init = {"init." + k: v for k, v in adapter_tensors(model).items()}

    class Samples(torch.utils.data.Dataset):
        def __init__(self, path):
            self.records = read_jsonl(os.path.join(ROOT, path))

        def __len__(self):
            return len(self.records)

        def __getitem__(self, i):
            return self.records[i]

    class PerMicroBatchTrainer(Trainer):
        """DeepSpeed's normalisation: each micro-batch's mean token loss / the window's micro-batch
        count (HF sets current_gradient_accumulation_steps per window, fewer in a short one)."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs)
            loss = outputs.loss
            if model.training:
                loss = loss / self.current_gradient_accumulation_steps
            return (loss, outputs) if return_outputs else loss

    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, use_cpu=True, seed=SEED, per_device_train_batch_size=spec["batch"],
            gradient_accumulation_steps=spec["accumulation"], num_train_epochs=spec["epochs"],
            max_steps=spec["max_steps"], learning_rate=spec["lr"], lr_scheduler_type=spec["scheduler"],
            # transformers 5.x: a warmup_steps below 1 is a ratio (warmup_ratio is gone).
            warmup_steps=spec["warmup_ratio"], weight_decay=spec["weight_decay"],
            max_grad_norm=spec["max_grad_norm"], optim="adamw_torch", adam_epsilon=ADAM_EPSILON, logging_steps=1, save_strategy="no",
            report_to="none", disable_tqdm=True, dataloader_pin_memory=False,
            eval_strategy="steps" if spec["eval"] else "no", eval_steps=1 if spec["eval"] else None,
            per_device_eval_batch_size=spec["eval_batch"], average_tokens_across_devices=True)
        trainer_class = PerMicroBatchTrainer if spec["normalization"] == "per_micro_batch" else Trainer
        trainer = trainer_class(model=model, args=args, train_dataset=Samples(spec["data"]),
                                eval_dataset=Samples(spec["eval"]) if spec["eval"] else None, data_collator=collate)
        trainer.train()
        if args.process_index != 0:
            return
        history = trainer.state.log_history
    train_logs = [h for h in history if "loss" in h and "train_loss" not in h]
    eval_logs = [h for h in history if "eval_loss" in h]
    steps = [h["step"] for h in train_logs]
    assert steps == list(range(1, len(steps) + 1)), f"{name}: a log per step expected, got steps {steps}"
    tensors = {
        "loss": torch.tensor([h["loss"] for h in train_logs], dtype=torch.float64),
        "grad_norm": torch.tensor([h["grad_norm"] for h in train_logs], dtype=torch.float64),
        "learning_rate": torch.tensor([h["learning_rate"] for h in train_logs], dtype=torch.float64),
    }
    if eval_logs:
        assert [h["step"] for h in eval_logs] == steps, f"{name}: an evaluation per step expected"
        tensors["eval_loss"] = torch.tensor([h["eval_loss"] for h in eval_logs], dtype=torch.float64)
    final = trainer.model
    if hasattr(final, "module"):
        final = final.module
    if spec["lora"]:
        tensors.update({"final." + k: v for k, v in adapter_tensors(final).items()})
        tensors.update(init)
    else:
        tensors.update({"final." + k: v.detach().clone().contiguous() for k, v in final.state_dict().items()})
    from safetensors.torch import save_file
    # One metadata key: safetensors writes its metadata map in no fixed order.
    save_file(tensors, out_path, metadata={"case": name})


# ---------------------------------------------------------------- driver

def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--case":  # a rank of one case (also 1-rank cases)
        run_case(sys.argv[2], os.path.join(ROOT, sys.argv[2] + ".safetensors"))
        return
    import peft
    import torch
    import transformers
    import accelerate
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    write_fixtures()
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    cases = {}
    for name in CASES:
        spec = case_spec(name)
        command = [sys.executable, os.path.abspath(__file__), "--case", name]
        if spec["world"] > 1:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                       f"--nproc_per_node={spec['world']}"] + command[1:]
        print(f"  {name} ({spec['world']} rank(s))", flush=True)
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        cases[name] = {"world_size": spec["world"], "lora": spec["lora"], "flags": zerotune_flags(spec)}
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    versions = (f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
                f"accelerate {accelerate.__version__}")
    with open(os.path.join(ROOT, "SOURCE.md"), "w") as f:
        f.write(SOURCE_MD.format(versions=versions))


SOURCE_MD = """# trainer_goldens

Generated by `tests/golden/trainer_goldens.py` (run by `tests/golden/make_all.sh`) with
{versions},
on CPU, fp32, eager attention, dropout 0, seed 42, adamw_torch with adam_epsilon 1e-6 (why: the generator's ADAM_EPSILON comment). Regenerate:

    python3 tests/golden/trainer_goldens.py

What each file is, and why no case depends on the sample order, is the generator's docstring.
`cases.json` holds each case's zerotune flags; the HF run of a case uses the same values under
HF's names, with these translations:

- `--warmup_ratio R`: HF `warmup_steps=R` (transformers 5.x reads a warmup_steps below 1 as a
  ratio of the total steps, ceil(R * steps)).
- `--loss_normalization token`: the stock HF Trainer (average_tokens_across_devices=True: the
  window's summed token losses over all ranks / its target tokens over all ranks).
- `--loss_normalization per_micro_batch`: the HF Trainer with a compute_loss returning the
  micro-batch's mean token loss / current_gradient_accumulation_steps (the window's micro-batch
  count), DeepSpeed's normalisation; DDP averages the ranks.
- LoRA without `--adapter_name_or_path`: PEFT's adapter (r 4, alpha 16, all-linear, dropout 0)
  with A drawn as zerotune draws it (init.* in the golden), B = 0.
- `--adapter_name_or_path {{data}}/adapter_init`: `PeftModel.from_pretrained(base, adapter_init,
  is_trainable=True)`.

Ranks > 1 are real HF runs: `python -m torch.distributed.run --standalone --nproc_per_node W`
(gloo, DDP, accelerate's BatchSamplerShard with even_batches). Logged values are rank 0's
log_history: loss (HF's mean over ranks of each rank's window loss), grad_norm (before
clipping), learning_rate (the lr the step used), eval_loss (at 1 rank the mean over eval
samples of their batch's mean token loss; at W ranks transformers 5.25's: the mean over eval
steps of each step's token-weighted loss over its W batches, see the generator's docstring).
"""

if __name__ == "__main__":
    main()
