"""The reverse chain, written once (k-diffusion style: a free function over a model, a chain and
a noise source).

:func:`reverse_chain` serves ``ResShiftModel.restore`` (noise from a generator), tiled sampling
(``resshift.sampling.sample``: the model runs tile by tile, noise by position), training-time
validation and the parity checks' recorded noise. A :class:`Chain` is ResShift's
(:class:`resshift.diffusion.ResShiftDiffusion`, Eq. 7-8) or the eps-prediction LDM's DDIM
(:class:`resshift.ldm.EpsDiffusion`).
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch

from .progress import progress_bar

# noise(draw, shape, device=None, dtype=torch.float32) -> (B, *shape); see resshift.noise
NoiseSource = Callable[..., torch.Tensor]
# model(x_t, t) -> the chain's network output (x_0 for ResShift, eps for the LDM); t is (B,) long
Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Chain(Protocol):
    """What :func:`reverse_chain` needs of a diffusion."""

    def timesteps(self, steps: int | None = None) -> list[int]:
        """The timesteps visited, in sampling order (one network call each)."""

    def prior(self, y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_T from the condition ``y`` (chain space) and one standard normal draw shaped like it."""

    def denoise(self, net: Callable, x: torch.Tensor, t: torch.Tensor, model_kwargs: dict | None = None,
                clip: bool = False) -> torch.Tensor:
        """The network's output at x_t (input scaling and clipping as the chain's release does)."""

    def step(self, out: torch.Tensor, x: torch.Tensor, t: torch.Tensor, t_next: int | None,
             noise: Callable[[], torch.Tensor]) -> torch.Tensor:
        """x_t -> the state at ``t_next`` (None after the last step); ``noise()`` draws when needed."""


@torch.no_grad()
def reverse_chain(model: Model, chain: Chain, y: torch.Tensor, noise: NoiseSource, *, steps: int | None = None,
                  progress: bool = False, callback: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None
                  ) -> torch.Tensor:
    """Sample x_0 (chain space) from the prior around ``y`` (B, ...): draws ``"prior"``, then at
    each timestep t that adds noise, draw t. ``callback(t, x, out)`` after each step."""
    shape = tuple(y.shape[1:])

    def draw(key: object) -> torch.Tensor:
        return noise(key, shape, y.device).to(y)

    x = chain.prior(y, draw("prior"))
    ts = chain.timesteps(steps)
    order = progress_bar(range(len(ts)), desc="sampling", leave=False) if progress else range(len(ts))
    for k in order:
        t = torch.full((y.shape[0],), ts[k], device=y.device, dtype=torch.long)
        out = model(x, t)
        x = chain.step(out, x, t, ts[k + 1] if k + 1 < len(ts) else None, lambda k=k: draw(ts[k]))
        if callback is not None:
            callback(ts[k], x, out)
    return x
