"""ResShift's Markov chain: forward marginal, posterior, prior, reverse sampling and losses.

The diffusion object holds only the schedule and its options; networks (the denoiser and the
optional autoencoder) are passed to each call, improved-diffusion style. Every random draw
takes an explicit ``torch.Generator``.

Notation (paper Sec. III): x_0 is the HQ image (or its latent), y_0 the LQ image (bicubic
upsampled, then encoded in latent space), e_0 = y_0 - x_0 the residual.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .chain import NoiseSource, reverse_chain
from .errors import ResShiftError
from .noise import GeneratorNoise, randn
from .schedule import ResShiftSchedule

__all__ = ["ChainSpace", "ResShiftDiffusion"]


def _at(arr: np.ndarray, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """arr[t] as a float tensor broadcastable against ``like`` (B, ...)."""
    vals = torch.from_numpy(arr).to(device=t.device)[t].float()
    return vals.view(-1, *([1] * (like.dim() - 1))).to(like.device)


class ChainSpace:
    """Where a diffusion chain runs: an autoencoder's latent space or pixels (``sf``,
    ``scale_factor`` set by the subclass). Shared by ResShift and the eps-prediction LDM."""

    sf: int = 4
    scale_factor: float = 1.0

    def upsample(self, lq: torch.Tensor) -> torch.Tensor:
        """Bicubic upsampling of the LQ image by ``sf`` (torch bicubic, no antialias)."""
        return lq if self.sf == 1 else F.interpolate(lq, scale_factor=self.sf, mode="bicubic")

    def encode(self, x: torch.Tensor, autoencoder=None) -> torch.Tensor:
        """Image in [-1, 1] -> chain space (latent before quantisation, or the image itself)."""
        if autoencoder is None:
            return x
        dtype = next(autoencoder.parameters()).dtype
        with torch.no_grad():
            return (autoencoder.encode(x.to(dtype)) * self.scale_factor).to(x.dtype)

    def decode(self, z: torch.Tensor, autoencoder=None) -> torch.Tensor:
        """Chain space -> image (quantise, decode); not clamped."""
        if autoencoder is None:
            return z
        dtype = next(autoencoder.parameters()).dtype
        return autoencoder.decode((z / self.scale_factor).to(dtype)).to(z.dtype)

    def condition(self, lq: torch.Tensor, autoencoder=None) -> torch.Tensor:
        """y_0 in chain space: Enc(bicubic_up(LQ)) or bicubic_up(LQ)."""
        return self.encode(self.upsample(lq), autoencoder)

    def sample(self, model: Callable, lq: torch.Tensor, *, autoencoder=None, model_kwargs: dict | None = None,
               generator: torch.Generator | None = None, noise: NoiseSource | None = None,
               steps: int | None = None, progress: bool = False) -> torch.Tensor:
        """Restore ``lq`` (B, 3, h, w) in [-1, 1] by :func:`~resshift.chain.reverse_chain`: returns
        the HQ estimate in [-1, 1]. Noise: ``noise`` (a noise source, :mod:`resshift.noise`), else
        drawn in turn from ``generator``.

        In pixel space x0 predictions are clipped to [-1, 1] (released samplers); in latent
        space they are not, and the decoded image is clamped.
        """
        y = self.condition(lq, autoencoder)
        noise = noise or GeneratorNoise(generator, y.shape[0])
        x = reverse_chain(lambda xt, t: self.denoise(model, xt, t, model_kwargs, clip=autoencoder is None),
                          self, y, noise, steps=steps, progress=progress)
        with torch.no_grad():
            return self.decode(x, autoencoder).clamp(-1, 1)


class ResShiftDiffusion(ChainSpace):
    """Utilities for training and sampling ResShift.

    Args:
        schedule: the shifting sequence and kappa.
        sf: scale factor between the LQ image and the HQ image (4 for x4 SR, 1 otherwise).
        latent: True when the chain runs in an autoencoder's latent space; only changes how
            the network input is normalised (see :meth:`scale_input`).
        normalize_input: scale x_t before the network (released configs: True).
        scale_factor: latent scaling (released configs: 1.0).
    """

    def __init__(self, schedule: ResShiftSchedule, *, sf: int = 4, latent: bool = True,
                 normalize_input: bool = True, scale_factor: float = 1.0):
        self.schedule = schedule
        self.kappa = float(schedule.kappa)
        self.sf = sf
        self.latent = latent
        self.normalize_input = normalize_input
        self.scale_factor = scale_factor

    @property
    def num_timesteps(self) -> int:
        return self.schedule.steps

    @property
    def sample_steps(self) -> int:
        """ResShift samples with exactly its T trained steps."""
        return self.schedule.steps

    def timesteps(self, steps: int | None = None) -> list[int]:
        """Step indices T-1, ..., 0 (paper's t = T, ..., 1)."""
        if steps not in (None, self.num_timesteps):
            raise ResShiftError(f"--steps {steps}: this ResShift model samples with its {self.num_timesteps} "
                                "trained steps")
        return list(range(self.num_timesteps))[::-1]

    # ----------------------------------------------------------------- forward process
    def q_step(self, x_prev: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
               noise: torch.Tensor) -> torch.Tensor:
        """One transition of Eq. 1: x_t = x_{t-1} + alpha_t e_0 + kappa sqrt(alpha_t) eps.

        For t = 0 (i.e. t = 1 in the paper) ``x_prev`` is x_0 and alpha_1 = eta_1.
        """
        a = _at(self.schedule.alphas, t, x0)
        return x_prev + a * (y - x0) + self.kappa * a.sqrt() * noise

    def q_mean_variance(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor):
        """Eq. 2: q(x_t | x_0, y_0) = N(x_0 + eta_t e_0, kappa^2 eta_t I)."""
        eta = _at(self.schedule.etas, t, x0)
        return x0 + eta * (y - x0), self.kappa ** 2 * eta

    def q_sample(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
                 noise: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw x_t from Eq. 2."""
        noise = randn(x0, generator) if noise is None else noise
        return (x0 + _at(self.schedule.etas, t, x0) * (y - x0)
                + _at(self.kappa * self.schedule.sqrt_etas, t, x0) * noise)

    def q_posterior_mean_variance(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
        """Eq. 7: mean eta_{t-1}/eta_t x_t + alpha_t/eta_t x_0, variance kappa^2 eta_{t-1}/eta_t alpha_t."""
        mean = (_at(self.schedule.posterior_mean_coef1, t, xt) * xt
                + _at(self.schedule.posterior_mean_coef2, t, xt) * x0)
        return mean, _at(self.schedule.posterior_variance, t, xt)

    def posterior_std(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Standard deviation of the reverse step's noise, exp(0.5 log var) in float32 from the
        clipped float64 log variance, as the released sampler computes it (sqrt(var) rounds
        differently, and the networks amplify that ~1e-7 difference)."""
        return torch.exp(0.5 * _at(self.schedule.posterior_log_variance_clipped, t, like))

    def prior(self, y: torch.Tensor, noise: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """x_T ~ N(y_0, kappa^2 eta_T I) (Eq. 8)."""
        noise = randn(y, generator) if noise is None else noise
        return y + self.kappa * float(self.schedule.sqrt_etas[-1]) * noise

    def scale_input(self, xt: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Network-input normalisation of the released code (only x_t is scaled).

        Latent space: x_t / sqrt(kappa^2 eta_t + 1); pixel space: x_t / (3 kappa sqrt(eta_t) + 1).
        """
        if not self.normalize_input:
            return xt
        if self.latent:
            return xt / torch.sqrt(_at(self.schedule.etas, t, xt) * self.kappa ** 2 + 1)
        return xt / (_at(self.schedule.sqrt_etas, t, xt) * self.kappa * 3 + 1)

    # ----------------------------------------------------------------- reverse process
    def predict_x0(self, model: Callable, xt: torch.Tensor, t: torch.Tensor,
                   model_kwargs: dict | None = None, clip: bool = False) -> torch.Tensor:
        """f_theta(x_t, y_0, t): the network predicts x_0 (Eq. 9)."""
        x0 = model(self.scale_input(xt, t), t, **(model_kwargs or {}))
        return x0.clamp(-1, 1) if clip else x0

    denoise = predict_x0

    def step(self, x0_pred: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, t_next: int | None = None,
             noise: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
        """x_{t-1} ~ p_theta(x_{t-1} | x_t, y_0) = q(x_{t-1} | x_t, x0_pred) (Eq. 7-8).

        ``noise()`` is drawn at every step but the last (t index 0), which adds none; the chain is
        Markov, so ``t_next`` is t - 1 and unused.
        """
        mean, _ = self.q_posterior_mean_variance(x0_pred, xt, t)
        nonzero = t != 0
        if not bool(nonzero.any()):
            return mean
        nonzero = nonzero.float().view(-1, *([1] * (xt.dim() - 1)))
        return mean + nonzero * self.posterior_std(t, xt) * noise()

    # ----------------------------------------------------------------- training
    def training_losses(self, model: Callable, hq: torch.Tensor, lq: torch.Tensor, t: torch.Tensor, *,
                        autoencoder=None, model_kwargs: dict | None = None,
                        noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
                        lpips: Callable | None = None, mse_weight: float = 1.0,
                        lpips_weight: float = 0.0) -> dict:
        """Per-sample losses: Eq. 10 (MSE on x_0) plus, when ``lpips`` is given, the
        perceptual term of Eq. 11 on the decoded prediction (ResShiftL).

        Returns a dict of (B,) tensors: ``mse``, optionally ``lpips``, and ``loss``; plus
        ``x_t`` and ``pred_x0``.
        """
        x0 = self.encode(hq, autoencoder)
        y = self.condition(lq, autoencoder)
        noise = randn(x0, generator) if noise is None else noise
        xt = self.q_sample(x0, y, t, noise=noise)
        pred = self.predict_x0(model, xt, t, model_kwargs)
        mse = ((pred - x0) ** 2).mean(dim=tuple(range(1, pred.dim())))
        out = {"mse": mse, "x_t": xt, "pred_x0": pred}
        loss = mse_weight * mse
        if lpips is not None and lpips_weight > 0:
            image = self.decode(pred, autoencoder).clamp(-1, 1)
            perceptual = lpips(image, hq).reshape(-1)
            out["lpips"] = perceptual
            loss = loss + lpips_weight * perceptual
        out["loss"] = loss
        return out
