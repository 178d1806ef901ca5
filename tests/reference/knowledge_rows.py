#!/usr/bin/env python3
"""Reference for `prep knowledge`: the rows of the knowledge bank.

usage: knowledge_rows.py TOKENIZER_JSON IN KNOWLEDGE_NUM KNOWLEDGE_LENGTH
IN is sentence_trex_data.json (a JSON list; sentence = item["target"][0]["sentence"]) or JSON
Lines {"text"}. Each sentence is encoded without special tokens, truncated to KNOWLEDGE_LENGTH or
right-padded with 0; the first KNOWLEDGE_NUM sentences fill the rows, the rest are dropped, rows
past the last sentence are all 0. Prints {"rows": [[...]], "sentences": N}.
"""
import json
import sys

from tokenizers import Tokenizer


def sentences(path):
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        return [item["target"][0]["sentence"] for item in json.loads(text)]
    return [json.loads(line)["text"] for line in text.splitlines() if line.strip()]


def main():
    tok_path, path, num, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    tok = Tokenizer.from_file(tok_path)
    sents = sentences(path)
    rows = []
    for s in sents[:num]:
        ids = tok.encode(s, add_special_tokens=False).ids[:length]
        rows.append(ids + [0] * (length - len(ids)))
    rows += [[0] * length for _ in range(num - len(rows))]
    json.dump({"rows": rows, "sentences": len(sents)}, sys.stdout)


if __name__ == "__main__":
    main()
