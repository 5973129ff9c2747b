"""Our metrics against numbers produced by the reference scripts themselves.

Fixtures (tests/fixtures/metrics/, see its README.md): four 256x256 PNG pairs and the outputs of
TencentARC/VQFR (commit 239c77a) ``metric_paper/`` scripts run on them offline on CPU, with
seeded random weights from tests/seeded_weights.py (seeds and SHA-256 checksums recorded in
``vqfr_reference.json``), and pytorch-fid 0.3.0's / VQFR's Fréchet distances on fixed features.
Tolerances are the issue's (IDS/LMD 1e-4 degrees/pixels, LPIPS-VGG 1e-5, FID 1e-3); the measured
differences on one CPU are given beside each.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from seeded_weights import checksum, seeded_state_dict

from bench import metrics as M

FIX = Path(__file__).parent / "fixtures" / "metrics"
REF = json.loads((FIX / "vqfr_reference.json").read_text())
NAMES = sorted(p.stem for p in (FIX / "images" / "gt").glob("*.png"))


def _load(folder: str) -> torch.Tensor:
    """The fixture images as the harness reads them: (N, 3, H, W) RGB in [0, 1]."""
    from resshift.imageio import read_image

    return torch.stack([read_image(FIX / "images" / folder / f"{n}.png")[0] for n in NAMES])


@pytest.fixture(scope="module")
def pairs():
    torch.set_num_threads(1)
    return _load("restored"), _load("gt")


def _seeded(net: torch.nn.Module, name: str) -> torch.nn.Module:
    state = seeded_state_dict(net, REF["seeds"][name])
    assert checksum(state) == REF["checksums"][name], "seeded weights differ from the reference run's"
    net.load_state_dict(state)
    return net.eval()


def test_png_gray_is_what_opencv_reads():
    """OpenCV's IMREAD_GRAYSCALE on these PNGs (libpng's fixed-point conversion) equals
    ``png_gray`` pixel for pixel (0 of 131072 pixels differ per folder); cvtColor would not."""
    for folder in ("gt", "restored"):
        for n in NAMES:
            path = str(FIX / "images" / folder / f"{n}.png")
            rgb = cv2.imread(path, cv2.IMREAD_COLOR)[..., ::-1]
            assert np.array_equal(M.png_gray(rgb), cv2.imread(path, cv2.IMREAD_GRAYSCALE)), (folder, n)


def test_ids_reproduces_vqfr_calculate_cos_dist(pairs):
    """VQFR calculate_cos_dist.py with arcface-pytorch resnet_face18 (use_se=False), seeded weights
    (seed 2201, saved with DataParallel's ``module.`` prefix), on the fixture folders: per-image
    angles printed by the script, ``Result dist`` (6 decimals) and ``identical count``.
    The script takes the cosine and arccos in float32, we in float64: above 1 degree the
    measured difference is at most 4.1e-5 degrees; at 0.3 degrees (the excluded pair) float32's
    resolution is ~7e-4 degrees and the measured difference 9.1e-4 (there the script is the
    less accurate one: its own float32 formula on our features gives its number exactly)."""
    net = _seeded(M.ResNetFace18(), "arcface_resnet_face18")
    angles = M.get("ids").build("cpu", net=net)(*pairs).numpy()
    expected = np.array([REF["ids"]["per_image"][n] for n in NAMES])
    kept = expected >= 1
    assert np.abs(angles - expected)[kept].max() < 1e-4
    assert np.abs(angles - expected)[~kept].max() < 2e-3
    angles = torch.from_numpy(angles)
    summary = M.get("ids").summary(angles.tolist())
    assert summary["excluded"] == REF["ids"]["identical_count"] == 1          # face_b, ~0.3 degrees
    assert summary["n"] == len(NAMES) - 1
    assert summary["mean"] == pytest.approx(REF["ids"]["mean"], abs=1e-4)


@pytest.mark.slow
def test_lmd_reproduces_vqfr_calculate_landmark_distance(pairs):
    """VQFR calculate_landmark_distance.py (its FAN, the same network as facexlib's AWing) with
    seeded weights (seed 2204: with seeds 2202/2203 the script itself fails, an argmax in the
    heatmap's last pixel indexes past the end): per-image distances and the printed average.
    Measured: max difference 0 pixels."""
    from resshift.compat import patch_facexlib

    patch_facexlib()
    from facexlib.alignment.awing_arch import FAN

    fan = _seeded(FAN(num_modules=4, num_landmarks=98, device="cpu"), "awing_fan")
    dist = M.get("lmd").build("cpu", align=fan)(*pairs).numpy()
    expected = np.array([REF["lmd"]["per_image"][n] for n in NAMES])
    assert np.abs(dist - expected).max() < 1e-4
    assert M.get("lmd").summary(dist.tolist())["mean"] == pytest.approx(REF["lmd"]["mean"], abs=1e-4)


@pytest.mark.slow
def test_lpips_vgg_reproduces_the_lpips_package(pairs):
    """VQFR calculate_lpips.py, i.e. ``lpips.LPIPS(net='vgg')`` (lpips 0.1.4, its own v0.1 linear
    layers) on float32 images normalised to [-1, 1], with the VGG16 trunk seeded (seed 2203 over
    torchvision ``vgg16().features``; its ImageNet weights cannot be downloaded here).
    Measured: max difference 0 (same package, same float32 inputs)."""
    import lpips
    import torchvision

    net = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)
    trunk = seeded_state_dict(torchvision.models.vgg16().features, REF["seeds"]["lpips_vgg_trunk"])
    net.net.load_state_dict({k: trunk[k.split(".", 1)[1]] for k in net.net.state_dict()})
    vals = M.get("lpips_vgg").build("cpu", net=net)(*pairs).numpy()
    expected = np.array([REF["lpips_vgg"]["per_image"][n] for n in NAMES])
    assert np.abs(vals - expected).max() < 1e-5


@pytest.mark.parametrize("case,y,crop", [("psnr_rgb_vqfr", False, 0), ("psnr_rgb_vqfr_crop4", False, 4),
                                         ("psnr_y_vqfr", True, 0), ("psnr_y_vqfr_crop4", True, 4)])
def test_psnr_ssim_reproduce_vqfr_calculate_psnr_ssim(pairs, case, y, crop):
    """VQFR calculate_psnr_ssim.py as run by default (RGB; --correct_mean_var is always on),
    with --test_y_channel and/or --crop_border 4: per-image PSNR and SSIM.
    Measured: max differences 7e-15 dB and 0 (the same float32 operations in the same order)."""
    kind = "y" if y else "rgb"
    psnr = M.get(f"psnr_{kind}_vqfr").build("cpu", crop_border=crop)(*pairs).numpy()
    ssim = M.get(f"ssim_{kind}_vqfr").build("cpu", crop_border=crop)(*pairs).numpy()
    expected = np.array([REF["psnr_ssim"][case]["per_image"][n] for n in NAMES])
    assert np.abs(psnr - expected[:, 0]).max() < 1e-6
    assert np.abs(ssim - expected[:, 1]).max() < 1e-8


def test_vqfr_psnr_is_not_the_plain_y_psnr(pairs):
    """The conventions differ by more than the tables' tolerance, so a table must say which."""
    plain = M.get("psnr_y").build("cpu")(*pairs).numpy()
    vqfr = M.get("psnr_y_vqfr").build("cpu")(*pairs).numpy()
    assert np.abs(plain - vqfr).max() > 0.05


@pytest.mark.parametrize("case", ["n300", "n40_singular", "scale_only"])
def test_frechet_distance_matches_pytorch_fid(case):
    """pytorch-fid 0.3.0 ``calculate_frechet_distance`` and VQFR ``calculate_fid`` on np.mean /
    np.cov statistics of the same fixed float64 features (default_rng(2205), 64-d; one case with
    fewer samples than dimensions). Measured: max difference 2e-13."""
    ref = torch.load(FIX / "fid_reference.pt")[case]
    ours = M.frechet(M.statistics(ref["a"]), M.statistics(ref["b"]))
    assert ours == pytest.approx(ref["pytorch_fid"], abs=1e-3)
    assert ours == pytest.approx(ref["vqfr"], abs=1e-3)


def test_kid_is_torch_fidelitys_polynomial_mmd():
    """With the subset as large as the set, every subset is the whole set, so KID is the unbiased
    MMD^2 with k(x, y) = (x.y / d + 1)^3, computed here directly."""
    gen = torch.Generator().manual_seed(7)
    a = torch.randn(60, 16, generator=gen, dtype=torch.float64)
    b = torch.randn(60, 16, generator=gen, dtype=torch.float64) * 1.3 + 0.2

    def k(x, y):
        return (x @ y.T / x.shape[1] + 1) ** 3

    m = len(a)
    kxx, kyy, kxy = k(a, a).numpy(), k(b, b).numpy(), k(a, b).numpy()
    direct = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
              - 2 * kxy.mean())
    assert M.kid(a, b) == pytest.approx(direct, rel=1e-9)
    same = torch.randn(60, 16, generator=gen, dtype=torch.float64)
    assert abs(M.kid(a, same)) < M.kid(a, b)


def test_ids_summary_counts_what_it_leaves_out():
    s = M.get("ids").summary([0.5, 10.0, None, 20.0, 0.99])
    assert (s["mean"], s["n"], s["excluded"]) == (15.0, 2, 2)
    assert M.get("lmd").summary([0.0, 2.0])["excluded"] == 0
