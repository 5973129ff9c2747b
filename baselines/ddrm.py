"""DDRM (Kawar et al., NeurIPS 2022, Eq. 7-8) for noiseless inpainting: H keeps the known pixels,
so its SVD is trivial (V = I, singular value 1 on known pixels, 0 on holes). In the scaled
variable xbar = x / sqrt(abar_s), sigma_s = sqrt((1 - abar_s) / abar_s):
- holes:  xbar_{s-1} = x0 + sqrt(1 - eta^2) sigma_{s-1} (xbar_s - x0) / sigma_s + eta sigma_{s-1} z
- known:  xbar_{s-1} = (1 - eta_b) x0 + eta_b y + sigma_{s-1} z          (sigma_y = 0)
The release's settings: eta = 0.85, eta_b = 1.
"""
from __future__ import annotations

import math

from resshift.diffusion import randn

from .guided_diffusion import predict_x0, register_pair


def ddrm_sample(eps_fn, y, keep, sched, generator, eta: float = 0.85, eta_b: float = 1.0):
    """Noise draws: xbar_{N-1} (y + sigma z on known pixels, sigma z in the holes), then one per
    level s = N-1..1. Returns the x0 estimate at level 0."""
    sig = [math.sqrt((1 - a) / a) for a in sched.abar]
    xbar = keep * y + sig[-1] * randn(y, generator)
    for s in range(sched.steps - 1, 0, -1):
        x0, _ = predict_x0(eps_fn, math.sqrt(sched.abar[s]) * xbar, s, sched)
        z = randn(y, generator)
        hole = x0 + math.sqrt(1 - eta ** 2) * sig[s - 1] * (xbar - x0) / sig[s] + eta * sig[s - 1] * z
        known = (1 - eta_b) * x0 + eta_b * y + sig[s - 1] * z
        xbar = keep * known + (1 - keep) * hole
    return predict_x0(eps_fn, math.sqrt(sched.abar[0]) * xbar, 0, sched)[0]


register_pair(__name__, "ddrm", "DDRM", ddrm_sample, {"eta": 0.85, "eta_b": 1.0})
