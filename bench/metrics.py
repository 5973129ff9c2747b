"""Metrics by name (pyiqa style): ``METRICS[name]`` says whether lower is better, whether it needs
a reference, whether it is computed on a whole set, which weight files it needs and exactly
which definition it uses.

Per-image metrics score (B, 3, H, W) RGB batches in [0, 1] (8-bit values) and return (B,)
tensors; set metrics (FID) take two lists of image paths. Definitions:

- ``psnr_y``/``ssim_y`` (also named ``psnr``/``ssim``): Y of YCbCr (BT.601, 16-235), 8-bit
  inputs: basicsr's ``calculate_psnr``/``calculate_ssim`` with ``test_y_channel=True`` (the numpy
  path, ~10x faster on CPU than pyiqa's). pyiqa's ``ssim`` (Y channel) rounds Y first and reads
  0.012-0.025 lower on bicubic x4 restorations of the demo images (tests/test_metrics.py).
- ``psnr_rgb_vqfr``/``ssim_rgb_vqfr``: VQFR's ``metric_paper/calculate_psnr_ssim.py`` as it runs by
  default: RGB channels, float32 images whose per-channel mean and standard deviation are matched
  to the ground truth's (twice) before scoring. ``psnr_y_vqfr``/``ssim_y_vqfr``: the same script
  with ``--test_y_channel`` (correction first, then Y). Reproduced to 1e-9 dB / 1e-12.
- Every PSNR/SSIM/NIQE takes ``crop_border`` (pixels cut from each side; default 0).
- ``lpips`` (AlexNet) and ``lpips_vgg``: pyiqa's LPIPS v0.1, inputs in [0, 1]. ``lpips_vgg`` is
  the network VQFR's face LPIPS script uses (``lpips.LPIPS(net='vgg')``, inputs in [-1, 1]);
  it equals the ``lpips`` package's numbers to 1e-6 with the same weights.
- ``clipiqa``, ``musiq`` (KonIQ-10k): pyiqa. ``niqe``: basicsr's (its parameters ship with it;
  runs offline), Y channel, no crop.
- ``fid_g``: restored set against the ground-truth set; ``fid_f``: against reference statistics
  (e.g. FFHQ). Both use torch-fidelity's InceptionV3 (TF 2015-12-05 weights, 2048-d pool
  features, TF1 bilinear resize to 299). The Fréchet distance equals pytorch-fid's to 1e-9 on the
  same features. ``kid_g``: torch-fidelity's KID (polynomial kernel, 100 subsets of
  min(1000, N) images) on the same features. Fewer than 2048 images: the tables warn.
- ``ids``: VQFR's ``calculate_cos_dist.py``: each image as OpenCV reads a PNG in grayscale
  (libpng's fixed-point 0.299/0.587/0.114), ``cv2.resize`` INTER_LINEAR to 128x128, one 512-d
  arcface-pytorch ``resnet_face18`` feature, angle between restored and GT features in degrees;
  pairs under 1 degree are left out of the mean and counted (``EXCLUDED``).
- ``lmd``: VQFR's ``calculate_landmark_distance.py``: the 98-point WFLW AWing FAN (facexlib's, the
  same network) on the 8-bit BGR image at its own size, mean per-landmark L2 in pixels.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from resshift.compat import import_basicsr
from resshift.errors import ResShiftError
from resshift.imageio import list_images, read_image, to_bgr255
from resshift.landmarks import landmark_distance, wflw_landmarks
from resshift.progress import progress_bar
from resshift.weights import load_checkpoint

from . import weights as W


@dataclass
class Metric:
    name: str
    lower_better: bool
    needs_ref: bool
    definition: str
    build: Callable[[torch.device], Callable] = field(repr=False)
    set_level: bool = False
    crop_border: bool = False            # takes the crop_border option
    exclude_below: float | None = None   # values under this are left out of the mean (IDS)

    @property
    def weights(self) -> list[str]:
        return [w.file for w in W.for_metric(self.name)]

    def describe(self, crop_border: int = 0) -> str:
        """The definition with the options it ran with (the tables' definition line)."""
        return self.definition + (f", crop_border={int(crop_border)}" if self.crop_border else "")

    def summary(self, values) -> dict:
        """{mean, n, excluded} of per-image values as the reference script averages them."""
        vals = np.asarray([v for v in values if v is not None and not np.isnan(v)], np.float64)
        excluded = 0
        if self.exclude_below is not None:
            keep = vals >= self.exclude_below
            excluded, vals = int((~keep).sum()), vals[keep]
        return {"mean": float(vals.mean()) if len(vals) else None, "n": len(vals), "excluded": excluded,
                "values": vals}

    def unavailable(self) -> str | None:
        """Why the metric cannot run here (missing weights), or None."""
        return W.missing_reason(self.name)


METRICS: dict[str, Metric] = {}


def register(name: str, *, lower_better: bool, needs_ref: bool, definition: str, set_level: bool = False,
             crop_border: bool = False, exclude_below: float | None = None):
    def deco(build):
        METRICS[name] = Metric(name, lower_better, needs_ref, definition, build, set_level, crop_border, exclude_below)
        return build
    return deco


def nearest(name: str, known) -> str:
    """'; did you mean X?' for the closest known name, or ''."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def get(name: str) -> Metric:
    if name not in METRICS:
        raise ResShiftError(f"unknown metric {name!r}{nearest(name, METRICS)} (known: {', '.join(METRICS)})")
    return METRICS[name]


# ----------------------------------------------------------------- basicsr metrics
def _basicsr_fr(function_name: str):
    """A full-reference basicsr metric on Y of YCbCr, 8-bit inputs."""
    def build(device, crop_border: int = 0):
        import_basicsr()
        from basicsr.metrics import psnr_ssim

        fn = getattr(psnr_ssim, function_name)

        def score(pred, ref):
            return torch.tensor([fn(a, b, crop_border=crop_border, test_y_channel=True)
                                 for a, b in zip(to_bgr255(pred), to_bgr255(ref))], dtype=torch.float64)
        return score
    return build


def match_mean_std(restored: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """VQFR's default colour correction, in float32 as its script runs it: each channel of the
    restored image is shifted to the ground truth's mean and scaled to its standard deviation,
    and the shift-and-scale is applied a second time."""
    out = restored.copy()
    for c in range(out.shape[2]):
        target_mean, target_std = gt[:, :, c].mean(), gt[:, :, c].std()
        for _ in range(2):
            out[:, :, c] = out[:, :, c] - out[:, :, c].mean() + target_mean
            out[:, :, c] = out[:, :, c] / out[:, :, c].std() * target_std
    return out


def _vqfr_fr(function_name: str, y_channel: bool):
    """PSNR/SSIM as VQFR's calculate_psnr_ssim.py: float32 BGR in [0, 1], mean/std correction,
    optionally Y of YCbCr (unrounded), scored on values x255 by basicsr's function."""
    def build(device, crop_border: int = 0):
        import_basicsr()
        from basicsr.metrics import psnr_ssim
        from basicsr.utils.color_util import bgr2ycbcr

        fn = getattr(psnr_ssim, function_name)

        def one(restored, gt):
            restored = match_mean_std(restored.astype(np.float32) / 255., gt.astype(np.float32) / 255.)
            gt = gt.astype(np.float32) / 255.
            if y_channel:
                gt, restored = bgr2ycbcr(gt, y_only=True), bgr2ycbcr(restored, y_only=True)
            return fn(gt * 255, restored * 255, crop_border=crop_border, input_order="HWC")

        def score(pred, ref):
            return torch.tensor([one(a, b) for a, b in zip(to_bgr255(pred), to_bgr255(ref))], dtype=torch.float64)
        return score
    return build


for _name, _fn in (("psnr", "calculate_psnr"), ("ssim", "calculate_ssim")):
    _y = f"basicsr {_fn}, Y of YCbCr (BT.601), 8-bit"
    for _alias in (_name, f"{_name}_y"):
        register(_alias, lower_better=False, needs_ref=True, crop_border=True,
                 definition=_y + (f" (= {_name}_y)" if _alias == _name else ""))(_basicsr_fr(_fn))
    register(f"{_name}_rgb_vqfr", lower_better=False, needs_ref=True, crop_border=True,
             definition=f"VQFR calculate_psnr_ssim.py default: RGB, per-channel mean/std matched to GT (twice), "
                        f"float32, basicsr {_fn}")(_vqfr_fr(_fn, False))
    register(f"{_name}_y_vqfr", lower_better=False, needs_ref=True, crop_border=True,
             definition=f"VQFR calculate_psnr_ssim.py --test_y_channel: mean/std matched to GT (twice), then "
                        f"Y of YCbCr unrounded, basicsr {_fn}")(_vqfr_fr(_fn, True))


@register("niqe", lower_better=True, needs_ref=False, crop_border=True, definition="basicsr calculate_niqe, Y channel")
def _niqe(device, crop_border: int = 0):
    import_basicsr()
    from basicsr.metrics.niqe import calculate_niqe

    def score(pred, ref=None):
        return torch.tensor([float(calculate_niqe(a, crop_border=crop_border, input_order="HWC", convert_to="y"))
                             for a in to_bgr255(pred)], dtype=torch.float64)
    return score


# ----------------------------------------------------------------- pyiqa metrics
def pyiqa_metric(pyiqa_name: str, device, **opts):
    """pyiqa's metric object (its own weights unless opts say otherwise)."""
    import pyiqa

    return pyiqa.create_metric(pyiqa_name, device=device, as_loss=False, **opts)


def _pyiqa_scorer(pyiqa_name: str, needs_ref: bool, **opts):
    def build(device, net=None):
        """``net``: an already built pyiqa metric or network (tests: seeded weights)."""
        net = net if net is not None else pyiqa_metric(pyiqa_name, device, **opts)

        def score(pred, ref=None):
            with torch.no_grad():
                x = pred.to(device).float().clamp(0, 1)
                out = net(x, ref.to(device).float().clamp(0, 1)) if needs_ref else net(x)
            return out.reshape(-1).double().cpu()
        score.net = net
        return score
    return build


for _name, _pyiqa, _lower, _ref, _defn in [
    ("lpips", "lpips", True, True, "pyiqa lpips (v0.1, AlexNet), inputs in [0, 1]"),
    ("clipiqa", "clipiqa", False, False, "pyiqa clipiqa (CLIP RN50, antonym prompts)"),
    ("musiq", "musiq", False, False, "pyiqa musiq (KonIQ-10k)"),
]:
    register(_name, lower_better=_lower, needs_ref=_ref, definition=_defn)(_pyiqa_scorer(_pyiqa, _ref))


@register("lpips_vgg", lower_better=True, needs_ref=True,
          definition="lpips package LPIPS(net='vgg') v0.1 as VQFR calculate_lpips.py calls it: float32 RGB "
                     "x/255 normalised to [-1, 1]")
def _lpips_vgg(device, net=None):
    """``net``: an ``lpips.LPIPS(net='vgg')`` already built (tests: seeded trunk weights)."""
    if net is None:
        import lpips

        net = lpips.LPIPS(net="vgg", verbose=False)     # linear layers ship with the package
    net = net.to(device).eval()

    def to_input(x):
        x = x.detach().clamp(0, 1).mul(255).round().float() / 255.
        return ((x - 0.5) / 0.5).to(device)

    def score(pred, ref):
        with torch.no_grad():
            return net(to_input(pred), to_input(ref)).reshape(-1).double().cpu()
    score.net = net
    return score


# ----------------------------------------------------------------- FID
FID_EXTRACTOR = ("torch-fidelity inception-v3-compat, weights-inception-2015-12-05-6726825d, "
                 "2048-d pool3, TF1 bilinear resize to 299")


def inception(device, weights_path=None):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = weights_path or W.METRIC_WEIGHTS["inception_fid"].path
    return FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)).to(device)


def features(paths, extractor: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 32, device="cpu",
             progress: bool = False) -> torch.Tensor:
    """(N, D) features of image files through ``extractor`` (uint8 (B, 3, H, W) -> (B, D))."""


    out = []
    for i in progress_bar(range(0, len(paths), batch_size), desc="features", show=progress):
        imgs = [read_image(p)[0] for p in paths[i:i + batch_size]]
        sizes = {tuple(x.shape) for x in imgs}
        if len(sizes) != 1:
            raise ResShiftError(f"images of different sizes in one FID batch: {sorted(sizes)}")
        x = torch.stack(imgs).mul(255).round().to(torch.uint8).to(device)
        with torch.no_grad():
            f = extractor(x)
        out.append((f[0] if isinstance(f, (tuple, list)) else f).reshape(len(imgs), -1).double().cpu())
    return torch.cat(out)


def statistics(feats: torch.Tensor) -> dict:
    from torch_fidelity.metric_fid import fid_features_to_statistics

    return fid_features_to_statistics(feats)


def frechet(stats_a: dict, stats_b: dict) -> float:
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    return float(fid_statistics_to_metric(stats_a, stats_b, verbose=False)["frechet_inception_distance"])


def reference_statistics(folder, device="cpu", extractor=None, cache_dir=None) -> dict:
    """FID statistics of a folder (e.g. FFHQ), cached under the extractor's identity and the
    folder's file list (names and sizes)."""
    import hashlib
    from pathlib import Path


    files = list_images(folder)
    key = hashlib.sha256((FID_EXTRACTOR + "\n" + "\n".join(f"{p.name}:{p.stat().st_size}" for p in files))
                         .encode()).hexdigest()[:20]
    cache = Path(cache_dir or W.metrics_dir() / "fid_stats") / f"{key}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            return {"mu": z["mu"], "sigma": z["sigma"], "extractor": str(z["extractor"])}
    stats = statistics(features(files, extractor or inception(device), device=device, progress=True))
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, mu=stats["mu"], sigma=stats["sigma"], extractor=FID_EXTRACTOR, source=str(folder))
    return {**stats, "extractor": FID_EXTRACTOR}


@register("fid_g", lower_better=True, needs_ref=True, set_level=True,
          definition=f"FID of the restored set against the GT set; {FID_EXTRACTOR}")
def _fid_g(device, extractor=None):
    ext = extractor or inception(device)

    def score(pred_paths, ref_paths):
        return frechet(statistics(features(pred_paths, ext, device=device)),
                       statistics(features(ref_paths, ext, device=device)))
    return score


@register("fid_f", lower_better=True, needs_ref=False, set_level=True,
          definition=f"FID against reference statistics (e.g. FFHQ); {FID_EXTRACTOR}")
def _fid_f(device, extractor=None, reference_stats: dict | None = None):
    ext = extractor or inception(device)

    def score(pred_paths, stats=None):
        stats = stats or reference_stats
        if stats is None:
            raise ResShiftError("fid_f needs reference statistics: --fid-ref DIR or --fid-stats FILE")
        if stats.get("extractor") != FID_EXTRACTOR:
            raise ResShiftError(f"reference statistics were made with {stats.get('extractor')!r}, "
                                f"not {FID_EXTRACTOR!r}; recompute them from the folder")
        return frechet(statistics(features(pred_paths, ext, device=device)), stats)
    return score


KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000     # torch-fidelity's defaults; subset size capped at N
FID_MIN_IMAGES = 2048                         # fewer: the FID/KID estimate is biased (tables warn)


def kid(feats_a: torch.Tensor, feats_b: torch.Tensor, seed: int = 2020) -> float:
    """torch-fidelity's KID (polynomial kernel degree 3, coef0 1) over feature sets."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    size = min(KID_SUBSET_SIZE, len(feats_a), len(feats_b))
    out = kid_features_to_metric(feats_a, feats_b, kid_subsets=KID_SUBSETS, kid_subset_size=size,
                                 rng_seed=seed, verbose=False)
    return float(out["kernel_inception_distance_mean"])


@register("kid_g", lower_better=True, needs_ref=True, set_level=True,
          definition=f"KID of the restored set against the GT set (torch-fidelity, poly kernel, {KID_SUBSETS} "
                     f"subsets of min({KID_SUBSET_SIZE}, N)); {FID_EXTRACTOR}")
def _kid_g(device, extractor=None):
    ext = extractor or inception(device)

    def score(pred_paths, ref_paths):
        return kid(features(pred_paths, ext, device=device), features(ref_paths, ext, device=device))
    return score


# ----------------------------------------------------------------- faces: IDS, LMD
class _IRBlock(torch.nn.Module):
    """arcface-pytorch's IRBlock (no squeeze-excitation): BN, conv, BN, PReLU, conv(stride), BN."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        nn = torch.nn
        self.bn0 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, inplanes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.prelu = nn.PReLU()
        self.conv2 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(self.bn0(x))))))
        return self.prelu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNetFace18(torch.nn.Module):
    """arcface-pytorch's ``resnet_face18`` (use_se=False): 128x128 gray face -> 512-d feature."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(1, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(2, 2)
        layers, inplanes = [], 64
        for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers.append(nn.Sequential(_IRBlock(inplanes, planes, stride), _IRBlock(planes, planes)))
            inplanes = planes
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.bn4 = nn.BatchNorm2d(512)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(512 * 8 * 8, 512)
        self.bn5 = nn.BatchNorm1d(512)

    def forward(self, x):
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn4(x)).flatten(1)
        return self.bn5(self.fc5(x))


def png_gray(rgb: np.ndarray) -> np.ndarray:
    """8-bit gray of an 8-bit RGB (H, W, 3) image exactly as ``cv2.imread(png, IMREAD_GRAYSCALE)``
    returns it: OpenCV asks libpng for weights 0.299/0.587, which libpng truncates to 15-bit fixed
    point (9797, 19234 and the rest, 3737, for blue) and sums with truncation. (JPEG files are
    turned gray by libjpeg instead; the benchmark's sets are PNG.)"""
    rgb = rgb.astype(np.int64)
    return ((9797 * rgb[..., 0] + 19234 * rgb[..., 1] + 3737 * rgb[..., 2]) >> 15).astype(np.uint8)


def face_features(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """VQFR's identity feature, one 512-d vector per image: gray as OpenCV reads the PNG,
    ``cv2.resize`` INTER_LINEAR (no antialiasing) to 128x128, (v - 127.5) / 127.5, float32."""
    import cv2

    rgb = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    gray = np.stack([cv2.resize(png_gray(im), (128, 128), interpolation=cv2.INTER_LINEAR) for im in rgb])
    gray = (torch.from_numpy(gray).float()[:, None] - 127.5) / 127.5
    param = next(net.parameters(), None)
    with torch.no_grad():
        return net(gray.to(param.device if param is not None else "cpu")).float().cpu()


def identity_angle(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between feature vectors (rows), in float64 (VQFR's script divides in
    float32; the two agree to 1e-4 degrees above 1 degree)."""
    cos = F.cosine_similarity(fa.double(), fb.double(), dim=1, eps=0).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))


IDS_EXCLUDE_BELOW = 1.0        # degrees: VQFR counts such pairs as "almost identical" and skips them


@register("ids", lower_better=True, needs_ref=True, exclude_below=IDS_EXCLUDE_BELOW,
          definition="VQFR calculate_cos_dist.py: arcface-pytorch resnet_face18 (resnet18_110.pth), OpenCV PNG "
                     "gray, cv2 INTER_LINEAR to 128, one 512-d feature, angle in degrees; pairs under 1 degree "
                     "excluded from the mean and counted")
def _ids(device, net: torch.nn.Module | None = None):
    if net is None:
        net = ResNetFace18()
        load_checkpoint(net, W.METRIC_WEIGHTS["arcface_resnet18"].path)
    net = net.to(device).eval()

    def score(pred, ref):
        return identity_angle(face_features(net, pred.to(device).float()),
                              face_features(net, ref.to(device).float())).cpu()
    return score


@register("lmd", lower_better=True, needs_ref=True,
          definition="VQFR calculate_landmark_distance.py: AWing FAN (alignment_WFLW_4HG.pth) 98 landmarks on "
                     "the 8-bit image at its own size, mean L2 in pixels")
def _lmd(device, align=None):
    landmarks = wflw_landmarks(device, align, size=None, uint8=True)

    def score(pred, ref):
        return torch.tensor([landmark_distance(a, b) for a, b in zip(landmarks(pred), landmarks(ref))],
                            dtype=torch.float64)
    return score


def catalogue() -> str:
    """Every metric with its direction, inputs, options, definition, weight files and whether it
    runs offline here (``resshift-bench metrics --list``); reads no weights."""
    lines = []
    for m in METRICS.values():
        files = W.for_metric(m.name)
        missing = [w.file for w in files if not w.present()]
        offline = ("yes (no weight files)" if not files else "yes (weights present)" if not missing else
                   f"no: {', '.join(missing)} missing (resshift-bench weights fetch {m.name})")
        lines += [(f"{m.name}  ({'lower' if m.lower_better else 'higher'} is better; "
                   f"{'one value per set' if m.set_level else 'per image'}; "
                   f"{'needs reference images' if m.needs_ref else 'no reference'}"
                   f"{'; option crop_border' if m.crop_border else ''})"),
                  f"    definition: {m.describe(0)}",
                  f"    weights: {', '.join(str(w.path) for w in files) or 'none'}",
                  f"    offline: {offline}"]
    return "\n".join(lines)


def score_pairs(metric: Metric, scorer, pred: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
    if metric.needs_ref and ref is None:
        raise ResShiftError(f"metric {metric.name} needs reference images (--ref)")
    return scorer(pred, ref) if metric.needs_ref else scorer(pred)


def match_files(pred_dir, ref_dir=None) -> list[tuple[str, object, object]]:
    """(stem, pred path, ref path) matched by stem; a missing or extra file is an error listing them."""
    from pathlib import Path


    pred = {p.stem: p for p in list_images(pred_dir)}
    if ref_dir is None:
        return [(s, pred[s], None) for s in sorted(pred)]
    ref = {p.stem: p for p in list_images(ref_dir)}
    missing, extra = sorted(set(ref) - set(pred)), sorted(set(pred) - set(ref))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing from {pred_dir}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
        if extra:
            parts.append(f"not in {ref_dir}: {', '.join(extra[:10])}{' ...' if len(extra) > 10 else ''}")
        raise ResShiftError(f"{Path(pred_dir)}: files do not match the reference by name ({'; '.join(parts)})")
    return [(s, pred[s], ref[s]) for s in sorted(pred)]


def evaluate(pred_dir, ref_dir=None, names=("psnr", "ssim"), *, device="cpu", batch_size=16,
             progress=True, fid_reference=None, crop_border: int = 0) -> tuple[list[dict], dict]:
    """Per-image rows ``{"image": stem, metric: value}`` and notes ``{metric: why it is empty}``.

    Set-level metrics (FID, KID) are returned in notes["set"][name], with the number of images in
    notes["set_n"]; notes["summary"] has each per-image metric's {mean, n, excluded} (IDS leaves
    pairs under 1 degree out). ``crop_border`` applies to the metrics that take it and is
    recorded in their definitions. A metric whose weights are missing gets an empty column and
    a note; it never stops the others.
    """
    from collections import defaultdict


    device = torch.device(device)
    metrics = [get(n) for n in names]
    pairs = match_files(pred_dir, ref_dir)
    for m in metrics:
        if m.needs_ref and ref_dir is None and m.name != "fid_f":
            raise ResShiftError(f"metric {m.name} needs reference images: pass --ref DIR")
    if int(crop_border) < 0:
        raise ResShiftError(f"crop_border must be 0 or more pixels, not {crop_border}")
    notes: dict = {"unavailable": {}, "set": {}, "set_n": {}, "summary": {}, "options": {"crop_border": int(crop_border)},
                   "definitions": {m.name: m.describe(crop_border) for m in metrics}}
    scorers = {}
    for m in metrics:
        reason = m.unavailable()
        if reason:
            notes["unavailable"][m.name] = reason
            continue
        if not m.set_level:
            scorers[m.name] = m.build(device, crop_border=int(crop_border)) if m.crop_border else m.build(device)
    rows = {stem: {"image": stem} for stem, _, _ in pairs}
    for m in metrics:
        for stem in rows:
            rows[stem].setdefault(m.name, None) if not m.set_level else None
    groups: dict = defaultdict(list)
    if scorers:
        bar = progress_bar(total=len(pairs), desc="metrics", unit="image", show=progress)
        for stem, p, r in pairs:
            pred = read_image(p)[0]
            groups[tuple(pred.shape)].append((stem, pred, None if r is None else read_image(r)[0]))
            if len(groups[tuple(pred.shape)]) == batch_size:
                _score_group(groups.pop(tuple(pred.shape)), metrics, scorers, rows)
                bar.update(batch_size)
        for key in list(groups):
            n = len(groups[key])
            _score_group(groups.pop(key), metrics, scorers, rows)
            bar.update(n)
        bar.close()
    for m in metrics:
        if m.set_level and m.name not in notes["unavailable"]:
            preds = [p for _, p, _ in pairs]
            if m.needs_ref:
                notes["set"][m.name] = m.build(device)(preds, [r for _, _, r in pairs])
            else:
                notes["set"][m.name] = m.build(device, reference_stats=fid_reference)(preds)
            notes["set_n"][m.name] = len(preds)
        elif not m.set_level and m.name in scorers:
            s = m.summary([rows[stem][m.name] for stem in rows])
            notes["summary"][m.name] = {k: s[k] for k in ("mean", "n", "excluded")}
    return [rows[s] for s in sorted(rows)], notes


def _score_group(group, metrics, scorers, rows) -> None:
    pred = torch.stack([g[1] for g in group])
    ref = None if group[0][2] is None else torch.stack([g[2] for g in group])
    for m in metrics:
        if m.name in scorers:
            if ref is not None and ref.shape != pred.shape and m.needs_ref:
                raise ResShiftError(f"{group[0][0]}: restored image is {tuple(pred.shape[-2:])}, reference "
                                    f"{tuple(ref.shape[-2:])}; sizes must match")
            vals = score_pairs(m, scorers[m.name], pred, ref)
            for (stem, _, _), v in zip(group, vals.tolist()):
                rows[stem][m.name] = v
