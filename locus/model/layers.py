"""Attention building blocks: masked cross-attention, latent bottlenecks and set pooling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention of `x` over `context`; `mask` [B, n_ctx] is True where context is real."""

    def __init__(self, *, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.to_out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q = self.to_q(x).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.to_kv(context).view(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        attn_mask = None if mask is None else mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.to_out(out.transpose(1, 2).reshape(b, n, d))


class CrossBlock(nn.Module):
    """Pre-norm transformer block: x attends to context, then a feed-forward; both residual."""

    def __init__(self, *, dim: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim)
        self.norm_context = nn.LayerNorm(dim)
        self.attn = Attention(dim=dim, heads=heads)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_mult * dim), nn.GELU(), nn.Linear(ff_mult * dim, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm_x(x), self.norm_context(context), mask)
        return x + self.ff(self.norm_ff(x))


class LatentBottleneck(nn.Module):
    """r learned latents compress the n tokens (O(n r)), then the tokens read back from them."""

    def __init__(self, *, dim: int, num_latents: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.randn(num_latents, dim) * 0.02)
        self.compress = CrossBlock(dim=dim, heads=heads, ff_mult=ff_mult)
        self.broadcast = CrossBlock(dim=dim, heads=heads, ff_mult=ff_mult)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        latents = self.compress(self.latents.expand(tokens.shape[0], -1, -1), tokens, mask)
        return self.broadcast(tokens, latents)


class SetPool(nn.Module):
    """One learned query attends over the (masked) tokens and yields a single vector."""

    def __init__(self, *, dim: int, heads: int, ff_mult: int) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, dim) * 0.02)
        self.block = CrossBlock(dim=dim, heads=heads, ff_mult=ff_mult)
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        pooled = self.block(self.query.expand(tokens.shape[0], -1, -1), tokens, mask)
        return self.norm(pooled[:, 0])
