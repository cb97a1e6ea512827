"""Tokenizer parity references from HF tokenizers.

For each tokenizer folder given, encodes the hand-picked strings and N seeded generated strings
(tokenizer_strings.py) with the HF `tokenizers` library (add_special_tokens=False; once more with
encode_special_tokens=True for texts holding special tokens), decodes the ids back, and decodes
random id sequences (partial UTF-8 byte tokens included). Writes
tests/data/tokenizers/<name>_parity.jsonl.gz, one JSON object per line:
  {"kind": "encode", "group", "text", "ids", ["decoded"], ["ids_split"]}   (hand-picked first, then generated)
  {"kind": "decode", "ids", "text"}
  {"kind": "hf_nfc_quirk", "text", "ids"}   (see below; not a parity case)
and tests/data/tokenizers/SOURCE.md.

usage: tokenizer_parity.py [--count N] [--seed S] [NAME=DIR ...]
(default: qwen3=tests/data/qwen3-tokenizer llama3=tests/data/tokenizers/llama3)
"""
import argparse
import gzip
import io
import json
import os
import random
import sys
import unicodedata

import tokenizers
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenizer_strings  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "data", "tokenizers")


def records(tok, count, seed):
    hand = tokenizer_strings.HAND_PICKED
    gen = tokenizer_strings.generated_strings(count, seed)
    for group, texts in (("hand", hand), ("generated", gen)):
        for text in texts:
            tok.encode_special_tokens = False
            ids = tok.encode(text, add_special_tokens=False).ids
            decoded = tok.decode(ids, skip_special_tokens=False)
            if tok.normalizer is not None and decoded != unicodedata.normalize("NFC", text):
                # HF's encode path normalizes with older Unicode tables than normalize_str and
                # Python (a mark added after them, e.g. U+09FE, counts as a starter and is not
                # reordered). Recorded apart: it compares Unicode versions, not behaviour.
                yield {"kind": "hf_nfc_quirk", "text": text, "ids": ids}
                continue
            rec = {"kind": "encode", "group": group, "text": text, "ids": ids}
            if decoded != text:  # NFC changed the text; omitted when equal
                rec["decoded"] = decoded
            if "<|" in text or "<think>" in text:
                tok.encode_special_tokens = True
                rec["ids_split"] = tok.encode(text, add_special_tokens=False).ids
                tok.encode_special_tokens = False
            yield rec
    rng = random.Random(seed + 1)
    size = tok.get_vocab_size(with_added_tokens=False)
    for _ in range(300):
        ids = [rng.randrange(size) for _ in range(rng.randint(1, 8))]
        yield {"kind": "decode", "ids": ids, "text": tok.decode(ids, skip_special_tokens=False)}


def load(folder):
    """tokenizer.json, or tokenizer.json.gz (how large third-party files are committed)."""
    path = os.path.join(folder, "tokenizer.json")
    if os.path.exists(path):
        return Tokenizer.from_file(path)
    with gzip.open(path + ".gz", "rb") as f:
        return Tokenizer.from_str(f.read().decode("utf-8"))


def write(name, folder, count, seed):
    tok = load(folder)
    path = os.path.join(OUT, f"{name}_parity.jsonl.gz")
    raw = io.BytesIO()
    n = 0
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        for rec in records(tok, count, seed):
            gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
            n += 1
    with open(path, "wb") as f:
        f.write(raw.getvalue())
    print(f"{path}: {n} records, {len(raw.getvalue())} bytes")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=6000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("tokenizers", nargs="*")
    args = ap.parse_args()
    pairs = args.tokenizers or [f"qwen3={ROOT}/tests/data/qwen3-tokenizer",
                                f"llama3={ROOT}/tests/data/tokenizers/llama3"]
    os.makedirs(OUT, exist_ok=True)
    for pair in pairs:
        name, folder = pair.split("=", 1)
        if not any(os.path.exists(os.path.join(folder, f)) for f in ("tokenizer.json", "tokenizer.json.gz")):
            print(f"skip {name}: no {folder}/tokenizer.json")
            continue
        write(name, folder, args.count, args.seed)
    print(f"tokenizers {tokenizers.__version__}")


if __name__ == "__main__":
    main()
