#!/usr/bin/env python3
"""The 2-rank QLoRA whole-loop golden, for tests/worker/train/qlora_train_multirank_test.cc.

qlora_trainer_goldens.py's case (its fixtures model_bf16/ and adapter_init/, its reference
set-up: bitsandbytes NF4 + double quantization + bf16 compute, prepare_model_for_kbit_training,
the PEFT adapter continued, fp32 Trainer) run by the HF Trainer at 2 ranks: python -m
torch.distributed.run --standalone --nproc_per_node 2 (CPU, gloo, DDP, accelerate's data
sharding), per-device batch 4, so every optimizer step still covers all 8 samples and the
sample order cannot matter (trainer_goldens.py's docstring). Needs that script's fixtures; it
leaves them, qlora.safetensors and the "qlora" case untouched and writes:
  qlora_2rank.safetensors  rank 0's log_history per step: loss, grad_norm, learning_rate
                    (float64 [steps]); "init.<PEFT name>" / "final.<PEFT name>" the adapter before
                    and after; the noise floor, runs as valid as the reference (2 ranks, 1
                    torch thread per rank, eager attention): 2 threads per rank (*_threads2,
                    threads2.final.*), SDPA attention (*_sdpa, sdpa.final.*), another
                    data_seed, i.e. other samples sharing a rank's micro-batch, as zerotune's
                    sampler deals them (*_regrouped, regrouped.final.*), and qlora.safetensors'
                    1-rank reference (*_one_rank, one_rank.final.*): the same steps over the
                    same 8 samples, in one batch of 8 instead of two ranks' 4
  cases.json        gains "qlora_2rank": zerotune's flags ({data} = tests/data)
and appends the 2-rank noise floor to SOURCE.md.

Run: /work/venv-golden/bin/python tests/golden/qlora_trainer_goldens_2rank.py
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qlora_trainer_goldens as one_rank  # noqa: E402

WORLD = 2
BATCH = 4  # per rank: 2 x 4 = the 8 samples in every step
ROOT = one_rank.ROOT
OUT = os.path.join(ROOT, "qlora_2rank.safetensors")
# name -> (torch threads per rank, attention, data_seed); the first is the reference.
VARIANTS = {"": (1, "eager", None), "threads2": (2, "eager", None), "sdpa": (1, "sdpa", None),
            "regrouped": (1, "eager", one_rank.SEED + 7)}
TWO_RANK_MARK = "## 2 ranks"


def flags():
    out = list(one_rank.FLAGS)
    out[out.index("--per_device_train_batch_size") + 1] = str(BATCH)
    return out


def rank_run(variant, path):
    """One rank of one variant; rank 0 writes its log history and adapters to `path`."""
    import torch
    from safetensors.torch import save_file
    import torch.distributed as dist
    threads, attention, data_seed = VARIANTS[variant]
    history, init, final = one_rank.run(threads, attention, batch=BATCH, data_seed=data_seed)
    assert dist.is_initialized() and dist.get_world_size() == WORLD, "expected torch.distributed.run"
    if dist.get_rank() != 0:
        return
    f64 = lambda key: torch.tensor([h[key] for h in history], dtype=torch.float64)
    tensors = {key: f64(key) for key in ("loss", "grad_norm", "learning_rate")}
    tensors.update({"init." + k: v for k, v in init.items()})
    tensors.update({"final." + k: v for k, v in final.items()})
    save_file(tensors, path, metadata={"case": "qlora_2rank"})


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--variant":
        rank_run(sys.argv[2], sys.argv[3])
        return
    import tempfile
    from safetensors.torch import load_file, save_file
    for fixture in ("model_bf16", "adapter_init", "cases.json"):
        assert os.path.exists(os.path.join(ROOT, fixture)), f"run qlora_trainer_goldens.py first ({fixture})"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    runs = {}
    with tempfile.TemporaryDirectory() as scratch:
        for variant in VARIANTS:
            path = os.path.join(scratch, (variant or "reference") + ".safetensors")
            print(f"  qlora_2rank {variant or 'reference'}", flush=True)
            subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                            f"--nproc_per_node={WORLD}", os.path.abspath(__file__), "--variant", variant, path],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            runs[variant] = load_file(path)
    one = load_file(os.path.join(ROOT, "qlora.safetensors"))
    runs["one_rank"] = {k: v for k, v in one.items() if k in ("loss", "grad_norm") or k.startswith("final.")}
    reference = runs[""]
    tensors = dict(reference)
    for variant, run in runs.items():
        if not variant:
            continue
        for key in ("loss", "grad_norm"):
            tensors[f"{key}_{variant}"] = run[key]
        tensors.update({f"{variant}.{k}": v for k, v in run.items() if k.startswith("final.")})
    save_file(tensors, OUT, metadata={"case": "qlora_2rank"})

    cases_path = os.path.join(ROOT, "cases.json")
    with open(cases_path) as f:
        cases = json.load(f)
    cases["qlora_2rank"] = {"world_size": WORLD, "lora": True, "flags": flags()}
    with open(cases_path, "w") as f:
        json.dump(cases, f, indent=1)

    rel = lambda a, b: ((a.double() - b.double()).norm() / b.double().norm()).item()
    finals = [k for k in reference if k.startswith("final.")]
    noise = [v for v in runs if v]
    loss_gap = max((reference["loss"] - runs[v]["loss"]).abs().max().item() for v in noise)
    grad_gap = max(((reference["grad_norm"] - runs[v]["grad_norm"]) / reference["grad_norm"]).abs().max().item()
                   for v in noise)
    adapter_gap = max(rel(runs[v][k], reference[k]) for v in noise for k in finals)
    moved = max(rel(reference[k], reference["init." + k[len("final."):]]) for k in finals)
    vs_one_loss = (reference["loss"] - one["loss"]).abs().max().item()
    vs_one_adapter = max(rel(reference[k], one[k]) for k in finals)
    source_path = os.path.join(ROOT, "SOURCE.md")
    with open(source_path) as f:
        source = f.read().split(TWO_RANK_MARK)[0].rstrip("\n") + "\n"  # a rerun replaces its paragraph
    with open(source_path, "w") as f:
        f.write(source + f"\n{TWO_RANK_MARK}\n\n"
                f"Written by `tests/golden/qlora_trainer_goldens_2rank.py` (`qlora_2rank.safetensors`, case "
                f"\"qlora_2rank\" of cases.json): the same case through torch.distributed.run, gloo, per-device batch {BATCH}. "
                f"Noise floor (1 vs 2 threads per rank, eager vs SDPA, another data_seed, the 1-rank "
                f"reference): per-step loss "
                f"{loss_gap:.3e} (max abs), grad_norm {grad_gap:.3e} (max relative), final adapter "
                f"{adapter_gap:.3e} (relative Frobenius, worst tensor); training moved the adapter by {moved:.3e}. "
                f"Against the 1-rank reference: loss {vs_one_loss:.3e}, adapter {vs_one_adapter:.3e}.\n")
    print("loss", reference["loss"].tolist())
    print("grad_norm", reference["grad_norm"].tolist())
    print("noise floor: loss", loss_gap, "grad_norm", grad_gap, "adapter", adapter_gap, "moved", moved)
    print("vs 1 rank: loss", vs_one_loss, "adapter", vs_one_adapter)


if __name__ == "__main__":
    main()
