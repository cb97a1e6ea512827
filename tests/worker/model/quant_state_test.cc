// The QuantState JSON blob and Python float spelling against what bitsandbytes' json.dumps
// writes (values taken from transformers' saved folders, tests/data/nf4/models).
#include "worker/model/quant_state.h"

#include <gtest/gtest.h>

namespace zt::worker::model {
namespace {

TEST(QuantStateTest, PythonFloatRepr) {
  EXPECT_EQ(PythonFloatRepr(static_cast<double>(0.04988349601626396f)), "0.04988349601626396");
  EXPECT_EQ(PythonFloatRepr(1.0), "1.0");
  EXPECT_EQ(PythonFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PythonFloatRepr(6.0), "6.0");
  EXPECT_EQ(PythonFloatRepr(123456.5), "123456.5");
  EXPECT_EQ(PythonFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PythonFloatRepr(1.5e-05), "1.5e-05");
  EXPECT_EQ(PythonFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PythonFloatRepr(-2.5e-120), "-2.5e-120");
}

TEST(QuantStateTest, JsonBlobInBitsandbytesOrder) {
  QuantStateFields f{"nf4", 64, "float32", {32, 64}, 0.04988349601626396f};
  EXPECT_EQ(QuantStateJson(f),
            "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": "
            "[32, 64], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", "
            "\"nested_offset\": 0.04988349601626396}");
  f.nested_offset.reset();
  f.quant_type = "fp4";
  EXPECT_EQ(QuantStateJson(f),
            "{\"quant_type\": \"fp4\", \"blocksize\": 64, \"dtype\": "
            "\"float32\", \"shape\": [32, 64]}");
}

}  // namespace
}  // namespace zt::worker::model
