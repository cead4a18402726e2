"""PyTorch twin of trm's transformer baseline, timed the way `trm bench` times ours.

Same architecture as src/transformer.rs (pre-norm blocks, RoPE attention, SwiGLU, weightless
RMSNorm, untied head, no biases, embedding scaled by sqrt(D)) and the same training step as
src/train/text.rs (cross-entropy, backward, global-norm clipping, AdamW with decoupled decay on
every parameter, EMA of the weights). Prints one line: `ms_per_iter <float>`.

Usage: python bench_vs_pytorch.py --layers 4 --d 128 --heads 4 --batch 12 --seq 64 --vocab 256 \
           --iters 20 --threads 1
"""

import argparse
import math
import time

import torch
import torch.nn.functional as F


def rms_norm(x, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


class Rope:
    def __init__(self, head_dim, max_len, theta=10000.0):
        half = head_dim // 2
        i = torch.arange(head_dim) % half
        freq = theta ** (-(i.double() * 2.0) / head_dim)
        angle = torch.arange(max_len).double()[:, None] * freq[None, :]
        self.cos = angle.cos().float()
        self.sin = angle.sin().float()

    def apply(self, x):  # [B, H, L, hd]
        l, hd = x.shape[2], x.shape[3]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        rotated = torch.cat([-x2, x1], dim=-1)
        return x * self.cos[:l] + rotated * self.sin[:l]


def linear_weight(d_in, d_out):
    w = torch.empty(d_out, d_in)
    torch.nn.init.trunc_normal_(w, std=1.0 / math.sqrt(d_in), a=-2.0 / math.sqrt(d_in), b=2.0 / math.sqrt(d_in))
    return torch.nn.Parameter(w)


class Block(torch.nn.Module):
    def __init__(self, d, heads, inner):
        super().__init__()
        self.heads, self.inner = heads, inner
        self.qkv = linear_weight(d, 3 * d)
        self.out = linear_weight(d, d)
        self.gate_up = linear_weight(d, 2 * inner)
        self.down = linear_weight(inner, d)

    def attention(self, h, rope, causal=True):
        b, l, d = h.shape
        hd = d // self.heads
        q, k, v = F.linear(h, self.qkv).split(d, dim=-1)
        heads = lambda t: t.view(b, l, self.heads, hd).transpose(1, 2)
        q, k, v = rope.apply(heads(q)), rope.apply(heads(k)), heads(v)
        ctx = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return F.linear(ctx.transpose(1, 2).reshape(b, l, d), self.out)

    def swiglu(self, h):
        gate, up = F.linear(h, self.gate_up).split(self.inner, dim=-1)
        return F.linear(F.silu(gate) * up, self.down)

    def forward(self, h, rope):
        h = h + self.attention(rms_norm(h), rope)
        return h + self.swiglu(rms_norm(h))


class Transformer(torch.nn.Module):
    def __init__(self, vocab, d, layers, heads, inner, max_len):
        super().__init__()
        self.d = d
        self.embed = torch.nn.Parameter(torch.randn(vocab, d) / math.sqrt(d))
        self.blocks = torch.nn.ModuleList(Block(d, heads, inner) for _ in range(layers))
        self.head = linear_weight(d, vocab)
        self.rope = Rope(d // heads, max_len)

    def forward(self, tokens):
        h = F.embedding(tokens, self.embed) * math.sqrt(self.d)
        for block in self.blocks:
            h = block(h, self.rope)
        return F.linear(rms_norm(h), self.head)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn-inner", type=int, default=0, help="0: round(4 * 2/3 * d) up to a multiple of 64, as trm's default")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    inner = a.ffn_inner or (round(4 * a.d * 2 / 3) + 63) // 64 * 64
    model = Transformer(a.vocab, a.d, a.layers, a.heads, inner, a.seq)
    ema = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    gen = torch.Generator().manual_seed(0)

    def step():
        windows = torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=gen)
        logits = model(windows[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), windows[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(model.parameters()), 0.01)
        return loss.item()

    step()  # warm-up, as trm bench does
    t0 = time.perf_counter()
    for _ in range(a.iters):
        step()
    ms = 1000 * (time.perf_counter() - t0) / a.iters
    params = sum(p.numel() for p in model.parameters())
    print(f"ms_per_iter {ms:.2f} params {params}")


if __name__ == "__main__":
    main()
