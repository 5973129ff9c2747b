"""Eq. 11's perceptual term, the eps-prediction LDM, Table I's configurations, overrides."""
import copy

import numpy as np
import pytest
import torch

from resshift.config import apply_overrides, build_model, load_config, table1_settings
from resshift.errors import ResShiftError
from resshift.train import build_lpips_vgg, train


def _quiet(**kw):
    return dict(progress=False, log=lambda m: None, **kw)


def _tiny_latent(iterations=2, **train_kw):
    cfg = copy.deepcopy(load_config("tiny_latent"))
    cfg["data"] = {"kind": "packaged", "crop": 64, "images": ["astronaut"]}
    cfg["train"].update(iterations=iterations, batch_size=2, micro_batch=2, checkpoint_every=iterations, **train_kw)
    return cfg


def test_lpips_term_goes_through_the_frozen_decoder_in_latent_space(tmp_path):
    """Eq. 11: MSE on the latent x0 plus LPIPS-VGG on Dec(x0_pred); the gradient reaches the UNet
    through the decoder, which stays frozen. (Random VGG backbone: the 528 MB weights are absent.)"""
    cfg = _tiny_latent()
    model = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False)
    lp = build_lpips_vgg(random_backbone=True)
    g = torch.Generator().manual_seed(0)
    hq = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    lq = torch.nn.functional.avg_pool2d(hq, 4)
    t = torch.tensor([0, 3])
    noise = torch.randn(2, 3, 16, 16, generator=g)
    grads = {}
    for w in (0.0, 10.0):
        model.unet.zero_grad()
        out = model.diffusion.training_losses(model.unet, hq, lq, t, autoencoder=model.autoencoder, noise=noise,
                                              model_kwargs=model.model_kwargs(lq), lpips=lp, lpips_weight=w)
        out["loss"].mean().backward()
        grads[w] = torch.cat([p.grad.flatten() for p in model.unet.parameters() if p.grad is not None]).clone()
        if w:
            assert out["lpips"].shape == (2,) and (out["lpips"] > 0).all()
            assert torch.allclose(out["loss"], out["mse"] + w * out["lpips"])
    assert not torch.allclose(grads[0.0], grads[10.0])
    assert all(p.grad is None for p in model.autoencoder.parameters())
    cfg["loss"].update(lpips_vgg=1.0, lpips_backbone="random")
    with pytest.raises(ResShiftError, match="needs the frozen autoencoder"):
        train(cfg, tmp_path, **_quiet())
    torch.save(model.autoencoder.state_dict(), tmp_path / "vq.pth")       # stands in for a trained VQ-f4
    cfg["autoencoder"]["checkpoint"] = str(tmp_path / "vq.pth")
    train(cfg, tmp_path, **_quiet())
    rows = [r.split(",") for r in (tmp_path / "log.csv").read_text().splitlines()]
    assert rows[0][:4] == ["iteration", "loss", "mse", "lpips"]
    assert all(float(r[3]) > 0 and abs(float(r[1]) - float(r[2]) - float(r[3])) < 1e-4 for r in rows[1:])


def test_missing_vgg_weights_are_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("RESSHIFT_OFFLINE", "1")
    with pytest.raises(ResShiftError, match=r"vgg16-397923af\.pth .*download.pytorch.org.*loss.lpips_vgg=0"):
        build_lpips_vgg()
    cfg = _tiny_latent()
    cfg["loss"]["lpips_vgg"] = 1.0
    torch.save(build_model(cfg, checkpoint=False, autoencoder_checkpoint=False).autoencoder.state_dict(),
               tmp_path / "vq.pth")
    cfg["autoencoder"]["checkpoint"] = str(tmp_path / "vq.pth")
    with pytest.raises(ResShiftError, match="VGG16"):
        train(cfg, tmp_path / "run", **_quiet())


def test_eps_diffusion_matches_ldm_schedule_and_ddim_timesteps():
    from resshift.ldm import EpsDiffusion

    d = EpsDiffusion()
    betas = np.linspace(0.0015 ** 0.5, 0.0155 ** 0.5, 1000) ** 2        # LDM's "linear" schedule
    abar = np.cumprod(1 - betas)
    assert np.allclose(d.alphas_cumprod.numpy(), abar, rtol=1e-5)          # diffusers: float32
    assert d.timesteps(4) == [751, 501, 251, 1] and d.timesteps(15)[-1] == 1   # uniform, +1 (LDM)
    x0, noise = torch.full((1, 1, 1, 2), 0.5), torch.tensor([[[[1.0, -1.0]]]])
    xt = d.q_sample(x0, torch.tensor([999]), noise)
    expect = abar[999] ** 0.5 * 0.5 + (1 - abar[999]) ** 0.5 * np.array([1.0, -1.0])
    assert np.allclose(xt.flatten().numpy(), expect, atol=1e-6)


def test_eps_model_trains_and_validates_with_ddim(tmp_path):
    cfg = copy.deepcopy(load_config("demo_ldm"))
    cfg["data"] = {"kind": "packaged", "crop": 32, "images": ["astronaut"]}
    cfg["train"].update(iterations=4, batch_size=4, micro_batch=4, validate_every=4, checkpoint_every=4)
    cfg["diffusion"]["sample_steps"] = 4          # 3 would put the uniform DDIM grid at t = 1000 (refused)
    cfg["validation"] = {"images": ["chelsea"], "crop": 32}
    logs = []
    last = train(cfg, tmp_path, progress=False, log=logs.append)
    rows = (tmp_path / "validation.csv").read_text().splitlines()
    assert rows[0].startswith("iteration,psnr_y") and rows[1].startswith("4,")
    assert 3 < float(rows[1].split(",")[1]) < 40
    model = build_model(cfg, checkpoint=last)
    lq = torch.rand(1, 3, 8, 8)
    a = model.restore(lq, generator=torch.Generator().manual_seed(1))
    b = model.restore(lq, generator=torch.Generator().manual_seed(1))
    assert a.shape == (1, 3, 32, 32) and torch.equal(a, b)
    import resshift

    with pytest.raises(ResShiftError, match="eps-prediction model"):
        resshift.restore(lq, model=model, progress=False)
    bad = copy.deepcopy(cfg)
    bad["loss"]["lpips_vgg"] = 1.0
    with pytest.raises(ResShiftError, match="diffusion.kind eps"):
        train(bad, tmp_path / "bad", **_quiet())


def test_table1_is_one_parameterised_configuration():
    paper = [(4, 0.3, 2.0), (10, 0.3, 2.0), (15, 0.3, 2.0), (30, 0.3, 2.0), (50, 0.3, 2.0), (15, 0.5, 2.0),
             (15, 1.0, 2.0), (15, 2.0, 2.0), (15, 3.0, 2.0), (15, 0.3, 0.5), (15, 0.3, 1.0), (15, 0.3, 8.0),
             (15, 0.3, 16.0)]
    for prefix in ("table1", "demo_table1"):
        grid = table1_settings(load_config(prefix))
        assert grid == paper and len(set(grid)) == 13
    cfg = load_config("table1_T30_p0.3_k2.0")
    assert cfg["name"] == "table1_T30_p0.3_k2.0" and cfg["checkpoint"] is None
    assert (cfg["diffusion"]["steps"], cfg["diffusion"]["p"], cfg["diffusion"]["kappa"]) == (30, 0.3, 2.0)
    assert cfg["unet"] == load_config("v1")["unet"]                 # paper sizes
    sched = build_model(load_config("demo_table1_T15_p0.3_k0.5"), checkpoint=False).diffusion.schedule
    # Eq. 13-14 in the paper's form: eta_1 = min((0.04/kappa)^2, 0.001), eta_T = 0.999
    assert sched.etas[0] == pytest.approx(0.001) and sched.etas[-1] == pytest.approx(0.999)
    assert load_config("demo_table1_T4_p0.3_k2.0")["unet"] == load_config("demo_realsr")["unet"]


def test_overrides_and_training_configs_of_the_releases():
    cfg = apply_overrides(load_config("v3"), ["data.hq=/data/imagenet", "train.micro_batch=8", "train.amp=bf16"])
    assert cfg["data"]["hq"] == "/data/imagenet" and cfg["train"]["micro_batch"] == 8 and cfg["train"]["amp"] == "bf16"
    with pytest.raises(ResShiftError, match="use KEY=VALUE"):
        apply_overrides(cfg, ["train.lr"])
    pipelines = {"v1": "realesrgan", "v2": "realesrgan", "v3": "realesrgan", "bicsr": "matlab_bicubic",
                 "inpaint_imagenet": "inpaint", "inpaint_face": "inpaint", "faceir": "face"}
    for name, pipe in pipelines.items():
        assert load_config(name)["data"]["pipeline"]["name"] == pipe
    assert load_config("ldm")["unet"] == load_config("v3")["unet"]
    assert load_config("ldm")["diffusion"]["kind"] == "eps" and "kappa" not in load_config("ldm")["diffusion"]


@pytest.mark.slow
def test_torch_compile_option_trains(tmp_path):
    """train.compile wraps the network in torch.compile (here the aot_eager backend: inductor's
    first C++ compile takes minutes on this CPU; benchmarks/train_speed.py --compile times it)."""
    cfg = copy.deepcopy(load_config("tiny"))
    cfg["data"] = {"kind": "packaged", "crop": 16, "images": ["astronaut"]}
    cfg["train"].update(iterations=2, batch_size=2, micro_batch=2, checkpoint_every=2)
    plain = torch.load(train(cfg, tmp_path / "plain", **_quiet()), weights_only=True)
    cfg["train"]["compile"] = {"backend": "aot_eager"}
    compiled = torch.load(train(cfg, tmp_path / "compiled", **_quiet()), weights_only=True)
    assert compiled["iteration"] == 2 and set(compiled["unet"]) == set(plain["unet"])   # no _orig_mod. prefix
    for k in plain["unet"]:
        torch.testing.assert_close(compiled["unet"][k], plain["unet"][k], atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("task,pipeline", [("inpaint_imagenet", "inpaint"), ("faceir", "face")])
def test_inpainting_and_face_configurations_train(task, pipeline, tmp_path):
    """The released layouts (tiny sizes) train on their pipelines: masks reach the network."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_models import save_tiny_task

    cfg_path, _, ae_path = save_tiny_task(task, tmp_path / "tiny")
    cfg = load_config(cfg_path)
    spec = {"name": pipeline}
    if pipeline == "inpaint":
        spec["settings"] = {"box": {"margin": 4, "size": [8, 24]}, "irregular": {"max_len": 30, "max_width": 10}}
    crop = 64 if pipeline == "inpaint" else 128
    cfg["data"] = {"kind": "packaged", "crop": crop, "images": ["astronaut"], "pipeline": spec}
    cfg["autoencoder"]["checkpoint"] = str(ae_path)
    cfg["loss"]["lpips_vgg"] = 0.0
    cfg["train"].update(iterations=2, batch_size=2, micro_batch=1, checkpoint_every=2, amp=False)
    last = torch.load(train(cfg, tmp_path / "run", **_quiet()), weights_only=True)
    assert last["iteration"] == 2
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]
    assert all(np.isfinite(float(r.split(",")[1])) for r in rows)
