"""DifFace's networks and sampler against numbers produced by its release.

Fixture ``tests/fixtures/baselines/difface.pt``, made outside the project with zsyOAOA/DifFace at
5c9ab801b2872544b221d4bfdeead7d430af4ed2 (CPU, float32, nothing patched):

- ``unet``: ``models.unet.UNetModel`` with ``iddpm_ffhq512``'s switches (per-level
  ``num_res_blocks``, convolution resampling, scale-shift, learned sigma) at 32x32,
  ``channel_mult`` (1, 2, 2), blocks (1, 2, 1), attention at 16, 32-channel heads; seed 500;
- ``estimator``: ``models.swinir.SwinIR`` with ``swinir_restoration512_L1``'s switches (8x
  pixel-unshuffle input, ``nearest+conv`` x8 output, ``1conv``) at embed_dim 12, one layer of depth
  2, 2 heads, window 8, img_size 16 (shifted windows with their mask, as the 512 model); seed
  501; input a (2, 3, 128, 128) batch in [0, 1];
- ``ddim`` / ``ancestral``: ``create_gaussian_diffusion`` (linear, 1000 steps, learn_sigma) with
  respacing ``ddim250`` / ``250``; ``q_sample`` of the estimate (2, 3, 32, 32, mapped to [-1, 1])
  at start level 5 / 4, then ``ddim_sample_loop`` (eta 0.5, gamma 0, as ``inference_difface.py``
  restores aligned faces) / ``p_sample_loop`` with ``start_timesteps``; every ``randn``/``randn_like``
  recorded.

Weights are seeded normals rounded to float16-representable values (stored as float16).
"""
from pathlib import Path

import pytest
import torch

from baselines.difface import DifFace, difface_sample, schedule
from baselines.gan import load_spandrel
from baselines.guided_diffusion import ADMUNet, RecordedNoise

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "difface.pt"


def _unet(rec):
    cfg = rec["config"]
    net = ADMUNet(image_size=cfg["image_size"], in_channels=3, model_channels=cfg["model_channels"],
                  out_channels=cfg["out_channels"], num_res_blocks=cfg["num_res_blocks"],
                  attention_resolutions=tuple(cfg["attention_resolutions"]), channel_mult=tuple(cfg["channel_mult"]),
                  num_head_channels=cfg["num_head_channels"], resblock_updown=cfg["resblock_updown"],
                  use_scale_shift_norm=cfg["use_scale_shift_norm"])
    net.load_state_dict({k: v.float() for k, v in rec["state_dict"].items()}, strict=True)
    return net.eval()


def test_estimator_matches_release(tmp_path):
    """Our estimator path (spandrel reading the release's file, as ``DifFace.load``) on the
    release's SwinIR weights reproduces its output (bound 1e-4; measured printed by -s)."""
    rec = torch.load(FIXTURE)["estimator"]
    path = tmp_path / "swinir.pth"
    torch.save({k: v.float() for k, v in rec["state_dict"].items()}, path)
    net = load_spandrel(path, "difface", "SwinIR estimator", "SwinIR", "cpu").model.eval()
    assert getattr(net, "start_unshuffle", 1) == 8
    with torch.no_grad():
        out = net(rec["lq"])
    diff = (out - rec["out"]).abs().max().item()
    print(f"DifFace estimator max |ours - release| = {diff:.2e}")
    assert diff < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["ddim", "ancestral"])
def test_sampler_matches_release(sampler):
    fx = torch.load(FIXTURE)
    rec = fx[sampler]
    sched = schedule(sampler)
    assert sched.t[:rec["start"] + 1] == sorted(rec["timestep_map"].tolist())[:rec["start"] + 1]
    unet = _unet(fx["unet"])
    noise = RecordedNoise(rec["draws"])
    with torch.no_grad():
        out = difface_sample(unet, fx["x0_hat"] * 2 - 1, rec["start"], sched, noise, sampler=sampler,
                             eta=rec["eta"] if rec["eta"] is not None else 0.5)
    assert noise.used == len(rec["draws"])
    diff = (out - rec["sample"]).abs().max().item()
    print(f"DifFace {sampler} max |ours - release| = {diff:.2e}")
    assert diff < 1e-4


def test_ddim_respacing_is_the_releases_ddim250():
    ddim, ancestral = schedule("ddim"), schedule("ancestral")
    assert ddim.t == list(range(0, 1000, 4)) and ancestral.t[-1] == 999 and ancestral.steps == 250
    assert DifFace.release_parity
