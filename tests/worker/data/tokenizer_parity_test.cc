// Encoding and decoding equal HF tokenizers' on committed reference corpora
// (tests/golden/tokenizer_parity.py): hand-picked strings, seeded generated strings over Unicode
// blocks, and random id sequences for decoding.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/worker/data/data_test_support.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::data {
namespace {

using testing::ReadGzipLines;
using testing::TestDataPath;

struct ParityCounts {
  int encode_hand = 0;
  int encode_generated = 0;
  int split_special = 0;
  int decode = 0;
  int failures = 0;
  int quirks = 0;
};

std::string Shown(const std::vector<int32_t>& ids) { return nlohmann::json(ids).dump(); }

void CheckEncode(const Tokenizer& tokenizer, const nlohmann::json& rec, ParityCounts& counts) {
  const std::string text = rec["text"].get<std::string>();
  const std::vector<int32_t> expected = rec["ids"].get<std::vector<int32_t>>();
  auto ids = tokenizer.EncodeIds(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  (rec["group"] == "hand" ? counts.encode_hand : counts.encode_generated)++;
  if (*ids != expected && ++counts.failures <= 10) {
    ADD_FAILURE() << "encode " << nlohmann::json(text).dump() << "\n  got      " << Shown(*ids)
                  << "\n  expected " << Shown(expected);
  }
  auto decoded = tokenizer.Decode(expected);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  const std::string want = rec.contains("decoded") ? rec["decoded"].get<std::string>() : text;
  if (*decoded != want && ++counts.failures <= 10) {
    ADD_FAILURE() << "decode of " << Shown(expected) << " gave " << nlohmann::json(*decoded).dump();
  }
  if (rec.contains("ids_split")) {
    ++counts.split_special;
    EncodeOptions split;
    split.split_special_tokens = true;
    auto split_ids = tokenizer.EncodeIds(text, split);
    ASSERT_TRUE(split_ids.ok());
    const auto want_split = rec["ids_split"].get<std::vector<int32_t>>();
    if (*split_ids != want_split && ++counts.failures <= 10) {
      ADD_FAILURE() << "encode (split specials) " << nlohmann::json(text).dump() << "\n  got      "
                    << Shown(*split_ids) << "\n  expected " << Shown(want_split);
    }
  }
}

ParityCounts RunParity(const std::string& tokenizer_dir, const std::string& corpus) {
  ParityCounts counts;
  auto tokenizer = Tokenizer::FromDirectory(tokenizer_dir);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  auto lines = ReadGzipLines(corpus);
  EXPECT_TRUE(lines.ok()) << lines.status();
  if (!tokenizer.ok() || !lines.ok()) return counts;
  for (const std::string& line : *lines) {
    const nlohmann::json rec = nlohmann::json::parse(line);
    if (rec["kind"] == "hf_nfc_quirk") {
      ++counts.quirks;  // HF's own NFC tables disagree with Unicode 14 here (see SOURCE.md)
    } else if (rec["kind"] == "encode") {
      CheckEncode(**tokenizer, rec, counts);
    } else {
      ++counts.decode;
      auto text = (*tokenizer)->Decode(rec["ids"].get<std::vector<int32_t>>());
      if (!text.ok()) {
        ADD_FAILURE() << text.status();
        ++counts.failures;
        continue;
      }
      if (*text != rec["text"].get<std::string>() && ++counts.failures <= 10) {
        ADD_FAILURE() << "decode " << rec["ids"].dump() << " gave " << nlohmann::json(*text).dump()
                      << ", expected " << rec["text"].dump();
      }
    }
  }
  return counts;
}

TEST(TokenizerParityTest, Qwen3MatchesHfTokenizers) {
  ParityCounts counts = RunParity(TestDataPath("qwen3-tokenizer"), TestDataPath("tokenizers/qwen3_parity.jsonl.gz"));
  EXPECT_GE(counts.encode_hand, 200);
  EXPECT_GE(counts.encode_generated, 5000);
  EXPECT_LE(counts.quirks, 5);
  EXPECT_GE(counts.split_special, 20);
  EXPECT_GE(counts.decode, 100);
  EXPECT_EQ(counts.failures, 0);
}

}  // namespace
}  // namespace zt::worker::data

namespace zt::worker::data {
namespace {

TEST(TokenizerParityTest, Llama3MatchesHfTokenizers) {
  ParityCounts counts = RunParity(testing::TestDataPath("tokenizers/llama3"),
                                  testing::TestDataPath("tokenizers/llama3_parity.jsonl.gz"));
  EXPECT_GE(counts.encode_hand, 200);
  EXPECT_GE(counts.encode_generated, 5000);
  EXPECT_GE(counts.decode, 100);
  EXPECT_EQ(counts.failures, 0);
}

}  // namespace
}  // namespace zt::worker::data
