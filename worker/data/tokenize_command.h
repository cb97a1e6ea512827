// `zerotune-worker tokenize --tokenizer DIR (--text S | --file F) [--decode]
//                           [--add_special_tokens] [--split_special_tokens] [--offsets]`
// Encodes the text and prints the ids as one JSON array (with --offsets, an object
// {"ids": [...], "offsets": [[begin, end], ...]} in bytes), or with --decode reads a JSON array
// of ids and prints the text. Special tokens in the text are recognised, as HF tokenizers does
// by default, unless --split_special_tokens.
#pragma once

namespace CLI {
class App;
}

namespace zt::worker::data {

void AddTokenizeCommand(CLI::App& app);

}  // namespace zt::worker::data
