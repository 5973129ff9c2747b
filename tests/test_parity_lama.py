"""LaMa-Fourier (``lama_face``) against the release's own generator (fixture
``tests/fixtures/baselines/lama_fourier.pt``).

How the fixture was made (outside the project, /work/scratch/i23a/lama/make_fixture.py): the
release github.com/advimman/lama at commit 786f593, ``saicinpainting.training.modules.ffc.
FFCResNetGenerator`` built with ``configs/training/generator/ffc_resnet_075.yaml`` (the generator
of ``lama-fourier-celeba.yaml``: init/downsample convolutions local only, residual blocks with
global ratio 0.75, no LFU, sigmoid output) at small sizes: ngf 8 (release 64), 2 residual blocks
(release 9), 3 downsamplings. Patches: none to the network; ``pytorch_lightning.seed_everything``
and ``kornia.geometry.transform.rotate`` (imported by modules it does not use) stubbed.
torch.manual_seed(0), then every parameter redrawn from torch.Generator seed 23 (N(0, 1/fan_in)
weights, BatchNorm scale 1 + N(0, 0.1), running means N(0, 0.1), variances U(0.5, 1.5)); image
(2, 3, 32, 40) U(0, 1) and mask (1 = hole) from the same generator. Recorded, in eval mode, as
``DefaultInpaintingTrainingModule.forward`` with ``concat_mask: true`` computes them: ``predicted =
generator(cat[img * (1 - mask), mask])`` and ``inpainted = mask * predicted + (1 - mask) * img``.
The state dict is stored with the Lightning checkpoint's ``generator.`` prefix.
"""
from pathlib import Path

import torch

import baselines as B
from baselines.lama import lama_generator

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "lama_fourier.pt"
TOL = 1e-4       # float32 on CPU; measured max abs difference in the docstring of the test below


def test_lama_fourier_matches_release(tmp_path):
    """Measured max abs difference: 0.0 (generator output and composed result)."""
    fx = torch.load(FIXTURE, weights_only=True)
    gen = {"model." + k[len("generator."):]: v for k, v in fx["generator_state"].items()}
    net = lama_generator(fx["sizes"]["n_blocks"], ngf=fx["sizes"]["ngf"]).eval()
    net.load_state_dict(gen)
    with torch.no_grad():
        predicted = net.model(fx["image"] * (1 - fx["mask"]), fx["mask"])
        torch.testing.assert_close(predicted, fx["predicted"], atol=TOL, rtol=0)
        torch.testing.assert_close(net(fx["image"], fx["mask"]), fx["inpainted"], atol=TOL, rtol=0)
    # the registered method reads the release's Lightning layout, finds 2 blocks and ngf 8 in it
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": dict(fx["generator_state"]), "epoch": 1}, path)
    method = B.load_restorer("lama_face", weights=str(path))
    lq = fx["image"] * (1 - fx["mask"])                 # the benchmark's LQ: holes zeroed
    torch.testing.assert_close(method.restore(lq, fx["mask"]), fx["inpainted"], atol=TOL, rtol=0)
