"""The diffusion inpainting samplers against their releases' own sampler loops, fed the same
noise (every ``torch.randn``/``randn_like`` the release drew was logged and is replayed through
:class:`baselines.guided_diffusion.RecordedNoise`).

Networks: the tiny guided-diffusion UNet and classifier of ``guided_diffusion_unet.pt`` /
``guided_diffusion_classifier.pt`` (see ``test_guided_diffusion_parity.py``), built in the
release process with the release's own classes and the same float16-representable weights.
"""
from pathlib import Path

import pytest
import torch
from test_guided_diffusion_parity import load_fp32, unet_from_release_args

from baselines.guided_diffusion import (
    ADMClassifier,
    GuidedModel,
    InpaintSchedule,
    RecordedNoise,
)
from baselines.repaint import repaint_sample

FIXTURES = Path(__file__).parent / "fixtures" / "baselines"


def tiny_unet():
    rec = torch.load(FIXTURES / "guided_diffusion_unet.pt")["cond"]
    return load_fp32(unet_from_release_args(rec["config"]), rec["state_dict"])


def tiny_classifier():
    rec = torch.load(FIXTURES / "guided_diffusion_classifier.pt")["classifier"]
    cfg = rec["config"]
    net = ADMClassifier(image_size=cfg["image_size"], model_channels=cfg["model_channels"],
                        out_channels=cfg["out_channels"], num_res_blocks=cfg["num_res_blocks"],
                        attention_resolutions=tuple(cfg["image_size"] // d for d in cfg["attention_resolutions"]),
                        channel_mult=cfg["channel_mult"], num_head_channels=cfg["num_head_channels"])
    return load_fp32(net, rec["state_dict"])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["guided", "unguided"])
def test_repaint_matches_release(case):
    """Fixture ``repaint_sampler.pt``: andreas128/RePaint at 8e2a0552a0cc306e623da807d353915f1af17726,
    ``GaussianDiffusion.p_sample_loop`` of ``create_model_and_diffusion`` (linear schedule, 1000
    steps respaced to 12, ``learn_sigma``, ``inpa_inj_sched_prev``, ``clip_denoised``) with
    ``test.py``'s ``model_fn``/``cond_fn`` on the tiny class-conditional UNet and classifier;
    "guided": classifier_scale 1.0, jump length 3, 3 samples per jump; "unguided": no classifier,
    jump length 2, 2 samples; 2 images 32x32 (labels 7, 400), a box hole and a half-image hole.
    Nothing in the release was patched (its conf is a ``Default_Conf`` filled in the script).
    Bound 1e-4 on the [-1, 1] output after 12 + jumps steps (measured max |diff| printed by -s)."""
    rec = torch.load(FIXTURES / "repaint_sampler.pt")[case]
    sched = InpaintSchedule(rec["steps"])
    assert sched.t == rec["timestep_map"].tolist()
    model = GuidedModel(tiny_unet(), rec["y"], tiny_classifier(), rec["classifier_scale"])
    noise = RecordedNoise(rec["draws"])
    out = repaint_sample(model, rec["gt"], rec["gt_keep_mask"], sched, noise,
                         jump=rec["jump_length"], resample=rec["jump_n_sample"])
    assert noise.used == len(rec["draws"])                    # every release draw, no more
    diff = (out - rec["sample"]).abs().max().item()
    print(f"RePaint ({case}) max |ours - release| = {diff:.2e}")
    assert diff < 1e-4


def _mcg_fixture():
    """Fixture ``mcg_sampler.pt``: HJ-harry/MCG_diffusion at d5bfd15f580432c31c9aa7ba5a1b20d3b37edb17,
    ``GaussianDiffusion.p_sample_loop`` of its ``create_model_and_diffusion`` (linear schedule, 1000
    steps respaced to 8, ``learn_sigma``, ``clip_denoised``) with ``sample_method`` "MCG" (one image
    per run, two runs) and "vanilla" (its Score-SDE; both images in one run), on
    the tiny class-conditional UNet with fixed labels (7, 400) as the network; 32x32 images, a box
    hole and a half-image hole (the release's 3-channel keep mask). Patched: the release's
    top-level ``utils.py`` imports tensorflow for image-saving helpers the sampler does not call; a
    stub module stood in for it."""
    return torch.load(FIXTURES / "mcg_sampler.pt")


def _run(sampler, rec, **kw):
    sched = InpaintSchedule(8)
    model = GuidedModel(tiny_unet(), rec["labels"])
    noise = RecordedNoise(rec["draws"])
    out = sampler(model, rec["ref"] * rec["mask"], rec["mask"][:, :1], sched, noise, **kw)
    assert noise.used == len(rec["draws"])
    return out


def _mcg_together(singles):
    """The two single-image problems as one batch, their draws concatenated along the batch."""
    together = {k: torch.cat([r[k] for r in singles]) for k in ("ref", "mask", "labels")}
    together["draws"] = torch.cat([r["draws"] for r in singles], dim=1)
    return together


def test_mcg_matches_release():
    """The release ran one image per batch (where its batch-wide norm is the per-image norm);
    ours runs both images in one batch on the concatenated draws and reproduces both within 1e-4
    (measured 4.0e-5 and 4.5e-5 on one CPU: the gradient step through the network amplifies float32
    rounding)."""
    from baselines.mcg import mcg_sample

    fx = _mcg_fixture()
    assert InpaintSchedule(fx["steps"]).t == fx["timestep_map"].tolist()
    ours = _run(mcg_sample, _mcg_together(fx["mcg"]))
    for i, rec in enumerate(fx["mcg"]):
        diff = (ours[i] - rec["sample"][0]).abs().max().item()
        print(f"MCG image {i} max |ours - release| = {diff:.2e}")
        assert diff < 1e-4


@pytest.mark.slow
def test_mcg_image_does_not_depend_on_its_batch_mates():
    """The issue's fix: with image 1 replaced by another image (its reference zeroed), image 0's
    output is still the release's single-image output (the release's ``th.norm`` over the whole
    batch would change it)."""
    from baselines.mcg import mcg_sample

    fx = _mcg_fixture()
    together = _mcg_together(fx["mcg"])
    together["ref"] = torch.stack([together["ref"][0], torch.zeros_like(together["ref"][1])])
    ours = _run(mcg_sample, together)
    assert (ours[0] - fx["mcg"][0]["sample"][0]).abs().max().item() < 1e-4
    assert (ours[1] - fx["mcg"][1]["sample"][0]).abs().max().item() > 1e-2       # image 1 did change


def test_score_sde_matches_release():
    """MCG release's "vanilla" sampler (Score-SDE imputation), fixture as in :func:`_mcg_fixture`."""
    from baselines.score_sde import score_sde_sample

    rec = _mcg_fixture()["vanilla"]
    diff = (_run(score_sde_sample, rec) - rec["sample"]).abs().max().item()
    print(f"Score-SDE max |ours - release| = {diff:.2e}")
    assert diff < 1e-4


def _ddrm_basis_to_image(vec: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """DDRM's ``Inpainting.V`` written out: basis coordinates (kept entries first, ascending in
    channel-interleaved pixel order, then the missing entries in the runner's order: all red, all
    green, all blue) -> a (N, 3, H, W) image."""
    n, (h, w) = vec.shape[0], keep.shape[-2:]
    hole_pixels = torch.nonzero(keep.reshape(-1) == 0).reshape(-1)
    missing = torch.cat([hole_pixels * 3, hole_pixels * 3 + 1, hole_pixels * 3 + 2])
    is_missing = torch.zeros(3 * h * w, dtype=torch.bool)
    is_missing[missing] = True
    kept = torch.nonzero(~is_missing).reshape(-1)
    interleaved = torch.zeros(n, 3 * h * w)
    interleaved[:, kept] = vec[:, :len(kept)]
    interleaved[:, missing] = vec[:, len(kept):]
    return interleaved.reshape(n, h * w, 3).permute(0, 2, 1).reshape(n, 3, h, w)


@pytest.mark.parametrize("case", ["eta085", "eta05_etab07"])
def test_ddrm_matches_release(case):
    """Fixture ``ddrm_sampler.pt``: bahjat-kawar/ddrm at 32b6b3ccfda532ba01c9cc5b6e7456c3a06a6ca2,
    ``functions.denoising.efficient_generalized_steps`` with ``svd_replacement.Inpainting`` (the
    runner's missing indices for one 8x7 hole), sigma_0 = 0, ``get_beta_schedule("linear")``,
    ``seq = range(0, 1000, 1000 // steps)``: 10 steps with eta 0.85, eta_b 1 and 8 steps with
    eta 0.5, eta_b 0.7; network: the tiny unconditional UNet ("plain", 16x16, 3 output channels),
    2 images. Patched: ``xs[-1].to('cuda')`` -> ``.to('cpu')`` (the release hard-codes CUDA).
    The release draws in its SVD basis (per step: all coordinates, an empty draw, the kept
    coordinates); they are mapped to image space by :func:`_ddrm_basis_to_image` (a permutation)
    and fed as (holes' z, known pixels' z'). The output is not clipped and reaches |x| ~ 300 on
    this random network, so the bound is 1e-4 relative to max(1, |x|)."""
    from baselines.ddrm import DDRMSchedule, ddrm_sample

    rec = torch.load(FIXTURES / "ddrm_sampler.pt")[case]
    urec = torch.load(FIXTURES / "guided_diffusion_unet.pt")["plain"]
    net = load_fp32(unet_from_release_args(urec["config"]), urec["state_dict"])
    sched = DDRMSchedule(rec["timesteps"])
    assert sched.t == rec["seq"].tolist()
    keep = rec["keep"]
    draws = rec["draws"]
    n = draws[0].shape[0]
    replay = [_ddrm_basis_to_image(draws[0].reshape(n, -1), keep)]
    for full, empty, known in zip(draws[1::3], draws[2::3], draws[3::3]):
        assert empty.numel() == 0                               # sigma_0 = 0: no "less noisy than y" entries
        replay.append(_ddrm_basis_to_image(full, keep))
        replay.append(_ddrm_basis_to_image(torch.cat([known, torch.zeros_like(full[:, known.shape[1]:])], 1), keep))
    noise = RecordedNoise(replay)
    out = ddrm_sample(GuidedModel(lambda x, t, y: net(x, t)), rec["x_orig"] * keep, keep, sched, noise,
                      eta=rec["eta"], eta_b=rec["etaB"])
    assert noise.used == len(replay)
    rel = ((out - rec["sample"]).abs() / rec["sample"].abs().clamp_min(1)).max().item()
    print(f"DDRM ({case}) max |ours - release| / max(1, |release|) = {rel:.2e}; "
          f"max |release| = {rec['sample'].abs().max():.1f}")
    assert rel < 1e-4


def test_recorded_noise_says_what_went_wrong():
    noise = RecordedNoise([torch.zeros(1, 3, 2, 2)])
    with pytest.raises(ValueError, match=r"draw 0 has shape \(1, 3, 2, 2\), the sampler wants \(1, 3, 4, 4\)"):
        noise.draw(torch.zeros(1, 3, 4, 4))
    assert noise.draw(torch.zeros(1, 3, 2, 2)).shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="all 1 draws used"):
        noise.draw(torch.zeros(1, 3, 2, 2))
