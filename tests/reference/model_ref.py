"""PyTorch reference of the MiniMind baseline (`model_original`), written from the specification in
DESIGN.md §3 (MiniMind, LMConfig era) — independent of the C engine — for
tests/engine/test_model_parity.c.

usage: model_ref.py IN OUT

IN (safetensors, written by the C test):
  every parameter under MiniMind's state-dict names (tok_embeddings.weight ... output.weight),
  X, Y (B,T) int32 token ids, mask (B,T) float32 loss mask;
  __metadata__: dim n_layers n_heads n_kv_heads vocab_size hidden_dim norm_eps rope_theta
  max_seq_len, and the training check: steps lr weight_decay grad_clip warmup.
OUT (safetensors):
  logits (B,T,V), loss (1,), grad.<name> for every entry of model.named_parameters() (the tied
  table once, as tok_embeddings.weight), losses (steps,): the loss before each of `steps` AdamW
  updates on the same batch, as MiniMind's train loop (lr from get_lr every step, clip_grad_norm_,
  torch.optim.AdamW(model.parameters(), lr, weight_decay)).
"""
import math
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from safetensors import safe_open
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def precompute_pos_cis(head_dim, end, theta):
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    t = torch.arange(end).float()
    angles = torch.outer(t, freqs).float()
    return torch.polar(torch.ones_like(angles), angles)  # (end, head_dim/2) complex64


def apply_rotary_emb(xq, xk, pos_cis):
    # interleaved pairs (x[2i], x[2i+1]) as complex numbers
    xq_ = torch.view_as_complex(xq.float().reshape(*xq.shape[:-1], -1, 2))
    xk_ = torch.view_as_complex(xk.float().reshape(*xk.shape[:-1], -1, 2))
    pc = pos_cis.view(1, xq_.shape[1], 1, xq_.shape[-1])
    xq_out = torch.view_as_real(xq_ * pc).flatten(3)
    xk_out = torch.view_as_real(xk_ * pc).flatten(3)
    return xq_out.type_as(xq), xk_out.type_as(xk)


def repeat_kv(x, n_rep):
    # (B, T, KV, hs) -> (B, T, KV*n_rep, hs); query head h reads kv head h // n_rep
    if n_rep == 1:
        return x
    b, t, kv, hs = x.shape
    return x[:, :, :, None, :].expand(b, t, kv, n_rep, hs).reshape(b, t, kv * n_rep, hs)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads, self.n_kv_heads = cfg["n_heads"], cfg["n_kv_heads"]
        self.head_dim = cfg["dim"] // self.n_heads
        self.wq = nn.Linear(cfg["dim"], self.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(cfg["dim"], self.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(cfg["dim"], self.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(self.n_heads * self.head_dim, cfg["dim"], bias=False)
        mask = torch.full((1, 1, cfg["max_seq_len"], cfg["max_seq_len"]), float("-inf"))
        self.register_buffer("mask", torch.triu(mask, diagonal=1), persistent=False)
        # "math" (default): scores, mask, softmax, as written out here; "sdpa": MiniMind's flash path
        # (its default flash_attn=True), F.scaled_dot_product_attention(is_causal=True), torch >= 2.0
        self.sdpa = cfg.get("attention", "math") == "sdpa"

    def forward(self, x, pos_cis):
        b, t, _ = x.shape
        xq = self.wq(x).view(b, t, self.n_heads, self.head_dim)
        xk = self.wk(x).view(b, t, self.n_kv_heads, self.head_dim)
        xv = self.wv(x).view(b, t, self.n_kv_heads, self.head_dim)
        xq, xk = apply_rotary_emb(xq, xk, pos_cis)
        rep = self.n_heads // self.n_kv_heads
        xq = xq.transpose(1, 2)
        xk = repeat_kv(xk, rep).transpose(1, 2)
        xv = repeat_kv(xv, rep).transpose(1, 2)
        if self.sdpa:
            out = F.scaled_dot_product_attention(xq, xk, xv, is_causal=True)
            return self.wo(out.transpose(1, 2).reshape(b, t, -1))
        scores = xq @ xk.transpose(-2, -1) / math.sqrt(self.head_dim)
        scores = scores + self.mask[:, :, :t, :t]
        scores = F.softmax(scores.float(), dim=-1).type_as(xq)
        out = (scores @ xv).transpose(1, 2).reshape(b, t, -1)
        return self.wo(out)


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = Attention(cfg)
        self.attention_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.ffn_norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.feed_forward = FeedForward(cfg["dim"], cfg["hidden_dim"])

    def forward(self, x, pos_cis):
        h = x + self.attention(self.attention_norm(x), pos_cis)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layers"])])
        self.norm = RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.output = nn.Linear(cfg["dim"], cfg["vocab_size"], bias=False)
        self.tok_embeddings.weight = self.output.weight  # tied
        pos_cis = precompute_pos_cis(cfg["dim"] // cfg["n_heads"], cfg["max_seq_len"], cfg["rope_theta"])
        self.register_buffer("pos_cis", pos_cis, persistent=False)

    def forward(self, tokens):
        t = tokens.shape[1]
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, self.pos_cis[:t])
        return self.output(self.norm(h))


def get_lr(it, total, lr, warmup):
    v = lr / 10 + 0.5 * lr * (1 + math.cos(math.pi * it / total))
    if warmup > 0 and it < warmup:
        v *= (it + 1) / warmup
    return v


def masked_loss(logits, Y, mask):
    per_tok = F.cross_entropy(logits.view(-1, logits.size(-1)), Y.view(-1), reduction="none").view(Y.size())
    return (per_tok * mask).sum() / mask.sum()


def main(inp, out):
    with safe_open(inp, framework="pt") as f:
        meta = f.metadata()
    ints = ["dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "hidden_dim", "max_seq_len", "steps", "warmup"]
    cfg = {k: int(meta[k]) for k in ints}
    for k in ["norm_eps", "rope_theta", "lr", "weight_decay", "grad_clip"]:
        cfg[k] = float(meta[k])
    tensors = load_file(inp)
    X, Y, mask = tensors.pop("X").long(), tensors.pop("Y").long(), tensors.pop("mask").float()

    torch.manual_seed(0)
    model = Transformer(cfg)
    model.load_state_dict(tensors, strict=True)

    logits = model(X)
    loss = masked_loss(logits, Y, mask)
    loss.backward()
    result = {"logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        result["grad." + name] = p.grad.detach().clone().contiguous()
    model.zero_grad(set_to_none=True)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    losses = []
    for step in range(cfg["steps"]):
        lr = get_lr(step, cfg["steps"], cfg["lr"], cfg["warmup"])
        for group in opt.param_groups:
            group["lr"] = lr
        loss = masked_loss(model(X), Y, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    result["losses"] = torch.tensor(losses, dtype=torch.float32)
    save_file(result, out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2])
