"""A conventional epsilon-prediction diffusion model on ResShift's backbone: the same-budget
LDM baseline (paper Table II's "LDM" retrained like ResShift).

Forward process and training (DDPM, Ho et al. Eq. 14): x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,
loss ||eps - eps_theta(x_t, y, t)||^2, with LDM's 1000-step "linear" betas (sqrt-linear from
0.0015 to 0.0155, diffusers' ``scaled_linear``); the LQ image is concatenated to x_t by the network
(``cond_lq``), as in LDM's ``bsr_sr``. Sampling: diffusers' ``DDIMScheduler`` step with eta 1.0 on
latent-diffusion's own uniform DDIM timesteps (:func:`ldm_ddim_timesteps`: every ``1000 // n``-th
step from 0, plus one, so n = 15 gives 16 steps from t = 991; diffusers' "leading" spacing would
give 15 from t = 925); in pixel
space each step's x_0 estimate is clipped to [-1, 1] (``clip_sample``, as improved-diffusion's
``clip_denoised`` and ResShift's pixel-space sampler), in latent space it is not (LDM).

``prediction``: what the network outputs. ``eps`` (the default; LDM's, and what the released LDM
weights are) predicts the noise; ``sample`` predicts x_0 (loss ||x_0 - f_theta(x_t, y, t)||^2,
diffusers' ``prediction_type="sample"``). The small demo model needs ``sample``: DDIM's first step
from t = 991 recovers x_0 = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t), which multiplies
the eps error by sqrt((1 - abar_t) / abar_t), about 36 at t = 991 (abar = 7.6e-4); a network that
has not learnt eps to within a few percent then starts from noise (measured on demo_sr_val,
benchmarks/demo_sweep.py). An x_0-predicting network has no such factor, and can start from the
upsampled LQ (``output_skip``), as ResShift's does.

Config: ``diffusion: {kind: eps, prediction: eps, train_steps: 1000, beta_start: 0.0015,
beta_end: 0.0155, sample_steps: 15, eta: 1.0, sf: 4, latent: true, scale_factor: 1.0}``.
"""
from __future__ import annotations

from typing import Callable

import torch

from .diffusion import ChainSpace
from .errors import ResShiftError
from .noise import randn


def ldm_ddim_timesteps(steps: int, train_steps: int = 1000) -> list[int]:
    """The timesteps latent-diffusion's DDIM sampler visits for ``steps`` (its "uniform"
    discretisation), in sampling order (descending).

    With c = train_steps // steps, the grid is 0, c, 2c, ... below train_steps, each plus one;
    it has ceil(train_steps / c) entries, which can exceed ``steps`` (15 -> 16). Where the last
    entry reaches train_steps (3, 9, 333, 999, 1000 of 1000) latent-diffusion's sampler fails
    (index past its schedule); so do we, with a message.
    """
    steps, train_steps = int(steps), int(train_steps)
    if not 1 <= steps <= train_steps:
        raise ResShiftError(f"--steps {steps}: DDIM needs between 1 and {train_steps} steps")
    c = train_steps // steps
    grid = [t + 1 for t in range(0, train_steps, c)]
    if grid[-1] >= train_steps:
        raise ResShiftError(f"--steps {steps}: latent-diffusion's uniform DDIM grid reaches t = {grid[-1]}, past its "
                            f"{train_steps} trained steps (its sampler fails there too); choose another step count")
    return grid[::-1]


PREDICTIONS = {"eps": "epsilon", "sample": "sample"}      # ours -> diffusers' prediction_type


class EpsDiffusion(ChainSpace):
    """DDPM training and DDIM sampling (a :class:`resshift.chain.Chain`) on ResShift's backbone."""

    def __init__(self, *, train_steps: int = 1000, beta_start: float = 0.0015, beta_end: float = 0.0155,
                 beta_schedule: str = "scaled_linear", sample_steps: int = 15, eta: float = 1.0, sf: int = 4,
                 latent: bool = True, scale_factor: float = 1.0, prediction: str = "eps"):
        if prediction not in PREDICTIONS:
            raise ResShiftError(f"diffusion.prediction {prediction!r}: use {' or '.join(PREDICTIONS)}")
        self.prediction = prediction
        self.train_steps, self.sample_steps, self.eta = int(train_steps), int(sample_steps), float(eta)
        self.beta = (float(beta_start), float(beta_end), beta_schedule)
        self.sf, self.latent, self.scale_factor = sf, latent, scale_factor
        self._train_sched = self.scheduler()
        self._steppers: dict = {}
        self.alphas_cumprod = self._train_sched.alphas_cumprod.double()

    def scheduler(self):
        """A fresh diffusers ``DDIMScheduler`` with LDM's settings."""
        from diffusers import DDIMScheduler

        start, end, kind = self.beta
        return DDIMScheduler(num_train_timesteps=self.train_steps, beta_start=start, beta_end=end,
                             beta_schedule=kind, clip_sample=not self.latent, set_alpha_to_one=False, steps_offset=1,
                             timestep_spacing="leading", prediction_type=PREDICTIONS[self.prediction])

    @property
    def num_timesteps(self) -> int:
        return self.train_steps

    def timesteps(self, steps: int | None = None) -> list[int]:
        """The timesteps sampled for ``steps`` DDIM steps (latent-diffusion's; see
        :func:`ldm_ddim_timesteps`): the network runs once per entry."""
        return ldm_ddim_timesteps(steps or self.sample_steps, self.train_steps)

    def _ddim_scheduler(self, steps: int | None = None):
        """A scheduler stepping through latent-diffusion's timesteps. diffusers' step goes from t
        to t - train_steps // n (n = ``num_inference_steps``), the previous entry of the same
        uniform grid (below 0: alpha-bar at t = 0, as latent-diffusion's first ``alphas_prev``)."""
        n = steps or self.sample_steps
        sched = self.scheduler()
        sched.set_timesteps(n)
        sched.timesteps = torch.tensor(self.timesteps(n), dtype=torch.long)
        return sched

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        abar = self.alphas_cumprod.to(x0.device)[t].float().view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def training_losses(self, model: Callable, hq: torch.Tensor, lq: torch.Tensor, t: torch.Tensor, *,
                        autoencoder=None, model_kwargs: dict | None = None, noise: torch.Tensor | None = None,
                        generator: torch.Generator | None = None, **_unused) -> dict:
        """Per-sample MSE against the noise (``prediction: eps``) or x_0 (``sample``):
        ``{"mse", "loss", "x_t", "pred_eps" or "pred_x0"}``."""
        x0 = self.encode(hq, autoencoder)
        noise = randn(x0, generator) if noise is None else noise
        xt = self.q_sample(x0, t, noise)
        pred = model(xt, t, **(model_kwargs or {}))
        target = noise if self.prediction == "eps" else x0
        mse = ((pred - target) ** 2).mean(dim=tuple(range(1, pred.dim())))
        return {"mse": mse, "loss": mse, "x_t": xt, "pred_eps" if self.prediction == "eps" else "pred_x0": pred}

    def prior(self, y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_T ~ N(0, I): the draw itself (``y`` gives only the shape)."""
        return noise

    def denoise(self, net: Callable, x: torch.Tensor, t: torch.Tensor, model_kwargs: dict | None = None,
                clip: bool = False) -> torch.Tensor:
        """eps_theta(x_t, y, t); the x_0 estimate is clipped by the DDIM step (``clip_sample``)."""
        return net(x, t, **(model_kwargs or {}))

    def step(self, eps: torch.Tensor, x: torch.Tensor, t: torch.Tensor, t_next: int | None,
             noise: Callable[[], torch.Tensor]) -> torch.Tensor:
        """DDIM (Song et al. Eq. 12, eta ``self.eta``) from t to ``t_next`` by diffusers' step. Its
        previous timestep is t - train_steps // n: n is chosen to make that ``t_next``, or, after
        the last entry (``t_next`` None), below 0 (alpha-bar at t = 0, as latent-diffusion)."""
        t = int(t.reshape(-1)[0])
        n = 1 if t_next is None else self.train_steps // (t - t_next)
        if t_next is not None and t - self.train_steps // n != t_next:
            raise ResShiftError(f"DDIM step {t} -> {t_next}: not on a uniform grid of {self.train_steps} steps")
        if n not in self._steppers:
            self._steppers[n] = self.scheduler()
            self._steppers[n].set_timesteps(n)
        var_noise = noise() if self.eta > 0 else None
        return self._steppers[n].step(eps, t, x, eta=self.eta, variance_noise=var_noise).prev_sample
