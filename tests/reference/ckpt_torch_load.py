"""Loads a minimind checkpoint into a PyTorch MiniMind (LMConfig-era, model_original) module with
load_state_dict(strict=True), as the original project loads pretrain_{dim}.pth.

usage: ckpt_torch_load.py CKPT DIM N_LAYERS N_HEADS N_KV_HEADS VOCAB HIDDEN
prints {"keys": [...], "shapes": {k: [...]}, "sums": {k: float}, "tied": bool, "metadata": {...}}
"""
import json
import sys

import torch
from torch import nn
from safetensors import safe_open
from safetensors.torch import load_file


class RMSNorm(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))


class Attention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads, max_seq_len=16):
        super().__init__()
        head_dim = dim // n_heads
        self.wq = nn.Linear(dim, n_heads * head_dim, bias=False)
        self.wk = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.wv = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.wo = nn.Linear(n_heads * head_dim, dim, bias=False)
        mask = torch.triu(torch.full((1, 1, max_seq_len, max_seq_len), float("-inf")), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)


class TransformerBlock(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads, hidden):
        super().__init__()
        self.attention = Attention(dim, n_heads, n_kv_heads)
        self.attention_norm = RMSNorm(dim)
        self.ffn_norm = RMSNorm(dim)
        self.feed_forward = FeedForward(dim, hidden)


class Transformer(nn.Module):
    def __init__(self, dim, n_layers, n_heads, n_kv_heads, vocab, hidden):
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([TransformerBlock(dim, n_heads, n_kv_heads, hidden) for _ in range(n_layers)])
        self.norm = RMSNorm(dim)
        self.output = nn.Linear(dim, vocab, bias=False)
        self.tok_embeddings.weight = self.output.weight  # tied, as MiniMind


def main():
    path = sys.argv[1]
    dim, n_layers, n_heads, n_kv_heads, vocab, hidden = map(int, sys.argv[2:8])
    model = Transformer(dim, n_layers, n_heads, n_kv_heads, vocab, hidden)
    state = load_file(path)
    model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape mismatch
    sd = model.state_dict()
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
    json.dump(
        {
            "keys": list(sd.keys()),
            "shapes": {k: list(v.shape) for k, v in sd.items()},
            "sums": {k: float(v.double().sum()) for k, v in sd.items()},
            "tied": model.output.weight.data_ptr() == model.tok_embeddings.weight.data_ptr(),
            "metadata": metadata,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
