// Trainer's reports besides the coordinator's metrics files: TensorBoard event files and the
// loss-curve plot, both written by rank 0.
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/train/loss_curve_svg.h"
#include "worker/train/trainer.h"

namespace zt::worker::train {
namespace {

// HF's TensorBoard tags: "loss" -> "train/loss", "eval_loss" -> "eval/loss".
std::string TensorBoardTag(const std::string& name) {
  if (absl::StartsWith(name, "eval_")) return "eval/" + name.substr(5);
  return "train/" + name;
}

}  // namespace

absl::Status Trainer::OpenReports() {
  if (comm_->Rank() != 0) return absl::OkStatus();
  if (!absl::StrContains(args_.report_to, "tensorboard") &&
      !absl::StrContains(args_.report_to, "all")) {
    return absl::OkStatus();
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string dir = absl::StrCat(args_.output_dir, "/runs/",
                                       DefaultTensorBoardRunName(absl::Now(), host));
  ZT_ASSIGN_OR_RETURN(tensorboard_, TensorBoardWriter::Open(dir));
  Log(absl::StrCat("TensorBoard event file: ", tensorboard_->path()));
  return absl::OkStatus();
}

absl::Status Trainer::Report(int64_t step, const std::map<std::string, double>& values) {
  if (tensorboard_ != nullptr) {
    const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    for (const auto& [name, value] : values) {
      ZT_RETURN_IF_ERROR(tensorboard_->AddScalar(TensorBoardTag(name), step, value, now));
    }
    ZT_RETURN_IF_ERROR(tensorboard_->AddScalar("train/epoch", step, plan_->EpochAt(step), now));
    ZT_RETURN_IF_ERROR(tensorboard_->Flush());
  }
  std::vector<CurvePoint> train, eval;
  for (const nlohmann::json& entry : log_history_) {
    const int64_t at = entry.value("step", int64_t{0});
    if (entry.contains("loss")) train.push_back({at, entry["loss"].get<double>()});
    if (entry.contains("eval_loss")) eval.push_back({at, entry["eval_loss"].get<double>()});
  }
  return WriteLossCurveSvg(args_.output_dir + "/loss_curve.svg", train, eval,
                           absl::StrCat("loss, ", args_.model_name_or_path));
}

}  // namespace zt::worker::train
