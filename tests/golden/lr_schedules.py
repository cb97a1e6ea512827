"""Golden learning-rate, momentum and loss-scale sequences from DeepSpeed and transformers.

Writes tests/data/schedules/lr_schedules.json and loss_scaler.json: for each case, the lr
(and beta1 where a schedule cycles momentum) that optimizer step k = 1..K runs with, produced
by the real deepspeed.runtime.lr_schedules classes and transformers.get_scheduler, stepped the
way the DeepSpeed engine steps them (scheduler.step() after each successful optimizer step);
and DeepSpeed's DynamicLossScaler driven by fixed overflow patterns.

Run: python3 tests/golden/lr_schedules.py   (needs torch, deepspeed, transformers)
"""
import json
import math
import os
import sys

import torch

os.environ.setdefault("DS_ACCELERATOR", "cpu")
import deepspeed  # noqa: E402
import transformers  # noqa: E402
from deepspeed.runtime import lr_schedules  # noqa: E402
from deepspeed.runtime.fp16 import loss_scaler as ds_loss_scaler  # noqa: E402
from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler  # noqa: E402

# update_scale() only asks for the rank to decide who logs; no process group is needed here.
ds_loss_scaler.dist.get_rank = lambda *args, **kwargs: 0

OUT = os.path.join(os.environ.get("ZT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data")),
                   "schedules")
STEPS = 40

DEEPSPEED_CASES = [
    ("WarmupLR", {"warmup_min_lr": 0.0, "warmup_max_lr": 3e-4, "warmup_num_steps": 10}),
    ("WarmupLR", {"warmup_min_lr": 1e-5, "warmup_max_lr": 1e-3, "warmup_num_steps": 7, "warmup_type": "linear"}),
    ("WarmupLR", {"warmup_min_lr": 0.0, "warmup_max_lr": 2e-5, "warmup_num_steps": 1}),
    ("WarmupDecayLR", {"total_num_steps": 30, "warmup_min_lr": 0.0, "warmup_max_lr": 3e-4, "warmup_num_steps": 5}),
    ("WarmupDecayLR", {"total_num_steps": 25, "warmup_min_lr": 1e-6, "warmup_max_lr": 1e-4, "warmup_num_steps": 8,
                       "warmup_type": "linear"}),
    ("WarmupCosineLR", {"total_num_steps": 30, "warmup_min_ratio": 0.0, "warmup_num_steps": 6, "cos_min_ratio": 1e-4}),
    ("WarmupCosineLR", {"total_num_steps": 20, "warmup_min_ratio": 0.1, "warmup_num_steps": 4, "cos_min_ratio": 0.05,
                        "warmup_type": "linear"}),
    ("OneCycle", {"cycle_min_lr": 1e-5, "cycle_max_lr": 1e-3, "cycle_first_step_size": 8, "cycle_momentum": True,
                  "cycle_min_mom": 0.85, "cycle_max_mom": 0.95}),
    ("OneCycle", {"cycle_min_lr": 1e-4, "cycle_max_lr": 1e-2, "cycle_first_step_size": 6, "cycle_second_step_size": 10,
                  "decay_lr_rate": 0.5, "decay_step_size": 4, "cycle_momentum": True, "decay_mom_rate": 0.1}),
    ("OneCycle", {"cycle_min_lr": 1e-4, "cycle_max_lr": 1e-3, "cycle_first_step_size": 9, "cycle_first_stair_count": 3,
                  "cycle_second_stair_count": 2, "cycle_momentum": False}),
    ("LRRangeTest", {"lr_range_test_min_lr": 1e-4, "lr_range_test_step_size": 5, "lr_range_test_step_rate": 2.0}),
    ("LRRangeTest", {"lr_range_test_min_lr": 1e-4, "lr_range_test_step_size": 5, "lr_range_test_step_rate": 2.0,
                     "lr_range_test_staircase": True}),
]

HF_CASES = [
    ("linear", 5, 30, 2e-4),
    ("linear", 0, 25, 1e-4),
    ("cosine", 4, 30, 3e-4),
    ("cosine", 0, 20, 1e-3),
    ("constant", 0, 30, 5e-5),
    ("constant_with_warmup", 6, 30, 5e-5),
]

OPTIMIZER_LR = 7e-4  # the optimizer's own lr (WarmupCosineLR scales it)

LOSS_SCALER_CASES = [
    # (init_scale_power, window, min_scale, hysteresis, consecutive_hysteresis, overflow pattern)
    (16, 4, 1.0, 2, False, "0000011010000000001111000000000"),
    (8, 3, 1.0, 1, False, "01000100001110000000"),
    (4, 2, 1.0, 3, True, "0110101101100000111100000"),
    (2, 1000, 1.0, 1, False, "111"),  # reaches the minimum and raises
]


def run_deepspeed(name, params):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=OPTIMIZER_LR, betas=(0.9, 0.999))
    sched = getattr(lr_schedules, name)(opt, **params)
    lrs, beta1s = [], []
    for _ in range(STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        beta1s.append(opt.param_groups[0]["betas"][0])
        opt.step()
        sched.step()
    case = {"type": name, "params": params, "optimizer_lr": OPTIMIZER_LR, "lr": lrs}
    if name == "OneCycle" and params.get("cycle_momentum", True):
        case["beta1"] = beta1s
    return case


def run_hf(name, warmup, total, lr):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=lr)
    sched = transformers.get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=total)
    lrs = []
    for _ in range(STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return {"type": name, "warmup_steps": warmup, "total_steps": total, "base_lr": lr, "lr": lrs}


def run_loss_scaler(power, window, min_scale, hysteresis, consecutive, pattern):
    scaler = DynamicLossScaler(init_scale=2 ** power, scale_window=window, min_scale=min_scale,
                               delayed_shift=hysteresis, consecutive_hysteresis=consecutive,
                               raise_error_at_min_scale=True)
    scales, error_at = [], None
    for i, flag in enumerate(pattern):
        try:
            scaler.update_scale(flag == "1")
        except Exception as error:  # DeepSpeed raises a bare Exception at the minimum scale
            if "already at minimum" not in str(error):
                raise
            error_at = i
            break
        scales.append(scaler.cur_scale)
    return {"initial_scale_power": power, "loss_scale_window": window, "min_loss_scale": min_scale,
            "hysteresis": hysteresis, "consecutive_hysteresis": consecutive, "overflows": pattern,
            "scale_after_update": scales, "error_at_update": error_at}


def main():
    os.makedirs(OUT, exist_ok=True)
    versions = {"deepspeed": deepspeed.__version__, "transformers": transformers.__version__,
                "torch": torch.__version__, "python": sys.version.split()[0]}
    schedules = {"generator": "tests/golden/lr_schedules.py", "versions": versions, "steps": STEPS,
                 "deepspeed": [run_deepspeed(n, p) for n, p in DEEPSPEED_CASES],
                 "hf": [run_hf(*c) for c in HF_CASES]}
    scalers = {"generator": "tests/golden/lr_schedules.py", "versions": versions,
               "cases": [run_loss_scaler(*c) for c in LOSS_SCALER_CASES]}
    for name, data in (("lr_schedules.json", schedules), ("loss_scaler.json", scalers)):
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    print(f"wrote {OUT}: {len(DEEPSPEED_CASES)} DeepSpeed + {len(HF_CASES)} HF schedules, "
          f"{len(LOSS_SCALER_CASES)} loss-scaler cases ({versions})")


if __name__ == "__main__":
    main()
