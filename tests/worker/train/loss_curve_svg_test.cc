// The loss-curve SVG: well-formed XML (a small strict parser: balanced tags, quoted attributes,
// only the five XML entities), the required elements (title, axes, ticks, labels, legend), points
// mapped monotonically in step and loss, non-finite points skipped, a single point, no data, and
// the atomic write.
#include "worker/train/loss_curve_svg.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/support/temp_dir.h"

namespace zt::worker::train {
namespace {

namespace fs = std::filesystem;

struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;
  std::string text;  // character data directly inside, entities decoded
  std::string parent;
};

// Parses `xml` strictly enough for the test: one optional <?xml ...?> declaration, then a single
// root; every start tag closed in order; attributes name="value"; '&' only as one of the five
// predefined entities. Returns the elements in document order; a violation fails the test.
std::vector<Element> ParseXml(const std::string& xml) {
  std::vector<Element> elements;
  std::vector<size_t> open;
  size_t at = 0;
  if (xml.rfind("<?xml", 0) == 0) at = xml.find("?>") + 2;
  int roots = 0;
  auto decode = [](const std::string& s) -> std::string {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '<') ADD_FAILURE() << "raw '<' in text or attribute: " << s;
      if (s[i] != '&') {
        out.push_back(s[i]);
        continue;
      }
      const size_t semi = s.find(';', i);
      const std::string entity = semi == std::string::npos ? "" : s.substr(i, semi - i + 1);
      static const std::map<std::string, char> kEntities = {
          {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
      auto it = kEntities.find(entity);
      if (it == kEntities.end()) {
        ADD_FAILURE() << "bad entity in: " << s;
        return out;
      }
      out.push_back(it->second);
      i = semi;
    }
    return out;
  };
  while (at < xml.size()) {
    const size_t lt = xml.find('<', at);
    const std::string text = xml.substr(at, lt == std::string::npos ? std::string::npos : lt - at);
    if (!open.empty()) {
      elements[open.back()].text += decode(text);
    } else if (text.find_first_not_of(" \n") != std::string::npos) {
      ADD_FAILURE() << "text outside the root: " << text;
    }
    if (lt == std::string::npos) break;
    const size_t gt = xml.find('>', lt);
    if (gt == std::string::npos) {
      ADD_FAILURE() << "unterminated tag at " << lt;
      break;
    }
    std::string tag = xml.substr(lt + 1, gt - lt - 1);
    at = gt + 1;
    if (tag[0] == '/') {
      if (open.empty() || elements[open.back()].name != tag.substr(1)) {
        ADD_FAILURE() << "unbalanced </" << tag.substr(1) << ">";
        break;
      }
      open.pop_back();
      continue;
    }
    const bool self_closing = tag.back() == '/';
    if (self_closing) tag.pop_back();
    Element e;
    e.parent = open.empty() ? "" : elements[open.back()].name;
    size_t i = tag.find_first_of(" \n");
    e.name = tag.substr(0, i);
    while (i != std::string::npos && i < tag.size()) {
      i = tag.find_first_not_of(" \n", i);
      if (i == std::string::npos) break;
      const size_t eq = tag.find('=', i);
      if (eq == std::string::npos || eq + 1 >= tag.size() || tag[eq + 1] != '"') {
        ADD_FAILURE() << "attribute without a quoted value in <" << tag << ">";
        break;
      }
      const size_t close = tag.find('"', eq + 2);
      const std::string name = tag.substr(i, eq - i);
      EXPECT_EQ(e.attrs.count(name), 0u) << "duplicate attribute " << name;
      e.attrs[name] = decode(tag.substr(eq + 2, close - eq - 2));
      i = close + 1;
    }
    if (open.empty()) ++roots;
    elements.push_back(e);
    if (!self_closing) open.push_back(elements.size() - 1);
  }
  EXPECT_TRUE(open.empty()) << "unclosed <" << (open.empty() ? "" : elements[open.back()].name);
  EXPECT_EQ(roots, 1);
  return elements;
}

std::vector<const Element*> Find(const std::vector<Element>& elements, const std::string& name) {
  std::vector<const Element*> out;
  for (const Element& e : elements) {
    if (e.name == name) out.push_back(&e);
  }
  return out;
}

std::vector<std::pair<double, double>> PolylinePoints(const Element& polyline) {
  std::vector<std::pair<double, double>> out;
  for (absl::string_view pair : absl::StrSplit(polyline.attrs.at("points"), ' ')) {
    std::pair<std::string, std::string> xy = absl::StrSplit(pair, ',');
    double x = 0, y = 0;
    EXPECT_TRUE(absl::SimpleAtod(xy.first, &x) && absl::SimpleAtod(xy.second, &y)) << pair;
    out.emplace_back(x, y);
  }
  return out;
}

bool HasText(const std::vector<Element>& elements, const std::string& text) {
  for (const Element& e : elements) {
    if (e.name == "text" && e.text == text) return true;
  }
  return false;
}

TEST(LossCurveSvgTest, WellFormedWithAxesTicksLegendAndTitle) {
  const std::vector<CurvePoint> train = {{1, 2.5}, {2, 2.1}, {3, 1.9}, {4, 1.7}, {5, 1.65}};
  const std::vector<CurvePoint> eval = {{2, 2.2}, {4, 1.8}};
  const std::vector<Element> svg = ParseXml(LossCurveSvg(train, eval, "Qwen <LoRA> & \"me\""));
  ASSERT_FALSE(svg.empty());
  EXPECT_EQ(svg[0].name, "svg");
  EXPECT_EQ(svg[0].attrs.at("xmlns"), "http://www.w3.org/2000/svg");
  ASSERT_EQ(Find(svg, "title").size(), 1u);
  EXPECT_EQ(Find(svg, "title")[0]->text, "Qwen <LoRA> & \"me\"");
  EXPECT_TRUE(HasText(svg, "Qwen <LoRA> & \"me\""));
  EXPECT_TRUE(HasText(svg, "step"));
  EXPECT_TRUE(HasText(svg, "loss"));
  EXPECT_TRUE(HasText(svg, "train loss"));
  EXPECT_TRUE(HasText(svg, "eval loss"));
  // Tick labels: steps 1..5 fit ticks at every step; the loss range 1.65..2.5 at 0.2 spacing.
  for (const char* label : {"1", "2", "3", "4", "5", "1.6", "2", "2.6"}) {
    EXPECT_TRUE(HasText(svg, label)) << label;
  }
  EXPECT_EQ(Find(svg, "polyline").size(), 2u);
  EXPECT_EQ(Find(svg, "circle").size(), 2u);  // eval markers
}

TEST(LossCurveSvgTest, PointsMapMonotonicallyAndNonFiniteOnesAreSkipped) {
  // Out of order, with NaN, both infinities and a magnitude beyond 1e300 mixed in.
  const std::vector<CurvePoint> train = {{30, 1.0},      {10, 3.0}, {15, NAN},       {20, 2.0},
                                         {25, INFINITY}, {40, 1.5}, {45, -INFINITY}, {50, 1e308}};
  const std::vector<Element> svg = ParseXml(LossCurveSvg(train, {}, "run"));
  const std::vector<const Element*> lines = Find(svg, "polyline");
  ASSERT_EQ(lines.size(), 1u);
  const auto points = PolylinePoints(*lines[0]);
  ASSERT_EQ(points.size(), 4u);  // steps 10, 20, 30, 40
  const std::vector<double> values = {3.0, 2.0, 1.0, 1.5};
  for (size_t i = 1; i < points.size(); ++i) {
    EXPECT_GT(points[i].first, points[i - 1].first) << "x grows with the step";
    // Larger loss is higher up: smaller SVG y.
    EXPECT_EQ(values[i] > values[i - 1], points[i].second < points[i - 1].second) << i;
  }
  // Linear in the step: 10 -> 20 -> 30 -> 40 are evenly spaced.
  EXPECT_NEAR(points[1].first - points[0].first, points[3].first - points[2].first, 0.02);
  EXPECT_FALSE(HasText(svg, "eval loss"));  // no eval series, no legend entry
  for (const Element& e : svg) {
    for (const auto& [name, value] : e.attrs) {
      EXPECT_EQ(value.find("nan"), std::string::npos) << e.name << " " << name;
      EXPECT_EQ(value.find("inf"), std::string::npos) << e.name << " " << name;
    }
  }
}

TEST(LossCurveSvgTest, SinglePointIsAMarkerInsideThePlot) {
  const std::vector<Element> svg = ParseXml(LossCurveSvg({{7, 0.25}}, {}, "one"));
  EXPECT_TRUE(Find(svg, "polyline").empty());
  const std::vector<const Element*> circles = Find(svg, "circle");
  ASSERT_EQ(circles.size(), 1u);
  double cx = 0, cy = 0;
  ASSERT_TRUE(absl::SimpleAtod(circles[0]->attrs.at("cx"), &cx));
  ASSERT_TRUE(absl::SimpleAtod(circles[0]->attrs.at("cy"), &cy));
  EXPECT_GT(cx, 80);
  EXPECT_LT(cx, 800 - 24);
  EXPECT_GT(cy, 48);
  EXPECT_LT(cy, 480 - 56);
  EXPECT_TRUE(HasText(svg, "7"));
}

TEST(LossCurveSvgTest, NoFinitePointSaysNoData) {
  for (const auto& train : {std::vector<CurvePoint>{}, std::vector<CurvePoint>{{1, NAN}}}) {
    const std::vector<Element> svg = ParseXml(LossCurveSvg(train, {}, "empty"));
    EXPECT_TRUE(HasText(svg, "no data"));
    EXPECT_TRUE(Find(svg, "polyline").empty());
    EXPECT_TRUE(Find(svg, "circle").empty());
  }
  // Eval only is data.
  const std::vector<Element> eval_only = ParseXml(LossCurveSvg({}, {{5, 1.0}, {10, 0.8}}, "e"));
  EXPECT_FALSE(HasText(eval_only, "no data"));
  EXPECT_TRUE(HasText(eval_only, "eval loss"));
  EXPECT_FALSE(HasText(eval_only, "train loss"));
}

TEST(LossCurveSvgTest, WriteReplacesTheFileAtomically) {
  zt::testing::TempDir dir;
  const std::string path = dir.Join("loss_curve.svg");
  std::ofstream(path) << "old";
  ASSERT_TRUE(WriteLossCurveSvg(path, {{1, 2.0}, {2, 1.0}}, {}, "run").ok());
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  EXPECT_EQ(s.str(), LossCurveSvg({{1, 2.0}, {2, 1.0}}, {}, "run"));
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1) << "no temporary file left behind";

  const absl::Status missing = WriteLossCurveSvg(dir.Join("absent/loss.svg"), {}, {}, "run");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.message().find(dir.Join("absent/loss.svg")), absl::string_view::npos)
      << missing;
}

}  // namespace
}  // namespace zt::worker::train
