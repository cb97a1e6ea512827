// TextStreamer with the real Qwen3 tokenizer (tests/data/qwen3-tokenizer): every piece is valid
// UTF-8, and the pieces concatenate to the tokenizer's own Decode of the same ids.
#include "worker/model/text_streamer.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/test_data.h"
#include "worker/data/byte_level.h"

namespace zt::worker::model {
namespace {

bool ValidUtf8(const std::string& s) { return data::Utf8Lossy(s) == s; }

class TextStreamerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = data::Tokenizer::FromDirectory(::zt::testing::TestDataPath("qwen3-tokenizer"));
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = loaded->release();
  }
  static void TearDownTestSuite() { delete tokenizer_; }

  // Streams `ids` and returns the pieces (End() included).
  static std::vector<std::string> Stream(const std::vector<int32_t>& ids) {
    std::vector<std::string> pieces;
    TextStreamer streamer(*tokenizer_, [&](absl::string_view p) { pieces.emplace_back(p); });
    for (int32_t id : ids) streamer.Put(id);
    streamer.End();
    std::string joined;
    for (const auto& p : pieces) joined += p;
    EXPECT_EQ(joined, streamer.text());
    return pieces;
  }

  static int32_t ByteToken(unsigned char b) {
    return tokenizer_->TokenToId(data::BytesToByteLevel(std::string(1, static_cast<char>(b))));
  }

  static data::Tokenizer* tokenizer_;
};

data::Tokenizer* TextStreamerTest::tokenizer_ = nullptr;

TEST_F(TextStreamerTest, ChineseAndEmojiStreamAsWholeCharactersEqualToTheFullDecode) {
  const std::string text =
      "你好，世界！我是通义千问。🙂👨‍👩‍👧‍👦🇨🇳 emoji 🤖🦀 and café naïve; "
      "日本語のテキスト、한국어 텍스트, "
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𠀁 龘靐齉 ∑∫≈ «ÿ»";
  auto ids = tokenizer_->EncodeIds(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  // The text really splits characters across tokens (otherwise the test proves nothing).
  int split_tokens = 0;
  for (int32_t id : *ids) split_tokens += ValidUtf8(*TokenBytes(*tokenizer_, id)) ? 0 : 1;
  EXPECT_GT(split_tokens, 5);
  const std::vector<std::string> pieces = Stream(*ids);
  std::string joined;
  for (const std::string& piece : pieces) {
    EXPECT_TRUE(ValidUtf8(piece)) << "piece splits a character";
    EXPECT_FALSE(piece.empty());
    joined += piece;
  }
  EXPECT_EQ(joined, text);
  EXPECT_EQ(joined, *tokenizer_->Decode(*ids, /*skip_special_tokens=*/true));
}

TEST_F(TextStreamerTest, ByteByByteTokensEmitEachCharacterOnceComplete) {
  const std::string text = "a你🙂b";
  std::vector<int32_t> ids;
  for (unsigned char b : text) ids.push_back(ByteToken(b));
  EXPECT_THAT(Stream(ids), ::testing::ElementsAre("a", "你", "🙂", "b"));
}

TEST_F(TextStreamerTest, SpecialTokensAreSkippedAndNonSpecialAddedTokensAreText) {
  auto ids = tokenizer_->EncodeIds("<think>\n思考\n</think>\n\n答案<|im_end|>");
  ASSERT_TRUE(ids.ok()) << ids.status();
  ASSERT_EQ(ids->back(), tokenizer_->TokenToId("<|im_end|>"));
  std::string joined;
  for (const auto& p : Stream(*ids)) joined += p;
  EXPECT_EQ(joined, "<think>\n思考\n</think>\n\n答案");
  EXPECT_EQ(joined, *tokenizer_->Decode(*ids, /*skip_special_tokens=*/true));
}

TEST_F(TextStreamerTest, BytesThatNeverCompleteBecomeReplacementCharactersAsDecodeDoes) {
  // E4 B8 then 'A': the unfinished sequence is one U+FFFD (from_utf8_lossy).
  const std::vector<int32_t> broken{ByteToken(0xE4), ByteToken(0xB8), ByteToken('A'),
                                    ByteToken(0x80), ByteToken(0xF0), ByteToken(0x9F)};
  const std::vector<std::string> pieces = Stream(broken);
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined,
            "\xEF\xBF\xBD"
            "A"
            "\xEF\xBF\xBD"
            "\xEF\xBF\xBD");
  EXPECT_EQ(joined, *tokenizer_->Decode(broken));
  // The trailing F0 9F is only flushed by End().
  EXPECT_EQ(pieces.back(), "\xEF\xBF\xBD");
}

TEST_F(TextStreamerTest, UnknownIdsAddNothing) {
  const int32_t padded_row = static_cast<int32_t>(tokenizer_->vocab_size()) + 100;
  std::string joined;
  for (const auto& p : Stream({ByteToken('o'), padded_row, ByteToken('k')})) joined += p;
  EXPECT_EQ(joined, "ok");
  EXPECT_THAT(TokenBytes(*tokenizer_, padded_row).status().message(),
              ::testing::HasSubstr("is not in the tokenizer"));
}

TEST(IncompleteUtf8SuffixTest, HoldsBackOnlyValidUnfinishedSequences) {
  EXPECT_EQ(IncompleteUtf8Suffix(""), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE4"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE4\xB8"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xE4\xB8\xAD"), 0u);  // 中 complete
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x99"), 3u);   // 🙂 missing one byte
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x99\x82"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xE0\x80"), 0u);      // overlong: never valid
  EXPECT_EQ(IncompleteUtf8Suffix("\xED\xA0"), 0u);      // surrogate
  EXPECT_EQ(IncompleteUtf8Suffix("\xF4\x90"), 0u);      // > U+10FFFF
  EXPECT_EQ(IncompleteUtf8Suffix("\xC0"), 0u);          // invalid lead
  EXPECT_EQ(IncompleteUtf8Suffix("\x80\x80\x80"), 0u);  // stray continuations
}

}  // namespace
}  // namespace zt::worker::model
