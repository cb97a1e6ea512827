#include "worker/data/preprocess_command.h"

#include <fstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "worker/command_status.h"
#include "worker/data/dataset_file.h"
#include "worker/data/packing.h"
#include "worker/data/sample_builder.h"

namespace zt::worker::data {
namespace {

struct PreprocessArgs {
  std::string tokenizer;
  std::string data_path;
  std::string out;
  std::string format = "auto";
  std::string template_name;
  std::string system;
  std::string loss_mask = "assistant";
  int64_t model_max_length = 2048;
  bool skip_bad_records = false;
  bool pack = false;
  uint64_t seed = 42;
};

struct Counts {
  int64_t records = 0, skipped = 0, truncated = 0, specials = 0, untrained = 0;
};

absl::StatusOr<std::vector<TokenizedSample>> BuildAll(const PreprocessArgs& args, const SampleBuilder& builder,
                                                      DatasetFormat format, Counts& counts) {
  ZT_ASSIGN_OR_RETURN(std::vector<DatasetSpec> specs, ParseDatasetSpecs(args.data_path));
  ZT_ASSIGN_OR_RETURN(std::vector<RawRecord> raw, ReadDatasets(specs, args.seed, args.skip_bad_records, &counts.skipped));
  std::vector<TokenizedSample> samples;
  for (const RawRecord& r : raw) {
    ++counts.records;
    absl::StatusOr<TokenizedSample> sample = [&]() -> absl::StatusOr<TokenizedSample> {
      ZT_ASSIGN_OR_RETURN(DataRecord record, ParseDataRecord(r.value, format, r.where));
      return builder.Build(record, r.where);
    }();
    if (!sample.ok()) {
      if (!args.skip_bad_records) return sample.status();
      ++counts.skipped;
      continue;
    }
    counts.truncated += sample->truncated;
    counts.specials += sample->untrusted_special_tokens;
    bool any = false;
    for (int32_t label : sample->labels) any |= label != kIgnoreIndex;
    counts.untrained += !any;
    samples.push_back(*std::move(sample));
  }
  return samples;
}

absl::Status Run(const PreprocessArgs& args, bool system_given) {
  ZT_ASSIGN_OR_RETURN(DatasetFormat format, ParseDatasetFormat(args.format));
  ZT_ASSIGN_OR_RETURN(LossMaskPolicy policy, ParseLossMaskPolicy(args.loss_mask));
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromDirectory(args.tokenizer));
  // Text records need no chat template (base models may have none).
  const std::string template_name = format == DatasetFormat::kText && args.template_name.empty() ? "alpaca" : args.template_name;
  ZT_ASSIGN_OR_RETURN(TokenizerChatConfig config, LoadChatConfig(args.tokenizer, template_name));
  SampleOptions options;
  options.template_kind = config.kind;
  options.loss_mask = policy;
  options.model_max_length = args.model_max_length;
  if (system_given) options.system = args.system;
  options.bos_token = config.bos_token;
  options.eos_token = config.eos_token;
  ZT_ASSIGN_OR_RETURN(SampleBuilder builder, SampleBuilder::Create(tokenizer.get(), options));
  Counts counts;
  ZT_ASSIGN_OR_RETURN(std::vector<TokenizedSample> samples, BuildAll(args, builder, format, counts));
  std::ofstream out(args.out, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("--out: cannot write '", args.out, "'"));
  int64_t rows_written = 0;
  if (args.pack) {
    const int32_t pad_id = tokenizer->TokenToId(config.pad_token.empty() ? config.eos_token : config.pad_token);
    ZT_ASSIGN_OR_RETURN(std::vector<PackedRow> rows, PackSamples(samples, args.model_max_length, pad_id));
    for (const PackedRow& row : rows) {
      out << nlohmann::json{{"input_ids", row.input_ids}, {"labels", row.labels}, {"position_ids", row.position_ids},
                            {"segment_ids", row.segment_ids}}.dump() << "\n";
    }
    rows_written = static_cast<int64_t>(rows.size());
  } else {
    for (const TokenizedSample& s : samples) out << nlohmann::json{{"input_ids", s.input_ids}, {"labels", s.labels}}.dump() << "\n";
    rows_written = static_cast<int64_t>(samples.size());
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("--out: writing '", args.out, "' failed"));
  log::Info(absl::StrCat(
      "preprocess: ", counts.records, " records -> ", samples.size(), " samples",
      args.pack ? absl::StrCat(" in ", rows_written, " packed rows") : "", " (template ",
      ChatTemplateName(config.kind), ", loss_mask ", args.loss_mask, "); skipped bad records: ",
      counts.skipped, "; truncated to ", args.model_max_length, ": ", counts.truncated,
      "; special-token strings in data encoded as text: ", counts.specials,
      "; samples with no trained token: ", counts.untrained));
  return absl::OkStatus();
}

}  // namespace

void AddPreprocessCommand(CLI::App& app) {
  auto args = std::make_shared<PreprocessArgs>();
  CLI::App* cmd = app.add_subcommand("preprocess", "Tokenize a dataset into input_ids and labels (JSON lines)");
  cmd->add_option("--tokenizer", args->tokenizer, "Folder with tokenizer.json and tokenizer_config.json")->required();
  cmd->add_option("--data_path", args->data_path, "JSON/JSONL files, comma-separated, each optionally PATH#N")->required();
  cmd->add_option("--out", args->out, "Output JSON lines file")->required();
  cmd->add_option("--model_max_length", args->model_max_length, "Truncate samples to this many tokens (and pack rows)");
  cmd->add_option("--format", args->format, "auto, conversations, messages, alpaca, text or tokenized (passed through)");
  cmd->add_option("--template", args->template_name, "qwen2, qwen2.5, qwen3, llama3 or alpaca (default: recognise)");
  CLI::Option* system = cmd->add_option("--system", args->system, "System prompt replacing the template's default");
  cmd->add_option("--loss_mask", args->loss_mask, "assistant, qwen or all");
  cmd->add_flag("--skip_bad_records", args->skip_bad_records, "Skip and count bad records instead of failing");
  cmd->add_flag("--pack", args->pack, "Pack samples into rows of model_max_length tokens");
  cmd->add_option("--seed", args->seed, "Seed for PATH#N sampling");
  cmd->callback([args, system]() { ExitIfError("preprocess", Run(*args, system->count() > 0)); });
}

}  // namespace zt::worker::data
