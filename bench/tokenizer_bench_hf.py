"""HF tokenizers' single-threaded encoding throughput on a corpus file (called by tokenizer_bench).

usage: tokenizer_bench_hf.py TOKENIZER_JSON CORPUS_JSONL REPEATS
Prints one line: "<CPU seconds> <tokens>" for the best of REPEATS passes over every document
(one warm-up pass first), encode(doc, add_special_tokens=False) per document.
"""
import gzip
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer  # noqa: E402


def main():
    path, corpus, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            tok = Tokenizer.from_str(f.read().decode("utf-8"))
    else:
        tok = Tokenizer.from_file(path)
    docs = [json.loads(line) for line in open(corpus, encoding="utf-8")]
    tokens = sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for d in docs:
            tok.encode(d, add_special_tokens=False)
        best = min(best, time.process_time() - start)
    print(f"{best} {tokens}")


if __name__ == "__main__":
    main()
