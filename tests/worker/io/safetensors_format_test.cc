// The seven validation rules of the safetensors header (docs/training.md), one negative case each,
// plus the writer's layout. Files are built byte by byte so each case breaks exactly one rule.
#include "worker/io/safetensors_format.h"

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace zt::worker::io {
namespace {

using ::testing::HasSubstr;

std::string RawFile(const std::string& header, size_t buffer_bytes, uint64_t n_override = 0) {
  std::string file(8, '\0');
  const uint64_t n = n_override ? n_override : header.size();
  std::memcpy(file.data(), &n, 8);
  return file + header + std::string(buffer_bytes, '\x01');
}

std::string ErrorOf(const std::string& file) {
  auto parsed = ParseSafetensorsHeader(file, "x.safetensors");
  EXPECT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(parsed.status().message());
}

TEST(SafetensorsFormatTest, ParsesAValidHeaderSortedByOffset) {
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]},)"
      R"("a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},"__metadata__":{"format":"pt"}}  )";
  auto parsed = ParseSafetensorsHeader(RawFile(header, 10), "x.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->tensors.size(), 2u);
  EXPECT_EQ(parsed->tensors[0].name, "a");
  EXPECT_TRUE(parsed->tensors[0].shape.empty());
  EXPECT_EQ(parsed->tensors[1].dtype, SafetensorsDtype::kF32);
  EXPECT_EQ(parsed->data_start, 8 + header.size());
  EXPECT_EQ(parsed->metadata.at("format"), "pt");
}

TEST(SafetensorsFormatTest, EmptyTensorsAndNoTensorsAreValid) {
  EXPECT_TRUE(ParseSafetensorsHeader(RawFile("{}", 0), "x").ok());
  EXPECT_TRUE(ParseSafetensorsHeader(
      RawFile(R"({"e":{"dtype":"I64","shape":[0,4],"data_offsets":[0,0]}})", 0), "x").ok());
}

// Rule 1: header size bound (and the 8-byte length itself).
TEST(SafetensorsFormatTest, RejectsHeaderLengthBeyondLimitOrFile) {
  EXPECT_THAT(ErrorOf(std::string(5, '\0')), HasSubstr("fewer than the 8-byte header length"));
  // The whole tail of the message: it once ended "...limit0".
  EXPECT_THAT(ErrorOf(RawFile("{}", 0, 100'000'001)),
              ::testing::EndsWith("header length 100000001 exceeds the 100000000-byte limit"));
  EXPECT_THAT(ErrorOf(RawFile("{}", 0, 64)),
              ::testing::EndsWith("header length 64 exceeds the 2 bytes after the 8-byte length "
                                  "(the file is truncated or not safetensors)"));
}

// Rule 2: well-formed JSON of the expected shape.
TEST(SafetensorsFormatTest, RejectsMalformedJson) {
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", 4)),
              HasSubstr("not well-formed JSON"));
  EXPECT_THAT(ErrorOf(RawFile("[1,2]", 0)), HasSubstr("does not start with '{'"));
  EXPECT_THAT(ErrorOf(RawFile("{\"a\xff\":1}", 0)), HasSubstr("not well-formed JSON"));
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", 4)),
              HasSubstr("tensor \"a\": unknown dtype \"Q7\""));
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)),
              HasSubstr("shape entry -1 is not a non-negative integer"));
  EXPECT_THAT(ErrorOf(RawFile(R"({"__metadata__":{"n":1}})", 0)),
              HasSubstr("__metadata__[\"n\"] is number, expected a string"));
}

// Rule 3: offsets in range.
TEST(SafetensorsFormatTest, RejectsOffsetsOutsideTheBuffer) {
  EXPECT_THAT(ErrorOf(RawFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4)),
              HasSubstr("tensor \"w\": data_offsets [0, 8] lie outside the data buffer of 4 bytes"));
}

// Rule 4: no gaps or overlaps.
TEST(SafetensorsFormatTest, RejectsGapsAndOverlaps) {
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12)),
              HasSubstr("tensor \"b\" begins at byte 8 but the previous tensor ends at 4 (gap)"));
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                              R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
              HasSubstr("(overlap)"));
}

// Rule 5: no trailing bytes.
TEST(SafetensorsFormatTest, RejectsTrailingBytes) {
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6)),
              HasSubstr("cover 4 bytes of a 6-byte data buffer (trailing bytes)"));
}

// Rule 6: duplicate names.
TEST(SafetensorsFormatTest, RejectsDuplicateNames) {
  EXPECT_THAT(ErrorOf(RawFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
              HasSubstr("names \"a\" twice"));
}

// Rule 7: dtype x shape = byte length.
TEST(SafetensorsFormatTest, RejectsByteLengthThatDisagreesWithDtypeAndShape) {
  EXPECT_THAT(ErrorOf(RawFile(R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8)),
              HasSubstr("tensor \"w\": data_offsets [0, 8] span 8 bytes, but dtype BF16 x shape "
                        "[3] needs 6 bytes"));
  EXPECT_THAT(ErrorOf(RawFile(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],)"
                              R"("data_offsets":[0,8]}})", 8)),
              HasSubstr("overflows"));
}

TEST(SafetensorsFormatTest, PlansTheReferenceLayout) {
  auto layout = PlanSafetensorsLayout({{"b", SafetensorsDtype::kBF16, {3}},
                                       {"a", SafetensorsDtype::kF32, {2, 2}},
                                       {"c", SafetensorsDtype::kF32, {1}}},
                                      {{"format", "pt"}});
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->offsets, (std::vector<uint64_t>{20, 0, 16}));  // F32 before BF16, by name
  EXPECT_EQ(layout->buffer_bytes, 26u);
  EXPECT_EQ(layout->prefix.size() % 8, 0u);
  auto parsed = ParseSafetensorsHeader(layout->prefix + std::string(26, '\0'), "planned");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->metadata.at("format"), "pt");
  EXPECT_FALSE(PlanSafetensorsLayout({{"a", SafetensorsDtype::kF32, {1}},
                                      {"a", SafetensorsDtype::kF32, {1}}}, {}).ok());
}

}  // namespace
}  // namespace zt::worker::io
