"""VQFR v2 against the release's own network (fixture ``tests/fixtures/baselines/vqfr_v2.pt``).

How the fixture was made (outside the project, /work/scratch/i23a/vqfr/make_fixture.py): the
release github.com/TencentARC/VQFR at commit 239c77a, ``vqfr.archs.vqfrv2_arch.VQFRv2`` with
the layout of ``options/test/VQFR/test_vqfr_v2.yml`` (code selection "Predict", attention in
encoder and decoder, L2VectorQuantizer, deformable groups 4, condition channels 32) at small
sizes: base channels 32 (release 64), multipliers [1, 1, 2] ([1, 2, 2, 4, 4, 8]), 1 block per
level (2), code dim 32 (256), 16 codes (1024), latent 4x4 (16x16) for a 16x16 input (512).
Patches: none to the network code. The deformable convolution runs the release's own branch for
torchvision >= 0.9 (``torchvision.ops.deform_conv2d``), so its CUDA extension is not needed; the
package ``__init__`` files (which import the whole training framework) were bypassed by importing
the arch modules from their folders, and ``get_root_logger`` was stubbed. torch.manual_seed(0),
then every parameter redrawn from torch.Generator seed 23 (N(0, 1/fan_in) weights, offset
convolutions N(0, 0.09/fan_in) so offsets are a few pixels, biases N(0, 0.02^2), norm scales
1 + N(0, 0.01)); input (2, 3, 16, 16) U(-1, 1). Recorded, in eval mode, ``net(x, fidelity_ratio)``
for ratios 0.0 (the release's default) and 0.5: ``quant_logit``, ``texture_dec``, ``main_dec``.
The code arg-max margins are >= 2.3e-3, far above float noise.
"""
from pathlib import Path

import torch

import baselines as B
from baselines.vqfr import VQFR, VQFRv2Net

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "vqfr_v2.pt"
TOL = 1e-4       # float32 on CPU


def _ours(cfg) -> dict:
    q = cfg["quantizer_opt"]
    return dict(base_channels=cfg["base_channels"], channel_multipliers=tuple(cfg["channel_multipliers"]),
                num_blocks=cfg["num_enc_blocks"], code_dim=cfg["code_dim"], num_code=q["num_code"],
                inpfeat_dim=cfg["inpfeat_dim"], deformable_groups=cfg["align_opt"]["deformable_groups"],
                latent_size=q["spatial_size"][0])


def test_vqfr_v2_matches_release(tmp_path):
    """Measured max abs difference: logits 1.3e-6, output 3.3e-6 (ratio 0) and 3.9e-6 (ratio 0.5)."""
    fx = torch.load(FIXTURE, weights_only=True)
    net = VQFRv2Net(**_ours(fx["config"])).eval()
    net.load_state_dict(fx["params"])                # the release's key names, strictly
    x = fx["lq"]
    with torch.no_grad():
        logits = net.feat2index(net.encoder(x).flatten(2).transpose(1, 2))
        torch.testing.assert_close(logits, fx["quant_logit"], atol=TOL, rtol=0)
        texture = net.decoder.features(net.quantizer.lookup(logits.argmax(-1)))
        torch.testing.assert_close(net.decoder.conv_out(texture["Level_1"]), fx["texture_dec"], atol=TOL, rtol=0)
        torch.testing.assert_close(net(x, fidelity_ratio=0.0), fx["main_dec_f0"], atol=TOL, rtol=0)
        torch.testing.assert_close(net(x, fidelity_ratio=0.5), fx["main_dec_f05"], atol=TOL, rtol=0)
    # the registered method reads the release's {"params_ema": ...} file and runs the default ratio 0
    path = tmp_path / "VQFR_v2.pth"
    torch.save({"params_ema": fx["params"]}, path)
    method = B.load_restorer("vqfr", weights=str(path), config=_ours(fx["config"]))
    assert isinstance(method, VQFR)
    with torch.no_grad():
        torch.testing.assert_close(method.restore_faces(x, None), fx["main_dec_f0"], atol=TOL, rtol=0)
