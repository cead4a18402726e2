"""PyTorch twin of one TRM puzzle training step, timed the way trm times its own updates.

The official TRM's step at the Sudoku-Extreme shape, written with the blocks of
bench_vs_pytorch.py in post-norm form: token embedding x sqrt(D) with a puzzle-embedding prefix,
deep_recursion (T-1 latent recursions without gradient, one with: n times z = f(z + y + x), then
y = f(y + z)), token head and halting head, stablemax cross-entropy plus the halting BCE,
backward, Adam-atan2-like update (AdamW here: the same tensor traffic), EMA. f32.
Prints `ms_per_iter <float>`.
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F

from bench_vs_pytorch import Block, Rope, linear_weight, rms_norm


class PostNormBlock(Block):
    def forward(self, h, rope):
        h = rms_norm(h + self.attention(h, rope, causal=False))
        return rms_norm(h + self.swiglu(h))


def log_stablemax(x, dim=-1):
    s = torch.where(x < 0, 1 / (1 - x), x + 1)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


class Trm(torch.nn.Module):
    def __init__(self, vocab, d, layers, heads, inner, seq, prefix, n, t):
        super().__init__()
        self.d, self.n, self.t, self.prefix = d, n, t, prefix
        self.embed = torch.nn.Parameter(torch.randn(vocab, d) / math.sqrt(d))
        self.puzzle_emb = torch.nn.Parameter(torch.zeros(1, prefix * d))
        self.blocks = torch.nn.ModuleList(PostNormBlock(d, heads, inner) for _ in range(layers))
        self.head = linear_weight(d, vocab)
        self.q_head = torch.nn.Linear(d, 2)
        self.rope = Rope(d // heads, seq + prefix)
        self.y0 = torch.randn(d)
        self.z0 = torch.randn(d)

    def net(self, h, injection):
        h = h + injection
        for block in self.blocks:
            h = block(h, self.rope)
        return h

    def latent_recursion(self, x, y, z):
        for _ in range(self.n):
            z = self.net(z, y + x)
        return self.net(y, z), z

    def forward(self, tokens):
        b = tokens.shape[0]
        x = F.embedding(tokens, self.embed) * math.sqrt(self.d)
        x = torch.cat([self.puzzle_emb.view(1, self.prefix, self.d).expand(b, -1, -1), x], 1)
        y = self.y0.expand_as(x)
        z = self.z0.expand_as(x)
        with torch.no_grad():
            for _ in range(self.t - 1):
                y, z = self.latent_recursion(x, y, z)
        y, z = self.latent_recursion(x, y, z)
        return F.linear(y, self.head)[:, self.prefix :], self.q_head(y[:, 0])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=81)
    p.add_argument("--prefix", type=int, default=16)
    p.add_argument("--vocab", type=int, default=11)
    p.add_argument("--n", type=int, default=6)
    p.add_argument("--t", type=int, default=3)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    inner = (round(4 * a.d * 2 / 3) + 255) // 256 * 256
    model = Trm(a.vocab, a.d, a.layers, a.heads, inner, a.seq, a.prefix, a.n, a.t)
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=1.0)
    gen = torch.Generator().manual_seed(0)

    def step():
        tokens = torch.randint(1, a.vocab, (a.batch, a.seq), generator=gen)
        labels = torch.randint(1, a.vocab, (a.batch, a.seq), generator=gen)
        logits, q = model(tokens)
        nll = -log_stablemax(logits.double()).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        exact = (logits.argmax(-1) == labels).all(-1).float()
        loss = nll.mean() + 0.5 * F.binary_cross_entropy_with_logits(q[:, 0], exact)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(model.parameters()), 0.001)

    step()
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    print(f"ms_per_iter {1000 * (time.perf_counter() - t0) / a.iters:.1f}")


if __name__ == "__main__":
    main()
