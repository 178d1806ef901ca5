"""PyTorch reference of the KnowledgeDataset memory layer and of the `model` / `model_no_feed`
variants, written from the specification in issue 5 / docs/memory.md — independent of the C
engine: the top-K is taken by brute force over all NUM = S*S entry scores (no product-key
shortcut), values by gathering the embeddings of every entry token, gradients by autograd.

usage: memory_ref.py layer IN OUT
       memory_ref.py model IN OUT

layer IN (safetensors): z (N,C), wq (D,C), keys (2,S,D/2), bank (NUM,LK) int32, wte (V,C),
  R (N,C) (the loss is sum(m * R)), optional noise (N,K); __metadata__: K, select (softmax|gumbel).
layer OUT: m (N,C), idx (N,K) int32, score (N,K), w (N,K), grad.z, grad.wq, grad.keys, grad.wte.

model IN: as model_ref.py (every parameter by its state-dict name, X, Y, mask, metadata incl.
  steps/lr/weight_decay/grad_clip/warmup) plus memory_bank (NUM,LK) int32 and metadata
  model_type (model|model_no_feed), knowledge_dim, knowledge_num, knowledge_length, num_candidates,
  fusion_hidden (the `model` fusion MLP's hidden size); optional metadata muted_layers
  (comma-separated 0-based layers whose read-out is 0: they read an empty bank).
model OUT: logits, loss, grad.<name> of every parameter, losses (steps,) as model_ref.py.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model_ref  # noqa: E402  (the baseline's attention, norm, RoPE, lr schedule)


def memory_read(z, wq, keys, bank, wte, K, select, noise=None):
    """m (N,C) and the selection, for rows z (N,C)."""
    q = z @ wq.t()  # (N, D)
    dh = q.shape[1] // 2
    S = keys.shape[1]
    s1 = q[:, :dh] @ keys[0].t()  # (N, S)
    s2 = q[:, dh:] @ keys[1].t()  # (N, S)
    full = (s1[:, :, None] + s2[:, None, :]).reshape(q.shape[0], S * S)  # every entry i*S+j
    score, idx = full.topk(K, dim=-1, sorted=True)  # (N, K)
    tokens = bank[idx]  # (N, K, LK)
    present = (tokens != 0).to(z.dtype)  # padding (id 0) is not part of an entry
    count = present.sum(-1)  # (N, K)
    emb = F.embedding(tokens, wte)  # (N, K, LK, C)
    value = (emb * present[..., None]).sum(-2) / count.clamp(min=1)[..., None]  # (N, K, C)
    logits = score if noise is None else score + noise
    y = F.softmax(logits, dim=-1)
    if select == "gumbel":
        hard = F.one_hot(y.argmax(-1), K).to(y.dtype)
        w = hard - y.detach() + y  # straight-through
    else:
        w = y
    m = (w[..., None] * value).sum(1)  # (N, C)
    return m, idx, score, w


def run_layer(inp, out):
    with safe_open(inp, framework="pt") as f:
        meta = f.metadata()
    t = load_file(inp)
    K, select = int(meta["K"]), meta["select"]
    params = {k: t[k].clone().requires_grad_(True) for k in ["z", "wq", "keys", "wte"]}
    m, idx, score, w = memory_read(params["z"], params["wq"], params["keys"], t["bank"].long(), params["wte"], K,
                                   select, t.get("noise"))
    (m * t["R"]).sum().backward()
    res = {"m": m.detach(), "idx": idx.to(torch.int32), "score": score.detach(), "w": w.detach()}
    for k, p in params.items():
        res["grad." + k] = p.grad.contiguous()
    save_file(res, out)


class Memory(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        S = int(round(math.sqrt(cfg["knowledge_num"])))
        self.K = cfg["num_candidates"]
        self.query = nn.Linear(cfg["dim"], cfg["knowledge_dim"], bias=False)
        self.keys = nn.Parameter(torch.zeros(2, S, cfg["knowledge_dim"] // 2))
        if cfg["model_type"] == "model":
            self.fusion = model_ref.FeedForward(2 * cfg["dim"], cfg["fusion_hidden"])
            # FeedForward(dim_in, hidden) maps back to dim_in; the fusion maps 2C -> C
            self.fusion.w2 = nn.Linear(cfg["fusion_hidden"], cfg["dim"], bias=False)


class MemoryBlock(nn.Module):
    def __init__(self, cfg, bank, wte, muted=False):
        super().__init__()
        self.cfg = cfg
        self.muted = muted
        self.attention = model_ref.Attention(cfg)
        self.attention_norm = model_ref.RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.ffn_norm = model_ref.RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.memory = Memory(cfg)
        self.bank = bank
        self.wte = wte  # a function returning the tied embedding table (not a submodule)

    def forward(self, x, pos_cis):
        h = x + self.attention(self.attention_norm(x), pos_cis)
        z = self.ffn_norm(h)
        b, t, c = z.shape
        zf = z.reshape(b * t, c)
        mem = self.memory
        m, _, _, _ = memory_read(zf, mem.query.weight, mem.keys, self.bank, self.wte(), mem.K, "softmax")
        if self.muted:
            m = m * 0.0  # an empty bank: no value to read (the memory's gradients become 0, not None)
        if self.cfg["model_type"] == "model":
            out = mem.fusion(torch.cat([zf, m], dim=-1))
        else:
            out = m
        return h + out.reshape(b, t, c)


class MemoryTransformer(nn.Module):
    def __init__(self, cfg, bank):
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg["vocab_size"], cfg["dim"])
        wte = lambda: self.tok_embeddings.weight  # noqa: E731
        self.layers = nn.ModuleList(
            [MemoryBlock(cfg, bank, wte, i in cfg["muted_layers"]) for i in range(cfg["n_layers"])])
        self.norm = model_ref.RMSNorm(cfg["dim"], cfg["norm_eps"])
        self.output = nn.Linear(cfg["dim"], cfg["vocab_size"], bias=False)
        self.tok_embeddings.weight = self.output.weight  # tied
        pos_cis = model_ref.precompute_pos_cis(cfg["dim"] // cfg["n_heads"], cfg["max_seq_len"], cfg["rope_theta"])
        self.register_buffer("pos_cis", pos_cis, persistent=False)

    def forward(self, tokens):
        t = tokens.shape[1]
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, self.pos_cis[:t])
        return self.output(self.norm(h))


def run_model(inp, out):
    with safe_open(inp, framework="pt") as f:
        meta = f.metadata()
    ints = ["dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len", "steps", "warmup",
            "knowledge_dim", "knowledge_num", "knowledge_length", "num_candidates", "fusion_hidden"]
    cfg = {k: int(meta[k]) for k in ints}
    for k in ["norm_eps", "rope_theta", "lr", "weight_decay", "grad_clip"]:
        cfg[k] = float(meta[k])
    cfg["model_type"] = meta["model_type"]
    cfg["muted_layers"] = {int(v) for v in meta.get("muted_layers", "").split(",") if v}
    tensors = load_file(inp)
    X, Y, mask = tensors.pop("X").long(), tensors.pop("Y").long(), tensors.pop("mask").float()
    bank = tensors.pop("memory_bank").long()
    model = MemoryTransformer(cfg, bank)
    model.load_state_dict(tensors, strict=True)

    logits = model(X)
    loss = model_ref.masked_loss(logits, Y, mask)
    loss.backward()
    result = {"logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1)}
    for name, p in model.named_parameters():
        result["grad." + name] = p.grad.detach().clone().contiguous()
    model.zero_grad(set_to_none=True)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    losses = []
    for step in range(cfg["steps"]):
        lr = model_ref.get_lr(step, cfg["steps"], cfg["lr"], cfg["warmup"])
        for group in opt.param_groups:
            group["lr"] = lr
        loss = model_ref.masked_loss(model(X), Y, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    result["losses"] = torch.tensor(losses, dtype=torch.float32)
    save_file(result, out)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("layer", "model"):
        sys.exit(__doc__)
    torch.set_num_threads(1)
    (run_layer if sys.argv[1] == "layer" else run_model)(sys.argv[2], sys.argv[3])
