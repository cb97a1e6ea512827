// CpuAdamWStep over 100 steps, for every instruction-set path this CPU has (scalar always,
// forced): against LibTorch's torch::optim::AdamW itself, and against a reference written with
// ATen ops from torch.optim.AdamW's / Adam's documented single-tensor algorithm for what the C++
// optimizer lacks (L2 mode, no bias correction); its 16-bit parameter copies against
// LibTorch's own casts.
#include "kernels/cpu_adamw.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <omp.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/rank_processes.h"

namespace zt::kernels {
namespace {

struct AdamWCase {
  std::string name;
  AdamWHyperParams hyper;
};

// torch.optim.AdamW (adamw_mode) / torch.optim.Adam with weight_decay (L2), one tensor.
void TorchReferenceStep(at::Tensor& p, const at::Tensor& g, at::Tensor& m, at::Tensor& v,
                        const AdamWHyperParams& h) {
  at::Tensor grad = g;
  if (!h.adamw_mode && h.weight_decay != 0) grad = grad.add(p, h.weight_decay);
  if (h.adamw_mode) p.mul_(1 - double{h.lr} * h.weight_decay);
  m.mul_(h.beta1).add_(grad, 1 - double{h.beta1});
  v.mul_(h.beta2).addcmul_(grad, grad, 1 - double{h.beta2});
  const double bc1 = h.bias_correction ? 1 - std::pow(double{h.beta1}, double(h.step)) : 1.0;
  const double bc2 = h.bias_correction ? 1 - std::pow(double{h.beta2}, double(h.step)) : 1.0;
  at::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(h.eps);
  p.addcdiv_(m, denom, -(double{h.lr} / bc1));
}

double RelativeError(const at::Tensor& actual, const at::Tensor& expected) {
  return (actual.to(at::kDouble) - expected.to(at::kDouble)).norm().item<double>() /
         expected.to(at::kDouble).norm().item<double>();
}

std::vector<CpuIsa> SupportedIsas() {
  std::vector<CpuIsa> isas;
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (CpuSupports(isa)) isas.push_back(isa);
  }
  return isas;
}

std::vector<AdamWCase> Cases() {
  AdamWHyperParams adamw;
  adamw.lr = 1e-3f;
  adamw.weight_decay = 0.01f;
  AdamWHyperParams l2 = adamw;
  l2.adamw_mode = false;
  l2.weight_decay = 0.1f;
  AdamWHyperParams no_bias_correction = adamw;
  no_bias_correction.bias_correction = false;
  no_bias_correction.beta2 = 0.95f;
  no_bias_correction.eps = 1e-6f;
  return {{"adamw", adamw}, {"adam_l2", l2}, {"no_bias_correction", no_bias_correction}};
}

// 100 steps of random gradients (changing scale) through both implementations.
void ExpectMatchesTorchOver100Steps(CpuIsa isa, const AdamWCase& c) {
  constexpr int64_t kNumel = 100003;  // not a multiple of any vector width
  at::manual_seed(7);
  at::Tensor p = at::randn({kNumel});
  at::Tensor m = at::zeros({kNumel});
  at::Tensor v = at::zeros({kNumel});
  const at::Tensor p_initial = p.clone();
  at::Tensor p_ref = p.clone(), m_ref = m.clone(), v_ref = v.clone();
  CpuAdamWOptions options;
  options.force_isa = true;
  options.isa = isa;
  options.num_threads = 3;
  for (int step = 1; step <= 100; ++step) {
    at::Tensor g = at::randn({kNumel}) * (0.01 * step);
    AdamWHyperParams hyper = c.hyper;
    hyper.step = step;
    AdamWBuffers buffers;
    buffers.param = p.data_ptr<float>();
    buffers.grad = g.data_ptr<float>();
    buffers.exp_avg = m.data_ptr<float>();
    buffers.exp_avg_sq = v.data_ptr<float>();
    buffers.numel = kNumel;
    ASSERT_EQ(CpuAdamWStep(buffers, hyper, options), isa);
    TorchReferenceStep(p_ref, g, m_ref, v_ref, hyper);
  }
  const std::string what = std::string(CpuIsaName(isa)) + " " + c.name;
  EXPECT_LE(RelativeError(p, p_ref), 1e-6) << what << " params";
  EXPECT_LE(RelativeError(m, m_ref), 1e-6) << what << " exp_avg";
  EXPECT_LE(RelativeError(v, v_ref), 1e-6) << what << " exp_avg_sq";
  // The run moved the parameters far beyond the tolerance, so the check has teeth.
  EXPECT_GT(RelativeError(p, p_initial), 1e-3) << what;
}

TEST(CpuAdamWTest, EveryPathMatchesTorchOver100Steps) {
  for (CpuIsa isa : SupportedIsas()) {
    for (const AdamWCase& c : Cases()) ExpectMatchesTorchOver100Steps(isa, c);
  }
}

// LibTorch's own C++ optimizer (torch::optim::AdamW), not a transcription of its math.
TEST(CpuAdamWTest, EveryPathMatchesTorchOptimAdamWOver100Steps) {
  constexpr int64_t kNumel = 50021;
  for (CpuIsa isa : SupportedIsas()) {
    at::manual_seed(5);
    at::Tensor p = at::randn({kNumel});
    at::Tensor m = at::zeros({kNumel}), v = at::zeros({kNumel});
    at::Tensor p_torch = p.clone().requires_grad_(true);
    torch::optim::AdamW optimizer({p_torch}, torch::optim::AdamWOptions(2e-3).weight_decay(0.05));
    CpuAdamWOptions options;
    options.force_isa = true;
    options.isa = isa;
    options.num_threads = 2;
    AdamWHyperParams hyper;
    hyper.lr = 2e-3f;
    hyper.weight_decay = 0.05f;
    for (int step = 1; step <= 100; ++step) {
      at::Tensor g = at::randn({kNumel}) * (0.02 * step);
      hyper.step = step;
      CpuAdamWStep({p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                    v.data_ptr<float>(), kNumel},
                   hyper, options);
      p_torch.mutable_grad() = g;
      optimizer.step();
    }
    const at::Tensor expected = p_torch.detach();
    EXPECT_LE(RelativeError(p, expected), 1e-6) << CpuIsaName(isa);
  }
}

TEST(CpuAdamWTest, BestPathIsTheWidestSupported) {
  const CpuIsa best = BestCpuIsa();
  EXPECT_EQ(best, SupportedIsas().back()) << CpuIsaName(best);
}

TEST(CpuAdamWTest, ResultsDoNotDependOnTheThreadCount) {
  constexpr int64_t kNumel = 300001;
  at::manual_seed(3);
  const at::Tensor p0 = at::randn({kNumel}), g = at::randn({kNumel});
  const at::Tensor m0 = at::randn({kNumel}), v0 = at::rand({kNumel});
  at::Tensor first;
  for (int threads : {1, 2, 5}) {
    at::Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
    AdamWHyperParams hyper;
    hyper.step = 3;
    hyper.weight_decay = 0.05f;
    CpuAdamWOptions options;
    options.num_threads = threads;
    CpuAdamWStep({p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                  v.data_ptr<float>(), kNumel},
                 hyper, options);
    if (!first.defined()) {
      first = p;
      EXPECT_FALSE(at::equal(p, p0));
    } else {
      EXPECT_TRUE(at::equal(p, first)) << threads << " threads";
    }
  }
}

// With OMP_THREAD_LIMIT=1 OpenMP gives the kernel's region a team of one whatever it asks
// for (as under OMP_DYNAMIC on a loaded machine, or in a nested region): every element must
// still be stepped, as by the 1-thread step. Runs in a child process started with that limit.
TEST(CpuAdamWTest, ASmallerTeamThanAskedStillStepsEveryElement) {
  if (!zt::testing::ChildRank().has_value()) {
    zt::testing::ExpectRanksSucceed(
        zt::testing::RunRanks(1, absl::Seconds(60), {"OMP_THREAD_LIMIT=1"}));
    return;
  }
  ASSERT_EQ(omp_get_thread_limit(), 1);
  constexpr int64_t kNumel = 300001;
  at::manual_seed(4);
  const at::Tensor p0 = at::randn({kNumel}), g = at::randn({kNumel});
  const at::Tensor m0 = at::randn({kNumel}), v0 = at::rand({kNumel});
  AdamWHyperParams hyper;
  hyper.step = 2;
  auto step = [&](int threads) {
    at::Tensor p = p0.clone(), m = m0.clone(), v = v0.clone();
    CpuAdamWOptions options;
    options.num_threads = threads;
    CpuAdamWStep({p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                  v.data_ptr<float>(), kNumel},
                 hyper, options);
    return p;
  };
  EXPECT_TRUE(at::equal(step(4), step(1)));
}

// Values that exercise rounding: ties, subnormals, fp16 overflow, signed zeros, inf, NaN.
at::Tensor RoundingProbeValues() {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f,
                               1.00390625f,
                               1.01171875f,
                               -1.00390625f,
                               65504.0f,
                               65519.0f,
                               65520.0f,
                               1e5f,
                               1e-8f,
                               -3e-8f,
                               2.9802322e-8f,
                               5.9604645e-8f,
                               6.1035156e-5f,
                               6.1e-5f,
                               3e38f,
                               -3e38f,
                               1.17549435e-38f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity()};
  at::Tensor probes = at::tensor(values);
  at::manual_seed(11);
  at::Tensor random = at::randn({4099}) * at::pow(10.0, at::randint(-9, 6, {4099}).to(at::kFloat));
  return at::cat({probes, random, probes});
}

TEST(CpuAdamWTest, SixteenBitCopiesMatchLibTorchCastsBitForBit) {
  for (CpuIsa isa : SupportedIsas()) {
    for (FloatFormat format : {FloatFormat::kBF16, FloatFormat::kF16}) {
      at::Tensor p = RoundingProbeValues();
      const int64_t n = p.numel();
      at::Tensor g = at::zeros({n}), m = at::zeros({n}), v = at::zeros({n});
      const at::ScalarType dtype = format == FloatFormat::kBF16 ? at::kBFloat16 : at::kHalf;
      at::Tensor copy = at::full({n}, 7, at::TensorOptions().dtype(dtype));
      AdamWHyperParams hyper;
      hyper.lr = 0.0f;  // parameters stay as they are: the copy is the cast of the probes
      AdamWBuffers buffers{p.data_ptr<float>(),
                           g.data_ptr<float>(),
                           m.data_ptr<float>(),
                           v.data_ptr<float>(),
                           n,
                           copy.data_ptr(),
                           format};
      CpuAdamWOptions options;
      options.force_isa = true;
      options.isa = isa;
      CpuAdamWStep(buffers, hyper, options);
      at::Tensor expected = p.to(dtype).view(at::kShort);
      at::Tensor wrong = copy.view(at::kShort).ne(expected).nonzero();
      EXPECT_EQ(wrong.numel(), 0) << CpuIsaName(isa) << " " << FloatFormatName(format) << ": first "
                                  << "mismatch at value "
                                  << (wrong.numel() ? p[wrong[0][0]].item<float>() : 0.0f);
    }
  }
}

TEST(CpuAdamWTest, CopyOfANaNParameterIsANaN) {
  for (CpuIsa isa : SupportedIsas()) {
    at::Tensor p = at::full({37}, std::numeric_limits<float>::quiet_NaN());
    at::Tensor g = at::zeros({37}), m = at::zeros({37}), v = at::zeros({37});
    at::Tensor copy = at::zeros({37}, at::kBFloat16);
    CpuAdamWOptions options;
    options.force_isa = true;
    options.isa = isa;
    CpuAdamWStep({p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(),
                  v.data_ptr<float>(), 37, copy.data_ptr(), FloatFormat::kBF16},
                 AdamWHyperParams{}, options);
    EXPECT_TRUE(copy.to(at::kFloat).isnan().all().item<bool>()) << CpuIsaName(isa);
  }
}

}  // namespace
}  // namespace zt::kernels
