"""The frozen VQ autoencoder (VQGAN, LDM layout) in whose latent space ResShift diffuses.

``VQAutoencoder(ddconfig, n_embed, embed_dim)`` takes the released constructor parameters.
``encode(x)`` returns the latent *before* quantisation; ``decode(z)`` quantises to the nearest
codebook entry, then decodes (no clamp: callers clamp to [-1, 1]).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, ch, eps=1e-6, affine=True)


def _swish(x: torch.Tensor) -> torch.Tensor:
    """x * sigmoid(x), computed as the product: F.silu rounds differently (up to ~1e-7 per call),
    and the released autoencoder's rounding is what the release-parity fixtures hold."""
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dropout: float, padding_mode: str):
        super().__init__()
        self.norm1 = _norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode)
        self.norm2 = _norm(cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, padding_mode=padding_mode)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_swish(self.norm1(x)))
        h = self.conv2(self.dropout(_swish(self.norm2(h))))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention with 1x1 q/k/v projections."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = _norm(ch)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(ch, ch, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (m(y).reshape(b, 1, c, h * w).transpose(2, 3) for m in (self.q, self.k, self.v))
        # softmax(q^T k / sqrt(c)) applied to v, fused (one head of c channels, tokens = pixels)
        out = F.scaled_dot_product_attention(q, k, v).transpose(2, 3)
        return x + self.proj_out(out.reshape(b, c, h, w))


class _Down(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))           # asymmetric pad, then stride 2


class _Up(nn.Module):
    def __init__(self, ch: int, padding_mode: str):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _per_level(n: int | Sequence[int], levels: int) -> list[int]:
    return [n] * levels if isinstance(n, int) else list(n)


def _run_stage(stage: nn.Module, h: torch.Tensor, resample: str) -> torch.Tensor:
    """Residual blocks (each followed by its attention, if any), then the stage's resampler."""
    for i, block in enumerate(stage.block):
        h = block(h)
        if len(stage.attn):
            h = stage.attn[i](h)
    return getattr(stage, resample)(h) if hasattr(stage, resample) else h


class Encoder(nn.Module):
    def __init__(self, *, ch: int, ch_mult: Sequence[int], num_res_blocks, in_channels: int,
                 z_channels: int, double_z: bool = False, attn_resolutions: Sequence[int] = (),
                 resolution: int = 256, dropout: float = 0.0, padding_mode: str = "zeros", **_):
        super().__init__()
        blocks = _per_level(num_res_blocks, len(ch_mult))
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1, padding_mode=padding_mode)
        self.down = nn.ModuleList()
        cin, res = ch, resolution
        for level, mult in enumerate(ch_mult):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(blocks[level]):
                stage.block.append(ResnetBlock(cin, ch * mult, dropout, padding_mode))
                cin = ch * mult
                if res in attn_resolutions:
                    stage.attn.append(AttnBlock(cin))
            if level != len(ch_mult) - 1:
                stage.downsample = _Down(cin)
                res //= 2
            self.down.append(stage)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(cin, cin, dropout, padding_mode)
        self.mid.attn_1 = AttnBlock(cin)
        self.mid.block_2 = ResnetBlock(cin, cin, dropout, padding_mode)
        self.norm_out = _norm(cin)
        self.conv_out = nn.Conv2d(cin, 2 * z_channels if double_z else z_channels, 3, padding=1,
                                  padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for stage in self.down:
            h = _run_stage(stage, h, "downsample")
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        return self.conv_out(_swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, *, ch: int, out_ch: int, ch_mult: Sequence[int], num_res_blocks,
                 z_channels: int, attn_resolutions: Sequence[int] = (), resolution: int = 256,
                 dropout: float = 0.0, padding_mode: str = "zeros", **_):
        super().__init__()
        blocks = _per_level(num_res_blocks, len(ch_mult))
        cin = ch * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, cin, 3, padding=1, padding_mode=padding_mode)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(cin, cin, dropout, padding_mode)
        self.mid.attn_1 = AttnBlock(cin)
        self.mid.block_2 = ResnetBlock(cin, cin, dropout, padding_mode)
        up: list[nn.Module] = []
        for level in reversed(range(len(ch_mult))):
            stage = nn.Module()
            stage.block, stage.attn = nn.ModuleList(), nn.ModuleList()
            for _ in range(blocks[level] + 1):
                stage.block.append(ResnetBlock(cin, ch * ch_mult[level], dropout, padding_mode))
                cin = ch * ch_mult[level]
                if res in attn_resolutions:
                    stage.attn.append(AttnBlock(cin))
            if level != 0:
                stage.upsample = _Up(cin, padding_mode)
                res *= 2
            up.insert(0, stage)
        self.up = nn.ModuleList(up)
        self.norm_out = _norm(cin)
        self.conv_out = nn.Conv2d(cin, out_ch, 3, padding=1, padding_mode=padding_mode)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(self.conv_in(z))))
        for stage in reversed(self.up):
            h = _run_stage(stage, h, "upsample")
        return self.conv_out(_swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest-codebook quantisation with a straight-through gradient."""

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c)
        codebook = self.embedding.weight
        dist = (flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1)[None]
                - 2 * flat @ codebook.t())
        zq = codebook[dist.argmin(1)].view(b, h, w, c).permute(0, 3, 1, 2)
        return z + (zq - z).detach()


class VQAutoencoder(nn.Module):
    def __init__(self, ddconfig: dict, n_embed: int, embed_dim: int, **_):
        super().__init__()
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quantize = VectorQuantizer(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)
        self.downsample_factor = 2 ** (len(ddconfig["ch_mult"]) - 1)
        self.embed_dim = embed_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Image in [-1, 1] -> latent before quantisation."""
        return self.quant_conv(self.encoder(x))

    def decode(self, z: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        """Latent -> image (roughly [-1, 1], unclamped); quantises first unless told not to."""
        if quantize:
            z = self.quantize(z)
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
