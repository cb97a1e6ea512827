// `zerotune-worker preprocess --tokenizer DIR --data_path F[,F2#N...] --model_max_length N
//      --out F.jsonl [--format auto|conversations|messages|alpaca|text|tokenized] [--template NAME]
//      [--system TEXT] [--loss_mask assistant|qwen|all] [--skip_bad_records] [--pack] [--seed S]`
// Writes one JSON line per sample: {"input_ids": [...], "labels": [...]} (labels -100 where
// masked); with --pack, rows of exactly model_max_length tokens with "position_ids" and
// "segment_ids" too. A summary goes to stderr: records, skipped bad records, truncated samples,
// and how many special-token strings typed in the data were encoded as plain text.
#pragma once

namespace CLI {
class App;
}

namespace zt::worker::data {

void AddPreprocessCommand(CLI::App& app);

}  // namespace zt::worker::data
