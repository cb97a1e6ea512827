#!/usr/bin/env python3
"""PEFT merge_and_unload goldens for `zerotune-worker merge`, for
tests/worker/model/merge_command_test.cc.

Inputs (written by qlora_trainer_goldens.py): tests/data/qlora_trainer_goldens/model_bf16 (a tiny
bf16 Qwen2), model_bnb4bit (the same model quantized by transformers + bitsandbytes, nf4, double
quant, compute dtype bf16: the pre-quantized folder) and adapter_init (a PEFT adapter, r 4,
alpha 16, all-linear, fp32, random non-zero A and B).

Writes tests/data/merge_goldens/:
  merged.safetensors
    "bf16.<name>"   every tensor of PeftModel.from_pretrained(model_bf16, adapter_init)
                    .merge_and_unload(): PEFT's merge into a 16-bit base (W += delta, the fp32
                    delta added to the bf16 weight, rounded to bf16)
    "bnb4.<name>"   every tensor of the pre-quantized base merged as Qwen advises for QLoRA
                    (merge into the 16-bit model): from_pretrained(model_bnb4bit).dequantize()
                    (bitsandbytes dequantize_4bit to the quant state's dtype, bf16), then
                    PeftModel.from_pretrained(..., adapter_init).merge_and_unload()
    "peft4bit.<module>.weight"
                    what PEFT's Linear4bit.merge computes before it re-quantizes (w_data =
                    dequantize_4bit(W) + get_delta_weight, fp32), captured by wrapping
                    bnb.nn.Params4bit during merge_and_unload on the 4-bit model. merge_and_unload
                    on a 4-bit model returns re-quantized 4-bit weights (lossy, not a 16-bit
                    export), so the 16-bit comparable is this tensor rounded to bf16; the script
                    checks it equals "bnb4.*" bit for bit.
  config.json       what transformers' save_pretrained writes for the "bnb4" model (the dtype key
                    it records, no quantization_config): zerotune's merged config.json must agree.

Run: /work/venv-golden/bin/python tests/golden/merge_goldens.py
"""
import json
import os
import shutil
import sys
import tempfile

import bitsandbytes as bnb
import peft
import torch
import transformers
from peft import PeftModel
from peft.tuners.lora import bnb as lora_bnb
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

DATA = os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
SOURCE = os.path.join(DATA, "qlora_trainer_goldens")
ROOT = os.path.join(DATA, "merge_goldens")


def merged_16bit_base():
    model = AutoModelForCausalLM.from_pretrained(os.path.join(SOURCE, "model_bf16"), device_map="cpu")
    merged = PeftModel.from_pretrained(model, os.path.join(SOURCE, "adapter_init")).merge_and_unload()
    return {k: v.detach().clone() for k, v in merged.state_dict().items()}


def merged_dequantized_base(save_dir):
    model = AutoModelForCausalLM.from_pretrained(os.path.join(SOURCE, "model_bnb4bit"), device_map="cpu")
    model = model.dequantize()
    merged = PeftModel.from_pretrained(model, os.path.join(SOURCE, "adapter_init")).merge_and_unload()
    merged.save_pretrained(save_dir)
    return {k: v.detach().clone() for k, v in merged.state_dict().items()}


def peft_4bit_pre_requantization():
    """w_data of PEFT's Linear4bit.merge for every adapted linear, by module name."""
    model = AutoModelForCausalLM.from_pretrained(os.path.join(SOURCE, "model_bnb4bit"), device_map="cpu")
    peft_model = PeftModel.from_pretrained(model, os.path.join(SOURCE, "adapter_init"))
    captured = {}
    original = bnb.nn.Params4bit
    current = {}

    def recording(data, **kwargs):
        captured[current["name"]] = data.detach().clone()
        return original(data, **kwargs)

    bnb.nn.Params4bit = recording
    try:
        for name, module in peft_model.named_modules():
            if isinstance(module, lora_bnb.Linear4bit):
                current["name"] = name.removeprefix("base_model.model.")
                module.merge()
    finally:
        bnb.nn.Params4bit = original
    return captured


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out = {}
    for k, v in merged_16bit_base().items():
        out["bf16." + k] = v.contiguous()
    with tempfile.TemporaryDirectory() as tmp:
        for k, v in merged_dequantized_base(tmp).items():
            out["bnb4." + k] = v.contiguous()
        with open(os.path.join(tmp, "config.json")) as f:
            config = json.load(f)
    captured = peft_4bit_pre_requantization()
    for module, w_data in captured.items():
        reference = out["bnb4." + module + ".weight"]
        assert w_data.dtype == torch.float32, w_data.dtype
        assert torch.equal(w_data.to(reference.dtype), reference), module
        out["peft4bit." + module + ".weight"] = w_data.contiguous()
    assert "quantization_config" not in config
    os.makedirs(ROOT, exist_ok=True)
    save_file(out, os.path.join(ROOT, "merged.safetensors"))
    with open(os.path.join(ROOT, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(ROOT, "SOURCE.md"), "w") as f:
        f.write("# merge_goldens\n\nWritten by `tests/golden/merge_goldens.py` (see its docstring) with "
                f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
                f"bitsandbytes {bnb.__version__} on the CPU. {len(captured)} adapted linears; "
                "PEFT's Linear4bit.merge w_data rounded to bf16 equals dequantize-then-merge bit for bit.\n")
    print(f"wrote {ROOT}: {len(out)} tensors, config dtype {config.get('dtype')}", file=sys.stderr)


if __name__ == "__main__":
    main()
