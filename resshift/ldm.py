"""A conventional epsilon-prediction diffusion model on ResShift's backbone: the same-budget
LDM baseline (paper Table II's "LDM" retrained like ResShift).

Forward process and training (DDPM, Ho et al. Eq. 14): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
loss ||eps - eps_theta(x_t, y, t)||^2, with LDM's 1000-step "linear" betas (sqrt-linear from
0.0015 to 0.0155, diffusers' ``scaled_linear``); the LQ image is concatenated to x_t by the network
(``cond_lq``), as in LDM's ``bsr_sr``. Sampling: diffusers' ``DDIMScheduler`` with eta 1.0 and
LDM's uniform timesteps shifted by one (``steps_offset=1``, ``timestep_spacing="leading"``); in pixel
space each step's x_0 estimate is clipped to [-1, 1] (``clip_sample``, as improved-diffusion's
``clip_denoised`` and ResShift's pixel-space sampler), in latent space it is not (LDM).

Config: ``diffusion: {kind: eps, train_steps: 1000, beta_start: 0.0015, beta_end: 0.0155,
sample_steps: 15, eta: 1.0, sf: 4, latent: true, scale_factor: 1.0}``.
"""
from __future__ import annotations

from typing import Callable

import torch

from .diffusion import ChainSpace, randn
from .progress import progress_bar


class EpsDiffusion(ChainSpace):
    kind = "eps"

    def __init__(self, *, train_steps: int = 1000, beta_start: float = 0.0015, beta_end: float = 0.0155,
                 beta_schedule: str = "scaled_linear", sample_steps: int = 15, eta: float = 1.0, sf: int = 4,
                 latent: bool = True, scale_factor: float = 1.0):
        self.train_steps, self.sample_steps, self.eta = int(train_steps), int(sample_steps), float(eta)
        self.beta = (float(beta_start), float(beta_end), beta_schedule)
        self.sf, self.latent, self.scale_factor = sf, latent, scale_factor
        self._train_sched = self.scheduler()
        self.alphas_cumprod = self._train_sched.alphas_cumprod.double()

    def scheduler(self):
        """A fresh diffusers ``DDIMScheduler`` with LDM's settings."""
        from diffusers import DDIMScheduler

        start, end, kind = self.beta
        return DDIMScheduler(num_train_timesteps=self.train_steps, beta_start=start, beta_end=end,
                             beta_schedule=kind, clip_sample=not self.latent, set_alpha_to_one=False, steps_offset=1,
                             timestep_spacing="leading", prediction_type="epsilon")

    @property
    def num_timesteps(self) -> int:
        return self.train_steps

    def timesteps(self, steps: int | None = None) -> list[int]:
        sched = self.scheduler()
        sched.set_timesteps(steps or self.sample_steps)
        return [int(t) for t in sched.timesteps]

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        abar = self.alphas_cumprod.to(x0.device)[t].float().view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def training_losses(self, model: Callable, hq: torch.Tensor, lq: torch.Tensor, t: torch.Tensor, *,
                        autoencoder=None, model_kwargs: dict | None = None, noise: torch.Tensor | None = None,
                        generator: torch.Generator | None = None, **_unused) -> dict:
        """Per-sample eps-MSE: ``{"mse", "loss", "x_t", "pred_eps"}``."""
        x0 = self.encode(hq, autoencoder)
        noise = randn(x0, generator) if noise is None else noise
        xt = self.q_sample(x0, t, noise)
        pred = model(xt, t, **(model_kwargs or {}))
        mse = ((pred - noise) ** 2).mean(dim=tuple(range(1, pred.dim())))
        return {"mse": mse, "loss": mse, "x_t": xt, "pred_eps": pred}

    @torch.no_grad()
    def ddim(self, eps_fn: Callable, x: torch.Tensor, generator: torch.Generator | None = None,
             steps: int | None = None, progress: bool = False) -> torch.Tensor:
        """DDIM (Song et al. Eq. 12, eta ``self.eta``) from x_T = ``x``: ``eps_fn(x_t, t)`` predicts the
        noise (``t`` a (B,) long tensor); the variance noise of each step is drawn from ``generator``."""
        sched = self.scheduler()
        sched.set_timesteps(steps or self.sample_steps)
        ts = sched.timesteps
        if progress:

            ts = progress_bar(ts, desc="DDIM", leave=False)
        for t in ts:
            eps = eps_fn(x, torch.full((x.shape[0],), int(t), device=x.device, dtype=torch.long))
            var_noise = randn(x, generator) if self.eta > 0 else None
            x = sched.step(eps, int(t), x, eta=self.eta, variance_noise=var_noise).prev_sample
        return x

    @torch.no_grad()
    def sample(self, model: Callable, lq: torch.Tensor, *, autoencoder=None, model_kwargs: dict | None = None,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
               steps: int | None = None, progress: bool = False) -> torch.Tensor:
        """DDIM from N(0, I): LQ (B, 3, h, w) in [-1, 1] -> HQ in [-1, 1]."""
        shape_like = self.condition(lq, autoencoder)            # the chain's shape (and device)
        x = randn(shape_like, generator) if noise is None else noise
        x = self.ddim(lambda xt, t: model(xt, t, **(model_kwargs or {})), x, generator, steps, progress)
        return self.decode(x, autoencoder).clamp(-1, 1)
