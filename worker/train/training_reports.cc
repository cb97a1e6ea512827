#include "worker/train/training_reports.h"

#include <unistd.h>

#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "worker/train/loss_curve_svg.h"

namespace zt::worker::train {
namespace {

// HF's TensorBoard tags: "loss" -> "train/loss", "eval_loss" -> "eval/loss".
std::string TensorBoardTag(const std::string& name) {
  if (absl::StartsWith(name, "eval_")) return "eval/" + name.substr(5);
  return "train/" + name;
}

}  // namespace

TrainingReports::TrainingReports(bool writes, std::string output_dir, std::string report_to,
                                 std::string title)
    : writes_(writes), output_dir_(std::move(output_dir)), report_to_(std::move(report_to)),
      title_(std::move(title)) {}

absl::StatusOr<std::string> TrainingReports::Open() {
  if (!writes_ || (!absl::StrContains(report_to_, "tensorboard") &&
                   !absl::StrContains(report_to_, "all"))) {
    return std::string();
  }
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  const std::string dir =
      absl::StrCat(output_dir_, "/runs/", DefaultTensorBoardRunName(absl::Now(), host));
  ZT_ASSIGN_OR_RETURN(tensorboard_, TensorBoardWriter::Open(dir));
  return tensorboard_->path();
}

absl::Status TrainingReports::Record(int64_t step, double epoch,
                                     const std::map<std::string, double>& values,
                                     const nlohmann::json& log_history) {
  if (!writes_) return absl::OkStatus();
  if (tensorboard_ != nullptr) {
    const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    for (const auto& [name, value] : values) {
      ZT_RETURN_IF_ERROR(tensorboard_->AddScalar(TensorBoardTag(name), step, value, now));
    }
    ZT_RETURN_IF_ERROR(tensorboard_->AddScalar("train/epoch", step, epoch, now));
    ZT_RETURN_IF_ERROR(tensorboard_->Flush());
  }
  std::vector<CurvePoint> train, eval;
  for (const nlohmann::json& entry : log_history) {
    const int64_t at = entry.value("step", int64_t{0});
    if (entry.contains("loss")) train.push_back({at, entry["loss"].get<double>()});
    if (entry.contains("eval_loss")) eval.push_back({at, entry["eval_loss"].get<double>()});
  }
  return WriteLossCurveSvg(output_dir_ + "/loss_curve.svg", train, eval, title_);
}

}  // namespace zt::worker::train
