"""Score-SDE inpainting (Song et al., ICLR 2021, Appendix I.2 "imputation") as MCG's release runs
it (``--sample_method vanilla``, its "score-SDE" baseline): at each level s = N-1 .. 0 the whole
image takes the model's ancestral step p(x_{s-1} | x_s) (learned variance), then the known pixels
are replaced by a fresh sample of q(x_s | y) (the release's level); the result is level 0's output.
"""
from __future__ import annotations

import torch

from .guided_diffusion import GuidedModel, draw, posterior, register_pair


def score_sde_sample(model, y, keep, sched, noise):
    """Noise draws: x_{N-1}; then per level s = N-1..0: step noise, known-pixel noise."""
    model = GuidedModel.wrap(model)
    x = draw(y, noise)
    for s in range(sched.steps - 1, -1, -1):
        with torch.no_grad():
            mean, log_var, _ = posterior(model.output(x, sched.tensor_t(s, x)), x, s, sched)
        z = draw(x, noise)
        step = mean + torch.exp(0.5 * log_var) * z if s > 0 else mean
        x = (1 - keep) * step + keep * sched.noise_to(y, s, noise)
    return x


register_pair(__name__, "score_sde", "Score-SDE", score_sde_sample,
              release_parity="tests/test_diffusion_sampler_parity.py::test_score_sde_matches_release")
