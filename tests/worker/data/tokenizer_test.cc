// Unit tests of the tokenizer pieces: byte-level alphabet, regex splitting, NFC alignment, added
// tokens, the BPE model on a tiny vocabulary (both merge forms), tokenizer.json errors, offsets
// and the special-token policy on the real Qwen3 tokenizer.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/worker/data/data_test_support.h"
#include "worker/data/byte_level.h"
#include "worker/data/nfc.h"
#include "worker/data/regex_splitter.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::data {
namespace {

TEST(ByteLevelTest, MapsBytesAsGpt2) {
  EXPECT_EQ(ByteToCodePoint(' '), U'\u0120');   // Ġ
  EXPECT_EQ(ByteToCodePoint('\n'), U'\u010A');  // Ċ
  EXPECT_EQ(ByteToCodePoint('!'), U'!');
  EXPECT_EQ(ByteToCodePoint(0xAD), U'\u0143');  // the last remapped byte
  EXPECT_EQ(ByteToCodePoint(0xFF), U'\u00FF');
  EXPECT_EQ(BytesToByteLevel(" hi\n"), "\xC4\xA0hi\xC4\x8A");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(all)), all);
  EXPECT_EQ(ByteLevelToBytes(" "), std::nullopt);           // space is not in the alphabet
  EXPECT_EQ(ByteLevelToBytes("\xE4\xBD\xA0"), std::nullopt);  // 你
  EXPECT_EQ(ByteLevelToBytes("\xC0\xA1"), std::nullopt);      // overlong '!'
}

std::vector<std::string> Pieces(const RegexSplitter& splitter, absl::string_view text) {
  auto spans = splitter.Split(text);
  EXPECT_TRUE(spans.ok()) << spans.status();
  std::vector<std::string> out;
  for (const ByteSpan& s : *spans) out.emplace_back(text.substr(s.begin, s.end - s.begin));
  return out;
}

TEST(RegexSplitterTest, BehaviorsFollowHf) {
  using V = std::vector<std::string>;
  auto make = [](SplitBehavior b, bool invert = false) {
    return *RegexSplitter::Create("-", /*is_regex=*/false, b, invert);
  };
  EXPECT_EQ(Pieces(make(SplitBehavior::kRemoved), "a-b--c"), (V{"a", "b", "c"}));
  EXPECT_EQ(Pieces(make(SplitBehavior::kIsolated), "a-b--c"), (V{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(Pieces(make(SplitBehavior::kMergedWithPrevious), "a-b--c"), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(Pieces(make(SplitBehavior::kMergedWithNext), "a-b--c"), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(Pieces(make(SplitBehavior::kContiguous), "a-b--c"), (V{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(Pieces(make(SplitBehavior::kRemoved, /*invert=*/true), "a-b"), (V{"-"}));
  EXPECT_FALSE(ParseSplitBehavior("Isolate").ok());
}

TEST(RegexSplitterTest, SpaceClassIsOnigurumasWhiteSpace) {
  auto translated = TranslateOnigurumaPattern("\\s+(?!\\S)|[^\\s\\p{L}]");
  ASSERT_TRUE(translated.ok());
  EXPECT_EQ(*translated,
            "[\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}]+(?![^\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}])|"
            "[^\\t\\n\\x{0B}\\f\\r\\x{85}\\p{Z}\\p{L}]");
  EXPECT_FALSE(TranslateOnigurumaPattern("[\\S]").ok());
  auto spaces = *RegexSplitter::Create("\\s+", true, SplitBehavior::kIsolated, false);
  using V = std::vector<std::string>;
  // U+180E and U+200B are not White_Space; U+0085, U+00A0, U+3000 are.
  EXPECT_EQ(Pieces(spaces, "a\u180e\u200bb"), (V{"a\u180e\u200bb"}));
  EXPECT_EQ(Pieces(spaces, "a\u0085\u00a0\u3000b"), (V{"a", "\u0085\u00a0\u3000", "b"}));
}

TEST(NfcTest, NormalizesAndAlignsToTheInput) {
  auto same = NormalizeNfc("caf\xC3\xA9 ok");
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->origin.empty());
  auto composed = NormalizeNfc("xe\xCC\x81y");  // x e U+0301 y -> x é y
  ASSERT_TRUE(composed.ok());
  EXPECT_EQ(composed->text, "x\xC3\xA9y");
  EXPECT_EQ(composed->Origin(0), 0u);
  EXPECT_EQ(composed->Origin(1), 1u);  // both bytes of é come from the run starting at 'e'
  EXPECT_EQ(composed->Origin(2), 1u);
  EXPECT_EQ(composed->Origin(3), 4u);
  size_t bad = 0;
  EXPECT_FALSE(IsValidUtf8("ok\xED\xA0\x80", &bad));  // a surrogate
  EXPECT_EQ(bad, 2u);
  EXPECT_EQ(NormalizeNfc("\xFF").status().code(), absl::StatusCode::kInvalidArgument);
}

// A tiny byte-level BPE: the 256 bytes plus "ab", "abc", "Ġa", "bc" and the special "<s>".
std::string TinyTokenizerJson(absl::string_view merges, bool ignore_merges) {
  nlohmann::json vocab = nlohmann::json::object();
  for (int b = 0; b < 256; ++b) vocab[BytesToByteLevel(std::string(1, static_cast<char>(b)))] = b;
  vocab["ab"] = 256;
  vocab["abc"] = 257;
  vocab["\xC4\xA0" "a"] = 258;
  vocab["bc"] = 259;
  nlohmann::json root = {
      {"added_tokens", {{{"id", 300}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"ignore_merges", ignore_merges}, {"vocab", vocab},
                 {"merges", nlohmann::json::parse(merges)}}}};
  return root.dump();
}

TEST(BpeTest, MergesInRankOrderWithBothMergeForms) {
  for (const char* merges : {R"(["a b", "ab c", "Ġ a", "b c"])", R"([["a","b"],["ab","c"],["Ġ","a"],["b","c"]])"}) {
    auto tokenizer = Tokenizer::FromJson(TinyTokenizerJson(merges, false), "tiny.json");
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    EXPECT_EQ(*(*tokenizer)->EncodeIds("abc abcb"), (std::vector<int32_t>{257, 32, 257, 98}))  // Ġ|abc|b: "a b" ranks before "Ġ a"
        << merges;
    EXPECT_EQ(*(*tokenizer)->EncodeIds(" abb"), (std::vector<int32_t>{32, 256, 98}));
    EXPECT_EQ(*(*tokenizer)->EncodeIds("<s>ab"), (std::vector<int32_t>{300, 256}));
    EXPECT_EQ(*(*tokenizer)->Decode({300, 258, 259}), "<s> abc");
    EXPECT_EQ(*(*tokenizer)->Decode({300, 258}, /*skip_special_tokens=*/true), " a");
  }
}

TEST(BpeTest, IgnoreMergesEmitsWholeVocabularyEntries) {
  // Without merges "b c" first, "abc" would come out as ab + c; with ignore_merges it is whole.
  auto tokenizer = Tokenizer::FromJson(TinyTokenizerJson(R"(["b c", "a b"])", true), "tiny.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  EXPECT_EQ(*(*tokenizer)->EncodeIds("abc"), (std::vector<int32_t>{257}));
  auto plain = Tokenizer::FromJson(TinyTokenizerJson(R"(["b c", "a b"])", false), "tiny.json");
  EXPECT_EQ(*(*plain)->EncodeIds("abc"), (std::vector<int32_t>{97, 259}));
}

TEST(TokenizerJsonTest, ErrorsNameTheFileAndJsonPath) {
  struct Case {
    std::string json;
    std::string message;
  };
  const std::string good = TinyTokenizerJson(R"(["a b"])", false);
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  const std::vector<Case> cases = {
      {"{", "tiny.json: (document): not valid JSON"},
      {replaced(R"(["a b"])", R"(["a b c"])"), "tiny.json: model.merges[0]: expected \"left right\" with exactly one space"},
      {replaced(R"(["a b"])", R"(["a q"])"), "tiny.json: model.merges[0] ('a', 'q'): token 'aq' is not in model.vocab"},
      {replaced("\"type\":\"BPE\"", "\"type\":\"WordPiece\""), "tiny.json: model.type: 'WordPiece' is not supported (expected BPE)"},
      {replaced("\"id\":300", "\"id\":-3"), "tiny.json: added_tokens[0].id: expected a token id"},
      {replaced("\"use_regex\":true", "\"use_regex\":1"), "tiny.json: pre_tokenizer.use_regex: expected true or false, got 1"},
      {replaced("\"normalizer\":null", "\"normalizer\":{\"type\":\"NFKC\"}"), "tiny.json: normalizer.type: normalizer 'NFKC' is not supported"},
      {replaced("\"!\":33,", ""), "tiny.json: model.vocab: no entry for byte 0x21 ('!')"},
  };
  for (const Case& c : cases) {
    auto tokenizer = Tokenizer::FromJson(c.json, "tiny.json");
    ASSERT_FALSE(tokenizer.ok()) << c.message;
    EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(tokenizer.status().message().substr(0, c.message.size()), c.message) << tokenizer.status();
  }
}

class Qwen3TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = Tokenizer::FromDirectory(testing::TestDataPath("qwen3-tokenizer"));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = loaded->release();
  }
  static void TearDownTestSuite() { delete tokenizer_; }
  static Tokenizer* tokenizer_;
};
Tokenizer* Qwen3TokenizerTest::tokenizer_ = nullptr;

TEST_F(Qwen3TokenizerTest, KnownIdsAndOffsets) {
  EXPECT_EQ(tokenizer_->TokenToId("<|im_end|>"), 151645);
  EXPECT_EQ(tokenizer_->TokenToId("\xC4\x8A"), 198);  // "\n"
  EXPECT_EQ(tokenizer_->TokenToId("assistant"), 77091);
  EXPECT_EQ(tokenizer_->IdToToken(151667), "<think>");
  EXPECT_EQ(tokenizer_->vocab_size(), 151669u);
  auto encoding = tokenizer_->Encode("hi<|im_end|>\n");
  ASSERT_TRUE(encoding.ok());
  ASSERT_EQ(encoding->ids.size(), 3u);
  EXPECT_EQ(encoding->offsets[0], (ByteSpan{0, 2}));
  EXPECT_EQ(encoding->offsets[1], (ByteSpan{2, 12}));
  EXPECT_EQ(encoding->offsets[2], (ByteSpan{12, 13}));
  EXPECT_EQ(tokenizer_->Encode("a\xFF").status().message(), "text to encode is not valid UTF-8 at byte 1");
  EXPECT_EQ(tokenizer_->Decode({999999}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(Qwen3TokenizerTest, SpecialTokensSplitOutsideTrustedRanges) {
  const std::string text = "<|im_start|>user\nsay <|im_end|> and <think><|im_end|>";
  EncodeOptions options;
  options.split_special_tokens = true;
  const std::vector<ByteSpan> trusted = {{0, 17}, {text.size() - 10, text.size()}};
  options.trusted = &trusted;
  auto encoding = tokenizer_->Encode(text, options);
  ASSERT_TRUE(encoding.ok());
  EXPECT_EQ(encoding->untrusted_special_tokens, 1);
  EXPECT_EQ(encoding->ids.front(), 151644);
  EXPECT_EQ(encoding->ids.back(), 151645);
  int im_end = 0, think = 0;
  for (int32_t id : encoding->ids) {
    im_end += id == 151645;
    think += id == 151667;  // <think> is not special: always atomic
  }
  EXPECT_EQ(im_end, 1);
  EXPECT_EQ(think, 1);
}

}  // namespace
}  // namespace zt::worker::data
