#include "worker/train/loss_curve_svg.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace zt::worker::train {
namespace {

// Canvas and plot area, in SVG user units (pixels).
constexpr double kWidth = 800;
constexpr double kHeight = 480;
constexpr double kLeft = 80;
constexpr double kRight = 24;
constexpr double kTop = 48;
constexpr double kBottom = 56;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr double kPlotHeight = kHeight - kTop - kBottom;

constexpr char kTrainColor[] = "#1f77b4";
constexpr char kEvalColor[] = "#ff7f0e";

struct Axis {
  double lo = 0;
  double hi = 1;
  double tick = 1;
};

std::string EscapeXml(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Larger magnitudes (no float32 loss reaches them) would overflow the axis arithmetic.
constexpr double kMaxMagnitude = 1e300;

// The finite points of a series, in ascending step order.
std::vector<CurvePoint> FinitePoints(const std::vector<CurvePoint>& points) {
  std::vector<CurvePoint> out;
  for (const CurvePoint& p : points) {
    if (std::isfinite(p.value) && std::fabs(p.value) <= kMaxMagnitude) out.push_back(p);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const CurvePoint& a, const CurvePoint& b) { return a.step < b.step; });
  return out;
}

// A 1/2/5 x 10^k tick spacing giving about five intervals over [lo, hi] (at least 1 for steps),
// and the range widened to whole ticks. A degenerate range (one point, a flat curve) is
// widened around its value first so the mapping stays strictly monotonic.
Axis NiceAxis(double lo, double hi, bool integer_ticks) {
  if (hi - lo <= 0) {
    const double pad = integer_ticks ? 1.0 : std::max(std::fabs(lo) * 0.1, 1e-3);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double tick = magnitude;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    tick = m * magnitude;
    if (tick >= raw) break;
  }
  if (integer_ticks) tick = std::max(1.0, std::round(tick));
  return Axis{std::floor(lo / tick) * tick, std::ceil(hi / tick) * tick, tick};
}

double MapX(const Axis& a, double step) {
  return kLeft + (step - a.lo) / (a.hi - a.lo) * kPlotWidth;
}
double MapY(const Axis& a, double v) {
  return kTop + kPlotHeight - (v - a.lo) / (a.hi - a.lo) * kPlotHeight;
}

std::string TickLabel(double v, double tick) {
  if (std::fabs(v) < tick * 1e-9) v = 0;  // -0 and rounding noise print as 0
  return absl::StrFormat("%.6g", v);
}

void AppendAxes(const Axis& x, const Axis& y, std::string& svg) {
  const double bottom = kTop + kPlotHeight;
  absl::StrAppendFormat(&svg,
                        "<g class=\"axes\" stroke=\"#333333\" stroke-width=\"1\">\n"
                        "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n"
                        "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n</g>\n",
                        kLeft, bottom, kLeft + kPlotWidth, bottom, kLeft, kTop, kLeft, bottom);
  svg += "<g class=\"x-ticks\" font-size=\"12\" text-anchor=\"middle\">\n";
  const int nx = static_cast<int>(std::lround((x.hi - x.lo) / x.tick));
  for (int i = 0; i <= nx; ++i) {
    const double v = x.lo + i * x.tick;
    const double px = MapX(x, v);
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333333\"/>"
        "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
        px, bottom, px, bottom + 5, px, bottom + 19, TickLabel(v, x.tick));
  }
  svg += "</g>\n<g class=\"y-ticks\" font-size=\"12\" text-anchor=\"end\">\n";
  const int ny = static_cast<int>(std::lround((y.hi - y.lo) / y.tick));
  for (int i = 0; i <= ny; ++i) {
    const double v = y.lo + i * y.tick;
    const double py = MapY(y, v);
    absl::StrAppendFormat(
        &svg,
        "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#dddddd\"/>"
        "<text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
        kLeft, py, kLeft + kPlotWidth, py, kLeft - 6, py + 4, TickLabel(v, y.tick));
  }
  absl::StrAppendFormat(&svg,
                        "</g>\n<text class=\"x-label\" x=\"%.2f\" y=\"%.2f\" font-size=\"14\" "
                        "text-anchor=\"middle\">step</text>\n"
                        "<text class=\"y-label\" x=\"%.2f\" y=\"%.2f\" font-size=\"14\" "
                        "text-anchor=\"middle\" transform=\"rotate(-90 %.2f %.2f)\">loss</text>\n",
                        kLeft + kPlotWidth / 2, kHeight - 12, 20.0, kTop + kPlotHeight / 2, 20.0,
                        kTop + kPlotHeight / 2);
}

void AppendSeries(const std::string& name, const char* color, bool markers,
                  const std::vector<CurvePoint>& points, const Axis& x, const Axis& y,
                  std::string& svg) {
  absl::StrAppendFormat(&svg, "<g class=\"series\" id=\"%s\">\n", name);
  if (points.size() >= 2) {
    svg += "<polyline fill=\"none\" stroke-width=\"2\" stroke=\"";
    absl::StrAppend(&svg, color, "\" points=\"");
    for (size_t i = 0; i < points.size(); ++i) {
      absl::StrAppendFormat(&svg, "%s%.2f,%.2f", i == 0 ? "" : " ",
                            MapX(x, static_cast<double>(points[i].step)), MapY(y, points[i].value));
    }
    svg += "\"/>\n";
  }
  if (markers || points.size() == 1) {
    for (const CurvePoint& p : points) {
      absl::StrAppendFormat(&svg, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                            MapX(x, static_cast<double>(p.step)), MapY(y, p.value), color);
    }
  }
  svg += "</g>\n";
}

void AppendLegend(const std::vector<std::pair<std::string, const char*>>& entries,
                  std::string& svg) {
  svg += "<g class=\"legend\" font-size=\"12\">\n";
  const double x = kLeft + kPlotWidth - 110;
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.2f\" y=\"%.2f\" width=\"104\" height=\"%.2f\" "
                        "fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n",
                        x - 6, kTop + 2, 18 * static_cast<double>(entries.size()) + 6);
  for (size_t i = 0; i < entries.size(); ++i) {
    const double y = kTop + 14 + 18 * static_cast<double>(i);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                          "stroke-width=\"2\"/><text x=\"%.2f\" y=\"%.2f\">%s</text>\n",
                          x, y - 4, x + 20, y - 4, entries[i].second, x + 26, y, entries[i].first);
  }
  svg += "</g>\n";
}

absl::Status ErrnoStatus(int err, const std::string& what) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

}  // namespace

std::string LossCurveSvg(const std::vector<CurvePoint>& train, const std::vector<CurvePoint>& eval,
                         const std::string& title) {
  const std::vector<CurvePoint> t = FinitePoints(train);
  const std::vector<CurvePoint> e = FinitePoints(eval);
  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
      "<title>%s</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
      "<text class=\"title\" x=\"%.2f\" y=\"28\" font-size=\"16\" "
      "text-anchor=\"middle\">%s</text>\n",
      kWidth, kHeight, kWidth, kHeight, EscapeXml(title), kWidth / 2, EscapeXml(title));
  if (t.empty() && e.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text class=\"no-data\" x=\"%.2f\" y=\"%.2f\" font-size=\"16\" "
                          "text-anchor=\"middle\">no data</text>\n</svg>\n",
                          kWidth / 2, kHeight / 2);
    return svg;
  }
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const auto* series : {&t, &e}) {
    for (const CurvePoint& p : *series) {
      x_lo = std::min(x_lo, static_cast<double>(p.step));
      x_hi = std::max(x_hi, static_cast<double>(p.step));
      y_lo = std::min(y_lo, p.value);
      y_hi = std::max(y_hi, p.value);
    }
  }
  const Axis x = NiceAxis(x_lo, x_hi, /*integer_ticks=*/true);
  const Axis y = NiceAxis(y_lo, y_hi, /*integer_ticks=*/false);
  AppendAxes(x, y, svg);
  std::vector<std::pair<std::string, const char*>> legend;
  if (!t.empty()) {
    AppendSeries("train", kTrainColor, /*markers=*/false, t, x, y, svg);
    legend.emplace_back("train loss", kTrainColor);
  }
  if (!e.empty()) {
    AppendSeries("eval", kEvalColor, /*markers=*/true, e, x, y, svg);
    legend.emplace_back("eval loss", kEvalColor);
  }
  AppendLegend(legend, svg);
  svg += "</svg>\n";
  return svg;
}

absl::Status WriteLossCurveSvg(const std::string& path, const std::vector<CurvePoint>& train,
                               const std::vector<CurvePoint>& eval, const std::string& title) {
  const std::string svg = LossCurveSvg(train, eval, title);
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot create loss-curve plot ", tmp));
  size_t written = 0;
  while (written < svg.size()) {
    const ssize_t n = ::write(fd, svg.data() + written, svg.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(err, absl::StrCat("write of loss-curve plot ", tmp));
    }
    written += static_cast<size_t>(n);
  }
  const int sync_error = ::fsync(fd) != 0 ? errno : 0;
  const int close_error = ::close(fd) != 0 ? errno : 0;
  if (sync_error != 0 || close_error != 0) {
    ::unlink(tmp.c_str());
    return ErrnoStatus(sync_error != 0 ? sync_error : close_error,
                       absl::StrCat("fsync / close of loss-curve plot ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, absl::StrCat("rename of ", tmp, " to loss-curve plot ", path));
  }
  return absl::OkStatus();
}

}  // namespace zt::worker::train
