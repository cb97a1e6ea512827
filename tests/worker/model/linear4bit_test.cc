// Linear4bit (Matmul4bit + LoRA) against PEFT's LoRA over bitsandbytes' Linear4bit
// (tests/data/linear4bit/linear4bit.safetensors, tests/golden/linear4bit_goldens.py): forward
// output, grad_input and the LoRA gradients, through both CPU kernels; what autograd saves;
// the tiles against the whole dequantization; the weight's validation.
//
// Tolerances. Both sides round the same operands the same way (x and bias to the compute
// dtype, the weight dequantized bit for bit as bitsandbytes, one rounding per matmul result,
// the adapter's output cast before the sum); they differ only in summation order. So
// |ours - ref| <= |ours - exact| + |ref - exact|, where `exact` is the same computation in
// float64 on the rounded operands. The generator measures max|ref - exact| / max|exact|
// ("noise": ~2^-9..2^-8 for bf16 results, ~4e-4 for fp16, ~2e-7 for fp32) and we allow twice
// that (our error is bounded like the reference's) plus 2^-21 of max|ref| for fp32 summation
// order. Running the reference at 1 and 2 torch threads changes nothing here (threads_diff 0
// except 4e-7 in the fp32 case), so the floor is the rounding, not threading.
#include "worker/model/linear4bit.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/test_data.h"
#include "worker/io/safetensors_file.h"

namespace zt::worker::model {
namespace {

at::ScalarType DtypeOf(const std::string& name) {
  return name == "bf16" || name == "bfloat16"  ? at::kBFloat16
         : name == "fp16" || name == "float16" ? at::kHalf
                                               : at::kFloat;
}

class Linear4bitGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = worker::io::SafetensorsFile::Open(
        testing::TestDataPath("linear4bit/linear4bit.safetensors"));
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = *file;
    cases_ = nlohmann::json::parse(file_->header().metadata.at("cases"));
    ASSERT_GE(cases_.size(), 6u);
  }
  at::Tensor Get(const std::string& name) {
    auto tensor = file_->Get(name);
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    return tensor.ok() ? tensor->contiguous().clone() : at::Tensor();
  }
  Packed4bitWeight Weight(const nlohmann::json& c) {
    const std::string name = c.at("name");
    Packed4bitWeight w;
    w.packed = Get(name + ".packed");
    w.absmax = Get(name + ".absmax");
    w.quant_map = Get(name + ".quant_map");
    if (c.at("double_quant").get<bool>()) {
      w.nested_absmax = Get(name + ".nested_absmax");
      w.nested_quant_map = Get(name + ".nested_quant_map");
      w.nested_offset = static_cast<float>(c.at("offset").get<double>());
    }
    w.quant_type =
        c.at("quant_type") == "nf4" ? kernels::Quant4Type::kNf4 : kernels::Quant4Type::kFp4;
    w.blocksize = c.at("blocksize");
    w.dtype = DtypeOf(c.at("weight_torch_dtype"));
    w.out_features = c.at("out");
    w.in_features = c.at("in");
    return w;
  }

  std::shared_ptr<worker::io::SafetensorsFile> file_;
  nlohmann::json cases_;
};

// max|got - want| within (2 noise + 2^-21) max|want|; returns the measured ratio to max|want|.
double ExpectClose(const at::Tensor& got, const at::Tensor& want, double noise, const char* what) {
  EXPECT_EQ(got.scalar_type(), want.scalar_type()) << what;
  EXPECT_EQ(got.sizes(), want.sizes()) << what;
  const double scale = want.abs().max().item<double>();
  const double diff = (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>();
  const double allowed = (2 * noise + std::ldexp(1.0, -21)) * scale;
  EXPECT_LE(diff, allowed) << what << ": max diff " << diff << ", max|ref| " << scale;
  return diff / scale;
}

TEST_F(Linear4bitGoldenTest, ForwardAndBackwardMatchPeftOverBitsandbytes) {
  for (const auto& c : cases_) {
    const std::string name = c.at("name");
    const Packed4bitWeight weight = Weight(c);
    ASSERT_TRUE(ValidatePacked4bitWeight(weight).ok())
        << name << ": " << ValidatePacked4bitWeight(weight);
    for (Matmul4bitKernel kernel :
         {Matmul4bitKernel::kDequantizeThenMatmul, Matmul4bitKernel::kTiled}) {
      SCOPED_TRACE(name + " " + Matmul4bitKernelName(kernel));
      Linear4bit layer;
      layer.weight = weight;
      layer.compute_dtype = DtypeOf(c.at("compute_dtype"));
      if (c.at("bias").get<bool>()) layer.bias = Get(name + ".bias");
      LoraAdapter lora;
      lora.a = Get(name + ".lora_A").requires_grad_(true);
      lora.b = Get(name + ".lora_B").requires_grad_(true);
      lora.scaling = c.at("scaling");
      layer.lora = lora;
      layer.matmul.kernel = kernel;
      layer.matmul.tile_bytes = 1;  // one granule of rows per tile: the most tiles

      const at::Tensor x = Get(name + ".input").requires_grad_(true);
      const at::Tensor y = layer.Forward(x, /*training=*/true);
      y.backward(Get(name + ".grad_output"));
      const auto& noise = c.at("noise");
      const double d_out =
          ExpectClose(y.detach(), Get(name + ".output"), noise.at("output"), "output");
      const double d_in =
          ExpectClose(x.grad(), Get(name + ".grad_input"), noise.at("grad_input"), "grad_input");
      const double d_a = ExpectClose(lora.a.grad(), Get(name + ".grad_lora_A"),
                                     noise.at("grad_lora_A"), "grad_lora_A");
      const double d_b = ExpectClose(lora.b.grad(), Get(name + ".grad_lora_B"),
                                     noise.at("grad_lora_B"), "grad_lora_B");
      std::printf("  %-26s %-10s rel diff: output %.2e grad_input %.2e lora_A %.2e lora_B %.2e\n",
                  name.c_str(), Matmul4bitKernelName(kernel), d_out, d_in, d_a, d_b);
    }
  }
}

Packed4bitWeight RandomWeight(int64_t out, int64_t in, bool double_quant, at::ScalarType dtype) {
  at::manual_seed(7);
  return QuantizePacked4bit((at::randn({out, in}) * 0.05).to(dtype), kernels::Quant4Type::kNf4, 64,
                            double_quant);
}

TEST(Matmul4bitTest, SavesOnlyThePackedWeightAndItsConstants) {
  for (bool double_quant : {false, true}) {
    const Packed4bitWeight w = RandomWeight(192, 200, double_quant, at::kBFloat16);
    ASSERT_TRUE(ValidatePacked4bitWeight(w).ok());
    for (Matmul4bitKernel kernel :
         {Matmul4bitKernel::kDequantizeThenMatmul, Matmul4bitKernel::kTiled}) {
      const at::Tensor x = at::randn({3, 4, 200}).to(at::kBFloat16).requires_grad_(true);
      const at::Tensor y = Matmul4bit(x, w, at::Tensor(), {kernel, 4096});
      const int64_t saved = Matmul4bitSavedBytes(y);
      // The saved tensors are the packed bytes, the absmax (codes) and the nested constants;
      // a bf16 copy of the weight alone would be 4x the packed bytes.
      EXPECT_EQ(saved, w.StorageBytes() - static_cast<int64_t>(w.quant_map.nbytes()));
      EXPECT_LT(saved, w.numel() * 2 / 3);
      y.sum().backward();
      EXPECT_TRUE(x.grad().defined());
      EXPECT_FALSE(w.packed.requires_grad());
    }
  }
  EXPECT_EQ(Matmul4bitSavedBytes(at::ones({2}, at::requires_grad()) * 2), -1);
}

TEST(Matmul4bitTest, TilesEqualTheWholeDequantizationAndKernelsAgree) {
  // in = 200: a row is 3.125 blocks, so tiles are multiples of 8 rows (RowTileGranularity).
  const Packed4bitWeight w = RandomWeight(190, 200, /*double_quant=*/true, at::kFloat);
  EXPECT_EQ(RowTileGranularity(w), 8);
  const at::Tensor whole = DequantizePacked4bit(w, at::kBFloat16);
  const at::Tensor absmax = BlockAbsmax(w);
  for (int64_t r0 = 0; r0 < 190; r0 += 24) {
    const int64_t rows = std::min<int64_t>(24, 190 - r0);
    at::Tensor tile = at::empty({rows, 200}, at::kBFloat16);
    DequantizeRowsInto(w, absmax, r0, tile);
    EXPECT_TRUE(at::equal(tile, whole.narrow(0, r0, rows))) << "rows from " << r0;
  }
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    const at::Tensor x = at::randn({7, 200}).to(dtype).requires_grad_(true);
    const at::Tensor bias = at::randn({190}).to(dtype);
    at::Tensor outputs[2], grads[2];
    int i = 0;
    for (Matmul4bitKernel kernel :
         {Matmul4bitKernel::kDequantizeThenMatmul, Matmul4bitKernel::kTiled}) {
      x.mutable_grad() = at::Tensor();
      at::Tensor y = Matmul4bit(x, w, bias, {kernel, 1});
      EXPECT_EQ(y.scalar_type(), dtype);
      y.backward(at::ones_like(y));
      outputs[i] = y.detach().to(at::kFloat);
      grads[i++] = x.grad().to(at::kFloat);
    }
    const double tol = dtype == at::kFloat ? 1e-5 : 1e-2;
    EXPECT_TRUE(at::allclose(outputs[0], outputs[1], tol, tol)) << dtype;
    EXPECT_TRUE(at::allclose(grads[0], grads[1], tol, tol)) << dtype;
  }
}

TEST(Matmul4bitTest, BiasGradientIsTheTokenSumAndEmptyInputsWork) {
  const Packed4bitWeight w = RandomWeight(40, 64, /*double_quant=*/false, at::kFloat);
  for (Matmul4bitKernel kernel :
       {Matmul4bitKernel::kDequantizeThenMatmul, Matmul4bitKernel::kTiled}) {
    const at::Tensor x = at::randn({2, 3, 64}).requires_grad_(true);
    const at::Tensor bias = at::randn({40}).requires_grad_(true);
    const at::Tensor grad = at::randn({2, 3, 40});
    Matmul4bit(x, w, bias, {kernel, 1}).backward(grad);
    EXPECT_TRUE(at::allclose(bias.grad(), grad.sum(at::IntArrayRef{0, 1}), 1e-5, 1e-6));
    const at::Tensor dense = DequantizePacked4bit(w, at::kFloat);
    EXPECT_TRUE(at::allclose(x.grad(), at::matmul(grad, dense), 1e-5, 1e-6));

    const at::Tensor empty = at::zeros({0, 64}).requires_grad_(true);
    const at::Tensor y = Matmul4bit(empty, w, bias, {kernel, 1});
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{0, 40}));
    y.sum().backward();
    EXPECT_EQ(empty.grad().sizes(), empty.sizes());
  }
}

TEST(Matmul4bitTest, AutoTilesOnlyFp32MatmulsOverFewTokens) {
  EXPECT_EQ(ChooseMatmul4bitKernel(8, at::kFloat), Matmul4bitKernel::kTiled);
  EXPECT_EQ(ChooseMatmul4bitKernel(9, at::kFloat), Matmul4bitKernel::kDequantizeThenMatmul);
  EXPECT_EQ(ChooseMatmul4bitKernel(1, at::kBFloat16), Matmul4bitKernel::kDequantizeThenMatmul);
  EXPECT_EQ(ChooseMatmul4bitKernel(512, at::kFloat), Matmul4bitKernel::kDequantizeThenMatmul);
}

TEST(Packed4bitWeightTest, ValidationNamesTheFieldThatDisagrees) {
  Packed4bitWeight w = RandomWeight(8, 64, /*double_quant=*/true, at::kBFloat16);
  ASSERT_TRUE(ValidatePacked4bitWeight(w).ok());
  Packed4bitWeight bad_map = w;
  bad_map.quant_map = w.quant_map.clone();
  bad_map.quant_map[0] = 0.5f;
  EXPECT_EQ(ValidatePacked4bitWeight(bad_map).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidatePacked4bitWeight(bad_map).message().find("quant_map"), std::string::npos);
  Packed4bitWeight bad_absmax = w;
  bad_absmax.absmax = at::zeros({3}, at::kByte);
  EXPECT_NE(ValidatePacked4bitWeight(bad_absmax).message().find("absmax"), std::string::npos);
  Packed4bitWeight bad_blocksize = w;
  bad_blocksize.blocksize = 48;
  EXPECT_NE(ValidatePacked4bitWeight(bad_blocksize).message().find("blocksize 48"),
            std::string::npos);
  Packed4bitWeight bad_packed = w;
  bad_packed.packed = at::zeros({255}, at::kByte);
  EXPECT_NE(ValidatePacked4bitWeight(bad_packed).message().find("packed"), std::string::npos);
}

}  // namespace
}  // namespace zt::worker::model
