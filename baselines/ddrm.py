"""DDRM (Kawar et al., NeurIPS 2022, Eq. 7-8) for noiseless inpainting, as its release runs it
(``functions/denoising.py: efficient_generalized_steps`` with the ``Inpainting`` operator,
sigma_0 = 0, eta = 0.85, eta_b = 1):

- timesteps 0, k, 2k, .., 1000 - k with k = 1000 // steps (the release's ``seq``, not
  guided-diffusion's respacing), cumulative alphas from a float32 cumulative product (as the
  release computes them);
- H keeps the known pixels, so its SVD is trivial (singular value 1 on known pixels, 0 on holes).
  With sigma_s = sqrt((1 - abar_s) / abar_s) and x0 = (x_s - sqrt(1 - abar_s) eps) / sqrt(abar_s)
  (not clipped):
  holes:  xbar_{s-1} = x0 + sqrt(1 - eta^2) sigma_{s-1} eps + eta sigma_{s-1} z
  known:  xbar_{s-1} = eta_b y + (1 - eta_b) x0 + sigma_{s-1} z'      (while sigma_{s-1} > 0)
  x_{s-1} = sqrt(abar_{s-1}) xbar_{s-1}; the last step (sigma = 0) gives x0 everywhere;
- the start is the release's x_T = (y + sigma_T z) / sigma_T (known pixels y, holes 0).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .guided_diffusion import GuidedModel, InpaintSchedule, draw, register_pair


class DDRMSchedule(InpaintSchedule):
    """DDRM's timesteps ``range(0, 1000, 1000 // steps)`` on the linear schedule, abar in float32."""

    def __init__(self, steps: int, total: int = 1000):
        betas = torch.from_numpy(np.linspace(1e-4, 0.02, total, dtype=np.float64)).float()
        abar_full = (1 - betas).cumprod(dim=0).double().numpy()
        self.t = list(range(0, total, total // steps))
        self.abar = abar_full[self.t]
        self.steps = len(self.t)


def ddrm_sample(model, y, keep, sched, noise, eta: float = 0.85, eta_b: float = 1.0):
    """Noise draws: the start z; then per level s = N-1..0: the holes' z, the known pixels' z'."""
    model = GuidedModel.wrap(model)
    sig = [math.sqrt((1 - a) / a) for a in sched.abar]
    x = (keep * y + sig[-1] * draw(y, noise)) / sig[-1]
    for s in range(sched.steps - 1, -1, -1):
        a, a_next = float(sched.abar[s]), sched.abar_prev(s)
        with torch.no_grad():
            eps = model(x, sched.tensor_t(s, x))
        x0 = (x - eps * math.sqrt(1 - a)) / math.sqrt(a)
        sn = sig[s - 1] if s > 0 else 0.0
        hole = x0 + math.sqrt(sn ** 2 - (sn * eta) ** 2) * eps + sn * eta * draw(x, noise)
        z_known = draw(x, noise)
        known = eta_b * y + (1 - eta_b) * x0 + sn * z_known if sn > 0 else hole
        x = math.sqrt(a_next) * (keep * known + (1 - keep) * hole)
    return x


register_pair(__name__, "ddrm", "DDRM", ddrm_sample, {"eta": 0.85, "eta_b": 1.0}, schedule=DDRMSchedule,
              imagenet_fp16=True,
              release_parity="tests/test_diffusion_sampler_parity.py::test_ddrm_matches_release")
