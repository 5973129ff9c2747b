"""RePaint (Lugmayr et al., CVPR 2022, Algorithm 1) as its release runs it (``test.py`` with
``confs/test_inet256_*.yml`` / ``test_c256_*.yml``):

- the jump schedule (``get_schedule_jump`` with n_sample 1): levels N-1 .. 0 with, every
  ``jump`` levels, ``resample - 1`` returns ``jump`` levels up by the forward process
  x_{s+1} = sqrt(1 - beta_{s+1}) x_s + sqrt(beta_{s+1}) z (beta of the respaced chain);
- each reverse step at level s first replaces the known pixels by a fresh sample of q(x_s | y)
  (not at the very first step), then takes the model's ancestral step p(x_{s-1} | x_s) with the
  learned variance (``learn_sigma``) and, for ImageNet, classifier guidance (mean + scale *
  variance * grad log p(label | x_s), scale 1.0, a random ImageNet class per image);
- the result is the last step's output at level 0 (the guided x0 estimate).

Defaults: 250 steps, jump length 10, 10 resamplings. ImageNet: the class-conditional
``256x256_diffusion.pt`` and ``256x256_classifier.pt``; CelebA-HQ: RePaint's unconditional model
without a classifier (its config names none).
"""
from __future__ import annotations

import math

import torch

from .guided_diffusion import GuidedModel, draw, paste, posterior, register_pair


def repaint_levels(n: int, jump: int, resample: int) -> list[int]:
    """The levels visited, from n-1 down to -1 (the clean image), with the jumps back up."""
    remaining = {level: resample - 1 for level in range(0, n - jump, jump)}
    level, out = n - 1, [n - 1]
    while level > 0:
        level -= 1
        out.append(level)
        if remaining.get(level, 0) > 0:
            remaining[level] -= 1
            for _ in range(jump):
                level += 1
                out.append(level)
    return out + [-1]


def repaint_sample(model, y, keep, sched, noise, jump: int = 10, resample: int = 10):
    """Noise draws (the release's order): x_{N-1}; per reverse step: the step's noise, then (after
    the first step) the known pixels' noise; per move up: one forward-process draw."""
    model = GuidedModel.wrap(model)
    levels = repaint_levels(sched.steps, jump, resample)
    x = draw(y, noise)
    first = True
    for s, nxt in zip(levels[:-1], levels[1:]):
        if nxt < s:
            z = draw(x, noise)
            if not first:
                x = paste(keep, sched.noise_to(y, s, noise), x)
            first = False
            t = sched.tensor_t(s, x)
            with torch.no_grad():
                mean, log_var, _ = posterior(model.output(x, t), x, s, sched)
            if model.guided:
                mean = mean + torch.exp(log_var) * model.log_prob_grad(x, t)
            x = mean + torch.exp(0.5 * log_var) * z if s > 0 else mean
        else:
            beta = sched.beta(nxt)
            x = math.sqrt(1 - beta) * x + math.sqrt(beta) * draw(x, noise)
    return x


register_pair(__name__, "repaint", "RePaint", repaint_sample, {"jump": 10, "resample": 10},
              imagenet="imagenet_cond", imagenet_fp16=True, tiny_options={"jump": 1, "resample": 2},
              release_parity="tests/test_diffusion_sampler_parity.py::test_repaint_matches_release")
