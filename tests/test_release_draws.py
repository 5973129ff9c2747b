"""Our ImageNet-Test parameter draws follow the release's distributions.

The release's draws (zsyOAOA/ResShift ``journal``, ``basicsr/data/realesrgan_dataset.py``
``__getitem__`` / ``degrade_fun`` with ``configs/degradation_testing_realesrgan.yaml``) are
spread over Python ``random``, numpy and torch; their probabilities are read off that code:
first kernel size uniform over {3, 5, 7, 9, 11}, sinc 0.1 (cutoff U(pi/3, pi)), else iso 0.6 /
aniso 0.4; up/down/keep 0.2/0.7/0.1; three resize modes uniform; Gaussian/Poisson 0.5, gray
0.4; final order 0.5; final sinc 0.2 with size 3 or 5. Frequencies of 20000 of our draws are
checked against these with a 4.5-sigma binomial bound.

The end-to-end check is the mean PSNR-Y of the bicubic-upsampled LQ against the GT (helper
:func:`psnr_y_bicubic`), over 300 of our samples on the nine images that ship inside installed
packages (:data:`SOURCES`, sample ``i`` uses ``SOURCES[i % 9]``; GT by the release's
preparation). RELEASE_PSNR_Y is the same figure measured by running the release's own code
(``RealESRGANDataset(opts, mode='testing')``, ``__getitem__`` + ``degrade_fun``, unpatched, its
vendored basicsr first on the path, torchvision's ``functional_tensor`` aliased, albumentations
1.3.1) on PNG files of the same nine images, ``i % 9`` for 3000 samples, Python/numpy/torch
seeded 0 (script: ``measure_release_psnr.py`` in the helper's scratch folder, not shipped).
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from resshift.data import degradations as D

# Release figure: 3000 samples, mean 24.986 dB (std 3.157 per sample, standard error 0.058 with
# the images' spread included; the first 300 of them: 24.984 dB).
RELEASE_PSNR_Y = 24.986
SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "motorcycle", "grace_hopper",
           "china", "flower")


def psnr_y_bicubic(lq_u8: np.ndarray, gt_u8: np.ndarray) -> float:
    """PSNR (dB) on the BT.601 luma (16-235, the usual SR convention) of the 8-bit GT and the
    LQ upsampled x4 by torch bicubic (align_corners False), clamped to [0, 1], not rounded."""
    lq = torch.from_numpy(lq_u8).permute(2, 0, 1)[None].double() / 255
    up = F.interpolate(lq, size=gt_u8.shape[:2], mode="bicubic", align_corners=False).clamp(0, 1)[0]
    gt = torch.from_numpy(gt_u8).permute(2, 0, 1).double() / 255
    w = torch.tensor([65.481, 128.553, 24.966], dtype=torch.float64).view(3, 1, 1)
    y_up, y_gt = (up * w).sum(0) + 16, (gt * w).sum(0) + 16
    mse = float(((y_up - y_gt) ** 2).mean())
    return 10 * math.log10(255.0 ** 2 / mse)


def _recipe_cfg():
    from bench.data import load_recipe

    return load_recipe("imagenet_test")["degradation"]


def _close(count: int, n: int, p: float) -> bool:
    return abs(count - n * p) <= 4.5 * math.sqrt(n * p * (1 - p)) + 1


def test_draw_frequencies_are_the_release_ones():
    cfg = _recipe_cfg()
    n = 20000
    draws = [D.draw_realesrgan_first_order(np.random.default_rng(i), cfg) for i in range(n)]
    def count(pred) -> int:
        return sum(1 for p in draws if pred(p))

    def freq(key: str, value) -> int:
        return sum(1 for p in draws if p[key] == value)

    for ks in (3, 5, 7, 9, 11):                                    # random.choice(range(3, 13, 2))
        assert _close(freq("kernel_size", ks), n, 0.2), ks
    assert {p["kernel_size"] for p in draws} == {3, 5, 7, 9, 11}
    assert _close(count(lambda p: p["kernel"] == "sinc"), n, 0.1)
    assert _close(count(lambda p: p["kernel"] == "iso"), n, 0.9 * 0.6)
    assert _close(count(lambda p: p["kernel"] == "aniso"), n, 0.9 * 0.4)
    for updown, prob in (("up", 0.2), ("down", 0.7), ("keep", 0.1)):
        assert _close(freq("resize", updown), n, prob)
    for mode in D.INTERP_MODES:
        assert _close(freq("resize_mode", mode), n, 1 / 3)
        assert _close(freq("final_resize_mode", mode), n, 1 / 3)
    assert _close(count(lambda p: p["noise"] == "gaussian"), n, 0.5)
    assert _close(count(lambda p: p["noise_gray"]), n, 0.4)
    assert _close(count(lambda p: p["final_order"] == "resize_sinc_jpeg"), n, 0.5)
    assert _close(count(lambda p: p["final_sinc_cutoff"] is not None), n, 0.2)
    assert _close(count(lambda p: p["final_sinc_size"] == 3), n, 0.1)
    for p in draws:                                                 # ranges (continuous draws)
        if p["kernel"] == "sinc":
            assert math.pi / 3 <= p["sinc_cutoff"] <= math.pi      # sizes < 13: never pi/5
        else:
            assert 0.2 <= p["sigma_x"] <= 0.8 and 0.2 <= p["sigma_y"] <= 0.8
            assert p["kernel"] == "aniso" or (p["sigma_y"] == p["sigma_x"] and p["theta"] == 0)
        lo, hi = {"up": (1, 1.5), "down": (0.5, 1), "keep": (1, 1)}[p["resize"]]
        assert lo <= p["resize_scale"] <= hi
        if p["noise"] == "gaussian":
            assert 1 <= p["noise_sigma"] <= 15
        else:
            assert 0.05 <= p["noise_scale"] <= 0.3
        assert 70 <= p["jpeg_quality"] <= 95 and 80 <= p["final_jpeg_quality"] <= 100
        assert p["jpeg_quality"] == float(np.float32(p["jpeg_quality"]))          # float32, continuous
    assert len({p["jpeg_quality"] for p in draws}) > n // 2
    sizes = [p["kernel_size"] for p in draws if p["kernel"] == "sinc"]
    assert set(sizes) == {3, 5, 7, 9, 11}


def test_noise_field_comes_from_its_seed():
    """Same seed, same field; the caller's torch stream is left alone; gray noise is one field
    on all three channels (basicsr's generators, as the release calls them)."""
    x = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    base = {"noise": "gaussian", "noise_sigma": 10.0, "noise_gray": True, "noise_seed": 7}
    state = torch.get_rng_state()
    a, b = D.noise_field(x, base), D.noise_field(x, base)
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a[:, 0], a[:, 1]) and torch.equal(a[:, 1], a[:, 2])
    assert 8 < float(a.std() * 255) < 12
    c = D.noise_field(x, {**base, "noise_gray": False, "noise_seed": 8})
    assert not torch.equal(c[:, 0], c[:, 1])
    pois = D.noise_field(x, {"noise": "poisson", "noise_scale": 0.3, "noise_gray": False, "noise_seed": 1})
    assert pois.shape == x.shape and float(pois.abs().max()) < 0.3


@pytest.mark.slow
def test_mean_psnr_y_matches_the_release_over_300_samples():
    from bench.data import load_gt

    cfg = _recipe_cfg()
    gts = [load_gt(f"packaged:{name}", {"method": "release", "size": 256}) for name in SOURCES]
    vals = []
    for i in range(300):
        gt_u8, gt_float = gts[i % len(SOURCES)]
        params = D.draw_realesrgan_first_order(np.random.default_rng(i), cfg)
        vals.append(psnr_y_bicubic(D.apply_realesrgan_first_order(gt_float, params, cfg), gt_u8))
    assert abs(float(np.mean(vals)) - RELEASE_PSNR_Y) <= 0.1
