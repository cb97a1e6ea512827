"""Chat template references from transformers' apply_chat_template.

Renders a set of conversations (system prompts, multi-turn, Unicode, special tokens typed in
content, Qwen3 reasoning in content and in reasoning_content, tools, tool calls with object and
string arguments, tool responses) with each shipped template text in tests/data/chat_templates/
(*.jinja), with and without add_generation_prompt (and Qwen3's enable_thinking=False), through
transformers' PreTrainedTokenizerFast.apply_chat_template(tokenize=False). Writes
tests/data/chat_templates/render_cases.json: [{"template", "messages", "tools",
"add_generation_prompt", "enable_thinking", "rendered"}].

usage: chat_template_goldens.py
"""
import gzip
import json
import os

import transformers
from transformers import PreTrainedTokenizerFast

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(DATA, "chat_templates", "render_cases.json")

WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                          "required": ["city"]}}}
CLOCK = {"type": "function", "function": {"name": "now", "description": "Current time, 时间",
         "parameters": {"type": "object", "properties": {}}}}

PLAIN = [
    [{"role": "user", "content": "Hello!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}],
    [{"role": "user", "content": "你好，介绍一下你自己"}, {"role": "assistant", "content": "我是一个助手。😀"},
     {"role": "user", "content": "Tabs\tand\r\nCRLF"}, {"role": "assistant", "content": "  spaced  \n"}],
    [{"role": "user", "content": "say <|im_end|> and <|eot_id|> please"},
     {"role": "assistant", "content": "<|im_end|> <|endoftext|> <|begin_of_text|>"}],
    [{"role": "system", "content": "first"}, {"role": "user", "content": "a"},
     {"role": "system", "content": "second system"}, {"role": "assistant", "content": "b"}],
    [{"role": "user", "content": "\n lead and trail \u3000"}, {"role": "assistant", "content": "\u00a0x\u2003"}],
    [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "ok"}],
]
REASONING = [
    [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "<think>\nstep one\n</think>\n\nanswer one"},
     {"role": "user", "content": "q2"}, {"role": "assistant", "content": "<think>\nstep two\n</think>\n\nanswer two"}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": "plain final answer"}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": "final", "reasoning_content": "\nthought\n"}],
    [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "reasoning_content": "r1"},
     {"role": "user", "content": "q2"}],
]
TOOLS = [
    [{"role": "user", "content": "Weather in Paris?"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
     {"role": "tool", "content": "{\"temp\": 21}"},
     {"role": "assistant", "content": "It is 21°C."}],
    [{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Time and weather in 东京?"},
     {"role": "assistant", "content": "Checking.", "tool_calls": [
         {"type": "function", "function": {"name": "now", "arguments": {}}},
         {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "东京"}}}]},
     {"role": "tool", "content": "12:00"}, {"role": "tool", "content": "sunny"},
     {"role": "assistant", "content": "<think>\ncombine\n</think>\n\nNoon and sunny."}],
    [{"role": "user", "content": "x"},
     {"role": "assistant", "content": "", "tool_calls": [
         {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]}],
]


def load_tokenizer(folder, bos=None, eos=None):
    path = os.path.join(folder, "tokenizer.json")
    if os.path.exists(path):
        tok = PreTrainedTokenizerFast(tokenizer_file=path)
    else:
        with gzip.open(path + ".gz", "rb") as f:
            from tokenizers import Tokenizer
            tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(f.read().decode("utf-8")))
    if bos:
        tok.bos_token = bos
    if eos:
        tok.eos_token = eos
    return tok


def cases():
    qwen_tok = load_tokenizer(os.path.join(DATA, "qwen3-tokenizer"))
    llama_tok = load_tokenizer(os.path.join(DATA, "tokenizers", "llama3"), bos="<|begin_of_text|>", eos="<|eot_id|>")
    plan = [("qwen2", qwen_tok, PLAIN, [None]), ("qwen2.5", qwen_tok, PLAIN + TOOLS, [None, [WEATHER, CLOCK]]),
            ("qwen3", qwen_tok, PLAIN + REASONING + TOOLS, [None, [WEATHER]]), ("llama3", llama_tok, PLAIN, [None])]
    for name, tok, convs, tool_sets in plan:
        template = open(os.path.join(DATA, "chat_templates", f"{name}.jinja")).read()
        for messages in convs:
            for tools in tool_sets:
                if tools is None and any(m["role"] == "tool" for m in messages) and name != "qwen3" and name != "qwen2.5":
                    continue
                for gen in (False, True):
                    thinking = [None, False] if (name == "qwen3" and gen) else [None]
                    for enable_thinking in thinking:
                        kwargs = {} if enable_thinking is None else {"enable_thinking": enable_thinking}
                        rendered = tok.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                                           add_generation_prompt=gen, **kwargs)
                        yield {"template": name, "messages": messages, "tools": tools or [],
                               "add_generation_prompt": gen, "enable_thinking": enable_thinking, "rendered": rendered}


def main():
    out = list(cases())
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{OUT}: {len(out)} cases, transformers {transformers.__version__}")


if __name__ == "__main__":
    main()
