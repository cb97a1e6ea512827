#!/usr/bin/env python3
"""bitsandbytes 4-bit (NF4 / FP4) quantization goldens, for tests/kernels/nf4_test.cc and the
`zerotune-worker quantize` e2e test.

Writes into tests/data/nf4/:
  kernels.safetensors  per case <c>: <c>.input (bf16/fp16/fp32, its shape), <c>.packed (U8
    [(n+1)//2, 1]), <c>.absmax (F32, or U8 codes with double quantization), <c>.quant_map
    (F32 [16]), with double quantization <c>.nested_absmax (F32), <c>.nested_quant_map
    (F32 [256]) and <c>.absmax_dequant (the decoded F32 absmax), and <c>.dequant
    (bitsandbytes.functional.dequantize_4bit, input dtype and shape); the metadata key "cases"
    holds a JSON list of {name, quant_type, blocksize, double_quant, dtype, shape, offset}, the
    key "means" torch's mean (the offset's order) of a formula input at 1 to 4 threads.
  models/<case>/  transformers from_pretrained(tests/data/models/qwen2,
    quantization_config=BitsAndBytesConfig(load_in_4bit=True, ...), device_map="cpu")
    followed by save_pretrained (config.json, model.safetensors, generation_config.json).
Every dequantized value is also checked against the formula code[q] * absmax in fp32 rounded
to the dtype, so a bitsandbytes CPU kernel bug cannot become a golden.
Run: python3 tests/golden/nf4_goldens.py  (or tests/golden/make_all.sh)
"""
import json
import os
import shutil
import sys

import bitsandbytes
import bitsandbytes.functional as F
import safetensors
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

DATA = os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
OUT = os.path.join(DATA, "nf4")
BASE = os.path.join(DATA, "models", "qwen2")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

# name, quant_type, blocksize, double_quant, dtype, shape
CASES = [
    ("nf4_bf16_64x64", "nf4", 64, False, "bf16", (64, 64)),
    ("nf4_bf16_dq_64x520", "nf4", 64, True, "bf16", (64, 520)),  # 520 blocks: 3 nested, last partial
    ("nf4_fp16_3x100", "nf4", 64, False, "fp16", (3, 100)),      # partial last block
    ("nf4_fp32_5x13", "nf4", 64, True, "fp32", (5, 13)),         # 65 elements: odd, partial block
    ("nf4_fp32_ties_250", "nf4", 64, False, "fp32", (256,)),      # midpoints, zero blocks (cut to 250)
    ("nf4_bf16_1000_bs32", "nf4", 32, True, "bf16", (1000,)),
    ("nf4_fp16_2x384_bs128", "nf4", 128, True, "fp16", (2, 384)),
    ("nf4_bf16_4x1024_bs256", "nf4", 256, False, "bf16", (4, 1024)),
    ("nf4_fp32_3x4096_bs4096", "nf4", 4096, True, "fp32", (3, 4096)),
    ("fp4_bf16_32x64", "fp4", 64, False, "bf16", (32, 64)),
    ("fp4_fp16_dq_7x77", "fp4", 64, True, "fp16", (7, 77)),      # odd last dim, 539 elements
    ("fp4_fp32_ties_250", "fp4", 64, True, "fp32", (256,)),
    ("fp4_bf16_3x2048_bs2048", "fp4", 2048, False, "bf16", (3, 2048)),
]

MODEL_CASES = [
    # name, quant_type, double_quant, compute dtype
    ("qwen2_nf4_dq_bf16", "nf4", True, torch.bfloat16),
    ("qwen2_fp4_fp32", "fp4", False, torch.float32),
]


def make_input(name, quant_type, blocksize, dtype, shape, gen):
    n = 1
    for d in shape:
        n *= d
    x = torch.randn(n, generator=gen) * 0.02
    # Rows of different magnitude, a few outliers, an all-zero block.
    x = x * torch.logspace(-2, 1, n).roll(n // 3)
    x[torch.randint(0, n, (max(1, n // 97),), generator=gen)] *= 25.0
    if n >= 3 * blocksize:
        x[blocksize:2 * blocksize] = 0.0
    if "ties" in name:
        # Block 0: values on the decision midpoints (ties go to the lower code), -0.0 and tiny
        # values, absmax 1; block 1: scaled midpoints; block 2: all zeros; block 3 (partial,
        # 58 elements): all zeros, whose absmax bitsandbytes clamps to 1e-38.
        code = F.get_4bit_type(quant_type, device="cpu")
        srt = torch.sort(code).values
        mids = (srt[:-1] + srt[1:]) / 2
        x[0] = 1.0
        x[1:16] = mids
        x[16:31] = -mids.flip(0)
        x[31] = -0.0
        x[32:40] = torch.tensor([1e-3, 2e-3, 2.6e-3, 2.7e-3, -1e-3, -2.6e-3, 1e-6, -1e-6])
        x[64] = -3.0
        x[65:80] = mids * 3.0
        x[128:] = 0.0
        x = x[:250]
    return x.to(DTYPES[dtype]).reshape(shape) if "ties" not in name else x.to(DTYPES[dtype])


def reference_dequant(packed, absmax, quant_type, blocksize, n, dtype):
    # bitsandbytes' native CPU kernels hold FP4's code 8 as -0.0 while get_4bit_type gives +0.0:
    # the sign of a zero is not compared.
    code = F.get_4bit_type(quant_type, device="cpu")
    p = packed.reshape(-1)
    q = torch.stack([p >> 4, p & 0xF], dim=1).reshape(-1)[:n].long()
    scale = absmax.repeat_interleave(blocksize)[:n]
    return (code[q] * scale).to(dtype)


def torch_means():
    """torch's float32 mean (the double-quantization offset) of x_i = ((i * 2654435761) mod 2^24)
    / 2^24, exact in fp32, at sizes where torch splits the sum across 1 to 4 threads."""
    rows = []
    saved = torch.get_num_threads()
    for n in (31, 32768, 40000, 70001, 200704):
        i = torch.arange(n, dtype=torch.int64)
        x = ((i * 2654435761) % (1 << 24)).to(torch.float64).div(1 << 24).to(torch.float32)
        for threads in (1, 2, 3, 4):
            torch.set_num_threads(threads)
            rows.append(dict(n=n, threads=threads, mean=x.mean().item()))
    torch.set_num_threads(saved)
    return rows


def kernel_cases():
    tensors, meta = {}, []
    gen = torch.Generator().manual_seed(20261207)
    for name, qt, bs, dq, dt, shape in CASES:
        x = make_input(name, qt, bs, dt, shape, gen)
        shape = tuple(x.shape)
        packed, st = F.quantize_4bit(x, blocksize=bs, compress_statistics=dq, quant_type=qt)
        deq = F.dequantize_4bit(packed, st)
        if dq:
            absmax_f = F.dequantize_blockwise(st.absmax, st.state2) + st.offset
        else:
            absmax_f = st.absmax
        ref = reference_dequant(packed, absmax_f.float(), qt, bs, x.numel(), x.dtype)
        if not torch.equal(ref.reshape(-1), deq.reshape(-1)):
            sys.exit(f"{name}: bitsandbytes' dequantize_4bit differs from code[q] * absmax")
        tensors[f"{name}.input"] = x.contiguous()
        tensors[f"{name}.packed"] = packed.contiguous()
        tensors[f"{name}.absmax"] = st.absmax.contiguous()
        tensors[f"{name}.quant_map"] = st.code.contiguous()
        tensors[f"{name}.dequant"] = deq.contiguous()
        entry = dict(name=name, quant_type=qt, blocksize=bs, double_quant=dq, dtype=dt,
                     shape=list(shape), offset=None)
        if dq:
            tensors[f"{name}.nested_absmax"] = st.state2.absmax.contiguous()
            tensors[f"{name}.nested_quant_map"] = st.state2.code.clone().contiguous()
            tensors[f"{name}.absmax_dequant"] = absmax_f.contiguous()
            entry["offset"] = st.offset.item()
        meta.append(entry)
    save_file(tensors, os.path.join(OUT, "kernels.safetensors"),
              metadata={"cases": json.dumps(meta), "means": json.dumps(torch_means())})
    return meta


def model_cases():
    rows = []
    for name, qt, dq, cdt in MODEL_CASES:
        out = os.path.join(OUT, "models", name)
        shutil.rmtree(out, ignore_errors=True)
        cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=qt,
                                 bnb_4bit_use_double_quant=dq, bnb_4bit_compute_dtype=cdt)
        model = AutoModelForCausalLM.from_pretrained(BASE, quantization_config=cfg, device_map="cpu")
        model.save_pretrained(out)
        rows.append(f"| models/{name} | {qt} | {dq} | {str(cdt).replace('torch.', '')} |")
    return rows


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = kernel_cases()
    rows = model_cases()
    case_rows = "\n".join(
        f"| {m['name']} | {m['quant_type']} | {m['blocksize']} | {m['double_quant']} | {m['dtype']} | {m['shape']} |"
        for m in meta)
    with open(os.path.join(OUT, "SOURCE.md"), "w") as f:
        f.write(f"""# tests/data/nf4: bitsandbytes 4-bit quantization goldens

Generated by `tests/golden/nf4_goldens.py` (run through `tests/golden/make_all.sh`) on a CPU
host with bitsandbytes {bitsandbytes.__version__}, torch {torch.__version__}, transformers
{transformers.__version__}, safetensors {safetensors.__version__}. Command:

    python3 tests/golden/nf4_goldens.py

`kernels.safetensors`: bitsandbytes.functional.quantize_4bit / dequantize_4bit on the CPU over
seeded inputs (see the generator's docstring for the tensor names; metadata "cases"):

| case | quant_type | blocksize | double quant | dtype | shape |
| --- | --- | --- | --- | --- | --- |
{case_rows}

`models/<case>/`: tests/data/models/qwen2 loaded by transformers with
`BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type, bnb_4bit_use_double_quant,
bnb_4bit_compute_dtype)`, `device_map="cpu"`, then `save_pretrained`:

| folder | quant_type | double quant | compute dtype |
| --- | --- | --- | --- |
{chr(10).join(rows)}

The double-quantization offset (`absmax.mean()`) is torch's float32 sum on the CPU, whose order
depends on torch's vector width and, from 32768 blocks on, on its thread count: metadata "means"
holds torch's mean of a formula input at 1 to 4 threads (torch.set_num_threads).
""")


if __name__ == "__main__":
    main()
