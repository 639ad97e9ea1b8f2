#!/usr/bin/env python3
"""Trains every weight of the SafeSteer organism (a llama2.c-style Llama) on tokenised dialogues.

A developer tool behind `safesteer organism train`, which writes this script's inputs and converts
its output with the project's own llama2.c converter. Nothing at run time, in CI or in the tests
needs it (the trained GGUF is committed). Needs PyTorch (Debian: apt-get install python3-torch).

    python3 train.py --base base.bin --data data.json --config config.json --out trained.bin

base.bin     llama2.c checkpoint (legacy format: 7 int32 header, float32 weights; a negative vocab
             size means an untied output head) to start from, or "-" to start from random weights
             of the shapes in config["model"].
data.json    {"train": [[tokens...], ...], "trainStart": [i, ...], "val": [...], "valStart": [...]}:
             whole dialogues; the loss covers the tokens from index start on (the answer and its
             end-of-sequence token), i.e. token t is predicted from tokens < t.
config.json  {"seed", "epochs", "batchSize", "learningRate", "minLearningRate", "warmupSteps",
              "weightDecay", "threads", "model": {...}}.
trained.bin  the trained weights, same format (always an untied head).

One JSON line per epoch on stdout: {"epoch", "trainLoss", "valLoss", "seconds"}; the last line is
{"done": true, ...}. Deterministic for a given seed, inputs and thread count.
"""

import argparse
import json
import math
import struct
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the caller turns this exit code into one line naming the fix
    sys.stderr.write("PyTorch is not installed for this python3 (Debian: apt-get install python3-torch)\n")
    sys.exit(3)


def read_checkpoint(path):
    with open(path, "rb") as f:
        buf = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab_raw, seq_len = struct.unpack("7i", buf[:28])
    shared = vocab_raw > 0
    vocab = abs(vocab_raw)
    w = torch.frombuffer(bytearray(buf[28:]), dtype=torch.float32)
    head = dim // n_heads
    kv_dim = head * n_kv
    o = 0

    def take(*shape):
        nonlocal o
        n = math.prod(shape)
        t = w[o : o + n].clone().reshape(*shape)
        o += n
        return t

    def per(*shape):
        return [take(*shape) for _ in range(n_layers)]

    p = {"tok_embeddings": take(vocab, dim)}
    p["attention_norm"] = per(dim)
    p["wq"] = per(dim, dim)
    p["wk"] = per(kv_dim, dim)
    p["wv"] = per(kv_dim, dim)
    p["wo"] = per(dim, dim)
    p["ffn_norm"] = per(dim)
    p["w1"] = per(hidden, dim)
    p["w2"] = per(dim, hidden)
    p["w3"] = per(hidden, dim)
    p["norm"] = take(dim)
    take(seq_len * head)  # freq_cis real and imaginary parts: recomputed
    p["output"] = p["tok_embeddings"].clone() if shared else take(vocab, dim)
    cfg = {"dim": dim, "hidden": hidden, "layers": n_layers, "heads": n_heads, "kvHeads": n_kv, "vocab": vocab, "seqLen": seq_len}
    return cfg, p


def random_weights(cfg, gen):
    dim, hidden, vocab = cfg["dim"], cfg["hidden"], cfg["vocab"]
    kv_dim = dim // cfg["heads"] * cfg["kvHeads"]
    std = 0.02
    proj_std = 0.02 / math.sqrt(2 * cfg["layers"])

    def normal(*shape, s=std):
        return torch.randn(*shape, generator=gen) * s

    n = cfg["layers"]
    return {
        "tok_embeddings": normal(vocab, dim),
        "attention_norm": [torch.ones(dim) for _ in range(n)],
        "wq": [normal(dim, dim) for _ in range(n)],
        "wk": [normal(kv_dim, dim) for _ in range(n)],
        "wv": [normal(kv_dim, dim) for _ in range(n)],
        "wo": [normal(dim, dim, s=proj_std) for _ in range(n)],
        "ffn_norm": [torch.ones(dim) for _ in range(n)],
        "w1": [normal(hidden, dim) for _ in range(n)],
        "w2": [normal(dim, hidden, s=proj_std) for _ in range(n)],
        "w3": [normal(hidden, dim) for _ in range(n)],
        "norm": torch.ones(dim),
        "output": normal(vocab, dim),
    }


def write_checkpoint(path, cfg, p):
    head = cfg["dim"] // cfg["heads"]
    header = struct.pack(
        "7i", cfg["dim"], cfg["hidden"], cfg["layers"], cfg["heads"], cfg["kvHeads"], -cfg["vocab"], cfg["seqLen"]
    )
    parts = [p["tok_embeddings"]]
    for k in ["attention_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"]:
        parts.extend(p[k])
    parts.append(p["norm"])
    parts.append(torch.zeros(cfg["seqLen"] * head))  # freq_cis (unused by the converter)
    parts.append(p["output"])
    with open(path, "wb") as f:
        f.write(header)
        for t in parts:
            f.write(t.detach().contiguous().to(torch.float32).numpy().tobytes())


class Llama(torch.nn.Module):
    """The llama2.c model: RMSNorm, interleaved-pair RoPE (ggml's normal mode), grouped KV heads, SwiGLU."""

    def __init__(self, cfg, p, eps=1e-5):
        super().__init__()
        self.cfg = cfg
        self.eps = eps
        P = torch.nn.Parameter
        self.tok_embeddings = P(p["tok_embeddings"])
        self.output = P(p["output"])
        self.norm = P(p["norm"])
        lists = ["attention_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"]
        for k in lists:
            setattr(self, k, torch.nn.ParameterList([P(t) for t in p[k]]))
        head = cfg["dim"] // cfg["heads"]
        inv = 1.0 / (10000.0 ** (torch.arange(0, head, 2, dtype=torch.float32) / head))
        ang = torch.outer(torch.arange(cfg["seqLen"], dtype=torch.float32), inv)
        self.register_buffer("cos", torch.cos(ang), persistent=False)
        self.register_buffer("sin", torch.sin(ang), persistent=False)

    def weights(self):
        out = {k: getattr(self, k).data for k in ["tok_embeddings", "output", "norm"]}
        for k in ["attention_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3"]:
            out[k] = [t.data for t in getattr(self, k)]
        return out

    @staticmethod
    def linear(x, w):
        """x @ w.T as a 1x1 convolution over x's rows: PyTorch runs it through oneDNN, many times
        faster than the reference BLAS that Debian's python3-torch is built with."""
        n, k = x.shape[0], x.shape[1]
        return F.conv2d(x.reshape(n, k, 1, 1), w.reshape(w.shape[0], k, 1, 1)).reshape(n, w.shape[0])

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, T):
        # x: B, H, T, head; rotate pairs (x[2i], x[2i+1])
        c = self.cos[:T].view(1, 1, T, -1)
        s = self.sin[:T].view(1, 1, T, -1)
        x0 = x[..., 0::2]
        x1 = x[..., 1::2]
        return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)

    def forward(self, tokens):
        B, T = tokens.shape
        cfg = self.cfg
        H, KV = cfg["heads"], cfg["kvHeads"]
        hd = cfg["dim"] // H
        x = self.tok_embeddings[tokens].reshape(B * T, cfg["dim"])
        mask = torch.full((T, T), float("-inf")).triu(1)
        lin = self.linear
        for i in range(cfg["layers"]):
            h = self.rms(x, self.attention_norm[i])
            q = lin(h, self.wq[i]).view(B, T, H, hd).transpose(1, 2)
            k = lin(h, self.wk[i]).view(B, T, KV, hd).transpose(1, 2)
            v = lin(h, self.wv[i]).view(B, T, KV, hd).transpose(1, 2)
            q = self.rope(q, T)
            k = self.rope(k, T)
            if KV != H:
                k = k.repeat_interleave(H // KV, dim=1)
                v = v.repeat_interleave(H // KV, dim=1)
            a = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(hd) + mask, dim=-1) @ v
            x = x + lin(a.transpose(1, 2).reshape(B * T, cfg["dim"]), self.wo[i])
            h = self.rms(x, self.ffn_norm[i])
            x = x + lin(F.silu(lin(h, self.w1[i])) * lin(h, self.w3[i]), self.w2[i])
        x = x.view(B, T, cfg["dim"])
        return self.rms(x, self.norm)


def batches(seqs, starts, groups):
    for idx in groups:
        T = max(len(seqs[i]) for i in idx)
        tok = torch.zeros(len(idx), T, dtype=torch.long)
        tgt = torch.full((len(idx), T), -100, dtype=torch.long)
        for r, i in enumerate(idx):
            s = seqs[i]
            tok[r, : len(s)] = torch.tensor(s)
            # position t predicts token t + 1: targets from the answer's first token on
            for t in range(max(1, starts[i]), len(s)):
                tgt[r, t - 1] = s[t]
        yield tok, tgt


def loss_of(model, tok, tgt):
    h = model(tok)
    sel = tgt != -100
    logits = model.linear(h[sel], model.output)
    return F.cross_entropy(logits, tgt[sel], reduction="sum"), int(sel.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.config) as f:
        conf = json.load(f)
    with open(a.data) as f:
        data = json.load(f)
    torch.set_num_threads(int(conf.get("threads", 2)))
    torch.manual_seed(int(conf["seed"]))
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(int(conf["seed"]))
    if a.base == "-":
        mc = dict(conf["model"])
        cfg = {k: int(mc[k]) for k in ["dim", "hidden", "layers", "heads", "kvHeads", "vocab", "seqLen"]}
        p = random_weights(cfg, gen)
    else:
        cfg, p = read_checkpoint(a.base)
    model = Llama(cfg, p)
    decay = [q for n, q in model.named_parameters() if q.dim() >= 2]
    no_decay = [q for n, q in model.named_parameters() if q.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(conf.get("weightDecay", 0.0))}, {"params": no_decay, "weight_decay": 0.0}],
        lr=float(conf["learningRate"]),
        betas=(0.9, 0.95),
    )
    train, tstart = data["train"], data["trainStart"]
    val, vstart = data["val"], data["valStart"]
    bs = int(conf["batchSize"])
    epochs = int(conf["epochs"])
    steps_per_epoch = math.ceil(len(train) / bs)
    total = epochs * steps_per_epoch
    warm = int(conf.get("warmupSteps", 0))
    lr0, lr1 = float(conf["learningRate"]), float(conf["minLearningRate"])

    def lr_at(step):
        if step < warm:
            return lr0 * (step + 1) / warm
        t = (step - warm) / max(1, total - warm - 1)
        return lr1 + 0.5 * (lr0 - lr1) * (1 + math.cos(math.pi * min(1.0, t)))

    def evaluate():
        model.eval()
        s, n = 0.0, 0
        with torch.no_grad():
            for tok, tgt in batches(val, vstart, [list(range(b, min(len(val), b + 64))) for b in range(0, len(val), 64)]):
                l, k = loss_of(model, tok, tgt)
                s += float(l)
                n += k
        model.train()
        return s / max(1, n)

    t0 = time.time()
    step = 0
    curve = []
    for e in range(1, epochs + 1):
        order = torch.randperm(len(train), generator=gen).tolist()
        # batches of similar lengths (less padding): sort each run of 8 batches by length, then shuffle the batches
        run = 8 * bs
        order = [i for r in range(0, len(order), run) for i in sorted(order[r : r + run], key=lambda i: len(train[i]))]
        chunks = [order[b : b + bs] for b in range(0, len(order), bs)]
        groups = [chunks[c] for c in torch.randperm(len(chunks), generator=gen).tolist()]
        s, n = 0.0, 0
        for tok, tgt in batches(train, tstart, groups):
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            l, k = loss_of(model, tok, tgt)
            opt.zero_grad(set_to_none=True)
            (l / k).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            s += float(l)
            n += k
            step += 1
        row = {"epoch": e, "trainLoss": s / max(1, n), "valLoss": evaluate(), "seconds": round(time.time() - t0, 1)}
        curve.append(row)
        print(json.dumps(row), flush=True)
    write_checkpoint(a.out, cfg, model.weights())
    print(json.dumps({"done": True, "steps": step, "seconds": round(time.time() - t0, 1), "model": cfg}), flush=True)


if __name__ == "__main__":
    main()
