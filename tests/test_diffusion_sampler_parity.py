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

from baselines.guided_diffusion import ADMClassifier, GuidedModel, InpaintSchedule, RecordedNoise
from baselines.repaint import repaint_sample

from test_guided_diffusion_parity import load_fp32, unet_from_release_args

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
