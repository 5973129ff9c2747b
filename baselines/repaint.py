"""RePaint (Lugmayr et al., CVPR 2022, Algorithm 1): each reverse step joins the known pixels
noised to the next level (q(x_{s-1} | y)) with the model's step for the holes, and the chain
is resampled: every ``jump`` levels it goes back up ``jump`` levels by the forward process
(x_{s+1} = sqrt(abar_{s+1}/abar_s) x_s + sqrt(1 - abar_{s+1}/abar_s) z), ``resample - 1`` times.
The release's settings: 250 steps, jump length 10, 10 resamplings.
"""
from __future__ import annotations

import math

from resshift.diffusion import randn

from .guided_diffusion import predict_x0, ddim_step, paste, register_pair


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


def repaint_sample(eps_fn, y, keep, sched, generator, jump: int = 10, resample: int = 10):
    """Noise draws: x_{N-1}; then per move down (s -> s-1 >= 0): step noise, known-pixel noise;
    per move up: one forward-process draw. The last move (0 -> -1) returns the x0 estimate."""
    levels = repaint_levels(sched.steps, jump, resample)
    x = randn(y, generator)
    for s, nxt in zip(levels[:-1], levels[1:]):
        if nxt == -1:
            return predict_x0(eps_fn, x, 0, sched)[0]
        if nxt < s:
            x0, eps = predict_x0(eps_fn, x, s, sched)
            unknown = ddim_step(x0, eps, s, sched, generator, eta=1.0)
            x = paste(keep, sched.noise_to(y, nxt, generator), unknown)
        else:
            ratio = sched.abar[nxt] / sched.abar[s]
            x = math.sqrt(ratio) * x + math.sqrt(1 - ratio) * randn(x, generator)
    raise AssertionError("repaint_levels ends at -1")


register_pair(__name__, "repaint", "RePaint", repaint_sample, {"jump": 10, "resample": 10})
