#include "tests/worker/train/trainer_golden_support.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "sharding/collectives/file_store.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/prefix_store.h"
#include "sharding/collectives/self_communicator.h"
#include "sharding/collectives/store.h"
#include "tests/sharding/gloo_test_ranks.h"
#include "tests/support/rank_processes.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/support/test_devices.h"
#include "worker/io/safetensors_file.h"
#include "worker/model/lora_model.h"
#include "worker/train/trainable_model.h"

namespace zt::worker::train::testing {
namespace {

using TensorMap = std::map<std::string, at::Tensor>;

std::string GoldenDir() { return zt::testing::TestDataPath("trainer_goldens"); }

absl::StatusOr<std::map<std::string, at::Tensor>> ReadAll(const std::string& path,
                                                          const std::string& prefix) {
  ZT_ASSIGN_OR_RETURN(std::shared_ptr<io::SafetensorsFile> file, io::SafetensorsFile::Open(path));
  std::map<std::string, at::Tensor> out;
  for (const std::string& name : file->Names()) {
    if (!absl::StartsWith(name, prefix)) continue;
    ZT_ASSIGN_OR_RETURN(at::Tensor t, file->Get(name));
    out[name.substr(prefix.size())] = t.to(at::kDouble);
  }
  return out;
}

// What rank 0 saw through the observer: (step, value) per metric.
class MetricsRecorder : public TrainingObserver {
 public:
  absl::Status OnMetrics(int64_t step, int64_t, double,
                         const std::map<std::string, double>& values) override {
    for (const char* key : {"loss", "grad_norm", "learning_rate", "eval_loss"}) {
      auto it = values.find(key);
      if (it != values.end()) series_[key].emplace_back(step, it->second);
    }
    return absl::OkStatus();
  }
  const std::vector<std::pair<int64_t, double>>& Series(const std::string& key) {
    return series_[key];
  }

 private:
  std::map<std::string, std::vector<std::pair<int64_t, double>>> series_;
};

struct Worst {
  double error = 0;
  std::string where;
  void Add(double e, const std::string& at) {
    if (!(e <= error)) error = e, where = at;  // NaN sticks
  }
};

// Every step of one metric; returns its worst relative error.
Worst CompareSeries(const std::string& key, const std::vector<double>& golden,
                    const std::vector<std::pair<int64_t, double>>& actual) {
  Worst worst;
  EXPECT_EQ(actual.size(), golden.size()) << key << ": logged steps (golden: one per step)";
  for (size_t i = 0; i < std::min(actual.size(), golden.size()); ++i) {
    EXPECT_EQ(actual[i].first, static_cast<int64_t>(i) + 1) << key;
    const double e = RelativeError(actual[i].second, golden[i]);
    worst.Add(e, absl::StrCat("step ", i + 1));
    EXPECT_LE(e, kGoldenTolerance)
        << key << " at step " << i + 1 << ": zerotune " << actual[i].second << ", HF " << golden[i];
  }
  return worst;
}

Worst CompareTensors(const std::string& what, const std::map<std::string, at::Tensor>& golden,
                     const std::map<std::string, at::Tensor>& actual) {
  Worst worst;
  EXPECT_EQ(actual.size(), golden.size()) << what << ": tensor count";
  for (const auto& [name, g] : golden) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      ADD_FAILURE() << what << ": " << name << " missing";
      continue;
    }
    if (it->second.sizes() != g.sizes()) {
      ADD_FAILURE() << what << ": " << name << " has shape " << it->second.sizes() << ", HF "
                    << g.sizes();
      continue;
    }
    const double e = TensorRelativeError(it->second, g);
    worst.Add(e, name);
    EXPECT_LE(e, kGoldenTolerance) << what << ": " << name;
  }
  return worst;
}

// The golden must be able to catch a loop that does nothing: its loss moves and training moved
// the weights (or adapter) far more than the tolerance.
void CheckGoldenIsSensitive(const GoldenCase& golden) {
  const std::vector<double>& loss = golden.series.at("loss");
  ASSERT_GE(loss.size(), 2u);
  EXPECT_GT(std::abs(loss.back() - loss.front()) / loss.front(), 1e-3)
      << "the golden loss barely changes";
  TensorMap start = golden.init_tensors;
  if (!golden.lora) {
    absl::StatusOr<TensorMap> model = ReadAll(GoldenDir() + "/model/model.safetensors", "");
    ASSERT_TRUE(model.ok()) << model.status();
    start = *std::move(model);
  }
  double moved = 0;
  for (const auto& [name, final_tensor] : golden.final_tensors) {
    auto it = start.find(name);
    if (it != start.end()) moved = std::max(moved, TensorRelativeError(final_tensor, it->second));
  }
  EXPECT_GT(moved, 100 * kGoldenTolerance) << "the golden weights barely move";
}

// zerotune's LoRA start equals the HF run's (the adapter file, or zerotune's seeded draw the
// generator replicated): otherwise every later difference would only say "different start".
void CheckLoraStart(const GoldenCase& golden, const configs::TrainingArguments& args) {
  absl::StatusOr<TrainableModel> model = LoadTrainableModel(args);
  ASSERT_TRUE(model.ok()) << model.status();
  std::map<std::string, at::Tensor> start;
  for (auto& [name, tensor] : model->decoder->NamedTensors()) {
    if (absl::StrContains(name, "lora_"))
      start[model::PeftTensorName(name)] = tensor->to(at::kDouble);
  }
  const Worst w = CompareTensors("initial adapter", golden.init_tensors, start);
  std::printf("  initial adapter: worst %.3g (%s)\n", w.error, w.where.c_str());
}

std::map<std::string, at::Tensor> OutputTensors(const GoldenCase& golden,
                                                const std::string& output_dir) {
  const std::string file =
      output_dir + (golden.lora ? "/adapter_model.safetensors" : "/model.safetensors");
  absl::StatusOr<std::map<std::string, at::Tensor>> tensors = ReadAll(file, "");
  EXPECT_TRUE(tensors.ok()) << tensors.status();
  return tensors.ok() ? *tensors : std::map<std::string, at::Tensor>{};
}

}  // namespace

double RelativeError(double actual, double golden) {
  return std::abs(actual - golden) / std::max(std::abs(golden), kTiny);
}

double TensorRelativeError(const at::Tensor& actual, const at::Tensor& golden) {
  const at::Tensor a = actual.to(at::kDouble), g = golden.to(at::kDouble);
  return (a - g).norm().item<double>() / std::max(g.norm().item<double>(), kTiny);
}

std::string GoldenRunName(const GoldenRun& run) {
  std::string name = run.golden + "_" + run.ds_config;
  if (!run.device.is_cpu()) name += "_" + zt::testing::TestDeviceName(run.device);
  return name;
}

absl::StatusOr<GoldenCase> ReadGoldenCase(const std::string& name) {
  const std::string cases_path = GoldenDir() + "/cases.json";
  std::ifstream in(cases_path);
  if (!in) return absl::NotFoundError(absl::StrCat(cases_path, ": cannot read"));
  const nlohmann::json cases = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!cases.is_object() || !cases.contains(name)) {
    return absl::NotFoundError(absl::StrCat(cases_path, ": no case \"", name, "\""));
  }
  const nlohmann::json& c = cases[name];
  GoldenCase out;
  out.world_size = c.value("world_size", 1);
  out.lora = c.value("lora", false);
  for (const nlohmann::json& flag : c.at("flags")) {
    out.flags.push_back(absl::StrReplaceAll(flag.get<std::string>(), {{"{data}", GoldenDir()}}));
  }
  const std::string path = GoldenDir() + "/" + name + ".safetensors";
  ZT_ASSIGN_OR_RETURN(TensorMap all, ReadAll(path, ""));
  for (const char* key : {"loss", "grad_norm", "learning_rate", "eval_loss"}) {
    auto it = all.find(key);
    if (it == all.end()) continue;
    const at::Tensor t = it->second.contiguous();
    out.series[key] = std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  ZT_ASSIGN_OR_RETURN(out.final_tensors, ReadAll(path, "final."));
  ZT_ASSIGN_OR_RETURN(out.init_tensors, ReadAll(path, "init."));
  if (!out.series.count("loss") || out.final_tensors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": expected loss and final.* tensors"));
  }
  return out;
}

absl::StatusOr<configs::TrainingArguments> GoldenArguments(const GoldenCase& golden,
                                                           const GoldenRun& run,
                                                           const std::string& output_dir) {
  std::vector<std::string> flags = golden.flags;
  for (const std::string& extra :
       {std::string("--deepspeed"),
        absl::StrCat(ZT_SOURCE_ROOT_DIR, "/configs/ds/", run.ds_config, ".json"),
        std::string("--output_dir"), output_dir}) {
    flags.push_back(extra);
  }
  configs::TrainingArguments args;
  for (size_t i = 0; i + 1 < flags.size(); i += 2) {
    const std::string name = flags[i].substr(2);
    if (configs::FindArgumentSpec(name) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(flags[i], " is not a training argument of this build"));
    }
    ZT_RETURN_IF_ERROR(configs::SetArgument(args, name, flags[i + 1]));
  }
  configs::Diagnostics diag;
  configs::ValidateTrainingArguments(args, diag);
  if (diag.has_errors()) return absl::InvalidArgumentError(diag.errors().front().ToString());
  return args;
}

void RunGoldenRank(const GoldenRun& run, std::shared_ptr<sharding::Communicator> comm,
                   TrainerPlacement placement, const std::string& output_dir) {
  absl::StatusOr<GoldenCase> golden = ReadGoldenCase(run.golden);
  ASSERT_TRUE(golden.ok()) << golden.status();
  absl::StatusOr<configs::TrainingArguments> args = GoldenArguments(*golden, run, output_dir);
  ASSERT_TRUE(args.ok()) << args.status();
  ASSERT_EQ(comm->Size(), golden->world_size);
  const bool rank0 = comm->Rank() == 0;
  if (rank0) CheckGoldenIsSensitive(*golden);
  if (rank0 && golden->lora) CheckLoraStart(*golden, *args);
  MetricsRecorder recorder;
  absl::StatusOr<std::unique_ptr<Trainer>> trainer =
      Trainer::Create(*args, std::move(comm), std::move(placement), &recorder);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  absl::StatusOr<TrainResult> result = (*trainer)->Train();
  ASSERT_TRUE(result.ok()) << result.status();
  if (!rank0) return;
  std::string line = absl::StrCat("golden ", GoldenRunName(run), ":");
  for (const auto& [key, values] : golden->series) {
    const Worst w = CompareSeries(key, values, recorder.Series(key));
    absl::StrAppend(&line, " ", key, " ", absl::StrFormat("%.2g", w.error), " (", w.where, ")");
  }
  const Worst w = CompareTensors(golden->lora ? "adapter" : "weights", golden->final_tensors,
                                 OutputTensors(*golden, output_dir));
  absl::StrAppend(&line, golden->lora ? " adapter " : " weights ", absl::StrFormat("%.2g", w.error),
                  " (", w.where, ")");
  std::printf("%s\n", line.c_str());
  if (const char* summary = std::getenv("ZT_GOLDEN_SUMMARY"); summary != nullptr)
    std::ofstream(summary) << line;
}

void RunGoldenTest(const GoldenRun& run) {
  absl::StatusOr<GoldenCase> golden = ReadGoldenCase(run.golden);
  ASSERT_TRUE(golden.ok()) << golden.status();
  zt::testing::TempDir scratch;
  absl::StatusOr<configs::TrainingArguments> parsed = GoldenArguments(*golden, run, scratch.path());
  // Only --adapter_name_or_path, while this build does not know it yet, skips; any other
  // unknown flag fails.
  if (absl::IsFailedPrecondition(parsed.status()) &&
      absl::StartsWith(parsed.status().message(), "--adapter_name_or_path ")) {
    GTEST_SKIP() << parsed.status().message();
  }
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  if (golden->world_size == 1) {
    TrainerPlacement placement;
    placement.store = std::make_shared<sharding::InMemoryStore>();
    placement.device = run.device;
    RunGoldenRank(run, std::make_shared<sharding::SelfCommunicator>(), placement,
                  scratch.Join("out"));
    return;
  }
  if (std::optional<int> rank = zt::testing::ChildRank()) {
    // The parent's scratch folder holds the store; output_dir beside it, shared by the ranks.
    const std::string store_dir = std::getenv("ZT_TEST_STORE_DIR");
    const std::string shared = std::filesystem::path(store_dir).parent_path().string();
    std::shared_ptr<sharding::Communicator> comm =
        sharding::testing::ConnectGlooRank(*rank, "golden");
    ASSERT_NE(comm, nullptr);
    absl::StatusOr<std::unique_ptr<sharding::FileStore>> base =
        sharding::FileStore::Open(store_dir);
    ASSERT_TRUE(base.ok()) << base.status();
    absl::StatusOr<std::unique_ptr<sharding::PrefixStore>> store =
        sharding::JobStore(std::shared_ptr<sharding::Store>(std::move(*base)), "golden-trainer", 0);
    ASSERT_TRUE(store.ok()) << store.status();
    TrainerPlacement placement;
    placement.store = std::shared_ptr<sharding::Store>(std::move(*store));
    RunGoldenRank(run, std::move(comm), placement, shared + "/out");
    return;
  }
  // RunGlooRanks' set-up, plus a file for rank 0's summary line.
  zt::testing::TempDir dir;
  const std::string summary = dir.Join("summary.txt");
  zt::testing::ExpectRanksSucceed(zt::testing::RunRanks(
      golden->world_size, absl::Seconds(120),
      {"ZT_TEST_STORE_DIR=" + dir.Join("store"), "ZT_GOLDEN_SUMMARY=" + summary}));
  std::ifstream in(summary);
  std::string line;
  if (std::getline(in, line)) std::printf("%s\n", line.c_str());
}

}  // namespace zt::worker::train::testing
