"""The baselines registry: every method restores through one interface, loading small random-weight
networks saved in its release's file format; DDIM against its closed form; plugins; clear errors."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import baselines as B
from resshift.weights import cache_dir
from resshift.errors import ResShiftError

from baselines.ldm import save_tiny_ldm

ROOT = Path(__file__).resolve().parents[1]


def _cache(name: str) -> Path:
    path = cache_dir() / "baselines" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _rrdb(num_feat=16, blocks=1):
    from resshift.compat import import_basicsr

    import_basicsr()
    from basicsr.archs.rrdbnet_arch import RRDBNet

    torch.manual_seed(0)
    return RRDBNet(3, 3, num_feat=num_feat, num_block=blocks, num_grow_ch=32)


def _tiny_eps_run(tmp_path: Path) -> Path:
    from resshift.config import load_config
    from resshift.train import train

    cfg = copy.deepcopy(load_config("demo_ldm"))
    cfg["data"] = {"kind": "packaged", "crop": 32, "images": ["astronaut"]}
    cfg["train"].update(iterations=1, batch_size=2, micro_batch=2, checkpoint_every=1)
    return train(cfg, tmp_path / "ldm_run", progress=False, log=lambda m: None)


BUILT_IN = [n for n in B.registry() if n != "stablesr"]


def test_every_registered_method_implements_tiny(tmp_path):
    """The contract test below needs no per-method code: each method defines its own ``tiny()``,
    except those without weight files, which the base's builds as they are."""
    for name, cls in B.registry().items():
        if cls.tiny.__func__ is B.Restorer.tiny.__func__:
            assert not cls.weights, f"{name}: no tiny()"
            assert isinstance(cls.tiny(tmp_path), cls)
    with pytest.raises(ResShiftError, match="stablesr: no tiny"):            # the release's script, no network here
        B.get("stablesr").tiny(tmp_path)


def test_the_call_path_checks_pads_and_crops():
    """``restorer(lq, mask)``: one line for a user's mistake; padding and crop around ``restore``."""
    sr = B.get("bicubic")()
    with pytest.raises(ResShiftError, match=r"bicubic: expects a \(B, 3, h, w\) batch, got \(1, 1, 8, 8\)"):
        sr(torch.rand(1, 1, 8, 8))
    seen = []

    class Padded(B.Restorer):
        name, task, sf, pad_multiple = "padded_test", "inpaint", 1, 8

        def restore(self, lq, mask=None, generator=None):
            seen.append((tuple(lq.shape), tuple(mask.shape)))
            return (lq * (1 - mask)).clamp(0, 1)

    m = Padded()
    with pytest.raises(ResShiftError, match="padded_test: inpainting needs a mask"):
        m(torch.rand(1, 3, 10, 13))
    out = m(torch.rand(2, 3, 10, 13), torch.ones(2, 1, 10, 13))
    assert seen == [((2, 3, 16, 16), (2, 1, 16, 16))] and out.shape == (2, 3, 10, 13) and out.max() == 0
    face = B.get("gfpgan")
    with pytest.raises(ResShiftError, match="gfpgan: expects aligned faces of 512x512, got 256x256"):
        face.check_input(object.__new__(face), torch.rand(1, 3, 256, 256), None)


class SeededDraws(TorchDispatchMode):
    """The random draws made inside the block: every op tagged ``nondeterministic_seeded`` (randn,
    rand, randint, normal_, bernoulli_ of dropout, multinomial, randperm, ...) that runs."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if torch.Tag.nondeterministic_seeded in func.tags:
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))


def test_seeded_draws_sees_random_ops_only():
    with SeededDraws() as draws:
        torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3)).sigmoid()
    assert draws.ops == []
    with SeededDraws() as draws:
        torch.randint(10, (1,), generator=torch.Generator().manual_seed(0))
        torch.nn.functional.dropout(torch.ones(4), 0.5, training=True)
        torch.randn(2)
    assert draws.ops == ["aten.randint.generator", "aten.bernoulli_.float", "aten.randn.default"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILT_IN)
def test_every_method_restores_a_tiny_batch(name, tmp_path):
    method = B.get(name).tiny(tmp_path)                 # small random weights in the release's format
    size = {"face": 512, "inpaint": 32}.get(method.task, 16)         # faces: aligned 512x512 crops
    if method.task == "face" and hasattr(method, "model"):               # ResShift: its network's face size (tiny: 128)
        size = method.model.face_size
    # a batch of 2; 512x512 faces one crop (restoring 4 of them took 30-76 s per face method on 2
    # cores, a third of the whole suite's CPU time)
    batch = 1 if size >= 512 else 2
    g = torch.Generator().manual_seed(0)
    lq = torch.rand(batch, 3, size, size, generator=g)
    mask = None
    if method.task == "inpaint":
        mask = torch.zeros(batch, 1, size, size)
        mask[..., 8:20, 8:20] = 1
        lq = lq * (1 - mask)
    with SeededDraws() as draws:
        out = method(lq, mask=mask, generator=torch.Generator().manual_seed(5))
    assert out.shape == (batch, 3, size * method.sf, size * method.sf)
    assert out.min() >= 0 and out.max() <= 1 and torch.isfinite(out).all()
    if draws.ops:           # deterministic for a seed: restored again where the first call drew random numbers
        again = method(lq, mask=mask, generator=torch.Generator().manual_seed(5))
        assert torch.equal(out, again)
    meta = method.meta()
    assert meta["method"] == name and (meta["steps"] == -1) == (not method.steps_choices)
    if method.steps_choices:        # latent-diffusion's DDIM grid can have more entries than steps (15 -> 16)
        count = len(range(0, 1000, 1000 // method.steps)) if name.startswith("ldm") else method.steps
        assert meta["timesteps"] and len(meta["timesteps"]) == count
    assert name in ("bicubic", "lq_input") or meta["params"]["trainable"] > 0


def _closed_form_ddim(eps_fn, shape, steps, gen, eta=1.0, clip=False, x0_pred=False):
    """DDIM (Song et al. Eq. 12) with LDM's schedule and timesteps, written out in numpy/torch
    (``clip``: each step's x_0 estimate clipped to [-1, 1], the pixel-space sampler; ``x0_pred``:
    the network gives x_0, and eps is the one that x_0 implies at x_t)."""
    betas = np.linspace(0.0015 ** 0.5, 0.0155 ** 0.5, 1000, dtype=np.float64) ** 2
    abar = np.cumprod(1 - betas)
    step = 1000 // steps
    # latent-diffusion's make_ddim_timesteps('uniform'): range(0, 1000, 1000 // n), each + 1; for
    # n = 15 that is 16 timesteps, 991 down to 1
    ts = [t + 1 for t in range(0, 1000, step)][::-1]
    x = torch.randn(shape, generator=gen, dtype=torch.float32)
    for t in ts:
        a_t = abar[t]
        a_prev = abar[t - step] if t - step >= 0 else abar[0]
        if x0_pred:
            x0 = eps_fn(x, t)
            eps = (x - a_t ** 0.5 * x0) / (1 - a_t) ** 0.5
        else:
            eps = eps_fn(x, t)
            x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5
        x0 = x0.clamp(-1, 1) if clip else x0
        sigma = eta * ((1 - a_prev) / (1 - a_t)) ** 0.5 * (1 - a_t / a_prev) ** 0.5
        z = torch.randn(shape, generator=gen, dtype=torch.float32)
        x = a_prev ** 0.5 * x0 + (1 - a_prev - sigma ** 2) ** 0.5 * eps + sigma * z
    return x, ts


@pytest.mark.parametrize("steps", [4, 15, 50])
def test_ddim_matches_its_closed_form(steps):
    from resshift.ldm import EpsDiffusion

    lq = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def eps_model(x, t, lq=None):                               # a fixed, non-trivial "network"
        tt = t if isinstance(t, int) else int(t.reshape(-1)[0])
        return 0.3 * x + 0.2 * lq * (tt / 1000.0)

    d = EpsDiffusion(sf=1, latent=False, sample_steps=steps)
    ours = d.sample(eps_model, lq, model_kwargs={"lq": lq}, generator=torch.Generator().manual_seed(7))
    ref, ts = _closed_form_ddim(lambda x, t: eps_model(x, t, lq), lq.shape, steps, torch.Generator().manual_seed(7),
                                clip=True)
    assert d.timesteps(steps) == ts
    torch.testing.assert_close(ours, ref.clamp(-1, 1), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("steps", [4, 15])
def test_x0_prediction_ddim_matches_its_closed_form(steps):
    """``prediction: sample`` (the demo's same-budget LDM): DDIM with the network's x_0 (clipped
    in pixel space) and the eps it implies, as written out; not the eps sampler's result."""
    from resshift.ldm import EpsDiffusion

    lq = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def x0_model(x, t, lq=None):                                # a fixed, non-trivial "network"
        tt = t if isinstance(t, int) else int(t.reshape(-1)[0])
        return 0.8 * lq + 0.1 * x * (tt / 1000.0)

    d = EpsDiffusion(sf=1, latent=False, sample_steps=steps, prediction="sample")
    ours = d.sample(x0_model, lq, model_kwargs={"lq": lq}, generator=torch.Generator().manual_seed(7))
    ref, _ = _closed_form_ddim(lambda x, t: x0_model(x, t, lq), lq.shape, steps, torch.Generator().manual_seed(7),
                               clip=True, x0_pred=True)
    torch.testing.assert_close(ours, ref.clamp(-1, 1), atol=2e-5, rtol=1e-5)
    as_eps = EpsDiffusion(sf=1, latent=False, sample_steps=steps).sample(
        x0_model, lq, model_kwargs={"lq": lq}, generator=torch.Generator().manual_seed(7))
    assert (as_eps - ours).abs().max() > 0.1
    # training: the loss compares the output with x_0, not with the noise
    hq, noise, t = torch.rand(2, 3, 4, 4) * 2 - 1, torch.randn(2, 3, 4, 4), torch.tensor([10, 900])
    out = d.training_losses(lambda x, t: hq, hq, hq, t, noise=noise)
    assert torch.equal(out["mse"], torch.zeros(2)) and "pred_x0" in out
    with pytest.raises(ResShiftError, match="diffusion.prediction 'v'"):
        EpsDiffusion(prediction="v")


def test_released_ldm_adapter_samples_ddim_in_closed_form(tmp_path):
    """The `ldm` method (diffusers parts) follows the same closed form on the VQ latent."""
    save_tiny_ldm(_cache(B.get("ldm").weights[0].file))
    method = B.load_restorer("ldm", steps=4)
    lq = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = method.restore(lq, generator=torch.Generator().manual_seed(3))

    def eps_fn(x, t):
        with torch.no_grad():
            return method.unet(torch.cat([x, lq * 2 - 1], dim=1), t).sample

    latent, ts = _closed_form_ddim(eps_fn, (1, 3, 16, 16), 4, torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = (method.vqvae.decode(latent).sample.clamp(-1, 1) + 1) / 2
    assert method.timesteps() == ts == [751, 501, 251, 1]
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_parameter_counts_match_table_2(tmp_path):
    """Full-size architectures as the loaders build them from the released layouts."""
    import spandrel

    from resshift.compat import import_basicsr

    import_basicsr()
    from basicsr.archs.swinir_arch import SwinIR

    rrdb = _rrdb(num_feat=64, blocks=23)
    path = tmp_path / "rrdb.pth"
    torch.save({"params_ema": rrdb.state_dict()}, path)
    count = lambda m: sum(p.numel() for p in m.parameters()) / 1e6  # noqa: E731
    assert round(count(spandrel.ModelLoader().load_from_file(str(path)).model), 2) == 16.70
    swin = SwinIR(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[6] * 9, embed_dim=240,
                  num_heads=[8] * 9, mlp_ratio=2, upsampler="nearest+conv", resi_connection="3conv")
    torch.save({"params_ema": swin.state_dict()}, path)
    assert round(count(spandrel.ModelLoader().load_from_file(str(path)).model), 2) == 28.01
    from baselines.ldm import released_ldm_unet

    # The released UNet (its unet/config.json, the fields below) has 113,622,563 parameters; Table II
    # prints 113.60 M. Every network that loads the released weights has this count.
    released_config = {"in_channels": 6, "out_channels": 3, "layers_per_block": 2, "attention_head_dim": 32,
                       "block_out_channels": [160, 320, 320, 640], "norm_num_groups": 32, "sample_size": 64,
                       "down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
                       "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"],
                       "time_embedding_type": "positional", "flip_sin_to_cos": True, "freq_shift": 0,
                       "downsample_padding": 1, "mid_block_scale_factor": 1, "act_fn": "silu"}
    unet = released_ldm_unet()
    assert {k: (list(v) if isinstance(v, tuple) else v) for k, v in unet.config.items() if k in released_config} \
        == released_config
    assert sum(p.numel() for p in unet.parameters()) == 113_622_563
    dasr = B.get("dasr").with_random_weights(tmp_path / "dasr")
    assert round(sum(dasr.params().values()) / 1e6, 2) == 8.06                 # SR net 7.59 M + predictor 0.47 M


def test_dasr_expert_convolution_is_the_mixture_of_its_experts():
    """Each image's kernel is sum_k w_k * kernel_k (and bias): the batched grouped convolution
    equals per-image, per-expert convolutions mixed afterwards."""
    import torch.nn.functional as F

    from baselines.dasr import ExpertConv2d

    torch.manual_seed(0)
    conv = ExpertConv2d(4, 6, experts=3)
    torch.nn.init.normal_(conv.bias)
    x, mix = torch.randn(2, 4, 8, 8), torch.randn(2, 3)
    ref = torch.stack([sum(mix[b, k] * F.conv2d(x[b:b + 1], conv.weight[k], conv.bias[k], padding=1)[0]
                           for k in range(3)) for b in range(2)])
    torch.testing.assert_close(conv(x, mix), ref, atol=1e-5, rtol=1e-5)


def test_dasr_wrong_file_is_one_line(tmp_path):
    bad = tmp_path / "net_g.pth"
    torch.save({"params": {"conv.weight": torch.zeros(1)}}, bad)
    p = tmp_path / "net_p.pth"
    from baselines.dasr import DegradationPredictor

    torch.save(DegradationPredictor().state_dict(), p)
    with pytest.raises(ResShiftError, match="does not hold DASR's net_g") as err:
        B.load_restorer("dasr", weights=str(bad), weights_p=str(p))
    assert "\n" not in str(err.value)


def test_missing_weights_give_the_registry_message(tmp_path):
    with pytest.raises(ResShiftError) as err:
        B.load_restorer("realesrgan")
    msg = str(err.value)
    assert "RealESRGAN_x4plus.pth" in msg and "github.com/xinntao/Real-ESRGAN" in msg
    assert str(cache_dir() / "baselines") in msg and "\n" not in msg
    with pytest.raises(ResShiftError, match="ldm-super-resolution-4x-openimages"):
        B.load_restorer("ldm", steps=15)
    with pytest.raises(ResShiftError, match="unknown method 'nope'"):
        B.load_restorer("nope")
    with pytest.raises(ResShiftError, match="has no sampling steps"):
        B.load_restorer("bicubic", steps=4)


def test_stablesr_adapter_builds_the_release_command_and_collects_outputs(tmp_path):
    """No GPU or StableSR here: a stand-in script plays the release (same flags, same output names)."""
    from baselines.stablesr import CONFIG, SCRIPT, stablesr_timesteps

    repo = tmp_path / "StableSR"
    (repo / "scripts").mkdir(parents=True)
    (repo / SCRIPT).write_text(
        "import argparse, os\nfrom PIL import Image\nfrom tqdm import trange\n"
        "p = argparse.ArgumentParser()\n"
        "for a in ['--config','--ckpt','--vqgan_ckpt','--init-img','--outdir','--ddpm_steps','--dec_w',"
        "'--colorfix_type','--input_size','--seed','--n_samples']: p.add_argument(a)\n"
        "o = p.parse_args()\n"
        "assert o.config == %r and o.dec_w == '0.5' and o.colorfix_type == 'adain' and o.input_size == '512'\n"
        "os.makedirs(o.outdir, exist_ok=True)\n"
        "open(os.path.join(o.outdir, 'args.txt'), 'w').write(o.ddpm_steps + ' ' + o.seed)\n"
        "for i in trange(1):\n"
        "  for f in os.listdir(o.init_img):\n"
        "    Image.open(os.path.join(o.init_img, f)).resize((512, 512)).save("
        "os.path.join(o.outdir, os.path.splitext(f)[0] + '.png'))\n" % CONFIG)
    for spec in B.get("stablesr").weights:
        _cache(spec.file).write_bytes(b"stand-in")
    method = B.load_restorer("stablesr", steps=4, repo=str(repo), python=sys.executable)
    cmd = method.command(Path("IN"), Path("OUT"), 9, 2, Path("T.json"))
    assert cmd[3:5] == [SCRIPT, "--config"] and cmd[cmd.index("--ddpm_steps") + 1] == "4"
    lq = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = method.restore(lq, generator=torch.Generator().manual_seed(1))
    assert out.shape == (2, 3, 64, 64) and 0 <= out.min() and out.max() <= 1
    assert method.timesteps() == stablesr_timesteps(4) == [999, 666, 333, 0]
    bad = B.load_restorer("stablesr", steps=4, repo=str(repo), python=f"{sys.executable} -c 'import sys; sys.exit(3)'")
    bad.python = [sys.executable, "-c", "import sys; sys.stderr.write('CUDA unavailable'); sys.exit(3)"]
    with pytest.raises(ResShiftError, match="exit 3.*CUDA unavailable"):
        bad.restore(lq)
    with pytest.raises(ResShiftError, match="no StableSR checkout"):
        B.load_restorer("stablesr", steps=4, repo=str(tmp_path / "none"))


def _demo_set(tmp_path: Path) -> Path:
    from resshift.imageio import write_image

    data = tmp_path / "set"
    (data / "lq").mkdir(parents=True)
    for i in range(2):
        write_image(torch.rand(3, 12, 16, generator=torch.Generator().manual_seed(i)), data / "lq" / f"im{i}.png")
    return data


def test_run_restores_a_test_set_with_meta(tmp_path):
    import json

    from bench.cli import main

    data = _demo_set(tmp_path)
    assert main(["run", "bicubic", "--dataset", "set", "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    files = sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith("."))
    assert files == ["im0.png", "im1.png", "meta.json"]
    entries = sorted(p.name for p in (tmp_path / "out" / ".per_image").iterdir())   # resume state (bench/run.py)
    assert entries == [".restorer.json", "im0.json", "im1.json"]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["method"] == "bicubic" and meta["steps"] == -1 and meta["images"] == 2


@pytest.mark.slow
def test_an_installed_plugin_appears_and_runs(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(ROOT / "tests" / "fixtures" / "plugin")], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    exe = [sys.executable, "-m", "bench.cli"]
    listing = subprocess.run(exe + ["baselines"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0 and "nearest" in listing.stdout and "Nearest (plugin)" in listing.stdout
    data = _demo_set(tmp_path)
    proc = subprocess.run(exe + ["run", "nearest", "--dataset", "set", "--data", str(data), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    from resshift.imageio import read_image

    out = read_image(tmp_path / "o" / "im0.png")[0]
    lq = read_image(data / "lq" / "im0.png")[0]
    assert out.shape == (3, 48, 64) and torch.equal(out[:, ::4, ::4], lq)


def test_cli_missing_weights_is_one_line(tmp_path):
    data = _demo_set(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "run", "swinir", "--dataset", "set", "--data", str(data)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("resshift-bench: error")]
    assert len(lines) == 1 and "003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth" in lines[0]


def test_methods_that_cannot_run_here_are_listed_and_refused_with_the_reason(tmp_path, capsys, monkeypatch):
    from bench.cli import main

    assert not set(B.registry()) & set(B.UNAVAILABLE)                 # a method is one or the other
    monkeypatch.setitem(B.UNAVAILABLE, "closedface", B.base.Unavailable(
        "closedface", "face", "ClosedFace", "code not released", "example.org/closedface", "proprietary"))
    assert main(["baselines"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.split()[:1] == ["closedface"])
    assert "NOT AVAILABLE: code not released" in line and "release: example.org/closedface" in line
    gfpgan = next(ln for ln in out.splitlines() if ln.split()[:1] == ["gfpgan"])
    assert "GFPGANv1.3.pth MISSING" in gfpgan and "licence: Apache-2.0" in gfpgan
    with pytest.raises(ResShiftError, match="closedface: not available: code not released"):
        B.load_restorer("closedface")
    assert main(["baselines", "fetch", "dasr"]) == 2                     # no direct address: by hand
    assert "has no direct download" in capsys.readouterr().err


@pytest.mark.slow
def test_timing_a_baseline_uses_a_random_stand_in_when_weights_are_missing(tmp_path):
    from bench.timing import time_method, write_timing

    rec = time_method("realesrgan", size=8, repeats=1, warmup=0)
    assert rec["weights"] == "random (weights missing)" and rec["params_trainable_M"] == 16.70
    assert rec["steps"] == -1 and rec["output"] == "32x32" and rec["seconds_per_image"] > 0
    assert write_timing(rec, tmp_path).name == "realesrgan--1.json"
    assert time_method("bicubic", size=8, repeats=1, warmup=0)["params_trainable_M"] == 0
    fill = time_method("deepfillv2", size=32, repeats=1, warmup=0)             # inpainting: timed with a hole
    assert fill["params_trainable_M"] == 4.05 and fill["output"] == "32x32"
    with pytest.raises(ResShiftError, match="no random-weight stand-in"):
        time_method("stablesr", steps=4, size=8, repeats=1, warmup=0)


@pytest.mark.slow
def test_a_trained_run_is_a_method_by_name_at_run(tmp_path):
    """NAME@RUN loads results/models/RUN (config.yaml + checkpoints/last.pth) for run and time."""
    import json

    from bench.cli import main
    from bench.timing import time_method

    _tiny_eps_run(tmp_path)
    models = tmp_path / "models"
    models.mkdir()
    (tmp_path / "ldm_run").rename(models / "tiny")
    data = _demo_set(tmp_path)
    out = tmp_path / "out"
    assert main(["run", "ldm_retrained@tiny", "--dataset", "set", "--data", str(data), "--steps", "4",
                 "--models", str(models), "--out", str(out)]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["method"] == "ldm_retrained@tiny" and meta["run"] == "tiny" and meta["steps"] == 4
    assert meta["options"]["checkpoint"] == str(models / "tiny" / "checkpoints" / "last.pth")
    rec = time_method("ldm_retrained@tiny", steps=4, size=16, repeats=1, warmup=0, models=models)
    assert rec["method"] == "ldm_retrained@tiny" and rec["weights"] == "trained run tiny" and rec["steps"] == 4
    with pytest.raises(ResShiftError, match=r"ldm_retrained@nothing: no trained run at .*nothing"):
        time_method("ldm_retrained@nothing", steps=4, size=16, repeats=1, warmup=0, models=models)
    assert main(["run", "ldm_retrained@nothing", "--dataset", "set", "--data", str(data), "--models", str(models)]) == 2
