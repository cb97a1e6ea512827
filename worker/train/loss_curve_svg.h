// The loss-curve plot written beside a run's metrics: a self-contained SVG line chart of the
// train loss (and the eval loss, when there is one) against the optimizer step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace zt::worker::train {

struct CurvePoint {
  int64_t step = 0;
  double value = 0;
};

// An SVG 1.1 document (UTF-8, no external resources): a title, x axis "step" and y axis "loss"
// with tick marks and numeric labels, one polyline per series (train blue, eval orange with a
// marker per point) and a legend naming the series drawn. Points are drawn in step order; NaN
// and infinite values (and magnitudes above 1e300, which no float32 loss reaches) are skipped. Both
// axes map monotonically (larger step: further right; larger loss: higher up); a series with a
// single finite point is drawn as a marker. When neither series has a finite point the chart says
// "no data". `title` is XML-escaped.
std::string LossCurveSvg(const std::vector<CurvePoint>& train, const std::vector<CurvePoint>& eval,
                         const std::string& title);

// Writes LossCurveSvg(...) to `path` atomically: a temporary file in the same folder, fsync,
// then rename over `path`, so a reader sees the old plot or the new one, never a partial file.
// NotFound when the folder does not exist, PermissionDenied / Internal for other failures, each
// naming the file and the system's reason.
absl::Status WriteLossCurveSvg(const std::string& path, const std::vector<CurvePoint>& train,
                               const std::vector<CurvePoint>& eval, const std::string& title);

}  // namespace zt::worker::train
