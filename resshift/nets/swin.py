"""Shifted-window self-attention on (B, C, H, W) feature maps, as used inside ResShift's UNet.

Layout facts that the released checkpoints fix: 1x1 convolutions embed the UNet channels into
``embed_dim`` and back (``patch_embed.proj``/``patch_unembed.proj``), the block norms are
GroupNorm(32), the MLP uses 1x1 convolutions, and every second block shifts its windows.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GroupNorm32


def _windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * nW, ws * ws, C), windows in row-major order."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // ws, ws, w // ws, ws).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(-1, ws * ws, c)


def _unwindows(win: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_windows`: (B * nW, ws * ws, C) -> (B, C, H, W)."""
    c = win.shape[-1]
    b = win.shape[0] // ((h // ws) * (w // ws))
    x = win.view(b, h // ws, w // ws, ws, ws, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, h, w)


def shifted_window_mask(h: int, w: int, window: int, shift: int) -> torch.Tensor:
    """Additive attention mask (nW, ws*ws, ws*ws) for shifted windows, 0 or -100.

    Reproduces the released network's mask, which differs from the Swin paper's: its region
    labels are written with an index that lands on the row axis only (row bands < H-ws,
    H-ws..H-shift, >= H-shift), and each label window is flattened column-major against
    row-major tokens. The released weights were trained with this mask, so we keep it.
    """
    labels = torch.zeros(1, 1, h, w)
    labels[:, :, : h - window] = 6
    labels[:, :, h - window: h - shift] = 7
    labels[:, :, h - shift:] = 8
    # The released code also flattens each label window column-major while tokens are
    # row-major; we reproduce that ordering too.
    win = _windows(labels, window).view(-1, window, window).transpose(1, 2).reshape(-1, window * window)
    diff = win[:, None, :] - win[:, :, None]
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative position bias."""

    def __init__(self, dim: int, window: int, num_heads: int):
        super().__init__()
        self.window = window
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
        coords = coords.flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_position_index", rel[..., 0] * (2 * window - 1) + rel[..., 1])
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self) -> torch.Tensor:
        """The relative position bias as an additive mask (heads, n, n)."""
        n = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B * nW, n, C) windows; ``mask`` (nW, n, n) the shifted-window mask, or ``attn_mask``
        (heads, n, n) / (nW, heads, n, n) the whole additive mask (bias included) when the caller
        has it cached. The softmax runs in ``scaled_dot_product_attention``."""
        bw, n, c = x.shape
        q, k, v = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        if attn_mask is None:
            attn_mask = self.position_bias()
            if mask is not None:
                attn_mask = attn_mask[None] + mask[:, None]
        if attn_mask.dim() == 4:                 # (nW, heads, n, n): split the batch from the windows
            nw = attn_mask.shape[0]
            q, k, v = (t.reshape(bw // nw, nw, self.num_heads, n, -1) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask.to(q.dtype), scale=self.scale)
        out = out.reshape(bw, self.num_heads, n, -1).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out)


class ConvMlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """One (shifted-)window transformer block on (B, C, H, W)."""

    def __init__(self, dim: int, resolution: int, num_heads: int, window: int, shift: int,
                 mlp_ratio: float):
        super().__init__()
        if resolution <= window:             # a single window covers the map: no shift
            window, shift = resolution, 0
        self.window, self.shift = window, shift
        self.norm1 = GroupNorm32(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = GroupNorm32(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio))
        mask = shifted_window_mask(resolution, resolution, window, shift) if shift > 0 else None
        # Kept as a buffer because the released state dicts carry it; the forward pass builds
        # the mask for the actual input size (the released code does the same).
        self.register_buffer("attn_mask", mask)
        self._mask_cache: dict[tuple, torch.Tensor] = {}
        self._bias_cache: dict[tuple, tuple] = {}

    def _mask(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor | None:
        if self.shift == 0:
            return None
        key = (h, w, like.device, like.dtype)
        if key not in self._mask_cache:
            self._mask_cache[key] = shifted_window_mask(h, w, self.window, self.shift).to(like)
        return self._mask_cache[key]

    def _attn_mask(self, h: int, w: int, like: torch.Tensor) -> torch.Tensor | None:
        """Position bias plus shifted-window mask, built once per size while the weights stay
        unchanged (inference); None when gradients flow into the bias table (training)."""
        table = self.attn.relative_position_bias_table
        if torch.is_grad_enabled() and table.requires_grad:
            return None
        key = (h, w, like.device, table.dtype, table._version, table.data_ptr())
        cached = self._bias_cache.get((h, w, like.device))
        if cached is None or cached[0] != key:
            with torch.no_grad():
                bias = self.attn.position_bias().to(like.device)
                mask = self._mask(h, w, bias)
                full = (bias[None] + mask[:, None] if mask is not None else bias).contiguous()
            self._bias_cache[(h, w, like.device)] = cached = (key, full)
        return cached[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if h % self.window or w % self.window:
            raise ValueError(f"feature map {h}x{w} is not a multiple of the Swin window {self.window}; "
                             f"pad the input to a multiple of the network's size multiple")
        y = self.norm1(x)
        if self.shift:
            y = torch.roll(y, shifts=(-self.shift, -self.shift), dims=(2, 3))
        full = self._attn_mask(h, w, x)
        y = self.attn(_windows(y, self.window), mask=None if full is not None else self._mask(h, w, x),
                      attn_mask=full)
        y = _unwindows(y, self.window, h, w)
        if self.shift:
            y = torch.roll(y, shifts=(self.shift, self.shift), dims=(2, 3))
        x = x + y
        return x + self.mlp(self.norm2(x))


class _Proj(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class SwinLayer(nn.Module):
    """1x1 embed -> ``depth`` Swin blocks (even: plain windows, odd: shifted) -> 1x1 unembed."""

    def __init__(self, channels: int, embed_dim: int, num_heads: int, window: int, depth: int,
                 resolution: int, mlp_ratio: float):
        super().__init__()
        self.patch_embed = _Proj(channels, embed_dim)
        self.patch_unembed = _Proj(embed_dim, channels)
        self.blocks = nn.ModuleList([
            SwinBlock(embed_dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio)
            for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.patch_unembed(x)
