import numpy as np
import pytest
import torch

from resshift.config import build_model
from resshift.diffusion import ResShiftDiffusion
from resshift.schedule import ResShiftSchedule


@pytest.fixture
def diffusion():
    return ResShiftDiffusion(ResShiftSchedule(4, 2.0, 0.3, 0.2), sf=1)


def test_eq2_from_eq1_chain_monte_carlo(diffusion):
    """Running the Eq. 1 transitions from x_0 gives the Eq. 2 marginal at every t."""
    n = 200_000
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((n, 1), 0.3, dtype=torch.float64)
    y = torch.full((n, 1), -0.5, dtype=torch.float64)
    x = x0
    for i in range(diffusion.num_timesteps):
        t = torch.full((n,), i, dtype=torch.long)
        x = diffusion.q_step(x, x0, y, t, torch.randn(n, 1, generator=g, dtype=torch.float64))
        mean, var = diffusion.q_mean_variance(x0[:1], y[:1], t[:1])
        # tolerance: 5 standard errors of the sample mean / variance
        se_mean = (var.item() / n) ** 0.5
        se_var = var.item() * (2 / n) ** 0.5
        assert abs(x.mean().item() - mean.item()) < 5 * se_mean, i
        assert abs(x.var().item() - var.item()) < 5 * se_var, i


def test_eq7_matches_numerical_bayes(diffusion):
    """q(x_{t-1} | x_t, x_0) ∝ q(x_t | x_{t-1}) q(x_{t-1} | x_0) computed on a grid."""
    s = diffusion.schedule
    k = diffusion.kappa
    x0, y, xt = 0.2, -0.4, 0.1
    grid = np.linspace(-8, 8, 400_001)
    for i in range(1, s.steps):
        prior_mean, prior_var = x0 + s.etas[i - 1] * (y - x0), k ** 2 * s.etas[i - 1]
        lik_mean, lik_var = grid + s.alphas[i] * (y - x0), k ** 2 * s.alphas[i]
        logp = -(grid - prior_mean) ** 2 / (2 * prior_var) - (xt - lik_mean) ** 2 / (2 * lik_var)
        w = np.exp(logp - logp.max())
        w /= w.sum()
        num_mean = (w * grid).sum()
        num_var = (w * (grid - num_mean) ** 2).sum()
        t = torch.tensor([i])
        mean, var = diffusion.q_posterior_mean_variance(torch.tensor([[x0]]), torch.tensor([[xt]]), t)
        assert mean.item() == pytest.approx(num_mean, abs=1e-5)
        assert var.item() == pytest.approx(num_var, rel=1e-4)


def test_prior_and_scaling():
    s = ResShiftSchedule(4, 2.0, 0.3, 0.2)
    y = torch.zeros(1, 3, 8, 8)
    noise = torch.ones_like(y)
    d = ResShiftDiffusion(s)
    assert torch.allclose(d.prior(y, noise=noise), torch.full_like(y, 2.0 * 0.99))
    t = torch.tensor([2])
    x = torch.ones(1, 3, 2, 2)
    assert torch.allclose(d.scale_input(x, t), x / np.sqrt(4 * s.etas[2] + 1))
    pixel = ResShiftDiffusion(s, latent=False)
    assert torch.allclose(pixel.scale_input(x, t), x / (3 * 2 * s.sqrt_etas[2] + 1))
    assert torch.equal(ResShiftDiffusion(s, normalize_input=False).scale_input(x, t), x)


def test_last_step_adds_no_noise(diffusion):
    x0 = torch.rand(2, 3, 4, 4)
    xt = torch.rand(2, 3, 4, 4)
    out = diffusion.step(x0, xt, torch.tensor([0, 0]), None, lambda: torch.randn_like(xt))
    assert torch.allclose(out, x0)      # coef1 = 0, coef2 = 1 at t index 0


def test_perfect_denoiser_recovers_x0():
    """With an oracle x_0 predictor, sampling returns x_0 whatever the noise."""
    d = ResShiftDiffusion(ResShiftSchedule(4, 2.0, 0.3, 0.2), sf=1, latent=False)
    target = torch.rand(1, 3, 8, 8) * 2 - 1
    oracle = lambda x, t, **kw: target  # noqa: E731
    out = d.sample(oracle, torch.zeros(1, 3, 8, 8), generator=torch.Generator().manual_seed(3))
    assert torch.allclose(out, target, atol=1e-6)


def test_training_loss_eq10_and_eq11():
    d = ResShiftDiffusion(ResShiftSchedule(4, 2.0, 0.3, 0.2), sf=1, latent=False)
    hq = torch.rand(2, 3, 8, 8) * 2 - 1
    lq = torch.rand(2, 3, 8, 8) * 2 - 1
    zero = lambda x, t, **kw: torch.zeros_like(x)  # noqa: E731
    out = d.training_losses(zero, hq, lq, torch.tensor([0, 3]), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out["mse"], (hq ** 2).mean(dim=(1, 2, 3)))
    calls = []

    def fake_lpips(a, b):
        calls.append(a.shape)
        return (a - b).abs().mean(dim=(1, 2, 3), keepdim=True)

    out = d.training_losses(zero, hq, lq, torch.tensor([1, 2]), lpips=fake_lpips, lpips_weight=10.0)
    assert calls and "lpips" in out
    torch.testing.assert_close(out["loss"], out["mse"] + 10.0 * hq.abs().mean(dim=(1, 2, 3)))


@pytest.mark.parametrize("config", ["tiny", "tiny_latent"])
def test_four_step_sample_is_deterministic(config):
    """Full 4-step sample with a tiny network, pixel and latent space: same seed, same output."""
    torch.manual_seed(0)
    model = build_model(config, checkpoint=False, autoencoder_checkpoint=False)
    assert model.steps == 4
    assert (model.autoencoder is None) == (config == "tiny")
    lq = torch.rand(1, 3, 16, 16)
    a = model.restore(lq, generator=torch.Generator().manual_seed(7))
    b = model.restore(lq, generator=torch.Generator().manual_seed(7))
    c = model.restore(lq, generator=torch.Generator().manual_seed(8))
    assert a.shape == (1, 3, 64, 64)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
