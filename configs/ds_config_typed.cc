#include "configs/ds_config_typed.h"

#include <cstdint>
#include <string>

namespace zt::configs {
namespace {

OffloadConfig Offload(const nlohmann::json& block) {
  OffloadConfig o;
  o.device = block["device"] == "cpu" ? OffloadDevice::kCpu : OffloadDevice::kNone;
  o.pin_memory = block["pin_memory"].get<bool>();
  return o;
}

ZeroConfig Zero(const nlohmann::json& z) {
  ZeroConfig c;
  c.stage = static_cast<int>(z["stage"].get<int64_t>());
  c.contiguous_gradients = z["contiguous_gradients"].get<bool>();
  c.reduce_scatter = z["reduce_scatter"].get<bool>();
  c.overlap_comm = z["overlap_comm"].get<bool>();
  c.reduce_bucket_numel = z["reduce_bucket_size"].get<int64_t>();
  c.allgather_bucket_numel = z["allgather_bucket_size"].get<int64_t>();
  c.sub_group_numel = z["sub_group_size"].get<int64_t>();
  c.prefetch_bucket_numel = z["stage3_prefetch_bucket_size"].get<int64_t>();
  c.param_persistence_threshold_numel = z["stage3_param_persistence_threshold"].get<int64_t>();
  c.model_persistence_threshold_numel = z["stage3_model_persistence_threshold"].get<int64_t>();
  c.max_live_parameters_numel = z["stage3_max_live_parameters"].get<int64_t>();
  c.max_reuse_distance_numel = z["stage3_max_reuse_distance"].get<int64_t>();
  c.gather_16bit_weights_on_model_save = z["stage3_gather_16bit_weights_on_model_save"].get<bool>();
  c.load_from_fp32_weights = z["load_from_fp32_weights"].get<bool>();
  c.ignore_unused_parameters = z["ignore_unused_parameters"].get<bool>();
  c.offload_optimizer = Offload(z["offload_optimizer"]);
  c.offload_param = Offload(z["offload_param"]);
  return c;
}

}  // namespace

void FillTypedConfig(const nlohmann::json& r, DsConfig& out) {
  out.train_batch_size = r["train_batch_size"].get<int64_t>();
  out.train_micro_batch_size_per_gpu = r["train_micro_batch_size_per_gpu"].get<int64_t>();
  out.gradient_accumulation_steps = r["gradient_accumulation_steps"].get<int64_t>();
  out.gradient_clipping = r["gradient_clipping"].get<double>();
  out.prescale_gradients = r["prescale_gradients"].get<bool>();
  out.gradient_predivide_factor = r["gradient_predivide_factor"].get<double>();
  const std::string wire = r["communication_data_type"].get<std::string>();
  out.communication_data_type = wire == "fp16"   ? WireDtype::kFp16
                                : wire == "bf16" ? WireDtype::kBf16
                                                 : WireDtype::kFp32;
  if (r["optimizer"].is_object()) {
    const nlohmann::json& p = r["optimizer"]["params"];
    OptimizerConfig& o = out.optimizer;
    o.type = r["optimizer"]["type"].get<std::string>();
    o.lr = p["lr"].get<double>();
    o.beta1 = p["betas"][0].get<double>();
    o.beta2 = p["betas"][1].get<double>();
    o.eps = p["eps"].get<double>();
    o.weight_decay = p["weight_decay"].get<double>();
    o.adamw_mode = o.type == "AdamW" || p["adam_w_mode"].get<bool>();
    o.bias_correction = p["bias_correction"].get<bool>();
  }
  if (r["scheduler"].is_object()) {
    out.scheduler = SchedulerConfig{r["scheduler"]["type"].get<std::string>(),
                                    r["scheduler"]["params"]};
  }
  const nlohmann::json& f = r["fp16"];
  out.fp16 = {f["enabled"].get<bool>(),           f["loss_scale"].get<double>(),
              f["initial_scale_power"].get<int64_t>(), f["loss_scale_window"].get<int64_t>(),
              f["hysteresis"].get<int64_t>(),      f["consecutive_hysteresis"].get<bool>(),
              f["min_loss_scale"].get<int64_t>()};
  out.bf16 = {r["bf16"]["enabled"].get<bool>(), r["bf16"]["check_grad_overflow"].get<bool>()};
  out.zero = Zero(r["zero_optimization"]);
  out.use_node_local_storage = r["checkpoint"]["use_node_local_storage"].get<bool>();
  out.tag_validation = r["checkpoint"]["tag_validation"].get<std::string>();
}

}  // namespace zt::configs
