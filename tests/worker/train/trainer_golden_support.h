// The whole training loop against the HF Trainer: runs zerotune's real Trainer in-process on a
// case of tests/data/trainer_goldens (made by tests/golden/trainer_goldens.py with transformers
// + PEFT) and compares, for every logged step, loss, grad_norm (before clipping), learning_rate
// and eval_loss, then the final weights (full fine-tuning) or adapter (LoRA) written to
// output_dir, with the golden. Each ZeRO stage / offload variant (a configs/ds file) reuses the
// same HF golden.
//
// Relative error, defined once: |a - b| / max(|b|, kTiny) for a scalar (b the golden), and
// ||a - b||_F / max(||b||_F, kTiny) for a tensor; every one must be <= kGoldenTolerance.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "configs/training_arguments.h"
#include "sharding/collectives/communicator.h"
#include "worker/train/trainer.h"

namespace zt::worker::train::testing {

inline constexpr double kGoldenTolerance = 1e-5;
inline constexpr double kTiny = 1e-12;

double RelativeError(double actual, double golden);
double TensorRelativeError(const at::Tensor& actual, const at::Tensor& golden);

// One test: a golden case under one ds_config of configs/ds ("zero2", "zero3_offload", ...).
struct GoldenRun {
  std::string golden;     // a key of cases.json
  std::string ds_config;  // configs/ds/<ds_config>.json
  // Where a 1-rank case trains (tests/support/test_devices.h); multi-rank cases run on the CPU.
  c10::Device device = c10::Device(c10::kCPU);
};
// "full_gas1_zero2", "full_gas1_zero2_cuda0": gtest parameter names.
std::string GoldenRunName(const GoldenRun& run);
inline void PrintTo(const GoldenRun& run, std::ostream* os) { *os << GoldenRunName(run); }

struct GoldenCase {
  int world_size = 1;
  bool lora = false;
  std::vector<std::string> flags;  // zerotune's command line, fixture paths resolved
  std::map<std::string, std::vector<double>> series;  // loss, grad_norm, learning_rate[, eval_loss]
  std::map<std::string, at::Tensor> final_tensors;    // HF (full) or PEFT (LoRA) names
  std::map<std::string, at::Tensor> init_tensors;     // LoRA: the adapter the HF run started from
};
absl::StatusOr<GoldenCase> ReadGoldenCase(const std::string& name);

// The case's flags plus --deepspeed and --output_dir, parsed as a user's command line would be
// (configs::SetArgument per flag, then ValidateTrainingArguments). FailedPrecondition naming the
// flag when the registry does not know one (a feature not in this build yet).
absl::StatusOr<configs::TrainingArguments> GoldenArguments(const GoldenCase& golden,
                                                           const GoldenRun& run,
                                                           const std::string& output_dir);

// Runs the Trainer on this rank and, on rank 0, compares every step and the outputs with gtest
// expectations; prints one line of worst relative errors. `comm` spans the case's ranks.
void RunGoldenRank(const GoldenRun& run, std::shared_ptr<sharding::Communicator> comm,
                   TrainerPlacement placement, const std::string& output_dir);

// The whole test body: skips a case whose flags this build does not know, runs 1-rank cases
// in-process and multi-rank cases as Gloo rank processes (tests/sharding/gloo_test_ranks.h's
// ConnectGlooRank; rank 0 leaves its summary line for the parent to print).
void RunGoldenTest(const GoldenRun& run);

}  // namespace zt::worker::train::testing
