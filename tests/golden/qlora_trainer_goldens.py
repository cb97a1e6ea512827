#!/usr/bin/env python3
"""QLoRA whole-loop golden from the HF Trainer + PEFT + bitsandbytes (CPU), for
tests/worker/train/qlora_train_test.cc.

Reads tests/data/trainer_goldens/train.jsonl (trainer_goldens.py's 8 samples, vocab 64) and
writes tests/data/qlora_trainer_goldens/:
  model_bf16/       a tiny random Qwen2 in bf16 (vocab 64, hidden 64, intermediate 128, 2 layers,
                    2 heads of 32, 1 kv head, q/k/v bias, untied lm_head, random norms and
                    biases; save_pretrained, config.json dtype bfloat16): every linear's rows
                    are whole 64-element blocks, as in every Qwen model (bitsandbytes' AVX-512
                    CPU dequantization indexes absmax per row, wrong for shorter rows:
                    docs/quantize.md), the 16-bit folder both sides quantize
  model_bnb4bit/    model_bf16 loaded with that BitsAndBytesConfig and save_pretrained: the
                    pre-quantized folder as transformers writes it
  adapter_init/     a PEFT adapter for it (r 4, alpha 16, all-linear) with random non-zero A, B
  qlora.safetensors per logged step loss, grad_norm, learning_rate (float64 [steps]) of the
                    reference (1 torch thread, eager attention); "init.<PEFT name>" /
                    "final.<PEFT name>" the adapter before and after; the noise floor: the same
                    run at 2 threads (loss_threads2, threads2.final.*) and with SDPA attention
                    (loss_sdpa, sdpa.final.*), equally valid summation orders
  cases.json        zerotune's flags for the case ({data} = tests/data)

The reference: from_pretrained(model_bf16, dtype=bfloat16, quantization_config=
BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
bnb_4bit_compute_dtype=bfloat16), device_map="cpu"), prepare_model_for_kbit_training
(use_gradient_checkpointing=False: embeddings, norms, biases and lm_head to fp32),
PeftModel.from_pretrained(adapter_init, is_trainable=True) (fp32 LoRA), the HF Trainer in fp32
(bf16=False: no autocast; only the 4-bit matmuls run in bf16), one step per epoch over all 8
samples, so the sample order cannot matter (trainer_goldens.py's docstring).
zerotune: --q_lora --bnb_4bit_compute_dtype bf16 --kbit_upcast fp32 on model_bf16 with
--adapter_name_or_path adapter_init.

The 2-rank golden (qlora_2rank.safetensors, case "qlora_2rank") is qlora_trainer_goldens_2rank.py's,
which main() runs last, since it starts by clearing the folder.

Run: /work/venv-golden/bin/python tests/golden/qlora_trainer_goldens.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

DATA = os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
SOURCE = os.path.join(DATA, "trainer_goldens")
ROOT = os.path.join(DATA, "qlora_trainer_goldens")
SEED = 42
EPOCHS = 6
LR = 1e-2
ADAM_EPSILON = 1e-6  # as trainer_goldens.py (k_proj's bias noise; harmless here, kept alike)

FLAGS = ["--model_name_or_path", "{data}/qlora_trainer_goldens/model_bf16",
         "--adapter_name_or_path", "{data}/qlora_trainer_goldens/adapter_init",
         "--data_path", "{data}/trainer_goldens/train.jsonl",
         "--q_lora", "true", "--bnb_4bit_quant_type", "nf4", "--bnb_4bit_use_double_quant", "true",
         "--bnb_4bit_compute_dtype", "bf16", "--kbit_upcast", "fp32",
         "--per_device_train_batch_size", "8", "--gradient_accumulation_steps", "1",
         "--num_train_epochs", str(EPOCHS), "--learning_rate", repr(LR), "--lr_scheduler_type", "linear",
         "--warmup_ratio", "0.0", "--weight_decay", "0.0", "--max_grad_norm", "1.0",
         "--loss_normalization", "token", "--seed", str(SEED), "--logging_steps", "1",
         "--save_strategy", "no", "--model_max_length", "64", "--optim", "adamw_torch",
         "--adam_epsilon", repr(ADAM_EPSILON), "--report_to", "none"]


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def collate(features):
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


def adapter_tensors(model):
    from peft import get_peft_model_state_dict
    return {k: v.detach().float().clone().contiguous() for k, v in get_peft_model_state_dict(model).items()}


def write_fixtures():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64,
                         rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1,
                         eos_token_id=2, attention_dropout=0.0)
    torch.manual_seed(SEED)
    # initializer_range 0.02 gives logits too flat to move the loss much in a few steps.
    config.initializer_range = 0.1
    model = Qwen2ForCausalLM(config).float()
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    model.to(torch.bfloat16).save_pretrained(os.path.join(ROOT, "model_bf16"), safe_serialization=True)
    extra = os.path.join(ROOT, "model_bf16", "generation_config.json")
    if os.path.exists(extra):
        os.remove(extra)
    lora = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear",
                      init_lora_weights=False)
    peft_model = get_peft_model(Qwen2ForCausalLM(config), lora)
    g = torch.Generator().manual_seed(SEED + 2)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    peft_model.save_pretrained(os.path.join(ROOT, "adapter_init"))
    config_path = os.path.join(ROOT, "adapter_init", "adapter_config.json")
    with open(config_path) as f:
        adapter_config = json.load(f)
    adapter_config["target_modules"] = sorted(adapter_config["target_modules"])
    with open(config_path, "w") as f:
        json.dump(adapter_config, f, indent=2, sort_keys=True)
    readme = os.path.join(ROOT, "adapter_init", "README.md")
    if os.path.exists(readme):
        os.remove(readme)


def write_prequantized():
    import torch
    from transformers import BitsAndBytesConfig, Qwen2ForCausalLM
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    model = Qwen2ForCausalLM.from_pretrained(os.path.join(ROOT, "model_bf16"), dtype=torch.bfloat16,
                                             quantization_config=bnb, device_map="cpu")
    out = os.path.join(ROOT, "model_bnb4bit")
    model.save_pretrained(out)
    extra = os.path.join(out, "generation_config.json")
    if os.path.exists(extra):
        os.remove(extra)


def run(threads, attention="eager", batch=8, data_seed=None):
    """One reference run at `threads` torch threads: (log history, initial adapter, final adapter).
    Under torch.distributed.run every rank calls it (qlora_trainer_goldens_2rank.py) with `batch`
    samples per rank; `data_seed` reshuffles which samples share a micro-batch."""
    import torch
    from peft import PeftModel, prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig, Qwen2ForCausalLM, Trainer, TrainingArguments, set_seed

    torch.set_num_threads(threads)
    set_seed(SEED)
    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=torch.bfloat16)
    model = Qwen2ForCausalLM.from_pretrained(os.path.join(ROOT, "model_bf16"), dtype=torch.bfloat16,
                                             quantization_config=bnb, device_map="cpu",
                                             attn_implementation=attention)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = PeftModel.from_pretrained(model, os.path.join(ROOT, "adapter_init"), is_trainable=True)
    for name, p in model.named_parameters():
        assert p.dtype in (torch.float32, torch.uint8), f"{name}: {p.dtype}"
        assert p.requires_grad == ("lora_" in name), name
    init = adapter_tensors(model)

    class Samples(torch.utils.data.Dataset):
        def __init__(self):
            self.records = read_jsonl(os.path.join(SOURCE, "train.jsonl"))

        def __len__(self):
            return len(self.records)

        def __getitem__(self, i):
            return self.records[i]

    with tempfile.TemporaryDirectory() as out_dir:
        args = TrainingArguments(
            output_dir=out_dir, use_cpu=True, seed=SEED, data_seed=data_seed, per_device_train_batch_size=batch,
            gradient_accumulation_steps=1, num_train_epochs=EPOCHS, learning_rate=LR,
            lr_scheduler_type="linear", warmup_steps=0.0, weight_decay=0.0, max_grad_norm=1.0,
            optim="adamw_torch", adam_epsilon=ADAM_EPSILON, logging_steps=1, save_strategy="no",
            report_to="none", disable_tqdm=True, dataloader_pin_memory=False, bf16=False,
            average_tokens_across_devices=True)
        trainer = Trainer(model=model, args=args, train_dataset=Samples(), data_collator=collate)
        trainer.train()
        history = [h for h in trainer.state.log_history if "loss" in h and "train_loss" not in h]
    assert [h["step"] for h in history] == list(range(1, EPOCHS + 1))
    return history, init, adapter_tensors(model)


def main():
    import bitsandbytes
    import peft
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import Qwen2ForCausalLM

    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    write_fixtures()

    write_prequantized()
    history1, init, final1 = run(1)
    history2, _, final2 = run(2)
    history3, _, final3 = run(1, "sdpa")
    f64 = lambda key, h: torch.tensor([x[key] for x in h], dtype=torch.float64)
    tensors = {"loss": f64("loss", history1), "grad_norm": f64("grad_norm", history1),
               "learning_rate": f64("learning_rate", history1), "loss_threads2": f64("loss", history2),
               "grad_norm_threads2": f64("grad_norm", history2), "loss_sdpa": f64("loss", history3),
               "grad_norm_sdpa": f64("grad_norm", history3)}
    tensors.update({"init." + k: v for k, v in init.items()})
    tensors.update({"final." + k: v for k, v in final1.items()})
    tensors.update({"threads2.final." + k: v for k, v in final2.items()})
    tensors.update({"sdpa.final." + k: v for k, v in final3.items()})
    save_file(tensors, os.path.join(ROOT, "qlora.safetensors"), metadata={"case": "qlora"})
    with open(os.path.join(ROOT, "cases.json"), "w") as f:
        json.dump({"qlora": {"world_size": 1, "lora": True, "flags": FLAGS}}, f, indent=1)
    rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()
    loss_gap = max((tensors["loss"] - tensors[k]).abs().max().item() for k in ("loss_threads2", "loss_sdpa"))
    adapter_gap = max(rel(f[k], final1[k]) for f in (final2, final3) for k in final1)
    moved = max(rel(final1[k], init[k]) for k in final1)
    with open(os.path.join(ROOT, "SOURCE.md"), "w") as f:
        f.write("# qlora_trainer_goldens\n\n"
                "Written by `tests/golden/qlora_trainer_goldens.py` (see its docstring) with torch "
                f"{torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
                f"bitsandbytes {bitsandbytes.__version__} on the CPU.\n\n"
                f"Noise floor of the reference (1 vs 2 torch threads, eager vs SDPA attention): "
                f"per-step loss {loss_gap:.3e} (max abs), final adapter {adapter_gap:.3e} "
                f"(relative Frobenius, worst tensor); training moved the adapter by {moved:.3e}.\n")
    print("loss", tensors["loss"].tolist())
    print("loss_sdpa", tensors["loss_sdpa"].tolist())
    print("noise floor: loss", loss_gap, "adapter", adapter_gap, "moved", moved)
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                 "qlora_trainer_goldens_2rank.py")], check=True)


if __name__ == "__main__":
    main()
