#!/usr/bin/env python3
"""Reference decoder and LoRA goldens from HF transformers + PEFT, for tests/worker/model.

Writes tests/data/models/<case>/ for four tiny random models (fp32):
  qwen2       Qwen2, q/k/v bias, GQA (4 query heads over 2 key/value heads), untied lm_head
  qwen2_tied  Qwen2 with tie_word_embeddings (no lm_head.weight in the file)
  qwen3       Qwen3, explicit head_dim 16 != hidden/heads 8, q_norm/k_norm
  llama       Llama, no biases, GQA
Each folder: config.json + model.safetensors (save_pretrained), golden.safetensors with
  input_ids [2,S] (int64), attention_mask [2,S] (row 1 right-padded), logits [2,S,V], loss [],
  greedy [6] (argmax continuation of input_ids[0, :8]),
  and, for the LoRA cases, adapter/ (PeftModel.save_pretrained) and golden.safetensors entries
  lora_logits, lora_loss and grad.<PEFT tensor name> (gradients of lora_loss) computed with
  gradient checkpointing off and checked equal with it on.
Norm weights and biases are randomised (HF initialises them to 1 and 0, which would hide
misplaced norms or biases); LoRA A and B are both random (PEFT's zero B would hide A's gradient).
Run: python3 tests/golden/decoder_goldens.py  (or tests/golden/make_all.sh)
"""
import json
import os
import shutil

import peft
import safetensors
import torch
import transformers
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config, Qwen3Config

ROOT = os.path.join(os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data")), "models")
SEQ = 12
VOCAB = 128
GREEDY_PROMPT = 8
GREEDY_STEPS = 6

COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2)
CASES = {
    "qwen2": (Qwen2Config, dict(COMMON, rope_theta=10000.0, tie_word_embeddings=False),
              dict(r=4, lora_alpha=16, target_modules="all-linear", use_rslora=False)),
    "qwen2_tied": (Qwen2Config, dict(COMMON, rope_theta=1000000.0, tie_word_embeddings=True), None),
    "qwen3": (Qwen3Config, dict(COMMON, head_dim=16, rope_theta=1000000.0, tie_word_embeddings=False),
              dict(r=8, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], use_rslora=True)),
    "llama": (LlamaConfig, dict(COMMON, rope_theta=500000.0, tie_word_embeddings=False), None),
}


def randomise(model, generator):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))


def inputs(generator):
    ids = torch.randint(3, VOCAB, (2, SEQ), generator=generator)
    mask = torch.ones(2, SEQ, dtype=torch.int64)
    mask[1, SEQ - 3:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def lora_goldens(model, lora, ids, mask, labels, out_dir, golden):
    config = LoraConfig(task_type="CAUSAL_LM", lora_dropout=0.0, init_lora_weights=False, **lora)
    model = get_peft_model(model, config)
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    grads = {}
    for checkpointing in (False, True):
        if checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()
        model.train()
        model.zero_grad()
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        grads[checkpointing] = {n.replace(".default", ""): p.grad.clone()
                                for n, p in model.named_parameters() if p.requires_grad}
        if not checkpointing:
            golden["lora_logits"] = out.logits.detach().clone()
            golden["lora_loss"] = out.loss.detach().clone()
    for name, grad in grads[False].items():
        torch.testing.assert_close(grads[True][name], grad, rtol=1e-6, atol=1e-7)
        golden["grad." + name] = grad
    model.gradient_checkpointing_disable()
    model.save_pretrained(os.path.join(out_dir, "adapter"))
    cfg_path = os.path.join(out_dir, "adapter", "adapter_config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["base_model_name_or_path"] = ".."  # not this machine's path
    if isinstance(cfg["target_modules"], list):
        cfg["target_modules"].sort()  # PEFT writes a set: fix the order so reruns diff cleanly
    with open(cfg_path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
    os.remove(os.path.join(out_dir, "adapter", "README.md"))


def greedy(model, prompt):
    """GREEDY_STEPS argmax continuations of `prompt` [1, P], recomputing the whole sequence."""
    ids = prompt
    with torch.no_grad():
        for _ in range(GREEDY_STEPS):
            nxt = model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
    return ids[0, prompt.shape[1]:].clone()


def make_case(name, config_cls, kwargs, lora, seed):
    out_dir = os.path.join(ROOT, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    torch.manual_seed(seed)
    config = config_cls(**kwargs)
    config._attn_implementation = "eager"
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    randomise(model, generator)
    model.save_pretrained(out_dir, safe_serialization=True)
    gen_cfg = os.path.join(out_dir, "generation_config.json")
    if os.path.exists(gen_cfg):
        os.remove(gen_cfg)
    ids, mask, labels = inputs(generator)
    model.eval()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    golden = {"input_ids": ids, "attention_mask": mask, "logits": out.logits.clone(),
              "loss": out.loss.clone(), "greedy": greedy(model, ids[:1, :GREEDY_PROMPT])}
    if lora is not None:
        lora_goldens(model, lora, ids, mask, labels, out_dir, golden)
    save_file({k: v.contiguous() for k, v in golden.items()},
              os.path.join(out_dir, "golden.safetensors"), metadata={"format": "pt"})
    print(f"{name}: loss {out.loss.item():.6f}", "lora_loss %.6f" % golden["lora_loss"].item() if lora else "")


def write_source_md():
    text = f"""# tests/data/models: tiny random decoders with HF transformers / PEFT goldens

Generated by `tests/golden/decoder_goldens.py` (run through `tests/golden/make_all.sh`) on a CPU
host with torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__},
safetensors {safetensors.__version__}. fp32, eager attention. Command:

    python3 tests/golden/decoder_goldens.py

| folder | model | shape notes |
| --- | --- | --- |
| qwen2 | Qwen2ForCausalLM | q/k/v bias, 4 query / 2 kv heads, untied; LoRA all-linear r=4 alpha=16 |
| qwen2_tied | Qwen2ForCausalLM | tie_word_embeddings, rope_theta 1e6 |
| qwen3 | Qwen3ForCausalLM | head_dim 16 (hidden/heads = 8), q_norm/k_norm; LoRA [q_proj,v_proj,down_proj] r=8 rslora |
| llama | LlamaForCausalLM | no biases, rope_theta 5e5 |

All: vocab {VOCAB}, hidden 32, intermediate 64, 2 layers, sequence {SEQ}, batch 2 (row 1 right-padded by
3). Norm weights and biases random; LoRA A and B random (0.05·N(0,1), small enough that attention does not saturate, which would make fp32 gradients ill-conditioned). `golden.safetensors` holds
input_ids, attention_mask, logits, loss, greedy (6 argmax ids after input_ids[0, :8]) and for LoRA cases lora_logits, lora_loss and grad.<PEFT name>;
`adapter/` is PEFT's own save_pretrained output (base_model_name_or_path rewritten to "..").
"""
    with open(os.path.join(ROOT, "SOURCE.md"), "w") as f:
        f.write(text)


def main():
    os.makedirs(ROOT, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for seed, (name, (cls, kwargs, lora)) in enumerate(CASES.items()):
        make_case(name, cls, kwargs, lora, 100 + seed)
    write_source_md()


if __name__ == "__main__":
    main()
