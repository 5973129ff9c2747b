"""The LDM baseline's DDIM timesteps and coefficients equal latent-diffusion's own.

Fixture ``fixtures/ldm_ddim/make_ddim_timesteps.json``: produced by running latent-diffusion's
own functions (github CompVis/latent-diffusion, commit a506df5,
``ldm/modules/diffusionmodules/util.py``) outside the project: ``make_beta_schedule('linear',
1000, linear_start=0.0015, linear_end=0.0155)`` (LDM's sqrt-linear betas), ``alphacums =
cumprod(1 - betas)``, then for each step count n ``make_ddim_timesteps('uniform', n, 1000)`` and
``make_ddim_sampling_parameters(alphacums, timesteps, eta=1.0)`` (sigmas, alphas, alphas_prev).
Where that raises (the grid reaches t = 1000: n = 3, 9, 333, 999, 1000), the error is recorded.
No patches.
"""
import json
import math
from pathlib import Path

import pytest
import torch

from resshift.errors import ResShiftError
from resshift.ldm import EpsDiffusion, ldm_ddim_timesteps

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "ldm_ddim" / "make_ddim_timesteps.json").read_text())
COUNTS = sorted(int(n) for n in FIXTURE["steps"])


def uniform_plus_one(n: int, train: int = 1000) -> list[int]:
    """The formula, stated here on its own: with c = train // n, the steps 0, c, 2c, ... below
    train, each plus one; sampled from the largest down."""
    c = train // n
    out, t = [], 0
    while t < train:
        out.append(t + 1)
        t += c
    return out[::-1]


def test_the_paper_step_counts():
    assert ldm_ddim_timesteps(4) == [751, 501, 251, 1]
    fifteen = ldm_ddim_timesteps(15)
    assert len(fifteen) == 16 and fifteen[0] == 991 and fifteen[-1] == 1
    assert fifteen == uniform_plus_one(15)
    assert ldm_ddim_timesteps(50) == list(range(981, 0, -20))


@pytest.mark.parametrize("n", COUNTS)
def test_timesteps_equal_latent_diffusion(n):
    rec = FIXTURE["steps"][str(n)]
    expected = rec["timesteps"][::-1]                          # the fixture holds them ascending
    assert uniform_plus_one(n) == expected
    if "error" in rec:                                         # latent-diffusion cannot sample these
        with pytest.raises(ResShiftError, match="past its 1000 trained steps"):
            ldm_ddim_timesteps(n)
        return
    assert ldm_ddim_timesteps(n) == expected
    assert EpsDiffusion(sample_steps=n).timesteps() == expected


@pytest.mark.parametrize("n", [n for n in COUNTS if "error" not in FIXTURE["steps"][str(n)]])
def test_step_coefficients_equal_latent_diffusion(n):
    """Each DDIM step uses alpha-bar at t, at the previous grid entry (alpha-bar_0 after the last)
    and sigma (eta 1) as latent-diffusion does. Bound: diffusers builds the betas in float32 and
    latent-diffusion in float64; measured max relative differences 1.6e-6 (alphas) and 1.6e-5
    (sigmas) over all counts; asserted 1e-5 and 5e-5."""
    rec = FIXTURE["steps"][str(n)]
    sched = EpsDiffusion(sample_steps=n)._ddim_scheduler()
    ts = [int(t) for t in sched.timesteps]
    assert ts == rec["timesteps"][::-1]
    step = 1000 // sched.num_inference_steps
    for i, t in enumerate(rec["timesteps"]):
        prev = t - step
        a_t = float(sched.alphas_cumprod[t])
        a_prev = float(sched.alphas_cumprod[prev]) if prev >= 0 else float(sched.final_alpha_cumprod)
        sigma = math.sqrt(float(sched._get_variance(torch.tensor(t), torch.tensor(prev))))
        assert a_t == pytest.approx(rec["alphas"][i], rel=1e-5)
        assert a_prev == pytest.approx(rec["alphas_prev"][i], rel=1e-5)
        assert sigma == pytest.approx(rec["sigmas"][i], rel=5e-5)
