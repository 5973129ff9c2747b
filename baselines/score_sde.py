"""Score-SDE inpainting (Song et al., ICLR 2021, Appendix I.2 "imputation"): at every reverse step
the known pixels are replaced by a fresh sample of q(x_s | y), then the whole image takes one
ancestral step. The VP-SDE predictor on the released guided-diffusion models (no corrector).
"""
from __future__ import annotations

from resshift.diffusion import randn

from .guided_diffusion import predict_x0, ddim_step, paste, register_pair


def score_sde_sample(eps_fn, y, keep, sched, generator):
    """Noise draws: x_{N-1}; then per level s = N-1..1: known-pixel noise, step noise; then level 0's
    known-pixel noise. Returns the x0 estimate at level 0."""
    x = randn(y, generator)
    for s in range(sched.steps - 1, 0, -1):
        x = paste(keep, sched.noise_to(y, s, generator), x)
        x0, eps = predict_x0(eps_fn, x, s, sched)
        x = ddim_step(x0, eps, s, sched, generator, eta=1.0)
    x = paste(keep, sched.noise_to(y, 0, generator), x)
    return predict_x0(eps_fn, x, 0, sched)[0]


register_pair(__name__, "score_sde", "Score-SDE", score_sde_sample)
