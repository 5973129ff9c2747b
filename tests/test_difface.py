"""DifFace: the sampler against improved-DDPM's ancestral step written out here, the released
networks' layouts, and the registry contract on tiny networks saved in the release's formats."""
import math

import numpy as np
import pytest
import torch

import baselines as B
from baselines.difface import ESTIMATOR, FFHQ512_UNET, TINY_ESTIMATOR, TINY_FFHQ, DifFace, difface_sample
from baselines.guided_diffusion import ADMUNet, InpaintSchedule
from resshift.errors import ResShiftError


def save_tiny_difface(unet_path, estimator_path):
    torch.manual_seed(0)
    torch.save({"state_dict": ADMUNet(**dict(FFHQ512_UNET, **TINY_FFHQ)).state_dict()}, unet_path)
    DifFace.save_estimator(DifFace.random_estimator(**TINY_ESTIMATOR), estimator_path)
    return {"steps": 1, "unet_config": TINY_FFHQ}


def _model(x, t):                       # eps = 0.3 x + t/4000; variance channels tanh(x)/2
    return torch.cat([0.3 * x + t.float().view(-1, 1, 1, 1) / 4000, torch.tanh(x) / 2], dim=1)


def _tilde(abar, k):                   # posterior variance beta~_k (Ho et al. Eq. 7)
    prev = abar[k - 1] if k else 1.0
    return (1 - abar[k] / prev) * (1 - prev) / (1 - abar[k])


def test_sampler_follows_improved_ddpm_from_the_diffused_estimate():
    g = torch.Generator().manual_seed(4)
    x0_hat = torch.rand(1, 3, 4, 4, generator=g) * 2 - 1
    ours = difface_sample(_model, x0_hat, 3, InpaintSchedule(250), torch.Generator().manual_seed(9), "ancestral")

    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    full = np.cumprod(1 - betas)
    ts = [round(i * 999 / 249) for i in range(250)]
    abar = full[ts]
    gen = torch.Generator().manual_seed(9)
    x = math.sqrt(abar[3]) * x0_hat + math.sqrt(1 - abar[3]) * torch.randn(x0_hat.shape, generator=gen)
    for s in (2, 1, 0):                                   # the release: diffused to level 3, loop from 2
        out = _model(x, torch.tensor([ts[s]]))
        eps, v = out[:, :3], out[:, 3:]
        prev = abar[s - 1] if s else 1.0
        beta = 1 - abar[s] / prev
        x0 = ((x - math.sqrt(1 - abar[s]) * eps) / math.sqrt(abar[s])).clamp(-1, 1)
        mean = (math.sqrt(prev) * beta * x0 + math.sqrt(1 - beta) * (1 - prev) * x) / (1 - abar[s])
        lo = math.log(_tilde(abar, 1) if s == 0 else _tilde(abar, s))       # beta~_0 is 0: beta~_1 is used
        log_var = (v + 1) / 2 * math.log(beta) + (1 - (v + 1) / 2) * lo
        x = mean + (torch.exp(0.5 * log_var) * torch.randn(x.shape, generator=gen) if s else 0)
    torch.testing.assert_close(ours, x, atol=1e-5, rtol=1e-5)
    with pytest.raises(ResShiftError, match="start level"):
        difface_sample(_model, x0_hat, 250, InpaintSchedule(250), None)
    with pytest.raises(ResShiftError, match="ddim or ancestral"):
        difface_sample(_model, x0_hat, 3, InpaintSchedule(250), None, sampler="ddpm")


def test_ddim_sampler_follows_equation_12_with_the_models_eps():
    g = torch.Generator().manual_seed(4)
    x0_hat = torch.rand(1, 3, 4, 4, generator=g) * 2 - 1
    ours = difface_sample(_model, x0_hat, 3, InpaintSchedule(250), torch.Generator().manual_seed(9), eta=0.5)

    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    ts = [round(i * 999 / 249) for i in range(250)]
    abar = np.cumprod(1 - betas)[ts]
    gen = torch.Generator().manual_seed(9)
    x = math.sqrt(abar[3]) * x0_hat + math.sqrt(1 - abar[3]) * torch.randn(x0_hat.shape, generator=gen)
    for s in (2, 1, 0):
        eps = _model(x, torch.tensor([ts[s]]))[:, :3]
        prev = abar[s - 1] if s else 1.0
        x0 = ((x - math.sqrt(1 - abar[s]) * eps) / math.sqrt(abar[s])).clamp(-1, 1)
        sigma = 0.5 * math.sqrt((1 - prev) / (1 - abar[s]) * (1 - abar[s] / prev))
        x = math.sqrt(prev) * x0 + math.sqrt(1 - prev - sigma ** 2) * eps
        x = x + sigma * torch.randn(x.shape, generator=gen) if s else x
    torch.testing.assert_close(ours, x, atol=1e-5, rtol=1e-5)


def test_released_layouts():
    unet = ADMUNet(**FFHQ512_UNET)
    assert sum(p.numel() for p in unet.parameters()) == 159_788_454
    sd = unet.state_dict()
    assert sd["input_blocks.2.0.op.weight"].shape == (32, 32, 3, 3)             # conv downsampling (no updown)
    assert sd["out.2.weight"].shape == (6, 32, 3, 3)
    est = DifFace.random_estimator()
    assert sum(p.numel() for p in est.parameters()) == 15_792_587
    assert est.conv_first.weight.shape == (180, 192, 3, 3)                       # 3 x 8^2 unshuffled channels
    assert ESTIMATOR["upscale"] == ESTIMATOR["start_unshuffle"] == 8


@pytest.mark.slow
def test_difface_loads_the_release_files_and_restores(tmp_path):
    unet, est = tmp_path / "iddpm.pth", tmp_path / "swinir.pth"
    options = save_tiny_difface(unet, est)
    method = B.load_restorer("difface", weights=str(unet), estimator=str(est), **options)
    assert method.estimator.start_unshuffle == 8
    assert method.timesteps() == [0]
    lq = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    out = method.restore(lq, generator=torch.Generator().manual_seed(1))
    assert out.shape == lq.shape and 0 <= out.min() and out.max() <= 1
    two = dict(options, steps=2)                       # (one step from level 0 returns x0 in both samplers)
    ddim, first = (B.load_restorer("difface", weights=str(unet), estimator=str(est), sampler=s, **two) for s in
                   ("ddim", "ancestral"))
    seeded = lambda n: torch.Generator().manual_seed(n)  # noqa: E731
    assert not torch.equal(first.restore(lq, generator=seeded(1)), ddim.restore(lq, generator=seeded(1)))
    torch.save({"conv_first.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ResShiftError, match="is not a loadable SwinIR estimator") as err:
        B.load_restorer("difface", weights=str(unet), estimator=str(tmp_path / "bad.pth"), **options)
    assert "\n" not in str(err.value)
    with pytest.raises(ResShiftError, match="not DifFace's FFHQ-512 diffusion model"):
        B.load_restorer("difface", weights=str(est), estimator=str(est), **options)
    assert B.get("difface").default_steps == 100
