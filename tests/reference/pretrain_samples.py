#!/usr/bin/env python3
"""Reference for `prep pretrain` + the dataloader: MiniMind's PretrainDataset samples.

usage: pretrain_samples.py TOKENIZER_JSON IN.jsonl MAX_SEQ_LEN
Prints {"X": [[...]], "Y": [[...]], "mask": [[...]], "full_len": [...]} (one entry per non-blank
line, in file order); full_len is the untruncated length of <s> text </s>.

The original did tokenizer(f"{bos}{text}{eos}", max_length=L, padding='max_length',
truncation=True) with transformers' PreTrainedTokenizerFast; that runs the `tokenizers` backend
with truncation to L and right padding with pad id 0 (<unk>), which is what this script sets up.
X = ids[:-1], Y = ids[1:], loss_mask = (ids != pad)[1:].
"""
import json
import sys

from tokenizers import Tokenizer


def main():
    tok_path, data_path, max_len = sys.argv[1], sys.argv[2], int(sys.argv[3])
    full = Tokenizer.from_file(tok_path)
    tok = Tokenizer.from_file(tok_path)
    pad_id = tok.token_to_id("<unk>")
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(length=max_len, pad_id=pad_id, pad_token="<unk>", direction="right")
    out = {"X": [], "Y": [], "mask": [], "full_len": []}
    with open(data_path, "r", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            text = json.loads(line.strip())["text"]
            ids = tok.encode(f"<s>{text}</s>").ids
            assert len(ids) == max_len
            out["X"].append(ids[:-1])
            out["Y"].append(ids[1:])
            out["mask"].append([int(i != pad_id) for i in ids[1:]])
            out["full_len"].append(len(full.encode(f"<s>{text}</s>").ids))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
