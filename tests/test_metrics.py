"""Metrics: definitions against the reference libraries, face-metric arithmetic, FID plumbing,
random-weight runs of the weight-needing metrics, and missing weights."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench import metrics as M
from resshift.compat import import_basicsr
from resshift.imageio import to_bgr255

import_basicsr()
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim  # noqa: E402


def _images(n=3, size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, 3, size, size, generator=g).mul(255).round().div(255)
    noisy = (gt + 0.05 * torch.randn(gt.shape, generator=g)).clamp(0, 1).mul(255).round().div(255)
    return noisy, gt


def _bgr(x):
    return x.mul(255).round().permute(1, 2, 0).flip(-1).double().numpy()


def test_psnr_ssim_equal_basicsr():
    pred, gt = _images()
    psnr = M.get("psnr").build("cpu")(pred, gt)
    ssim = M.get("ssim").build("cpu")(pred, gt)
    for i in range(3):
        assert abs(psnr[i].item() - calculate_psnr(_bgr(pred[i]), _bgr(gt[i]), 0, test_y_channel=True)) < 1e-4
        assert abs(ssim[i].item() - calculate_ssim(_bgr(pred[i]), _bgr(gt[i]), 0, test_y_channel=True)) < 1e-6
    # a uniform +10/255 RGB step moves Y by 10 * 219/255 levels
    flat = torch.full((1, 3, 16, 16), 0.5)
    expected = 20 * np.log10(255 / (10 * 219 / 255))
    assert abs(M.get("psnr").build("cpu")(flat + 10 / 255, flat).item() - expected) < 1e-3


def test_pyiqa_ycbcr_ssim_gap_is_measured():
    """basicsr's SSIM (our definition) against pyiqa's ``ssim`` (test_y_channel=True), which
    rounds Y to 8 bits and filters differently. Measured on bicubic x4 restorations of 256x256
    crops of chelsea, china and flower: pyiqa is lower by 0.012-0.025 (basicsr 0.759/0.676/0.846,
    pyiqa 0.734/0.659/0.834), and ~8x slower on this CPU (0.59 vs 0.077 s per pair)."""
    import pyiqa
    import torch.nn.functional as F

    from resshift.packaged import packaged_image

    gt = F.interpolate(packaged_image("chelsea")[None], size=(128, 192), mode="bicubic", antialias=True)
    gt = gt.clamp(0, 1).mul(255).round().div(255)
    lq = F.interpolate(gt, scale_factor=0.25, mode="bicubic", antialias=True)
    pred = F.interpolate(lq, scale_factor=4, mode="bicubic").clamp(0, 1).mul(255).round().div(255)
    ours = M.get("ssim").build("cpu")(pred, gt)
    theirs = pyiqa.create_metric("ssim", device="cpu")(pred, gt).double()
    gap = (ours - theirs).item()
    assert 0.002 < gap < 0.05


def test_identity_angle_and_landmark_arithmetic():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    b = torch.tensor([[0.0, 3.0], [2.0, 2.0], [0.0, -1.0]])
    assert torch.allclose(M.identity_angle(a, b), torch.tensor([90.0, 0.0, 180.0], dtype=torch.float64), atol=1e-5)
    la = np.zeros((98, 2))
    lb = np.zeros((98, 2))
    lb[:, 0], lb[:, 1] = 3, 4
    assert M.landmark_distance(la, lb) == 5.0


def test_ids_on_a_random_resnet_face18():
    torch.manual_seed(0)
    net = M.ResNetFace18().eval()
    assert sum(p.numel() for p in net.parameters()) > 10_000_000          # the real 18-layer network
    pred, gt = _images(2, 64)
    score = M.get("ids").build("cpu", net=net)
    assert torch.allclose(score(gt, gt), torch.zeros(2, dtype=torch.float64), atol=1e-3)
    d = score(pred, gt)
    assert (d > 0).all() and (d < 180).all()
    f = M.face_features(net, gt)
    assert f.shape == (2, 512)                                            # one feature, no flip


def test_lmd_uses_the_aligner_landmarks():
    class FakeAligner:
        def get_landmarks(self, img):                                # mean colour sets the offset
            return np.full((98, 2), img.mean())

    pred, gt = _images(2, 32)
    score = M.get("lmd").build("cpu", align=FakeAligner())
    expected = [np.sqrt(2) * abs(to_bgr255(p[None])[0].mean() - to_bgr255(g[None])[0].mean()) for p, g in zip(pred, gt)]
    assert np.allclose(score(pred, gt).numpy(), expected)                # at the images' own size


@pytest.mark.slow
def test_lmd_runs_facexlib_awing_with_random_weights():
    from resshift.compat import patch_facexlib

    patch_facexlib()
    from facexlib.alignment.awing_arch import FAN

    torch.manual_seed(0)
    fan = FAN(num_modules=4, num_landmarks=98, device="cpu").eval()
    pred, gt = _images(1, 512)
    ours = M.get("lmd").build("cpu", align=fan)(pred, gt).item()
    direct = M.landmark_distance(*(fan.get_landmarks(to_bgr255(x)[0].astype(np.uint8)) for x in (pred, gt)))
    assert ours == pytest.approx(direct)


def _write(folder, imgs):
    folder.mkdir(parents=True, exist_ok=True)
    for i, x in enumerate(imgs):
        Image.fromarray(x.mul(255).round().byte().permute(1, 2, 0).numpy()).save(folder / f"{i:03d}.png")
    return sorted(folder.iterdir())


def test_fid_plumbing_with_a_small_network(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1))

    def extractor(x):
        return net(x.float() / 255)

    a = _write(tmp_path / "a", torch.rand(24, 3, 16, 16))
    b = _write(tmp_path / "b", torch.rand(24, 3, 16, 16) * 0.5)
    score = M.get("fid_g").build("cpu", extractor=extractor)
    assert score(a, a) == pytest.approx(0, abs=1e-6)
    fa, fb = M.features(a, extractor), M.features(b, extractor)
    mu1, mu2 = fa.mean(0).numpy(), fb.mean(0).numpy()
    s1, s2 = np.cov(fa.numpy(), rowvar=False), np.cov(fb.numpy(), rowvar=False)
    from scipy import linalg

    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert score(a, b) == pytest.approx(expected, rel=1e-4)
    stats = M.reference_statistics(tmp_path / "b", extractor=extractor, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 1                  # cached under the extractor id
    assert M.reference_statistics(tmp_path / "b", extractor=None, cache_dir=tmp_path / "cache")["extractor"] == M.FID_EXTRACTOR
    assert M.get("fid_f").build("cpu", extractor=extractor)(a, stats) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(Exception, match="recompute"):
        M.get("fid_f").build("cpu", extractor=extractor)(a, {**stats, "extractor": "other"})


def test_fid_inception_extractor_with_random_weights(tmp_path):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, *a, **k):
            return None

    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save({}, path)                                   # read, then ignored by Unloaded
    torch.save(Unloaded("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)).state_dict(), path)
    ext = M.inception("cpu", weights_path=path)
    files = _write(tmp_path / "imgs", torch.rand(2, 3, 40, 40))
    ours = M.features(files, ext)
    x = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1) for f in files])
    direct = ext(x)[0].double()
    assert ours.shape == (2, 2048) and torch.allclose(ours, direct)


@pytest.mark.slow
@pytest.mark.parametrize("name,opts", [("lpips", {"pretrained": False}), ("musiq", {"pretrained": False})])
def test_pyiqa_metrics_with_random_weights_equal_pyiqa(name, opts, tmp_path, monkeypatch):
    """pyiqa builds the real networks; its LPIPS always loads torchvision's AlexNet file, so the
    test puts a random-weight AlexNet where torchvision looks for it."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(0)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(torchvision.models.alexnet().state_dict(), tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    score = M._pyiqa_scorer(name, name.startswith("lpips"), **opts)("cpu")
    pred, gt = _images(2, 64)
    ours = score(pred, gt) if name.startswith("lpips") else score(pred)
    with torch.no_grad():
        direct = score.net(pred, gt) if name.startswith("lpips") else score.net(pred)
    assert torch.allclose(ours, direct.reshape(-1).double())


@pytest.mark.slow
def test_lpips_vgg_and_clipiqa_with_random_weights_equal_pyiqa(tmp_path, monkeypatch):
    """Random weights of the real networks: torchvision's VGG16 file where pyiqa's LPIPS-VGG
    reads it, and pyiqa's own CLIP RN50 built from a random state dict (pyiqa's loader cannot
    read a plain state-dict file after its TorchScript attempt, so its ``load`` is replaced)."""
    import torchvision
    from pyiqa.archs import clip_model, clipiqa_arch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16().state_dict(), tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth")
    state = clip_model.CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12).state_dict()
    monkeypatch.setattr(clipiqa_arch, "load", lambda name, device, **k: clip_model.build_model(state).to(device).float())
    pred, gt = _images(2, 64)
    for name, needs_ref in (("lpips-vgg", True), ("clipiqa", False)):
        score = M._pyiqa_scorer(name, needs_ref, **({"pretrained": False} if needs_ref else {}))("cpu")
        ours = score(pred, gt) if needs_ref else score(pred)
        with torch.no_grad():
            direct = score.net(pred, gt) if needs_ref else score.net(pred)
        assert torch.allclose(ours, direct.reshape(-1).double()), name


def test_missing_weights_give_an_empty_cell_and_a_note(tmp_path, monkeypatch):
    from bench.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    pred, gt = _images(2, 32)
    _write(tmp_path / "pred", pred)
    _write(tmp_path / "gt", gt)
    out = tmp_path / "m.csv"
    assert main(["metrics", "--pred", str(tmp_path / "pred"), "--ref", str(tmp_path / "gt"),
                 "--metrics", "psnr,lpips", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert [r["lpips"] for r in rows] == ["", ""] and all(float(r["psnr"]) > 20 for r in rows)
    note = json.loads(open(str(out) + ".json").read())["unavailable"]["lpips"]
    assert "LPIPS_v0.1_alex-df73285e.pth" in note and "resshift-bench weights fetch lpips" in note


def test_files_are_matched_by_stem(tmp_path):
    pred, gt = _images(2, 16)
    _write(tmp_path / "pred", pred)
    _write(tmp_path / "gt", gt)
    (tmp_path / "pred" / "001.png").rename(tmp_path / "pred" / "009.png")
    with pytest.raises(Exception, match=r"missing from .*001.*not in .*009"):
        M.match_files(tmp_path / "pred", tmp_path / "gt")


def test_registry_declares_direction_and_reference():
    assert M.get("psnr").lower_better is False and M.get("lpips").lower_better is True
    assert M.get("musiq").needs_ref is False and M.get("ids").needs_ref is True
    assert M.get("fid_g").set_level and "2015-12-05" in M.get("fid_f").definition
    for name in ("psnr", "ssim", "lpips", "lpips_vgg", "clipiqa", "musiq", "niqe", "fid_g", "fid_f", "ids", "lmd"):
        assert name in M.METRICS
    assert M.get("niqe").unavailable() is None and M.get("psnr").weights == []


def test_metrics_list_prints_every_metric_offline(tmp_path, monkeypatch, capsys):
    from bench.cli import main

    for var in ("TORCH_HOME", "RESSHIFT_HOME", "FACEXLIB_HOME"):        # no weights anywhere
        monkeypatch.setenv(var, str(tmp_path / var))
    assert main(["metrics", "--list"]) == 0
    out = capsys.readouterr().out
    for name, metric in M.METRICS.items():
        assert f"{name}  (" in out and metric.describe(0) in out
    assert out.count("offline: ") == len(M.METRICS)
    assert "lpips_vgg  (lower is better" in out and "vgg16-397923af.pth" in out
    assert "offline: no: resnet18_110.pth missing (resshift-bench weights fetch ids)" in out
    assert "psnr_rgb_vqfr  (higher is better; per image; needs reference images; option crop_border)" in out


def test_crop_border_reaches_the_metric_and_its_definition(tmp_path, capsys):
    """--crop-border 4 with VQFR's RGB PSNR on the reference fixture pairs gives the numbers VQFR's
    calculate_psnr_ssim.py printed with --crop_border 4 (tests/fixtures/metrics/README.md)."""
    from bench.cli import main

    fix = Path(__file__).parent / "fixtures" / "metrics"
    ref = json.loads((fix / "vqfr_reference.json").read_text())["psnr_ssim"]["psnr_rgb_vqfr_crop4"]["per_image"]
    out = tmp_path / "m.csv"
    assert main(["metrics", "--pred", str(fix / "images" / "restored"), "--ref", str(fix / "images" / "gt"),
                 "--metrics", "psnr_rgb_vqfr,psnr", "--crop-border", "4", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert max(abs(float(r["psnr_rgb_vqfr"]) - ref[r["image"]][0]) for r in rows) < 1e-6
    notes = json.loads(Path(str(out) + ".json").read_text())
    assert notes["options"] == {"crop_border": 4} and notes["definitions"]["psnr"].endswith("crop_border=4")
    assert notes["summary"]["psnr"]["n"] == 4
    assert "psnr_rgb_vqfr: " in capsys.readouterr().out
    assert main(["metrics", "--pred", str(fix / "images" / "restored"), "--out", str(out),
                 "--crop-border", "-1"]) == 2
    assert main(["metrics", "--out", str(out)]) == 2
