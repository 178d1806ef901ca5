#!/usr/bin/python3
"""Peer for the tokenizer tests: the real Hugging Face `tokenizers` library.

  hf_tokenizer.py encode TOKENIZER_JSON IN.jsonl OUT.jsonl
      IN lines are {"text": ...}; OUT lines are {"ids": [...], "decoded": ...} in the same order
      (decoded with skip_special_tokens=False, as `tokenizer.decode(ids)` does).
  hf_tokenizer.py train OUT_DIR VOCAB_SIZE MIN_FREQUENCY DATA.jsonl [DATA.jsonl ...]
      Trains the way MiniMind's train_tokenizer.py does (BPE, ByteLevel pre-tokenizer without
      prefix space, specials <unk> <s> </s>, the byte-level initial alphabet, ByteLevel decoder)
      on the "text" fields and saves OUT_DIR/tokenizer.json.
"""
import json
import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402


def encode(tok_path, in_path, out_path):
    tok = Tokenizer.from_file(tok_path)
    with open(in_path, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f if line.strip()]
    encs = tok.encode_batch(texts, add_special_tokens=False)
    with open(out_path, "w", encoding="utf-8") as f:
        for e in encs:
            f.write(json.dumps({"ids": e.ids, "decoded": tok.decode(e.ids, skip_special_tokens=False)},
                               ensure_ascii=False) + "\n")


def train(out_dir, vocab_size, min_frequency, paths):
    def texts():
        for p in paths:
            with open(p, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        yield json.loads(line)["text"]

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts(), trainer=trainer)
    tok.decoder = decoders.ByteLevel()
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))


def main(argv):
    if len(argv) == 4 and argv[0] == "encode":
        encode(argv[1], argv[2], argv[3])
    elif len(argv) >= 5 and argv[0] == "train":
        train(argv[1], int(argv[2]), int(argv[3]), argv[4:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
