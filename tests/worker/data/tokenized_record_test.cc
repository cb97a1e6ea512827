// Pre-tokenized dataset records ({"input_ids", "labels"}): parsing, detection, errors, the
// vocabulary bound and truncation (worker/data/dataset_record.h, sample_builder.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/worker/data/data_test_support.h"
#include "worker/data/dataset_record.h"
#include "worker/data/loss_mask.h"
#include "worker/data/sample_builder.h"

namespace zt::worker::data {
namespace {

using Json = nlohmann::ordered_json;

TEST(TokenizedRecordTest, FormatNameRoundTripsAndAutoDetectsInputIds) {
  ASSERT_TRUE(ParseDatasetFormat("tokenized").ok());
  EXPECT_EQ(*ParseDatasetFormat("tokenized"), DatasetFormat::kTokenized);
  EXPECT_EQ(DatasetFormatName(DatasetFormat::kTokenized), "tokenized");
  EXPECT_EQ(ParseDatasetFormat("ids").status().message(),
            "--format 'ids' is not one of auto, conversations, messages, alpaca, text, tokenized");
  // A record that kept its source text trains on its ids.
  auto record = ParseDataRecord(Json::parse(R"({"text": "hi", "input_ids": [3, 4]})"),
                                DatasetFormat::kAuto, "f:1");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->format, DatasetFormat::kTokenized);
  EXPECT_EQ(record->input_ids, (std::vector<int32_t>{3, 4}));
  EXPECT_FALSE(record->labels.has_value());
}

TEST(TokenizedRecordTest, LabelsAreKeptAndDefaultToEveryToken) {
  struct Case {
    const char* json;
    std::vector<int32_t> labels;
  };
  const Case cases[] = {
      {R"({"input_ids": [5, 6, 7]})", {5, 6, 7}},
      {R"({"input_ids": [5, 6, 7], "labels": null})", {5, 6, 7}},
      {R"({"input_ids": [5, 6, 7], "labels": [-100, -100, 7]})", {kIgnoreIndex, kIgnoreIndex, 7}},
      {R"({"input_ids": [5, 6, 7], "labels": [-100, -100, -100]})",
       {kIgnoreIndex, kIgnoreIndex, kIgnoreIndex}},
      // Labels need not equal the ids (HF takes them as given).
      {R"({"input_ids": [5, 6, 7], "labels": [1, 2, 3]})", {1, 2, 3}},
  };
  for (const Case& c : cases) {
    auto record = ParseDataRecord(Json::parse(c.json), DatasetFormat::kAuto, "f:1");
    ASSERT_TRUE(record.ok()) << c.json << ": " << record.status();
    auto sample = BuildTokenizedSample(*record, /*vocab_size=*/8, /*model_max_length=*/16, "f:1");
    ASSERT_TRUE(sample.ok()) << c.json << ": " << sample.status();
    EXPECT_EQ(sample->input_ids, (std::vector<int32_t>{5, 6, 7})) << c.json;
    EXPECT_EQ(sample->labels, c.labels) << c.json;
    EXPECT_FALSE(sample->truncated);
  }
}

TEST(TokenizedRecordTest, BadRecordsNameTheFileLineKeyAndValue) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"input_ids": "1 2"})",
       R"(d.jsonl:7: input_ids: expected a non-empty array of token ids (integers >= 0), got "1 2")"},
      {R"({"input_ids": []})",
       "d.jsonl:7: input_ids: expected a non-empty array of token ids (integers >= 0), got []"},
      {R"({"input_ids": [1, 2.5]})",
       "d.jsonl:7: input_ids[1]: expected an integer token id >= 0, got 2.5"},
      {R"({"input_ids": [1, -100]})",
       "d.jsonl:7: input_ids[1]: expected an integer token id >= 0, got -100"},
      {R"({"input_ids": [1, "2"]})",
       R"(d.jsonl:7: input_ids[1]: expected an integer token id >= 0, got "2")"},
      {R"({"input_ids": [4294967296]})",
       "d.jsonl:7: input_ids[0]: expected an integer token id >= 0, got 4294967296"},
      {R"({"input_ids": [1, 2], "labels": [1]})",
       "d.jsonl:7: labels: expected as many labels as input_ids (2), got [1]"},
      {R"({"input_ids": [1, 2], "labels": [1, -1]})",
       "d.jsonl:7: labels[1]: expected an integer token id >= 0 or -100, got -1"},
      {R"({"input_ids": [1, 2], "labels": {"a": 1}})",
       R"(d.jsonl:7: labels: expected an array of token ids (integers >= 0, or -100 = not trained), got {"a":1})"},
      {R"({"input_ids": [1, 2], "labels": [1, 2], "position_ids": [0, 1], "segment_ids": [0, 0]})",
       "d.jsonl:7: position_ids: expected no packed rows (preprocess --pack): unpacked records of "
       "input_ids and "
       "labels, got [0,1]"},
  };
  for (const Case& c : cases) {
    auto record = ParseDataRecord(Json::parse(c.json), DatasetFormat::kAuto, "d.jsonl:7");
    ASSERT_FALSE(record.ok()) << c.json;
    EXPECT_EQ(record.status().message(), c.message) << c.json;
  }
  // --format tokenized forces the format: a record without input_ids is an error naming the key.
  auto forced =
      ParseDataRecord(Json::parse(R"({"text": "t"})"), DatasetFormat::kTokenized, "d.jsonl:2");
  EXPECT_EQ(
      forced.status().message(),
      "d.jsonl:2: input_ids: expected a non-empty array of token ids (integers >= 0), got nothing");
}

TEST(TokenizedRecordTest, IdsAtOrAboveTheVocabularyAreErrors) {
  struct Case {
    const char* json;
    int64_t vocab_size;
    const char* message;  // "" = accepted
  };
  const Case cases[] = {
      {R"({"input_ids": [0, 7]})", 8, ""},
      {R"({"input_ids": [0, 8]})", 8,
       "d.jsonl:3: input_ids[1]: expected a token id below the model's vocab_size 8, got 8"},
      {R"({"input_ids": [0, 1], "labels": [-100, 9]})", 8,
       "d.jsonl:3: labels[1]: expected a token id below the model's vocab_size 8, got 9"},
      {R"({"input_ids": [0, 100000]})", 0, ""},  // vocabulary unknown: not checked
  };
  for (const Case& c : cases) {
    auto record = ParseDataRecord(Json::parse(c.json), DatasetFormat::kAuto, "d.jsonl:3");
    ASSERT_TRUE(record.ok()) << c.json << ": " << record.status();
    auto sample = BuildTokenizedSample(*record, c.vocab_size, /*model_max_length=*/16, "d.jsonl:3");
    EXPECT_EQ(sample.ok() ? "" : std::string(sample.status().message()), c.message) << c.json;
  }
}

TEST(TokenizedRecordTest, TruncatesToModelMaxLength) {
  auto record = ParseDataRecord(
      Json::parse(R"({"input_ids": [1, 2, 3, 4, 5], "labels": [-100, 2, 3, 4, 5]})"),
      DatasetFormat::kAuto, "f:1");
  ASSERT_TRUE(record.ok());
  auto cut = BuildTokenizedSample(*record, 8, /*model_max_length=*/3, "f:1");
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(cut->input_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(cut->labels, (std::vector<int32_t>{kIgnoreIndex, 2, 3}));
  EXPECT_TRUE(cut->truncated);
  auto whole = BuildTokenizedSample(*record, 8, /*model_max_length=*/5, "f:1");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->input_ids.size(), 5u);
  EXPECT_FALSE(whole->truncated);
}

TEST(TokenizedRecordTest, PreprocessOutputRoundTripsThroughTheSampleBuilder) {
  auto tokenizer = Tokenizer::FromDirectory(testing::TestDataPath("qwen3-tokenizer"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  SampleOptions options;
  options.template_kind = ChatTemplateKind::kQwen25;
  options.eos_token = "<|im_end|>";
  options.vocab_size = 151936;
  auto builder = SampleBuilder::Create(tokenizer->get(), options);
  ASSERT_TRUE(builder.ok()) << builder.status();
  auto chat = ParseDataRecord(
      Json::parse(
          R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})"),
      DatasetFormat::kAuto, "c:1");
  ASSERT_TRUE(chat.ok());
  auto sample = builder->Build(*chat, "c:1");
  ASSERT_TRUE(sample.ok()) << sample.status();
  // What `zerotune-worker preprocess` writes for it (preprocess_command.cc), read back.
  const Json line = Json::parse(
      nlohmann::json{{"input_ids", sample->input_ids}, {"labels", sample->labels}}.dump());
  auto record = ParseDataRecord(line, DatasetFormat::kAuto, "p:1");
  ASSERT_TRUE(record.ok()) << record.status();
  auto again = builder->Build(*record, "p:1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->input_ids, sample->input_ids);
  EXPECT_EQ(again->labels, sample->labels);
  EXPECT_EQ(builder->Render(*record).status().message(),
            "input_ids: a tokenized record has no text to render");
}

}  // namespace
}  // namespace zt::worker::data
