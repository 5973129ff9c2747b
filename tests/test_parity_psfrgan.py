"""PSFR-GAN (parsing network + generator) against the release's own networks (fixture
``tests/fixtures/baselines/psfrgan.pt``).

How the fixture was made (outside the project, /work/scratch/i23a/psfr/make_fixture.py): the
release github.com/chaofengc/PSFRGAN at commit ab853cd, unpatched: ``models.networks.ParseNet``
as ``define_P`` calls it (batch norm, LeakyReLU) but small: in/out 32 (release 512), min feature
size 8 (32), base channels 8 (64), 2 residual blocks (10), ch_range [8, 32] ([32, 256]); and
``models.psfrnet.PSFRGenerator`` as ``define_G`` calls it (SPADE, LeakyReLU, then
``apply_norm(net, 'spectral_norm')``) with out size 32 (512), min feature size 4 (16), ch_range
[8, 16] ([32, 1024]). torch.manual_seed(0); every parameter redrawn from torch.Generator seed 23
(N(0, 1/fan_in) weights, N(0, 1) constant input, BatchNorm scale 1 + N(0, 0.1), running means
N(0, 0.1), variances U(0.5, 1.5)); LQ (2, 3, 32, 32) U(-1, 1) from it; the spectral norms' u, v
advanced by 10 train-mode forward passes of the release's generator (on a drawn parsing map),
then eval. Recorded: ``test_enhance_dir_align.py``'s three lines: ``parse_map, _ = netP(lq)``,
its arg-max one-hot, ``netG(lq, one_hot)``.
"""
from pathlib import Path

import torch

from baselines.psfrgan import PSFRGAN, ParseNet, PSFRGenerator, one_hot_parsing

FIXTURE = Path(__file__).parent / "fixtures" / "baselines" / "psfrgan.pt"
TOL = 1e-4       # float32 on CPU


def test_psfrgan_matches_release():
    """Measured max abs difference: parsing logits 0.0, one-hot map 0, generator output 0.0."""
    fx = torch.load(FIXTURE, weights_only=True)
    parser = ParseNet(**fx["parse_sizes"]).eval()
    generator = PSFRGenerator(**fx["gen_sizes"]).eval()
    parser.load_state_dict(fx["netP"])               # the release's key names, strictly
    generator.load_state_dict(fx["netG"])            # weight_orig / weight_u / weight_v included
    assert fx["parse_onehot"].amax(dim=(0, 2, 3)).sum() > 3          # the prior is not one class everywhere
    with torch.no_grad():
        logits, img = parser(fx["lq"])
        torch.testing.assert_close(logits, fx["parse_map"], atol=TOL, rtol=0)
        torch.testing.assert_close(img, fx["parse_img"], atol=TOL, rtol=0)
        assert torch.equal(one_hot_parsing(logits), fx["parse_onehot"])
        torch.testing.assert_close(generator(fx["lq"], fx["parse_onehot"]), fx["sr"], atol=TOL, rtol=0)
        # the registered method's chain (parser -> one-hot prior -> generator), with these networks
        method = PSFRGAN.__new__(PSFRGAN)
        method.parser, method.generator = parser, generator
        torch.testing.assert_close(method.restore_faces(fx["lq"], None), fx["sr"], atol=TOL, rtol=0)
