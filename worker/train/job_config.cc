#include "worker/train/job_config.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "configs/json_reader.h"
#include "sharding/optim/lr_scheduler_config.h"

namespace zt::worker::train {

namespace {

absl::StatusOr<configs::DsConfig> ResolveDs(const configs::TrainingArguments& args, int world_size,
                                            int64_t hidden_size, int64_t total_steps) {
  nlohmann::json raw = nlohmann::json::object();
  if (!args.deepspeed.empty()) {
    ZT_ASSIGN_OR_RETURN(raw, configs::ReadTolerantJsonFile(args.deepspeed));
  }
  configs::Diagnostics diag;
  configs::ValidateTrainingArguments(args, diag);
  configs::DsResolveOptions options;
  options.world_size = world_size;
  options.args = &args;
  options.hidden_size = hidden_size;
  options.num_training_steps = total_steps;
  configs::DsConfig ds = configs::ResolveDsConfig(raw, options, diag);
  if (diag.has_errors()) {
    return diag.ToStatus(args.deepspeed.empty() ? "training arguments" : args.deepspeed);
  }
  return ds;
}

}  // namespace

int64_t JobGradientAccumulation(const configs::TrainingArguments& args, int world_size,
                                int64_t hidden_size) {
  // The batch triad does not depend on the step count; any positive count resolves it.
  absl::StatusOr<configs::DsConfig> ds = ResolveDs(args, world_size, hidden_size, 1);
  if (!ds.ok() || ds->gradient_accumulation_steps < 1) return args.gradient_accumulation_steps;
  return ds->gradient_accumulation_steps;
}

absl::StatusOr<JobConfig> ResolveJobConfig(const configs::TrainingArguments& args, int world_size,
                                           int64_t hidden_size, int64_t total_steps) {
  JobConfig out;
  ZT_ASSIGN_OR_RETURN(out.ds, ResolveDs(args, world_size, hidden_size, total_steps));
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<sharding::LrScheduler> made,
                      sharding::MakeJobScheduler(out.ds, args, total_steps));
  std::shared_ptr<const sharding::LrScheduler> schedule = std::move(made);
  if (out.stage() == 3) {
    out.zero3_params = sharding::Zero3ParameterOptionsFromDsConfig(out.ds);
    ZT_ASSIGN_OR_RETURN(out.zero3_optimizer,
                        sharding::Zero3OptimizerOptionsFromDsConfig(out.ds));
    out.zero3_optimizer.scheduler = schedule;
  } else {
    ZT_ASSIGN_OR_RETURN(out.engine, sharding::ZeroEngineOptionsFromDsConfig(out.ds));
    out.engine.scheduler = schedule;
  }
  return out;
}

}  // namespace zt::worker::train
