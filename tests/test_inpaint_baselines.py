"""The diffusion inpainting baselines (RePaint, DDRM, Score-SDE, MCG): each sampler against its
update equations written out here on a tiny analytic model, the guided-diffusion UNet's layout,
and the Restorer contract (known pixels kept exactly)."""
import math

import numpy as np
import pytest
import torch

import baselines as B
from baselines.ddrm import ddrm_sample
from baselines.guided_diffusion import (ADM_256, TINY_ADM, TINY_CLASSIFIER, ADMClassifier, ADMUNet, InpaintSchedule,
                                        space_timesteps)
from baselines.mcg import mcg_sample
from baselines.repaint import repaint_levels, repaint_sample
from baselines.score_sde import score_sde_sample

SHAPE = (1, 3, 4, 4)


def eps_fn(x, t):                         # a tiny analytic "network": eps = 0.3 x + t / 4000
    return 0.3 * x + t.float().view(-1, 1, 1, 1) / 4000


def _problem():
    g = torch.Generator().manual_seed(3)
    y = torch.rand(SHAPE, generator=g) * 2 - 1
    keep = torch.ones(SHAPE)
    keep[..., 1:3, 1:3] = 0
    return y * keep, keep


def _abar(steps):
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    full = np.cumprod(1 - betas)
    ts = [round(i * 999 / (steps - 1)) for i in range(steps)]
    return ts, full[ts]


def _x0(x, s, ts, abar):
    """Ho et al. Eq. 15 with clipping; eps recomputed from the clipped x0 (guided-diffusion)."""
    eps = eps_fn(x, torch.tensor([ts[s]]))
    x0 = ((x - math.sqrt(1 - abar[s]) * eps) / math.sqrt(abar[s])).clamp(-1, 1)
    return x0, (x - math.sqrt(abar[s]) * x0) / math.sqrt(1 - abar[s])


def _posterior_step(x, s, ts, abar, g):
    """DDPM ancestral step (Ho et al. Eq. 6-7): posterior mean of q(x_{s-1} | x_s, x0), variance
    beta~; ``g``: a generator or the noise itself."""
    x0, _ = _x0(x, s, ts, abar)
    a, ap = abar[s], abar[s - 1]
    beta = 1 - a / ap
    mean = math.sqrt(ap) * beta / (1 - a) * x0 + math.sqrt(1 - beta) * (1 - ap) / (1 - a) * x
    z = g if isinstance(g, torch.Tensor) else torch.randn(SHAPE, generator=g)
    return mean + math.sqrt(beta * (1 - ap) / (1 - a)) * z, x0


def test_schedule_respacing_is_guided_diffusions():
    assert space_timesteps(1000, 4) == [0, 333, 666, 999]
    assert space_timesteps(1000, 250)[:3] == [0, 4, 8] and len(space_timesteps(1000, 250)) == 250
    ts, abar = _abar(4)
    sched = InpaintSchedule(4)
    assert sched.t == ts and np.allclose(sched.abar, abar, rtol=0, atol=0)


def _step(x, s, ts, abar, g):
    """The ancestral step at level s (the x0 estimate at level 0, whose noise is drawn but unused)."""
    if s == 0:
        torch.randn(SHAPE, generator=g)
        return _x0(x, 0, ts, abar)
    return _posterior_step(x, s, ts, abar, g)


def test_score_sde_steps_then_replaces_known_pixels():
    """MCG release's "vanilla" loop: step from level s, then known pixels ~ q(x_s | y), s = N-1..0."""
    y, keep = _problem()
    got = score_sde_sample(eps_fn, y, keep, InpaintSchedule(4), torch.Generator().manual_seed(7))
    ts, abar = _abar(4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(SHAPE, generator=g)
    for s in (3, 2, 1, 0):
        step, _ = _step(x, s, ts, abar, g)
        known = math.sqrt(abar[s]) * y + math.sqrt(1 - abar[s]) * torch.randn(SHAPE, generator=g)
        x = keep * known + (1 - keep) * step
    torch.testing.assert_close(got, x, atol=1e-5, rtol=1e-5)


def test_repaint_jump_schedule():
    assert repaint_levels(6, 2, 2) == [5, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, -1]
    assert repaint_levels(4, 10, 10) == [3, 2, 1, 0, -1]                    # no jumps
    levels = repaint_levels(250, 10, 10)
    assert levels[0] == 249 and levels[-1] == -1
    assert sum(1 for a, b in zip(levels, levels[1:]) if b < a and b >= 0) == 249 + 24 * 9 * 10


def test_repaint_follows_algorithm_1():
    """Algorithm 1 in the release's order: at each reverse step the step noise is drawn first, the
    known pixels are set to q(x_s | y) (not at the first step), then the ancestral step; a model
    without variance channels takes the posterior variance beta~."""
    y, keep = _problem()
    got = repaint_sample(eps_fn, y, keep, InpaintSchedule(4), torch.Generator().manual_seed(7), jump=1, resample=2)
    levels = repaint_levels(4, 1, 2)
    assert levels == [3, 2, 3, 2, 1, 2, 1, 0, 1, 0, -1]       # one jump back at levels 2, 1, 0
    ts, abar = _abar(4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(SHAPE, generator=g)
    for i, (s, nxt) in enumerate(zip(levels[:-1], levels[1:])):
        if nxt < s:                                            # Alg. 1 lines 4-8
            z = torch.randn(SHAPE, generator=g)
            if i:
                known = math.sqrt(abar[s]) * y + math.sqrt(1 - abar[s]) * torch.randn(SHAPE, generator=g)
                x = keep * known + (1 - keep) * x
            if s == 0:
                ref, _ = _x0(x, 0, ts, abar)
            else:
                x, _ = _posterior_step(x, s, ts, abar, z)
        else:                                                  # Alg. 1 line 10: x_t ~ q(x_t | x_{t-1})
            beta = 1 - abar[nxt] / abar[s]
            x = math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn(SHAPE, generator=g)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_ddrm_follows_its_equations_for_inpainting():
    from baselines.ddrm import DDRMSchedule

    y, keep = _problem()
    sched = DDRMSchedule(4)
    assert sched.t == [0, 250, 500, 750]                         # the release's range(0, 1000, 1000 // steps)
    got = ddrm_sample(eps_fn, y, keep, sched, torch.Generator().manual_seed(7), eta=0.85, eta_b=1.0)
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64).float()
    abar = (1 - betas).cumprod(0)[sched.t].double().tolist()      # float32 products, as the release
    sigma = [math.sqrt((1 - a) / a) for a in abar]             # DDRM's sigma_t (variance-exploding scale)
    g = torch.Generator().manual_seed(7)
    # Eq. 7 (t = T), the release's scaling: x_T = (y + sigma_T z) / sigma_T
    x = (keep * y + sigma[3] * torch.randn(SHAPE, generator=g)) / sigma[3]
    for s in (3, 2, 1, 0):
        eps = eps_fn(x, torch.tensor([sched.t[s]]))
        x0 = (x - math.sqrt(1 - abar[s]) * eps) / math.sqrt(abar[s])            # not clipped
        sn, an = (sigma[s - 1], abar[s - 1]) if s else (0.0, 1.0)
        # Eq. 8, s_i = 0: x0 + sqrt(1 - eta^2) sigma_{t-1} eps + eta sigma_{t-1} z
        hole = x0 + math.sqrt(1 - 0.85 ** 2) * sn * eps + 0.85 * sn * torch.randn(SHAPE, generator=g)
        # Eq. 8, s_i = 1 >= sigma_y / sigma_{t-1} = 0: N((1 - eta_b) x0 + eta_b y, sigma_{t-1}^2)
        known = y + sn * torch.randn(SHAPE, generator=g) if s else hole
        x = math.sqrt(an) * torch.where(keep.bool(), known, hole)
    torch.testing.assert_close(got, x, atol=1e-5, rtol=1e-5)


def test_mcg_takes_the_manifold_constrained_gradient_step():
    y, keep = _problem()
    got = mcg_sample(eps_fn, y, keep, InpaintSchedule(4), torch.Generator().manual_seed(7), scale=0.5)
    ts, abar = _abar(4)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(SHAPE, generator=g)
    for s in (3, 2, 1, 0):
        step, x0 = _step(x, s, ts, abar, g)
        # x0 = (x - sqrt(1-a)(0.3 x + c)) / sqrt(a) is affine in x with slope k where unclipped
        k = (1 - 0.3 * math.sqrt(1 - abar[s])) / math.sqrt(abar[s])
        raw = (x - math.sqrt(1 - abar[s]) * eps_fn(x, torch.tensor([ts[s]]))) / math.sqrt(abar[s])
        r = keep * (y - x0)
        grad = -k * r / r.norm() * (raw.abs() < 1).float()          # d||r|| / dx
        known = math.sqrt(abar[s]) * y + math.sqrt(1 - abar[s]) * torch.randn(SHAPE, generator=g)
        x = keep * known + (1 - keep) * (step - 0.5 * grad)
    torch.testing.assert_close(got, x, atol=1e-5, rtol=1e-5)


def test_guided_diffusion_unet_layout():
    """The released 256x256 models: 552.81 M parameters, the checkpoints' key names."""
    with torch.device("meta"):
        unet = ADMUNet(**ADM_256)
    assert sum(p.numel() for p in unet.parameters()) == 552_814_086
    keys = unet.state_dict()
    for key, shape in {"time_embed.0.weight": (1024, 256), "input_blocks.0.0.weight": (256, 3, 3, 3),
                       "input_blocks.3.0.in_layers.2.weight": (256, 256, 3, 3),      # a down-sampling ResBlock
                       "input_blocks.10.1.qkv.weight": (1536, 512, 1),              # attention at 32x32
                       "middle_block.1.proj_out.weight": (1024, 1024, 1),
                       "output_blocks.2.2.in_layers.2.weight": (1024, 1024, 3, 3),  # an up-sampling ResBlock
                       "out.2.weight": (6, 256, 3, 3)}.items():
        assert tuple(keys[key].shape) == shape, key




def _tiny_adm_file(path, num_classes=None):
    torch.manual_seed(0)
    net = ADMUNet(**TINY_ADM, num_classes=num_classes)
    for p in net.parameters():                                    # non-zero output convs: a real eps
        torch.nn.init.normal_(p, std=0.02) if p.dim() > 1 else None
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), path)
    return path


def tiny_inpaint_setup(name: str) -> dict:
    """Write tiny released-format weight files for a diffusion inpainting method; its options."""
    cls = B.get(name)
    _tiny_adm_file(cls.weights[0].path, 1000 if cls.class_cond else None)
    options = {"steps": 4, "unet_config": TINY_ADM}
    if name.startswith("repaint"):
        options.update(jump=1, resample=2)
    if cls.classifier_scale > 0:
        torch.manual_seed(1)
        torch.save(ADMClassifier(**TINY_CLASSIFIER).state_dict(), cls.weights[1].path)
        options["classifier_config"] = TINY_CLASSIFIER
    return options


@pytest.mark.parametrize("name", ["repaint", "repaint_face", "ddrm_face", "score_sde", "mcg"])
def test_inpainting_methods_keep_known_pixels(name, tmp_path):
    options = tiny_inpaint_setup(name)
    method = B.load_restorer(name, **options)
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 32, 32, generator=g)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 4:20] = 1
    out = method.restore(gt * (1 - mask), mask=mask, generator=torch.Generator().manual_seed(1))
    assert out.shape == gt.shape and torch.equal(out * (1 - mask), gt * (1 - mask))
    assert (out * mask).abs().sum() > 0                                       # the holes are filled
    # guided-diffusion's respacing; DDRM's own range(0, 1000, 1000 // steps)
    assert method.timesteps() == ([750, 500, 250, 0] if name.startswith("ddrm") else [999, 666, 333, 0])


def test_repaint_imagenet_is_the_class_conditional_model_with_guidance():
    """RePaint's test_inet256 configs: 256x256_diffusion.pt (class-conditional, learned variance)
    plus 256x256_classifier.pt at scale 1.0, a random class per image; CelebA-HQ: no classifier."""
    imagenet, face = B.get("repaint"), B.get("repaint_face")
    assert [w.file for w in imagenet.weights] == ["256x256_diffusion.pt", "256x256_classifier.pt"]
    assert imagenet.class_cond and imagenet.classifier_scale == 1.0
    assert not face.class_cond and face.classifier_scale == 0.0 and len(face.weights) == 1
    with torch.device("meta"):
        assert sum(p.numel() for p in imagenet.build_network({}).parameters()) == 552_814_086 + 1000 * 1024
    method = B.load_restorer("repaint", **tiny_inpaint_setup("repaint"))
    labels = method.guided_model(4, torch.Generator().manual_seed(3)).labels
    assert labels.shape == (4,) and labels.dtype == torch.long and 0 <= labels.min() and labels.max() < 1000
    assert torch.equal(labels, torch.randint(0, 1000, (4,), generator=torch.Generator().manual_seed(3)))
    assert set(method.modules()) == {"trainable", "trainable_classifier"}
    # use_fp16 as the configs: RePaint's and DDRM's ImageNet runs (test_inet256_*.yml, imagenet_256.yml)
    assert {n for n in ("repaint", "repaint_face", "ddrm", "ddrm_face", "mcg", "score_sde")
            if B.get(n).release_fp16} == {"repaint", "ddrm"}
    assert method.net.dtype == torch.float32                   # half precision only on CUDA


def test_a_wrong_checkpoint_is_one_line(tmp_path):
    bad = tmp_path / "x.pt"
    torch.save({"foo": torch.zeros(1)}, bad)
    from resshift.errors import ResShiftError

    with pytest.raises(ResShiftError, match="not a guided-diffusion 256x256 model") as err:
        B.load_restorer("repaint", weights=str(bad))
    assert "\n" not in str(err.value)
    with pytest.raises(ResShiftError, match="256x256_diffusion_uncond.pt is missing"):
        B.load_restorer("ddrm")


@pytest.mark.slow
def test_lama_celeba_reads_the_lightning_checkpoint(tmp_path):
    """lama_face: the release's Lightning checkpoint (generator.* among other weights, pickled
    hyper-parameters) loads into a 9-block FFC-ResNet (LaMa-Fourier, 27.0 M; big-lama has 18 blocks,
    51.0 M); known pixels are kept; a file of another kind is one line."""
    from resshift.errors import ResShiftError

    torch.manual_seed(0)
    method = B.get("lama_face").with_random_weights(tmp_path)
    assert sum(p.numel() for p in method.net.parameters()) == 27_048_835
    with pytest.raises(Exception):                     # the safe loader refuses the pickled config class
        torch.load(tmp_path / B.get("lama_face").weights[0].file, weights_only=True)
    gt = torch.rand(1, 3, 36, 44, generator=torch.Generator().manual_seed(0))   # padded to 40x48 inside
    mask = torch.zeros(1, 1, 36, 44)
    mask[..., 10:30, 5:25] = 1
    out = method(gt * (1 - mask), mask=mask)
    assert out.shape == gt.shape and torch.equal(out * (1 - mask), gt * (1 - mask))
    bad = tmp_path / "bad.ckpt"
    torch.save({"state_dict": {"generator.conv.weight": torch.zeros(1)}}, bad)
    with pytest.raises(ResShiftError, match="holds no LaMa FFC-ResNet generator") as err:
        B.load_restorer("lama_face", weights=str(bad))
    assert "\n" not in str(err.value)


class _RunsCode:
    def __reduce__(self):
        import os

        return (os.makedirs, (self.target,))


def test_lightning_checkpoints_are_read_without_running_their_code(tmp_path):
    from baselines.lama import read_lightning_checkpoint
    from resshift.errors import ResShiftError

    evil = _RunsCode()
    evil.target = str(tmp_path / "created_by_unpickling")
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {"generator.w": torch.ones(2)}, "hyper_parameters": evil}, path)
    with pytest.raises(ResShiftError, match="not a checkpoint to read .*os.makedirs") as err:
        read_lightning_checkpoint(path)
    assert "\n" not in str(err.value) and not (tmp_path / "created_by_unpickling").exists()
    torch.save({"state_dict": {"generator.w": torch.ones(2)}, "hyper_parameters": {"cfg": _Config(3)}}, path)
    assert torch.equal(read_lightning_checkpoint(path)["generator.w"], torch.ones(2))   # a class of the file's


class _Config:
    def __init__(self, n):
        self.n = n


def test_repaint_random_weight_stand_in_has_its_classifier(tmp_path, monkeypatch):
    """The timing stand-in writes the class-conditional UNet and the classifier, random, in the
    release's format, and loads both (at tiny sizes here: the 256x256 configs patched)."""
    import baselines.guided_diffusion as gd

    monkeypatch.setattr(gd, "ADM_256", dict(gd.ADM_256, **TINY_ADM))
    monkeypatch.setattr(gd, "CLASSIFIER_256", dict(gd.CLASSIFIER_256, **TINY_CLASSIFIER))
    method = B.get("repaint").with_random_weights(tmp_path, steps=4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["256x256_classifier.pt", "256x256_diffusion.pt"]
    assert method.classifier is not None and method.net.num_classes == 1000
    assert method.params()["trainable"] == sum(p.numel() for p in method.net.parameters()) + sum(
        p.numel() for p in method.classifier.parameters())
