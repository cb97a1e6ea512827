// Internal to chat_template.cc: one renderer per shipped template. Each takes the messages as
// rendered (a --system override already prepended) and never fails; RenderChat checks what a
// template cannot express before calling it.
#pragma once

#include <vector>

#include "worker/data/chat_template.h"

namespace zt::worker::data {

RenderedChat RenderQwen2(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);
RenderedChat RenderQwen25(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);
RenderedChat RenderQwen3(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);
RenderedChat RenderLlama3(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);
// Stanford Alpaca's prompt (no-input form) for [user, assistant?]; see alpaca_prompt.h for
// records with an input.
RenderedChat RenderAlpaca(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options);

}  // namespace zt::worker::data
