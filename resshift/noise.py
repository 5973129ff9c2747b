"""Seeds and noise sources: every random draw of the project, by rule.

- :func:`seed_for`: a 63-bit seed from a base seed and names (image stem, draw, block, ...).
- A noise source is a callable ``noise(draw, shape, device=None, dtype=torch.float32)`` returning
  (B, *shape) standard normal noise for the B images of a batch; ``draw`` names the draw
  (``"prior"``, then each timestep). :func:`resshift.chain.reverse_chain` asks it for its draws.
- :class:`NoiseField`: position-indexed noise. Block (by, bx) of draw ``k`` for image ``name``
  comes from its own generator seeded by ``(seed, name, k, by, bx)``, so a pixel's noise depends
  neither on the batch, nor on the other images, nor on the tiling (``resshift.restore``).
- :class:`GeneratorNoise`: the draws taken in turn from one ``torch.Generator``
  (``ResShiftModel.restore(lq, generator)``).
"""
from __future__ import annotations

import hashlib
import math
from typing import Sequence

import torch

NOISE_BLOCK = 64          # side of one independently seeded noise block, in chain-space pixels


def seed_for(seed: int, *parts: object) -> int:
    """A 63-bit seed from the base seed and names (image stem, draw, block position, ...)."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2 ** 63 - 1)


def randn(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal noise shaped like ``like``, drawn from ``generator`` on its own device."""
    if generator is None:
        return torch.randn_like(like)
    noise = torch.randn(like.shape, generator=generator, device=generator.device, dtype=torch.float32)
    return noise.to(device=like.device, dtype=like.dtype)


class NoiseField:
    """Position-indexed standard normal noise for a batch of named images.

    ``field(draw, (C, H, W))`` returns (B, C, H, W): for each image, the blocks of
    ``NOISE_BLOCK`` pixels covering the canvas, each drawn on the CPU from a generator seeded
    by ``seed_for(seed, name, draw, by, bx)`` (same numbers on every device).
    """

    def __init__(self, seed: int, names: Sequence[str], block: int = NOISE_BLOCK):
        self.seed, self.names, self.block = int(seed), list(names), block

    def __call__(self, draw: object, shape: tuple[int, int, int], device=None,
                 dtype=torch.float32) -> torch.Tensor:
        c, h, w = shape
        b = self.block
        out = torch.empty((len(self.names), c, h, w), dtype=torch.float32)
        gen = torch.Generator()
        for i, name in enumerate(self.names):
            for by in range(math.ceil(h / b)):
                for bx in range(math.ceil(w / b)):
                    gen.manual_seed(seed_for(self.seed, name, draw, by, bx))
                    blk = torch.randn((c, b, b), generator=gen)
                    hh, ww = min(b, h - by * b), min(b, w - bx * b)
                    out[i, :, by * b:by * b + hh, bx * b:bx * b + ww] = blk[:, :hh, :ww]
        return out.to(device=device, dtype=dtype)


class GeneratorNoise:
    """Each draw for a batch of ``batch`` images taken in turn from ``generator`` on its own
    device (the global generator when None), whatever the draw's name."""

    def __init__(self, generator: torch.Generator | None, batch: int):
        self.generator, self.batch = generator, int(batch)

    def __call__(self, draw: object, shape: tuple[int, ...], device=None, dtype=torch.float32) -> torch.Tensor:
        return randn(torch.empty((self.batch, *shape), device=device, dtype=dtype), self.generator)
