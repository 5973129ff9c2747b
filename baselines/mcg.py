"""MCG (Chung et al., NeurIPS 2022, Algorithm 1) as its release runs inpainting
(``scripts/sample_inpainting.py --sample_method MCG``, ``GaussianDiffusion.p_sample_loop``): at
each level s = N-1 .. 0, the model's ancestral step p(x_{s-1} | x_s) (learned variance), a
manifold-constrained gradient step on the measurement residual of the x0 estimate,
x'_{s-1} = x_{s-1} - scale * grad_{x_s} ||keep * (y - x0(x_s))|| in the holes, and the known
pixels set to q(x_s | y) (the release noises them to the current level s). Needs a backward pass
through the network at every step; the result is level 0's output.

Unlike the release, the residual norm is taken per image: the release's ``th.norm`` runs over the
whole batch, so one image's step would depend on its batch-mates (for one image per batch the two
agree, which is how the parity test compares them).
"""
from __future__ import annotations

import torch

from .guided_diffusion import GuidedModel, draw, posterior, register_pair


def mcg_sample(model, y, keep, sched, noise, scale: float = 1.0):
    """Noise draws: x_{N-1}; then per level s = N-1..0: step noise, known-pixel noise."""
    model = GuidedModel.wrap(model)
    x = draw(y, noise)
    for s in range(sched.steps - 1, -1, -1):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            mean, log_var, x0 = posterior(model.output(x, sched.tensor_t(s, x)), x, s, sched)
            z = draw(x, noise)
            step = mean + torch.exp(0.5 * log_var) * z if s > 0 else mean
            residual = torch.linalg.vector_norm((keep * (y - x0)).flatten(1), dim=1)     # one norm per image
            grad, = torch.autograd.grad(residual.sum(), x)
        x = (1 - keep) * (step.detach() - scale * grad) + keep * sched.noise_to(y, s, noise)
    return x.detach()


register_pair(__name__, "mcg", "MCG", mcg_sample, {"scale": 1.0}, needs_grad=True,
              release_parity="tests/test_diffusion_sampler_parity.py::test_mcg_matches_release")
