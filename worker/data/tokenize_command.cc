#include "worker/data/tokenize_command.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/command_status.h"
#include "worker/data/tokenizer.h"

namespace zt::worker::data {
namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string file;
  bool decode = false;
  bool add_special_tokens = false;
  bool split_special_tokens = false;
  bool offsets = false;
};

absl::StatusOr<std::string> ReadInput(const TokenizeArgs& args) {
  if (args.file.empty()) return args.text;
  std::ifstream in(args.file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("--file: cannot open '", args.file, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status RunDecode(const Tokenizer& tokenizer, const std::string& input, const std::string& where) {
  nlohmann::json ids = nlohmann::json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (ids.is_discarded() || !ids.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": --decode expects a JSON array of token ids"));
  }
  std::vector<int32_t> values;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].is_number_integer() || ids[i].get<int64_t>() < 0 || ids[i].get<int64_t>() > INT32_MAX) {
      return absl::InvalidArgumentError(absl::StrCat(where, "[", i, "]: expected a token id, got ", ids[i].dump()));
    }
    values.push_back(static_cast<int32_t>(ids[i].get<int64_t>()));
  }
  ZT_ASSIGN_OR_RETURN(std::string text, tokenizer.Decode(values));
  std::cout << text << "\n";
  return absl::OkStatus();
}

absl::Status Run(const TokenizeArgs& args) {
  ZT_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::FromDirectory(args.tokenizer));
  ZT_ASSIGN_OR_RETURN(std::string input, ReadInput(args));
  const std::string where = args.file.empty() ? "--text" : args.file;
  if (args.decode) return RunDecode(*tokenizer, input, where);
  EncodeOptions options;
  options.add_special_tokens = args.add_special_tokens;
  options.split_special_tokens = args.split_special_tokens;
  auto encoding = tokenizer->Encode(input, options);
  if (!encoding.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", encoding.status().message()));
  nlohmann::json out = encoding->ids;
  if (args.offsets) {
    nlohmann::json offsets = nlohmann::json::array();
    for (const ByteSpan& s : encoding->offsets) offsets.push_back({s.begin, s.end});
    out = {{"ids", std::move(out)}, {"offsets", std::move(offsets)}};
  }
  std::cout << out.dump() << "\n";
  return absl::OkStatus();
}

}  // namespace

void AddTokenizeCommand(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Encode text to token ids (or decode ids to text)");
  cmd->add_option("--tokenizer", args->tokenizer, "Folder with tokenizer.json")->required();
  CLI::Option* text = cmd->add_option("--text", args->text, "Text to encode (or a JSON id array with --decode)");
  CLI::Option* file = cmd->add_option("--file", args->file, "File whose bytes are the text");
  text->excludes(file);
  file->excludes(text);
  cmd->add_flag("--decode", args->decode, "Decode a JSON array of ids to text");
  cmd->add_flag("--add_special_tokens", args->add_special_tokens, "Add the post-processor's BOS/EOS");
  cmd->add_flag("--split_special_tokens", args->split_special_tokens,
                "Encode special tokens typed in the text as plain text");
  cmd->add_flag("--offsets", args->offsets, "Also print each token's byte range");
  cmd->callback([args, text, file]() {
    if (text->count() == 0 && file->count() == 0) {
      ExitIfError("tokenize", absl::InvalidArgumentError("one of --text or --file is required"));
    }
    ExitIfError("tokenize", Run(*args));
  });
}

}  // namespace zt::worker::data
