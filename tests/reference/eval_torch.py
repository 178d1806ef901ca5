"""`minimind eval` redone in PyTorch, independent of the C engine, for tests/engine/test_eval.c.

usage: eval_torch.py CKPT TOKENIZER_JSON DATA.jsonl NUM_SAMPLES PROMPT_TOKENS MAX_NEW_TOKENS

Loads the checkpoint into the reference MiniMind (tests/reference/model_ref.py) with
load_state_dict(strict=True), the configuration taken from the safetensors __metadata__
("model.dim", ...). For each of the first NUM_SAMPLES {"text"} lines: ids = <s> + text + </s>
(Hugging Face `tokenizers`, no added specials) truncated to max_seq_len + 1; loss = mean
teacher-forced cross-entropy of ids[1:] given ids[:-1]; the first PROMPT_TOKENS ids (at most
len - 1) are the prompt, continued greedily (full forward each step, no KV cache) for up to
MAX_NEW_TOKENS tokens, stopping before </s> or when max_seq_len tokens are in context; the
reference is the next MAX_NEW_TOKENS ids without a final </s>.

prints {"samples": [{"line", "loss", "tokens", "input", "reference", "output", "gen_ids",
"margins", "output_prefixes"}]}: output_prefixes[i] = text of the first i generated ids; margins[i] = top-1 minus top-2 logit at generation step i (a small margin means an
argmax the other implementation may legitimately break the other way).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import Transformer  # noqa: E402

BOS, EOS = 1, 2


def load_model(path):
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    ints = ["dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "hidden_dim", "max_seq_len"]
    cfg = {k: int(meta["model." + k]) for k in ints}
    cfg["norm_eps"] = float(meta["model.norm_eps"])
    cfg["rope_theta"] = float(meta["model.rope_theta"])
    if meta.get("model.model_type", "model_original") != "model_original":
        sys.exit("eval_torch.py: only model_original")
    model = Transformer(cfg)
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    return model, cfg


def greedy(model, prompt, max_new, max_len):
    tokens = list(prompt)
    out, margins = [], []
    for _ in range(max_new):
        logits = model(torch.tensor([tokens]))[0, -1].double()
        top = torch.topk(logits, 2)
        nxt = int(top.indices[0])
        margins.append(float(top.values[0] - top.values[1]))
        if nxt == EOS:
            break
        out.append(nxt)
        tokens.append(nxt)
        if len(tokens) - 1 >= max_len:
            break
    return out, margins


def main(argv):
    if len(argv) != 6:
        sys.exit(__doc__)
    ckpt, tok_path, data = argv[0], argv[1], argv[2]
    num, prompt_tokens, max_new = int(argv[3]), int(argv[4]), int(argv[5])
    torch.set_num_threads(1)
    model, cfg = load_model(ckpt)
    tok = Tokenizer.from_file(tok_path)
    max_len = cfg["max_seq_len"]
    samples = []
    with open(data, encoding="utf-8") as f, torch.no_grad():
        for line_no, line in enumerate(f, 1):
            if len(samples) >= num:
                break
            if not line.strip():
                continue
            text = json.loads(line)["text"]
            ids = [BOS] + tok.encode(text, add_special_tokens=False).ids + [EOS]
            ids = ids[: max_len + 1]
            x = torch.tensor([ids[:-1]])
            y = torch.tensor(ids[1:])
            loss = float(F.cross_entropy(model(x)[0].float(), y, reduction="mean"))
            np_ = max(1, min(prompt_tokens, len(ids) - 1))
            gen, margins = greedy(model, ids[:np_], max_new, max_len)
            ref_end = min(len(ids), np_ + max_new)
            if ref_end > np_ and ids[ref_end - 1] == EOS:
                ref_end -= 1
            samples.append({
                "line": line_no,
                "loss": loss,
                "tokens": len(ids) - 1,
                "input": tok.decode(ids[:np_], skip_special_tokens=False),
                "reference": tok.decode(ids[np_:ref_end], skip_special_tokens=False),
                "output": tok.decode(gen, skip_special_tokens=False),
                "gen_ids": gen,
                "output_prefixes": [tok.decode(gen[:i], skip_special_tokens=False) for i in range(len(gen) + 1)],
                "margins": margins,
            })
            if not math.isfinite(loss):
                sys.exit("eval_torch.py: non-finite loss")
    json.dump({"samples": samples}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1:])
