// `zerotune-worker render-chat --tokenizer DIR --messages FILE [--add_generation_prompt]
//      [--template NAME] [--system TEXT] [--tools FILE] [--enable_thinking true|false]`
// Prints the conversation rendered by the tokenizer's chat template (recognised by SHA-256,
// or named by --template), byte for byte as transformers' apply_chat_template(tokenize=False).
// FILE holds a JSON array of messages or {"messages": [...], "tools": [...]}.
#pragma once

namespace CLI {
class App;
}

namespace zt::worker::data {

void AddRenderChatCommand(CLI::App& app);

}  // namespace zt::worker::data
