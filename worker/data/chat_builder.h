// Internal to the chat template renderers: appends text with its span label.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "worker/data/chat_template.h"

namespace zt::worker::data {

class ChatBuilder {
 public:
  // Appends `text` labelled (message, role, part); adjacent spans with equal labels merge.
  void Add(absl::string_view text, int message, absl::string_view role, TurnPart part) {
    if (text.empty()) return;
    const size_t begin = chat_.text.size();
    chat_.text.append(text.data(), text.size());
    if (!chat_.spans.empty()) {
      RenderedSpan& last = chat_.spans.back();
      if (last.message == message && last.role == role && last.part == part) {
        last.span.end = chat_.text.size();
        return;
      }
    }
    chat_.spans.push_back({{begin, chat_.text.size()}, message, std::string(role), part});
  }
  RenderedChat Take() { return std::move(chat_); }

 private:
  RenderedChat chat_;
};

}  // namespace zt::worker::data
