// Trainer::Create refuses jobs that cannot train, before the loop starts, naming the flag or the
// file: flags that would crash the step plan (checked before anything loads), a folder given as
// --data_path, and a data set without one trained token.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "configs/training_arguments.h"
#include "sharding/collectives/in_memory_store.h"
#include "sharding/collectives/self_communicator.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "worker/train/trainer.h"

namespace zt::worker::train {
namespace {

using ::testing::HasSubstr;

std::string TinyModel() { return zt::testing::TestDataPath("models/qwen2"); }

absl::StatusOr<std::unique_ptr<Trainer>> Create(
    const std::vector<std::pair<std::string, std::string>>& flags) {
  configs::TrainingArguments args;
  for (const auto& [flag, value] : flags) {
    absl::Status set = configs::SetArgument(args, flag, value);
    if (!set.ok()) return set;
  }
  TrainerPlacement placement;
  placement.store = std::make_shared<sharding::InMemoryStore>();
  return Trainer::Create(std::move(args), std::make_shared<sharding::SelfCommunicator>(),
                         std::move(placement), nullptr);
}

// Pre-tokenized records (vocab 128): `labels` per record, -100 = not trained.
std::string WriteData(const testing::TempDir& dir,
                      const std::vector<std::vector<int>>& labels_per_record) {
  const std::string path = dir.Join("data.jsonl");
  std::ofstream out(path);
  for (const std::vector<int>& labels : labels_per_record) {
    std::string ids, ls;
    for (size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&ids, i ? "," : "", 5 + i);
      absl::StrAppend(&ls, i ? "," : "", labels[i]);
    }
    out << "{\"input_ids\": [" << ids << "], \"labels\": [" << ls << "]}\n";
  }
  return path;
}

TEST(TrainerInputTest, ZeroAccumulationIsAFlagErrorBeforeAnythingLoads) {
  // The model folder does not exist: the flag is reported first (it divided by zero once).
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      Create({{"model_name_or_path", "no-such-model"}, {"data_path", "no-such.jsonl"},
              {"output_dir", "out"}, {"gradient_accumulation_steps", "0"}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("gradient_accumulation_steps"));
  EXPECT_THAT(std::string(t.status().message()), ::testing::Not(HasSubstr("no-such-model")));
}

TEST(TrainerInputTest, ZeroBatchIsNamedByItsFlag) {
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      Create({{"model_name_or_path", TinyModel()}, {"data_path", "no-such.jsonl"},
              {"output_dir", "out"}, {"per_device_train_batch_size", "0"}});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr("--per_device_train_batch_size: must be > 0, got 0"));
}

TEST(TrainerInputTest, AFolderAsDataPathIsNamedAsOne) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      Create({{"model_name_or_path", TinyModel()}, {"data_path", dir.path()},
              {"output_dir", dir.Join("out")}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr(absl::StrCat("'", dir.path(), "' is a folder; expected a JSON or JSONL")));
}

TEST(TrainerInputTest, NoTrainedTokenAnywhereIsRefusedWithTheCauses) {
  testing::TempDir dir;
  // Two records train nothing at all; one trains only past --model_max_length 4.
  const std::string data =
      WriteData(dir, {{-100, -100, -100}, {-100, -100, -100, -100}, {-100, -100, -100, -100, 9, 10}});
  absl::StatusOr<std::unique_ptr<Trainer>> t =
      Create({{"model_name_or_path", TinyModel()}, {"data_path", data},
              {"output_dir", dir.Join("out")}, {"model_max_length", "4"}, {"max_steps", "1"}});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(t.status().message()),
              HasSubstr(absl::StrCat("--data_path ", data, ": none of its 3 samples has a trained "
                                     "token (1 cut by --model_max_length 4 before their first "
                                     "trained token, 2 with no trained token at all")))
      << t.status();

  // One trained target token (position 1 predicts it) is enough to train.
  const std::string trains = WriteData(dir, {{-100, -100, -100}, {-100, 7}});
  t = Create({{"model_name_or_path", TinyModel()}, {"data_path", trains},
              {"output_dir", dir.Join("out2")}, {"max_steps", "1"}});
  EXPECT_TRUE(t.ok()) << t.status();
}

}  // namespace
}  // namespace zt::worker::train
