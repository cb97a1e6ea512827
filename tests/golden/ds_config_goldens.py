"""Expected resolutions of the public ds_config corpus, produced by DeepSpeed and transformers.

For every case in tests/data/configs/ds_corpus/cases.json this runs what a HF Trainer job does
with that file: transformers' HfTrainerDeepSpeedConfig fills the "auto" values from the case's
training arguments (trainer_config_process, then trainer_config_finalize with the case's hidden
size and max_steps as num_training_steps), the Trainer's own-optimizer rule sets
zero_allow_untested_optimizer when the file has no optimizer, and deepspeed.runtime.config.
DeepSpeedConfig parses the result for the case's data-parallel world size. What DeepSpeed then
holds is written to <name>.expected.json under DeepSpeed's key names: the batch triad, the
top-level scalars, the zero_optimization / fp16 / bf16 models with every default (an absent
offload block is written as its model's defaults with device "none"), and the optimizer and
scheduler exactly as DeepSpeed keeps them. zerotune's corpus test requires its resolved config
to hold every one of these values.

Run: PYTHONPATH=<deepspeed install> python3 tests/golden/ds_config_goldens.py
(needs deepspeed, transformers, accelerate, torch; no GPU: DS_ACCELERATOR=cpu)
"""
import json
import math
import os
import sys
import types

os.environ.setdefault("DS_ACCELERATOR", "cpu")
import deepspeed  # noqa: E402
import transformers  # noqa: E402
from deepspeed.runtime.config import DeepSpeedConfig  # noqa: E402
from deepspeed.runtime.zero.offload_config import (  # noqa: E402
    DeepSpeedZeroOffloadOptimizerConfig, DeepSpeedZeroOffloadParamConfig)
from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig  # noqa: E402

# DeepSpeedConfig asks for this process's rank before it asks the mpu for the data-parallel
# world size; with no process group the rank lookup fails and it falls back to W = 1.
deepspeed.runtime.config.dist.get_rank = lambda *args, **kwargs: 0

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(os.environ.get("ZT_TEST_DATA", os.path.join(HERE, "..", "data")), "configs",
                      "ds_corpus")
OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW"}
# HF TrainingArguments defaults for the fields the DeepSpeed integration reads.
HF_DEFAULTS = dict(per_device_train_batch_size=8, gradient_accumulation_steps=1, learning_rate=5e-5,
                   weight_decay=0.0, adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,
                   max_grad_norm=1.0, warmup_ratio=0.0, warmup_steps=0, fp16=False, bf16=False,
                   fp16_full_eval=False, bf16_full_eval=False, save_on_each_node=False)


class DataParallel:
    """The mpu DeepSpeedConfig asks for the data-parallel world size."""

    def __init__(self, world_size):
        self.world_size = world_size

    def get_data_parallel_world_size(self):
        return self.world_size

    def get_model_parallel_world_size(self):
        return 1

    def get_data_parallel_rank(self):
        return 0

    def get_model_parallel_rank(self):
        return 0


def training_args(case):
    values = dict(HF_DEFAULTS)
    values.update({k: v for k, v in case.get("args", {}).items() if k in HF_DEFAULTS})
    args = types.SimpleNamespace(**values)
    args.world_size = case["world_size"]
    # transformers 5.x has no warmup_ratio: a fractional warmup_steps is the ratio. zerotune's
    # --warmup_ratio (the 4.x name) is passed that way when --warmup_steps is not given.
    if not values["warmup_steps"] and values["warmup_ratio"]:
        args.warmup_steps = values["warmup_ratio"]
    args.get_warmup_steps = lambda n: transformers.TrainingArguments.get_warmup_steps(args, n)
    return args


def plain(value):
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "value") and not isinstance(value, (int, float, str, bool)):
        return plain(value.value)  # enums
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def zero_block(ds):
    zero = plain(ds.zero_config.model_dump(by_alias=True))
    zero["offload_optimizer"] = zero["offload_optimizer"] or plain(
        DeepSpeedZeroOffloadOptimizerConfig().model_dump(by_alias=True))
    zero["offload_param"] = zero["offload_param"] or plain(
        DeepSpeedZeroOffloadParamConfig().model_dump(by_alias=True))
    # Folded into stage3_gather_16bit_weights_on_model_save (its deprecated spelling).
    zero.pop("stage3_gather_fp16_weights_on_model_save", None)
    for key in ("cpu_offload", "cpu_offload_param", "cpu_offload_use_pin_memory", "leaf_module",
                "zenflow"):
        zero.pop(key, None)
    return zero


def expected_for(case):
    with open(os.path.join(CORPUS, case["input"])) as f:
        config = json.load(f)
    if "args" in case:
        hf = HfTrainerDeepSpeedConfig(config)
        args = training_args(case)
        hf.trainer_config_process(args)
        model = types.SimpleNamespace(config=types.SimpleNamespace(hidden_size=case["hidden_size"]))
        hf.trainer_config_finalize(args, model, case["args"]["max_steps"])
        config = hf.config
        if "optimizer" not in config:
            config["zero_allow_untested_optimizer"] = True  # the Trainer's own optimizer
    ds = DeepSpeedConfig(config, mpu=DataParallel(case["world_size"]))
    out = {
        "train_batch_size": ds.train_batch_size,
        "train_micro_batch_size_per_gpu": ds.train_micro_batch_size_per_gpu,
        "gradient_accumulation_steps": ds.gradient_accumulation_steps,
        "gradient_clipping": ds.gradient_clipping,
        "prescale_gradients": ds.prescale_gradients,
        "gradient_predivide_factor": ds.gradient_predivide_factor,
        "steps_per_print": ds.steps_per_print,
        "wall_clock_breakdown": ds.wall_clock_breakdown,
        "memory_breakdown": ds.memory_breakdown,
        "dump_state": ds.dump_state,
        "disable_allgather": ds.disable_allgather,
        "dataloader_drop_last": ds.dataloader_drop_last,
        "managed_gradient_accumulation": ds.managed_gradient_accumulation,
        "zero_allow_untested_optimizer": ds.zero_allow_untested_optimizer,
        "zero_force_ds_cpu_optimizer": ds.zero_force_ds_cpu_optimizer,
        "zero_optimization": zero_block(ds),
        "fp16": plain(ds.float16_config.model_dump()),
        "bf16": plain(ds.bfloat16_config.model_dump()),
    }
    if ds.optimizer_name is not None:
        out["optimizer"] = {"type": OPTIMIZER_NAMES.get(ds.optimizer_name, ds.optimizer_name),
                            "params": plain(ds.optimizer_params)}
    if ds.scheduler_name is not None:
        out["scheduler"] = {"type": ds.scheduler_name, "params": plain(ds.scheduler_params)}
    return out


def main():
    with open(os.path.join(CORPUS, "cases.json")) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        expected = expected_for(case)
        path = os.path.join(CORPUS, case["name"] + ".expected.json")
        with open(path, "w") as f:
            json.dump(expected, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"{path}: train_batch_size {expected['train_batch_size']} stage "
              f"{expected['zero_optimization']['stage']}")
    print(f"deepspeed {deepspeed.__version__}, transformers {transformers.__version__}")


if __name__ == "__main__":
    sys.exit(main())
