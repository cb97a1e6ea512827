#include "worker/data/alpaca_prompt.h"

#include "worker/data/chat_builder.h"

namespace zt::worker::data {

RenderedChat RenderAlpacaRecord(const std::string& instruction, const std::string& input,
                                const std::optional<std::string>& output, const std::string& eos_token) {
  ChatBuilder b;
  if (input.empty()) {
    b.Add("Below is an instruction that describes a task. Write a response that appropriately completes "
          "the request.\n\n### Instruction:\n", 0, "user", TurnPart::kRoleName);
    b.Add(instruction, 0, "user", TurnPart::kContent);
  } else {
    b.Add("Below is an instruction that describes a task, paired with an input that provides further "
          "context. Write a response that appropriately completes the request.\n\n### Instruction:\n",
          0, "user", TurnPart::kRoleName);
    b.Add(instruction, 0, "user", TurnPart::kContent);
    b.Add("\n\n### Input:\n", 0, "user", TurnPart::kRoleName);
    b.Add(input, 0, "user", TurnPart::kContent);
  }
  b.Add("\n\n### Response:", 0, "user", TurnPart::kRoleName);
  if (output.has_value()) {
    b.Add(*output, 1, "assistant", TurnPart::kContent);
    b.Add(eos_token, 1, "assistant", TurnPart::kEnd);
  }
  return b.Take();
}

}  // namespace zt::worker::data
