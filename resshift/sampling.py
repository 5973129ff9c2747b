"""Sampling helpers around :class:`resshift.config.ResShiftModel`: padding and seeding."""
from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from .config import ResShiftModel


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (B, C, H, W) on the bottom/right to multiples of ``multiple``.

    Falls back to replicate padding where the image is too small to reflect.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def seed_for(seed: int, *parts: object) -> int:
    """A 63-bit seed from the base seed and names (image stem, tile position, ...)."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)


def restore_padded(model: ResShiftModel, lq: torch.Tensor, mask: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Restore a (B, 3, h, w) LQ batch in [0, 1] of any size: pad, sample, crop back."""
    m = model.size_multiple
    padded, (h, w) = pad_to_multiple(lq, m)
    pmask = pad_to_multiple(mask, m)[0] if mask is not None else None
    out = model.restore(padded, pmask, generator=generator)
    return out[..., : h * model.sf, : w * model.sf]
