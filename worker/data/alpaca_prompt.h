// Stanford Alpaca's prompt (tatsu-lab/stanford_alpaca train.py PROMPT_DICT): the source is the
// instruction (and input) in the fixed prompt ending "### Response:", the target is
// output + eos, written with no separator after "### Response:" exactly as that script does.
#pragma once

#include <optional>
#include <string>

#include "worker/data/chat_template.h"

namespace zt::worker::data {

// Spans: the fixed prompt text is kRoleName of role "user", instruction and input kContent of
// "user", the output kContent of "assistant" and eos kEnd of "assistant". Without `output` only
// the prompt is rendered (a generation prompt).
RenderedChat RenderAlpacaRecord(const std::string& instruction, const std::string& input,
                                const std::optional<std::string>& output, const std::string& eos_token);

}  // namespace zt::worker::data
