"""SwinIR's test-time padding and crop against the release's own test script.

Fixture ``fixtures/swinir/swinir_padding.pt`` was produced outside the project by running
github.com/JingyunLiang/SwinIR at commit 6545850fbf8df298df73d81f3e8cba638787c8bd,
``main_test_swinir.py --task real_sr --scale 4 --large_model`` (CPU, torch 2.x) on four random
uint8 RGB PNGs (numpy default_rng(2); 64x64, 37x50, 16x24, 3x12). The only patch: the script's
``net`` class was swapped for the release's own ``models.network_swinir.SwinIR`` at small sizes
(depths [2, 2], embed_dim 24, num_heads [2, 2]; window 8, mlp_ratio 2, nearest+conv, 3conv,
img_size 64 as the large model) that records the tensor the script feeds it and its output. Its
weights: torch.manual_seed(0) initialisation plus 0.02 * N(0, 1) per parameter (Generator seed 1),
saved as ``params_ema`` and read by the script's own loader. Stored: the parameters (the
deterministic attn_mask / relative_position_index buffers are rebuilt here), each input, the
padded input the network received, its raw output and the PNG the script wrote.
"""
from pathlib import Path

import pytest
import torch

FIXTURE = Path(__file__).parent / "fixtures" / "swinir" / "swinir_padding.pt"


@pytest.fixture(scope="module")
def release():
    return torch.load(FIXTURE)


@pytest.fixture(scope="module")
def swinir(release, tmp_path_factory):
    """Our SwinIR method reading the fixture's weights through spandrel, as it reads the release's file."""
    from spandrel.architectures.SwinIR import SwinIR as Net

    import baselines as B

    net = Net(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[2, 2], embed_dim=24,
              num_heads=[2, 2], mlp_ratio=2, upsampler="nearest+conv", resi_connection="3conv")
    state = net.state_dict()
    assert set(release["buffers_not_stored"]) == set(state) - set(release["weights_params_ema"])
    state.update(release["weights_params_ema"])
    path = tmp_path_factory.mktemp("swinir") / "small_swinir.pth"
    torch.save({"params_ema": state}, path)
    return B.load_restorer("swinir", weights=str(path))


def _lq(item):
    return item["lq_uint8_rgb"].permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("name", ["a_64x64", "b_37x50", "c_16x24", "d_3x12"])
def test_swinir_padding_is_the_release_scripts(release, name):
    from baselines.gan import swinir_test_padding

    item = release["images"][name]
    padded = swinir_test_padding(_lq(item), 8)[0]
    assert padded.shape == item["padded_input"].shape
    assert torch.equal(padded, item["padded_input"])            # a copy of pixels: exact


def test_a_64x64_input_gains_a_whole_window(release):
    from baselines.gan import swinir_test_padding

    assert release["images"]["a_64x64"]["padded_input"].shape[-2:] == (72, 72)
    assert swinir_test_padding(torch.zeros(1, 3, 64, 64)).shape[-2:] == (72, 72)


@pytest.mark.parametrize("name", ["a_64x64", "b_37x50", "c_16x24", "d_3x12"])
def test_swinir_restore_matches_the_release_output(release, swinir, name):
    """Same network, same padded input: the raw outputs agree to float rounding (measured max
    abs difference 6e-8 on this CPU; bound 1e-4; spandrel's own padding, used before, differed
    by up to 0.074). The x4 crop is the top-left one the release saves: its uint8 PNG equals ours
    rounded, within one grey level at rounding ties (one pixel value of 196608 at 64x64)."""
    item = release["images"][name]
    h, w = item["lq_uint8_rgb"].shape[:2]
    ours = swinir(_lq(item))[0]                 # the one call path: pads as the release, crops
    assert ours.shape == (3, 4 * h, 4 * w)
    theirs = item["model_output"][:, : 4 * h, : 4 * w].clamp(0, 1)
    assert (ours - theirs).abs().max() <= 1e-4
    png = item["saved_png_rgb"].permute(2, 0, 1).float()
    diff = ((ours * 255).round() - png).abs()
    assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3
