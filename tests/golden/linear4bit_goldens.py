#!/usr/bin/env python3
"""bitsandbytes Linear4bit wrapped by PEFT LoRA: forward and backward goldens, for
tests/worker/model/linear4bit_test.cc.

Writes tests/data/linear4bit/linear4bit.safetensors. Per case <c>:
  <c>.packed (U8 [(n+1)//2, 1]), <c>.absmax (F32, or U8 codes with double quantization),
  <c>.quant_map (F32 [16]), with double quantization <c>.nested_absmax (F32) and
  <c>.nested_quant_map (F32 [256]): the quant state as save_pretrained stores it;
  <c>.bias (compute dtype, as bitsandbytes casts it in place) when the case has one;
  <c>.lora_A [8, in] and <c>.lora_B [out, 8] (F32; lora_B non-zero so both get gradients);
  <c>.input [2, 5, in] (the case's input dtype), <c>.grad_output (the output's dtype);
  <c>.output, <c>.grad_input, <c>.grad_lora_A, <c>.grad_lora_B: PEFT + bitsandbytes results.
Metadata "cases": a JSON list of {name, quant_type, blocksize, double_quant, weight_dtype,
weight_torch_dtype (QuantState.dtype), compute_dtype, input_dtype, bias, in, out, offset,
scaling, noise, threads_diff}: `noise` holds, for each of output / grad_input / grad_lora_A /
grad_lora_B, max|ref - exact| / max|exact| where `exact` is the same computation in float64 on
the operands bitsandbytes rounds to (x and bias in the compute dtype, the weight dequantized as
bitsandbytes does): the reference's own rounding error, from which the C++ test's tolerances
are set. `threads_diff` is the largest |ref at 1 thread - ref at 2 threads| over every result.
Run: python3 tests/golden/linear4bit_goldens.py  (or tests/golden/make_all.sh)
"""
import json
import os

import bitsandbytes
import bitsandbytes.functional as F
import peft
import torch
from peft import LoraConfig
from peft.tuners.lora.bnb import Linear4bit as LoraLinear4bit
from safetensors.torch import save_file

DATA = os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
OUT = os.path.join(DATA, "linear4bit")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
R, ALPHA = 8, 16

# Row lengths that are a multiple of 16 but not of the blocksize are avoided: for them
# bitsandbytes 0.50.2's native CPU dequantize_4bit (backends/cpu/ops.py) pairs elements with
# the wrong absmax (its generic path, its CUDA kernel and zerotune follow code[q] * absmax);
# check_dequantization() refuses such a golden.
# name, quant_type, blocksize, double_quant, weight dtype, compute dtype, input dtype, bias, in, out
CASES = [
    ("nf4_dq_bf16", "nf4", 64, True, "bf16", "bf16", "bf16", False, 128, 64),
    ("nf4_fp32_bias_in100", "nf4", 64, False, "fp32", "fp32", "fp32", True, 100, 40),
    ("fp4_dq_bf16_fp32in_bias", "fp4", 64, True, "bf16", "bf16", "fp32", True, 88, 48),
    ("fp4_fp32_bf16in", "fp4", 64, False, "bf16", "fp32", "bf16", False, 64, 56),
    ("nf4_dq_fp16_in77", "nf4", 64, True, "fp16", "fp16", "fp16", True, 77, 33),
    ("nf4_bs128_bf16_fp32w", "nf4", 128, False, "fp32", "bf16", "bf16", False, 256, 24),
]


def build(c, gen):
    name, qt, bs, dq, wdt, cdt, idt, has_bias, n_in, n_out = c
    w = (torch.randn(n_out, n_in, generator=gen) * 0.05).to(DTYPES[wdt])
    base = bitsandbytes.nn.Linear4bit(n_in, n_out, bias=has_bias, compute_dtype=DTYPES[cdt],
                                      compress_statistics=dq, quant_type=qt)
    base.weight = bitsandbytes.nn.Params4bit(w, requires_grad=False, quant_type=qt,
                                             compress_statistics=dq, blocksize=bs)
    if has_bias:
        base.bias = torch.nn.Parameter((torch.randn(n_out, generator=gen) * 0.1).to(DTYPES[wdt]),
                                       requires_grad=False)
    base = base.to("cpu")  # quantizes
    config = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=0.0, target_modules=["x"])
    layer = LoraLinear4bit(base, "default", config=config, r=R, lora_alpha=ALPHA)
    # Built directly, PEFT gives the adapter the base's compute dtype; get_peft_model's
    # autocast_adapter_dtype=True (its default, what training uses) then upcasts it to fp32.
    layer.lora_A["default"].to(torch.float32)
    layer.lora_B["default"].to(torch.float32)
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(torch.randn(R, n_in, generator=gen) * 0.1)
        layer.lora_B["default"].weight.copy_(torch.randn(n_out, R, generator=gen) * 0.1)
    x = torch.randn(2, 5, n_in, generator=gen).to(DTYPES[idt])
    return layer, x


def run(layer, x, grad_output):
    for p in layer.parameters():
        p.grad = None
    x = x.clone().requires_grad_(True)
    y = layer(x)
    y.backward(grad_output)
    return {"output": y.detach(), "grad_input": x.grad,
            "grad_lora_A": layer.lora_A["default"].weight.grad.clone(),
            "grad_lora_B": layer.lora_B["default"].weight.grad.clone()}


def exact(layer, x, grad_output, cdt):
    """The same computation in float64 on the operands bitsandbytes rounds to: x, bias and the
    upstream gradient of the base path in the compute dtype; the forward weight dequantized to
    the compute dtype, the backward one to the quant state's dtype and then cast (MatMul4Bit)."""
    base = layer.base_layer
    qs = base.weight.quant_state
    w_fwd = torch.ops.bitsandbytes.dequantize_4bit.default(
        base.weight.data, F.dequantize_blockwise(qs.absmax, qs.state2) + qs.offset
        if qs.nested else qs.absmax, qs.blocksize, qs.quant_type, qs.shape, cdt).double()
    w_bwd = F.dequantize_4bit(base.weight.data, qs).to(cdt).double()
    a = layer.lora_A["default"].weight.detach().double()
    b = layer.lora_B["default"].weight.detach().double()
    s = ALPHA / R
    xc = x.to(cdt).double().reshape(-1, x.shape[-1])
    xl = x.float().double().reshape(-1, x.shape[-1])
    y = xc @ w_fwd.t()
    if base.bias is not None:
        y = y + base.bias.detach().to(cdt).double()
    h = xl @ a.t()
    y = y + (h @ b.t()) * s
    g_c = grad_output.to(cdt).double().reshape(-1, y.shape[-1])
    g_l = grad_output.float().double().reshape(-1, y.shape[-1])
    grad_h = (g_l @ b) * s
    return {"output": y.reshape(grad_output.shape), "grad_input": (g_c @ w_bwd + grad_h @ a).reshape(x.shape),
            "grad_lora_A": grad_h.t() @ xl, "grad_lora_B": (g_l.t() @ h) * s}


def check_dequantization(layer):
    """bitsandbytes' dequantize_4bit equals code[q] * absmax[block] in fp32, so a bitsandbytes CPU
    kernel bug cannot become a golden."""
    qs = layer.base_layer.weight.quant_state
    packed = layer.base_layer.weight.data.flatten()
    n = qs.shape[0] * qs.shape[1]
    codes = torch.stack([packed >> 4, packed & 15], 1).flatten()[:n].long()
    absmax = F.dequantize_blockwise(qs.absmax, qs.state2) + qs.offset if qs.nested else qs.absmax
    formula = (qs.code[codes] * absmax.repeat_interleave(qs.blocksize)[:n]).to(qs.dtype)
    got = F.dequantize_4bit(layer.base_layer.weight.data, qs).flatten()
    assert torch.equal(got, formula), "bitsandbytes' CPU dequantize_4bit disagrees with its formula"


def rel_err(ref, ex):
    return float((ref.double() - ex).abs().max() / ex.abs().max())


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors, meta = {}, []
    for c in CASES:
        name, qt, bs, dq, wdt, cdt, idt, has_bias, n_in, n_out = c
        gen = torch.Generator().manual_seed(len(meta) + 11)
        layer, x = build(c, gen)
        grad_output = torch.randn(2, 5, n_out, generator=gen).to(DTYPES[idt])
        torch.set_num_threads(1)
        check_dequantization(layer)
        ref = run(layer, x, grad_output)
        torch.set_num_threads(2)
        ref2 = run(layer, x, grad_output)
        threads_diff = max(float((ref[k].double() - ref2[k].double()).abs().max()) for k in ref)
        ex = exact(layer, x, grad_output, DTYPES[cdt])
        noise = {k: rel_err(ref[k], ex[k]) for k in ref}

        qs = layer.base_layer.weight.quant_state
        assert qs.blocksize == bs and qs.quant_type == qt and list(qs.shape) == [n_out, n_in]
        tensors[f"{name}.packed"] = layer.base_layer.weight.data.contiguous()
        tensors[f"{name}.absmax"] = qs.absmax.contiguous()
        tensors[f"{name}.quant_map"] = qs.code.contiguous()
        offset = None
        if dq:
            tensors[f"{name}.nested_absmax"] = qs.state2.absmax.contiguous()
            tensors[f"{name}.nested_quant_map"] = qs.state2.code.contiguous()
            offset = float(qs.offset)
        if has_bias:
            assert layer.base_layer.bias.dtype == DTYPES[cdt]  # cast in place by forward
            tensors[f"{name}.bias"] = layer.base_layer.bias.detach().contiguous()
        assert layer.lora_A["default"].weight.dtype == torch.float32
        tensors[f"{name}.lora_A"] = layer.lora_A["default"].weight.detach().contiguous()
        tensors[f"{name}.lora_B"] = layer.lora_B["default"].weight.detach().contiguous()
        tensors[f"{name}.input"] = x.contiguous()
        tensors[f"{name}.grad_output"] = grad_output.contiguous()
        for k, v in ref.items():
            tensors[f"{name}.{k}"] = v.contiguous()
        meta.append({"name": name, "quant_type": qt, "blocksize": bs, "double_quant": dq,
                     "weight_dtype": wdt, "compute_dtype": cdt, "input_dtype": idt,
                     "bias": has_bias, "in": n_in, "out": n_out, "offset": offset,
                     "weight_torch_dtype": str(qs.dtype).replace("torch.", ""),
                     "scaling": ALPHA / R, "noise": noise, "threads_diff": threads_diff})
        print(f"{name}: noise {noise} threads_diff {threads_diff}")
    save_file(tensors, os.path.join(OUT, "linear4bit.safetensors"),
              metadata={"cases": json.dumps(meta), "bitsandbytes": bitsandbytes.__version__,
                        "peft": peft.__version__, "torch": torch.__version__})


if __name__ == "__main__":
    main()
