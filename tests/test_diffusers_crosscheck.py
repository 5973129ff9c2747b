"""Our RePaint jump schedule, its forward (undo) jump and the DDIM step against diffusers'
``RePaintScheduler`` / ``DDIMScheduler`` (the maintainers' implementations, installed).

diffusers spaces timesteps as ``level * (1000 // steps)`` ("leading"), guided-diffusion as
``space_timesteps`` (rounded, 999 kept), so the comparisons run on diffusers' timesteps and
cumulative alphas: the level sequence, the jump's coefficients, and the DDIM update given the
same x0, eps and noise."""
import math

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, RePaintScheduler

from baselines.guided_diffusion import RecordedNoise, ddim_step
from baselines.repaint import repaint_levels


class _Levels:
    """A schedule over given timesteps and cumulative alphas (the fields ddim_step reads)."""

    def __init__(self, t, abar):
        self.t, self.abar, self.steps = list(t), np.asarray(abar, dtype=np.float64), len(t)

    def abar_prev(self, s):
        return float(self.abar[s - 1]) if s > 0 else 1.0

    def beta(self, s):
        return 1.0 - float(self.abar[s]) / self.abar_prev(s)


@pytest.mark.parametrize("steps,jump,resample", [(250, 10, 10), (20, 3, 4), (12, 5, 2), (6, 1, 3)])
def test_repaint_levels_match_diffusers(steps, jump, resample):
    sched = RePaintScheduler(num_train_timesteps=1000)
    sched.set_timesteps(steps, jump_length=jump, jump_n_sample=resample)
    ratio = 1000 // steps
    assert (sched.timesteps.numpy() // ratio).tolist() == repaint_levels(steps, jump, resample)[:-1]


def test_repaint_jump_matches_diffusers_undo_step():
    """diffusers' ``undo_step`` at timestep t applies ``1000 // steps`` forward steps of the 1000-step
    chain: linear in the sample with coefficient c = sqrt(prod (1 - beta_i)) and noise of variance
    1 - c^2, the same form as ours (sqrt(1 - beta_{s+1}) of the respaced chain, noise sqrt(beta_{s+1})).
    The betas differ by one index: diffusers multiplies beta_t .. beta_{t+r-1}, ours (and RePaint's
    release, ``undo`` at ``t + t_shift`` with the respaced beta) beta_{t+1} .. beta_{t+r}, i.e.
    exactly q(x_{t+r} | x_t); the measured gap is printed and bounded (< 2e-3 at 10 steps)."""
    steps = 10
    sched = RePaintScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)
    sched.set_timesteps(steps)
    ratio = 1000 // steps
    levels = _Levels([k * ratio for k in range(steps)], sched.alphas_cumprod[::ratio][:steps].double().numpy())
    for s in (0, 3, 8):
        t = levels.t[s]
        a = torch.full((200_000,), 0.7)
        b = torch.full((200_000,), -0.2)
        out_a = sched.undo_step(a, t, generator=torch.Generator().manual_seed(s))
        out_b = sched.undo_step(b, t, generator=torch.Generator().manual_seed(s))
        coef = ((out_a - out_b) / (a - b)).mean().item()
        # diffusers starts from the sample at timestep t and adds betas t .. t+ratio-1
        ratio_abar = float(sched.alphas_cumprod[t + ratio - 1] / (sched.alphas_cumprod[t - 1] if t else 1.0))
        assert coef == pytest.approx(math.sqrt(ratio_abar), abs=1e-5)
        ours = levels.beta(s + 1)
        assert math.sqrt(1 - ours) == pytest.approx(math.sqrt(float(levels.abar[s + 1] / levels.abar[s])), abs=1e-12)
        exact = math.sqrt(float(sched.alphas_cumprod[t + ratio] / sched.alphas_cumprod[t]))
        assert math.sqrt(1 - ours) == pytest.approx(exact, abs=1e-6)           # q(x_{t+r} | x_t)
        print(f"undo at t={t}: diffusers {coef:.6f}, ours {math.sqrt(1 - ours):.6f}")
        assert abs(coef - math.sqrt(1 - ours)) < 2e-3
        var = (out_a - coef * a).var().item()
        assert var == pytest.approx(1 - coef ** 2, rel=0.02)          # 200k samples: ~0.3 % standard error


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("clipped_eps", [False, True])
def test_ddim_step_matches_diffusers(eta, clipped_eps):
    """``DDIMScheduler.step`` (epsilon prediction, x0 clipped to [-1, 1], ``set_alpha_to_one``)
    against ``ddim_step(x0, eps)``: with ``use_clipped_model_output`` eps is re-derived from the
    clipped x0 (as our ``predict_x0`` does), else it is the model's output (as DifFace's release)."""
    steps = 8
    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                          clip_sample=True, set_alpha_to_one=True)
    sched.set_timesteps(steps)
    ts = sorted(sched.timesteps.tolist())
    levels = _Levels(ts, sched.alphas_cumprod[ts].double().numpy())
    g = torch.Generator().manual_seed(0)
    for s in range(steps - 1, -1, -1):
        x = torch.randn(2, 3, 8, 8, generator=g) * 1.5
        eps_model = torch.randn(2, 3, 8, 8, generator=g)
        z = torch.randn(2, 3, 8, 8, generator=g)
        ref = sched.step(eps_model, ts[s], x, eta=eta, use_clipped_model_output=clipped_eps,
                         variance_noise=z).prev_sample
        a = float(levels.abar[s])
        x0 = ((x - math.sqrt(1 - a) * eps_model) / math.sqrt(a)).clamp(-1, 1)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a) if clipped_eps else eps_model
        ours = ddim_step(x0, eps, s, levels, RecordedNoise([z]), eta=eta)
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
