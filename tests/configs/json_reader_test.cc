#include "configs/json_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace zt::configs {
namespace {

struct JsonAcceptCase {
  const char* name;
  const char* text;
  const char* expected;  // strict JSON of the result
};

class JsonReaderAcceptTest : public ::testing::TestWithParam<JsonAcceptCase> {};

TEST_P(JsonReaderAcceptTest, Parses) {
  absl::StatusOr<nlohmann::json> j = ReadTolerantJson(GetParam().text, "cfg.json");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*j, nlohmann::json::parse(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonReaderAcceptTest,
    ::testing::Values(
        JsonAcceptCase{"plain", R"({"a": 1, "b": [true, false, null], "c": "x"})",
                   R"({"a": 1, "b": [true, false, null], "c": "x"})"},
        JsonAcceptCase{"line_comments", "{\n// comment\n\"a\": 1, # hash comment\n\"b\": 2}",
                   R"({"a": 1, "b": 2})"},
        JsonAcceptCase{"block_comment", "{/* a\nmulti-line */ \"a\": /* inline */ 1}", R"({"a": 1})"},
        JsonAcceptCase{"trailing_commas", "{\"a\": [1, 2,], \"b\": {\"c\": 3,},}",
                   R"({"a": [1, 2], "b": {"c": 3}})"},
        JsonAcceptCase{"comment_chars_in_strings", R"({"a": "// not # a /* comment */"})",
                   R"({"a": "// not # a /* comment */"})"},
        JsonAcceptCase{"escapes", R"({"a": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"})",
                   "{\"a\": \"\\\"\\\\/\\b\\f\\n\\r\\t\u00e9\U0001F600\"}"},
        JsonAcceptCase{"utf8", "{\"a\": \"你好\"}", "{\"a\": \"你好\"}"},
        JsonAcceptCase{"numbers", R"([0, -1, 2e8, 1.5, -0.25e-3, 18446744073709551615])",
                   R"([0, -1, 200000000.0, 1.5, -0.00025, 18446744073709551615])"},
        JsonAcceptCase{"empty", "  {}  ", "{}"},
        JsonAcceptCase{"top_level_array", "[]", "[]"}),
    [](const ::testing::TestParamInfo<JsonAcceptCase>& info) { return std::string(info.param.name); });

TEST(JsonReaderTest, KeepsIntegersAndDoublesApart) {
  absl::StatusOr<nlohmann::json> j = ReadTolerantJson(R"({"i": 200000000, "d": 2e8})", "x");
  ASSERT_TRUE(j.ok());
  EXPECT_TRUE((*j)["i"].is_number_integer());
  EXPECT_TRUE((*j)["d"].is_number_float());
  EXPECT_EQ((*j)["d"].get<double>(), 2e8);
}

struct JsonRejectCase {
  const char* name;
  const char* text;
  const char* message;
};

class JsonReaderRejectTest : public ::testing::TestWithParam<JsonRejectCase> {};

TEST_P(JsonReaderRejectTest, RejectsWithPosition) {
  absl::StatusOr<nlohmann::json> j = ReadTolerantJson(GetParam().text, "cfg.json");
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(j.status().message(), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, JsonReaderRejectTest,
    ::testing::Values(
        JsonRejectCase{"duplicate_top", "{\n  \"a\": 1,\n  \"a\": 2\n}",
                   "cfg.json:3:3: duplicate key \"a\" in the top-level object (first at 2:3), "
                   "expected each key once per object, as DeepSpeed requires"},
        JsonRejectCase{"duplicate_nested", "{\"zero_optimization\": {\"stage\": 2, \"stage\": 3}}",
                   "cfg.json:1:36: duplicate key \"stage\" in zero_optimization (first at 1:24), "
                   "expected each key once per object, as DeepSpeed requires"},
        JsonRejectCase{"missing_comma", "{\"a\": 1 \"b\": 2}",
                   "cfg.json:1:9: unexpected '\"', expected ',' or '}'"},
        JsonRejectCase{"double_comma", "[1,,2]",
                   "cfg.json:1:4: unexpected ',', expected a value (object, array, string, "
                   "number, true, false or null)"},
        JsonRejectCase{"unterminated_comment", "{} /* open",
                   "cfg.json:1:4: unterminated /* comment, expected */"},
        JsonRejectCase{"unterminated_string", "{\"a\": \"x",
                   "cfg.json:1:9: unexpected end of input, expected closing '\"'"},
        JsonRejectCase{"nan", "[NaN]",
                   "cfg.json:1:2: unexpected 'N', expected a value (object, array, string, "
                   "number, true, false or null)"},
        JsonRejectCase{"leading_zero", "[01]", "cfg.json:1:2: leading zero in a number, expected a JSON number"},
        JsonRejectCase{"trailing_text", "{} x", "cfg.json:1:4: unexpected text after the top-level value, expected end of input"},
        JsonRejectCase{"control_char", "[\"a\tb\"]",
                   "cfg.json:1:4: control character 0x9 in a string, expected it escaped (\\n, "
                   "\\t, \\u00XX)"},
        JsonRejectCase{"invalid_utf8", "[\"\xff\"]", "cfg.json:1:3: invalid UTF-8 in a string, expected UTF-8 text"},
        JsonRejectCase{"lone_surrogate", R"(["\udc00"])",
                   "cfg.json:1:3: lone low surrogate in \\u escape, expected a high surrogate first"},
        JsonRejectCase{"huge_number", "[1e999]", "cfg.json:1:2: number 1e999 is out of range, expected a finite number"},
        JsonRejectCase{"empty", "", "cfg.json:1:1: unexpected end of input, expected a value"}),
    [](const ::testing::TestParamInfo<JsonRejectCase>& info) { return std::string(info.param.name); });

TEST(JsonReaderTest, RejectsNestingBeyondTheLimit) {
  std::string deep(kMaxJsonDepth + 2, '[');
  absl::StatusOr<nlohmann::json> j = ReadTolerantJson(deep, "deep.json");
  ASSERT_FALSE(j.ok());
  EXPECT_THAT(j.status().message(), ::testing::HasSubstr("nesting deeper than 256 levels"));
}

TEST(JsonReaderTest, MissingFileIsNotFoundNamingThePath) {
  absl::StatusOr<nlohmann::json> j = ReadTolerantJsonFile("/nonexistent/ds.json");
  EXPECT_EQ(j.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(j.status().message(), "/nonexistent/ds.json: no such file");
}

}  // namespace
}  // namespace zt::configs
