"""The guided-diffusion UNet and classifier against numbers produced by the release.

Fixtures (``tests/fixtures/baselines/``), made outside the project with
openai/guided-diffusion at commit 22e0df8183507e13a7813f8d38d51b072ca1e67c, CPU, float32, nothing
patched:

- ``guided_diffusion_unet.pt``: ``script_util.create_model`` with the 256x256 ImageNet configs'
  switches (``class_cond``, ``learn_sigma``, ``resblock_updown``, ``use_scale_shift_norm``,
  ``num_head_channels``, legacy attention order, ``use_fp16=False``) at a small size ("cond":
  32x32 input, 32 channels, ``channel_mult="1,1,2"``, 2 res blocks, attention at 16 and 8), and a
  "plain" variant (convolution up/down-sampling, no scale-shift, ``num_heads=2``, no sigma
  channels; 16x16, ``channel_mult="1,2"``). Weights: seeded normals (seeds 100, 101), the
  zero-initialised layers included, rounded to float16-representable values and stored as float16;
  inputs: a (2, 3, s, s) seeded normal batch, timesteps (3, 777), labels (5, 998).
- ``guided_diffusion_classifier.pt``: ``unet.EncoderUNetModel`` with the arguments
  ``create_classifier`` passes (1000 classes, attention pooling, scale-shift, resblock_updown)
  but 32 channels, 32x32, ``channel_mult=(1, 1, 2, 2)``, 1 res block, 32-channel heads (the
  release's ``create_classifier`` fixes 64-channel heads and sizes >= 64, so the constructor was
  called directly); seed 300, timesteps (10, 500).

Bound: 1e-4 (measured max |diff| is printed by ``-s``; float32 on CPU, same operation order
except the einsum layout).
"""
from pathlib import Path

import pytest
import torch

from baselines.guided_diffusion import ADMClassifier, ADMUNet

FIXTURES = Path(__file__).parent / "fixtures" / "baselines"


def unet_from_release_args(cfg: dict) -> ADMUNet:
    """Our constructor from ``create_model``'s keyword arguments (explicit ``channel_mult``)."""
    return ADMUNet(image_size=cfg["image_size"], in_channels=3, model_channels=cfg["num_channels"],
                   out_channels=6 if cfg["learn_sigma"] else 3, num_res_blocks=cfg["num_res_blocks"],
                   attention_resolutions=tuple(int(r) for r in cfg["attention_resolutions"].split(",")),
                   channel_mult=tuple(int(m) for m in cfg["channel_mult"].split(",")),
                   num_head_channels=cfg["num_head_channels"], num_heads=cfg["num_heads"],
                   resblock_updown=cfg["resblock_updown"], use_scale_shift_norm=cfg["use_scale_shift_norm"],
                   num_classes=1000 if cfg["class_cond"] else None)


def load_fp32(net: torch.nn.Module, state: dict) -> torch.nn.Module:
    net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return net.eval()


@pytest.mark.parametrize("variant", ["cond", "plain"])
def test_unet_matches_release(variant):
    rec = torch.load(FIXTURES / "guided_diffusion_unet.pt")[variant]
    net = load_fp32(unet_from_release_args(rec["config"]), rec["state_dict"])
    with torch.no_grad():
        out = net(rec["x"], rec["t"], rec["y"])
    diff = (out - rec["out"]).abs().max().item()
    print(f"guided-diffusion UNet ({variant}) max |ours - release| = {diff:.2e}")
    assert out.shape == rec["out"].shape
    assert diff < 1e-4


def test_unet_needs_labels_exactly_when_class_conditional():
    rec = torch.load(FIXTURES / "guided_diffusion_unet.pt")["cond"]
    net = load_fp32(unet_from_release_args(rec["config"]), rec["state_dict"])
    with pytest.raises(ValueError, match="class labels"):
        net(rec["x"], rec["t"])


def test_classifier_matches_release():
    rec = torch.load(FIXTURES / "guided_diffusion_classifier.pt")["classifier"]
    cfg = rec["config"]
    net = ADMClassifier(image_size=cfg["image_size"], in_channels=cfg["in_channels"],
                        model_channels=cfg["model_channels"], out_channels=cfg["out_channels"],
                        num_res_blocks=cfg["num_res_blocks"],
                        attention_resolutions=tuple(cfg["image_size"] // d for d in cfg["attention_resolutions"]),
                        channel_mult=cfg["channel_mult"], num_head_channels=cfg["num_head_channels"],
                        use_scale_shift_norm=cfg["use_scale_shift_norm"], resblock_updown=cfg["resblock_updown"])
    load_fp32(net, rec["state_dict"])
    with torch.no_grad():
        out = net(rec["x"], rec["t"])
    diff = (out - rec["out"]).abs().max().item()
    print(f"guided-diffusion classifier max |ours - release| = {diff:.2e}")
    assert diff < 1e-4
