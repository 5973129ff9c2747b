"""MCG (Chung et al., NeurIPS 2022, Algorithm 1): an ancestral step, a manifold-constrained
gradient step on the measurement residual of the x0 estimate,
x'_{s-1} -= scale * grad_{x_s} ||keep * (y - x0(x_s))||, then the known pixels are set to
q(x_{s-1} | y) (the projection). Needs a backward pass through the network at every step.
"""
from __future__ import annotations

import torch

from resshift.diffusion import randn

from .guided_diffusion import predict_x0, ddim_step, paste, register_pair


def mcg_sample(eps_fn, y, keep, sched, generator, scale: float = 1.0):
    """Noise draws: x_{N-1}; then per level s = N-1..1: step noise, known-pixel noise.
    Returns the x0 estimate at level 0."""
    x = randn(y, generator)
    for s in range(sched.steps - 1, 0, -1):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            x0, eps = predict_x0(eps_fn, x, s, sched)
            residual = torch.linalg.vector_norm(keep * (y - x0))
            grad, = torch.autograd.grad(residual, x)
        step = ddim_step(x0.detach(), eps.detach(), s, sched, generator, eta=1.0)
        x = paste(keep, sched.noise_to(y, s - 1, generator), step - scale * grad)
    with torch.no_grad():
        return predict_x0(eps_fn, x.detach(), 0, sched)[0]


register_pair(__name__, "mcg", "MCG", mcg_sample, {"scale": 1.0}, needs_grad=True)
