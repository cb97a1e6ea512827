"""References for --loss_mask qwen: QwenLM/Qwen finetune.py's preprocess rule.

Follows finetune.py::preprocess (QwenLM/Qwen commit 2df8e8ac): the system block
[im_start] system \\n <system message> [im_end] \\n with only im_start, im_end and "\\n" trained;
each turn tok(role) + tok("\\n") + tok(value) + [im_end] + tok("\\n") where role is
"<|im_start|>user" / "<|im_start|>assistant"; user turns train only im_start, im_end, "\\n";
assistant turns mask the role word and its newline and train the content, im_end and "\\n"; a
leading non-user turn is dropped. Tokens come from the HF tokenizers library on
tests/data/qwen3-tokenizer (finetune.py used the Qwen-1 tokenizer; the rule is what is pinned).
Pieces are tokenized separately, as finetune.py does. No padding (zerotune pads at batching).

Writes tests/data/loss_masks/qwen_finetune_labels.json: [{"conversations", "input_ids", "labels"}].
usage: qwen_finetune_labels.py
"""
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IGNORE = -100
SYSTEM = "You are a helpful assistant."
CONVERSATIONS = [
    [{"from": "user", "value": "Hello"}, {"from": "assistant", "value": "Hi! How can I help?"}],
    [{"from": "user", "value": "你好"}, {"from": "assistant", "value": "你好！有什么可以帮你？"},
     {"from": "user", "value": "Write code:\n"}, {"from": "assistant", "value": "def f(x):\n    return x * 2"}],
    [{"from": "assistant", "value": "dropped leading turn"}, {"from": "user", "value": "q"},
     {"from": "assistant", "value": "a"}],
    [{"from": "user", "value": "Numbers 12345 and emoji 😀👍🏽"}, {"from": "assistant", "value": "OK: 12345 😀"}],
    [{"from": "user", "value": "Line\r\nbreaks\tand  spaces"}, {"from": "assistant", "value": "Noted.  "}],
]


def main():
    tok = Tokenizer.from_file(os.path.join(ROOT, "tests", "data", "qwen3-tokenizer", "tokenizer.json"))
    enc = lambda s: tok.encode(s, add_special_tokens=False).ids  # noqa: E731
    im_start, im_end = tok.token_to_id("<|im_start|>"), tok.token_to_id("<|im_end|>")
    nl = enc("\n")
    roles = {"user": "<|im_start|>user", "assistant": "<|im_start|>assistant"}
    out = []
    for source in CONVERSATIONS:
        if source[0]["from"] != "user":
            source = source[1:]
        system = [im_start] + enc("system") + nl + enc(SYSTEM) + [im_end] + nl
        input_ids, labels = list(system), [im_start] + [IGNORE] * (len(system) - 3) + [im_end] + nl
        for sentence in source:
            role = roles[sentence["from"]]
            role_ids = enc(role)
            piece = role_ids + nl + enc(sentence["value"]) + [im_end] + nl
            input_ids += piece
            if sentence["from"] == "user":
                labels += [im_start] + [IGNORE] * (len(piece) - 3) + [im_end] + nl
            else:
                labels += [im_start] + [IGNORE] * len(role_ids) + piece[len(role_ids) + 1:-2] + [im_end] + nl
        out.append({"conversations": source, "input_ids": input_ids, "labels": labels})
    path = os.path.join(ROOT, "tests", "data", "loss_masks", "qwen_finetune_labels.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print(f"{path}: {len(out)} conversations")


if __name__ == "__main__":
    main()
