#!/usr/bin/env python3
"""Reference generation goldens from HF transformers + PEFT, for `zerotune-worker generate`.

Writes tests/data/generation/:
  processors.json  fixed random fp32 scores [2, V] and id histories [2, T], each case run through
                   the LogitsProcessorList that transformers' own generate() builds for its
                   GenerationConfig (GenerationMixin._get_logits_processor, so HF's order):
                   RepetitionPenaltyLogitsProcessor, then with do_sample TemperatureLogitsWarper,
                   TopKLogitsWarper, TopPLogitsWarper. -inf is written as null.
  generate.json    greedy generate() token ids (KV cache, HF's default DynamicCache) of the tiny
                   qwen2 and qwen3 models of tests/data/models with their PEFT adapters attached
                   (PeftModel.from_pretrained), with and without repetition_penalty; and of the
                   base qwen2_tied model. eos_token_id is the model config's (2).
  cli.json         what `zerotune-worker generate` must print for a tiny random Qwen3 folder that
                   `zerotune-worker init-model` writes (real Qwen3 tokenizer): HF
                   apply_chat_template(add_generation_prompt) + greedy generate() + decode
                   (skip_special_tokens), one reply per user turn, the history carried over. Needs
                   the built binary: $ZT_WORKER, else build/worker/zerotune-worker; without one
                   cli.json is left as it is.
Needs tests/data/models (tests/golden/decoder_goldens.py runs first in make_all.sh).
Run: python3 tests/golden/generation_goldens.py  (or tests/golden/make_all.sh)
"""
import json
import math
import os
import subprocess
import tempfile

import peft
import torch
import transformers
from peft import PeftModel
from transformers import AutoModelForCausalLM, GenerationConfig, LogitsProcessorList

DATA = os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
OUT = os.path.join(DATA, "generation")
VOCAB = 40

PROCESSOR_CASES = [
    # name, GenerationConfig kwargs
    ("greedy_repetition_1.3", dict(do_sample=False, repetition_penalty=1.3)),
    ("greedy_repetition_0.7", dict(do_sample=False, repetition_penalty=0.7)),
    ("greedy_ignores_warpers", dict(do_sample=False, temperature=0.5, top_k=3, top_p=0.5)),
    ("sample_defaults", dict(do_sample=True)),  # HF: top_k 50 (> vocab here), top_p 1, temperature 1
    ("temperature_0.7", dict(do_sample=True, temperature=0.7, top_k=0)),
    ("top_k_5", dict(do_sample=True, top_k=5)),
    ("top_k_1", dict(do_sample=True, top_k=1)),
    ("top_p_0.9", dict(do_sample=True, top_k=0, top_p=0.9)),
    ("top_p_0.3", dict(do_sample=True, top_k=0, top_p=0.3)),
    ("top_p_0.01_keeps_one", dict(do_sample=True, top_k=0, top_p=0.01)),
    ("qwen_style", dict(do_sample=True, temperature=0.7, top_k=20, top_p=0.8, repetition_penalty=1.05)),
    ("all_hot", dict(do_sample=True, temperature=1.6, top_k=12, top_p=0.95, repetition_penalty=1.5)),
    ("top_k_ties", dict(do_sample=True, top_k=4)),  # scores with ties at the top-k boundary
]

GENERATE_CASES = [
    # name, model folder, adapter?, prompt length, generate kwargs
    ("qwen2_lora", "qwen2", True, 7, dict(max_new_tokens=16)),
    ("qwen2_lora_repetition", "qwen2", True, 7, dict(max_new_tokens=16, repetition_penalty=1.5)),
    ("qwen3_lora", "qwen3", True, 5, dict(max_new_tokens=16)),
    ("qwen2_tied", "qwen2_tied", False, 6, dict(max_new_tokens=12, repetition_penalty=0.8)),
]


def floats(t):
    return [[None if math.isinf(v) and v < 0 else v for v in row] for row in t.tolist()]


def processor_goldens(model):
    g = torch.Generator().manual_seed(2024)
    cases = []
    for name, kwargs in PROCESSOR_CASES:
        scores = (3.0 * torch.randn(2, VOCAB, generator=g)).to(torch.float32)
        if name == "top_k_ties":
            top = scores[0].topk(3).values[-1].item()
            scores[0, :4] = top  # the 3rd-best value repeated: top_k 4 keeps every tie
        ids = torch.randint(0, VOCAB, (2, 9), generator=g)
        ids[:, 5:] = ids[:, :4]  # repeated ids: the penalty applies once per token
        config = GenerationConfig(**kwargs)
        # What generate() does to unset fields (no generation_config.json here): HF's global defaults.
        config.update(**GenerationConfig._get_default_generation_params(), defaults_only=True)
        processors = model._get_logits_processor(generation_config=config, input_ids_seq_length=ids.shape[1],
                                                 logits_processor=LogitsProcessorList())
        out = processors(ids, scores.clone())
        cases.append({
            "name": name,
            "do_sample": config.do_sample,
            "temperature": config.temperature,
            "top_k": config.top_k,
            "top_p": config.top_p,
            "repetition_penalty": config.repetition_penalty,
            "processors": [type(p).__name__ for p in processors],
            "input_ids": ids.tolist(),
            "scores": floats(scores),
            "expected": floats(out),
        })
    return {"vocab": VOCAB, "cases": cases}


def generate_goldens():
    g = torch.Generator().manual_seed(7)
    cases = []
    for name, folder, adapter, prompt_len, kwargs in GENERATE_CASES:
        path = os.path.join(DATA, "models", folder)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
        if adapter:
            model = PeftModel.from_pretrained(model, os.path.join(path, "adapter"))
        model.eval()
        prompt = torch.randint(3, model.config.vocab_size, (1, prompt_len), generator=g)
        with torch.no_grad():
            out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                                 pad_token_id=0, **kwargs)
        cases.append({"name": name, "model": folder, "adapter": adapter, "prompt": prompt[0].tolist(),
                      "max_new_tokens": kwargs["max_new_tokens"],
                      "repetition_penalty": kwargs.get("repetition_penalty", 1.0),
                      "eos_token_id": model.config.eos_token_id,
                      "generated": out[0, prompt_len:].tolist()})
        print(f"{name}: {cases[-1]['generated']}")
    return {"cases": cases}


# The folder the e2e test writes as well (tests/worker/model/generate_cli_test.cc).
INIT_MODEL = ["init-model", "--arch", "qwen3", "--preset", "tiny", "--dtype", "fp32", "--seed", "5"]
CLI_CASES = [
    # name, system prompt or None, user turns, max_new_tokens, repetition_penalty
    ("system_and_penalty", "You are terse.", ["你好，给我讲个笑话 🙂"], 12, 1.3),
    ("two_turns", None, ["Hello", "你好吗？"], 8, 1.0),
]


def cli_goldens(worker):
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "tiny")
        subprocess.run([worker] + INIT_MODEL + ["--tokenizer", os.path.join(DATA, "qwen3-tokenizer"),
                                                "--out", folder], check=True)
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
        model.eval()
        cases = []
        for name, system, turns, max_new, penalty in CLI_CASES:
            messages = [{"role": "system", "content": system}] if system else []
            replies = []
            for turn in turns:
                messages.append({"role": "user", "content": turn})
                ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                              return_dict=True)["input_ids"]
                with torch.no_grad():
                    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                         max_new_tokens=max_new, repetition_penalty=penalty)
                reply = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
                replies.append(reply)
                messages.append({"role": "assistant", "content": reply})
            cases.append({"name": name, "system": system, "turns": turns, "max_new_tokens": max_new,
                          "repetition_penalty": penalty, "replies": replies})
            print(f"{name}: {replies}")
    return {"init_model": INIT_MODEL, "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(os.path.join(DATA, "models", "qwen2"), dtype=torch.float32)
    with open(os.path.join(OUT, "processors.json"), "w") as f:
        json.dump(processor_goldens(base), f)
        f.write("\n")
    with open(os.path.join(OUT, "generate.json"), "w") as f:
        json.dump(generate_goldens(), f, indent=1)
        f.write("\n")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    worker = os.environ.get("ZT_WORKER", os.path.join(root, "build", "worker", "zerotune-worker"))
    if os.path.exists(worker):
        with open(os.path.join(OUT, "cli.json"), "w") as f:
            json.dump(cli_goldens(worker), f, indent=1, ensure_ascii=False)
            f.write("\n")
    else:
        print(f"no zerotune-worker at {worker} (set ZT_WORKER): cli.json left as it is")
    with open(os.path.join(OUT, "SOURCE.md"), "w") as f:
        f.write(f"""# tests/data/generation: HF generate / logits-processor goldens

Generated by `tests/golden/generation_goldens.py` (run through `tests/golden/make_all.sh`) on a
CPU host with torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}.
Command:

    python3 tests/golden/generation_goldens.py

- `processors.json`: {len(PROCESSOR_CASES)} cases of fp32 scores [2, {VOCAB}] (3·N(0,1), seed 2024) and id
  histories [2, 9] (last 4 ids repeat the first 4), each passed through the LogitsProcessorList that
  transformers' generate() builds for the case's GenerationConfig (`processors` lists the classes in
  order). `expected` holds the processed scores; null is -inf (a filtered token).
- `generate.json`: greedy `generate()` ids (KV cache) of the tiny models in `tests/data/models`
  (fp32, eager attention), PEFT adapters attached with PeftModel.from_pretrained where `adapter` is
  true; prompts drawn with seed 7; stops at the config's eos_token_id or max_new_tokens.
- `cli.json`: the replies `zerotune-worker generate` must print for the folder that
  `zerotune-worker init-model {' '.join(INIT_MODEL[1:])} --tokenizer tests/data/qwen3-tokenizer` writes:
  transformers' apply_chat_template (the tokenizer's own Jinja template, add_generation_prompt),
  greedy generate() (eos: <|im_end|> from config.json), decode with skip_special_tokens; each
  reply joins the history for the next user turn. Regenerating it needs the built binary
  (`ZT_WORKER=path/to/zerotune-worker`).
""")


if __name__ == "__main__":
    main()
