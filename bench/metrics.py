"""Metrics by name (pyiqa style): ``METRICS[name]`` says whether lower is better, whether it needs
a reference, whether it is computed on a whole set, which weight files it needs and exactly
which definition it uses.

Per-image metrics score (B, 3, H, W) RGB batches in [0, 1] (8-bit values) and return (B,)
tensors; set metrics (FID) take two lists of image paths. Definitions:

- ``psnr``/``ssim``: Y of YCbCr (BT.601, 16-235), no border crop, 8-bit inputs: basicsr's
  ``calculate_psnr``/``calculate_ssim`` with ``test_y_channel=True`` (the numpy path, ~10x faster
  on CPU than pyiqa's). pyiqa's ``ssim`` (Y channel) rounds Y first and reads 0.012-0.025 lower on
  bicubic x4 restorations of the demo images (tests/test_metrics.py).
- ``lpips`` (AlexNet) and ``lpips_vgg``: pyiqa's LPIPS v0.1, inputs in [0, 1].
- ``clipiqa``, ``musiq`` (KonIQ-10k): pyiqa. ``niqe``: basicsr's (its parameters ship with it;
  runs offline), Y channel, no crop.
- ``fid_g``: restored set against the ground-truth set; ``fid_f``: against reference statistics
  (e.g. FFHQ). Both use torch-fidelity's InceptionV3 (TF 2015-12-05 weights, 2048-d pool
  features, TF1 bilinear resize to 299).
- ``ids``: VQFR's identity distance: arcface-pytorch ``resnet_face18`` on 128x128 grayscale faces
  (feature = [f(x), f(flip x)]), angle between restored and GT features in degrees.
- ``lmd``: facexlib's 98-point WFLW alignment model (AWing), mean per-landmark L2 in pixels at 512.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from resshift.errors import ResShiftError

from . import weights as W
from resshift.progress import progress_bar


@dataclass
class Metric:
    name: str
    lower_better: bool
    needs_ref: bool
    definition: str
    build: Callable[[torch.device], Callable] = field(repr=False)
    set_level: bool = False

    @property
    def weights(self) -> list[str]:
        return [w.file for w in W.for_metric(self.name)]

    def unavailable(self) -> str | None:
        """Why the metric cannot run here (missing weights), or None."""
        return W.missing_reason(self.name)


METRICS: dict[str, Metric] = {}


def register(name: str, *, lower_better: bool, needs_ref: bool, definition: str, set_level: bool = False):
    def deco(build):
        METRICS[name] = Metric(name, lower_better, needs_ref, definition, build, set_level)
        return build
    return deco


def get(name: str) -> Metric:
    if name not in METRICS:
        raise ResShiftError(f"unknown metric {name!r}; known: {', '.join(METRICS)}")
    return METRICS[name]


def _bgr255(x: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) in [0, 1] -> HWC BGR float64 arrays in [0, 255] (8-bit values)."""
    arr = x.detach().clamp(0, 1).mul(255).round().permute(0, 2, 3, 1).flip(-1).double().cpu().numpy()
    return list(arr)


# ----------------------------------------------------------------- basicsr metrics
def _basicsr_fr(function_name: str):
    """A full-reference basicsr metric on Y of YCbCr, no border crop, 8-bit inputs."""
    def build(device):
        from resshift.compat import import_basicsr

        import_basicsr()
        from basicsr.metrics import psnr_ssim

        fn = getattr(psnr_ssim, function_name)

        def score(pred, ref):
            return torch.tensor([fn(a, b, crop_border=0, test_y_channel=True)
                                 for a, b in zip(_bgr255(pred), _bgr255(ref))], dtype=torch.float64)
        return score
    return build


register("psnr", lower_better=False, needs_ref=True,
         definition="basicsr calculate_psnr, Y of YCbCr (BT.601), crop 0, 8-bit")(_basicsr_fr("calculate_psnr"))
register("ssim", lower_better=False, needs_ref=True,
         definition="basicsr calculate_ssim, Y of YCbCr (BT.601), crop 0, 8-bit")(_basicsr_fr("calculate_ssim"))


@register("niqe", lower_better=True, needs_ref=False, definition="basicsr calculate_niqe, Y channel, crop 0")
def _niqe(device):
    from resshift.compat import import_basicsr

    import_basicsr()
    from basicsr.metrics.niqe import calculate_niqe

    def score(pred, ref=None):
        return torch.tensor([float(calculate_niqe(a, crop_border=0, input_order="HWC", convert_to="y"))
                             for a in _bgr255(pred)], dtype=torch.float64)
    return score


# ----------------------------------------------------------------- pyiqa metrics
def pyiqa_metric(pyiqa_name: str, device, **opts):
    """pyiqa's metric object (its own weights unless opts say otherwise)."""
    import pyiqa

    return pyiqa.create_metric(pyiqa_name, device=device, as_loss=False, **opts)


def _pyiqa_scorer(pyiqa_name: str, needs_ref: bool, **opts):
    def build(device):
        net = pyiqa_metric(pyiqa_name, device, **opts)

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
    ("lpips_vgg", "lpips-vgg", True, True, "pyiqa lpips-vgg (v0.1, VGG16), inputs in [0, 1]"),
    ("clipiqa", "clipiqa", False, False, "pyiqa clipiqa (CLIP RN50, antonym prompts)"),
    ("musiq", "musiq", False, False, "pyiqa musiq (KonIQ-10k)"),
]:
    register(_name, lower_better=_lower, needs_ref=_ref, definition=_defn)(_pyiqa_scorer(_pyiqa, _ref))


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

    from resshift.imageio import read_image

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

    from resshift.imageio import list_images

    files = list_images(folder)
    key = hashlib.sha256((FID_EXTRACTOR + "\n" + "\n".join(f"{p.name}:{p.stat().st_size}" for p in files))
                         .encode()).hexdigest()[:20]
    cache = Path(cache_dir or W.resshift_bench_dir() / "fid_stats") / f"{key}.npz"
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


def face_features(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """VQFR's identity features: gray 128x128 in [-1, 1], [f(x), f(horizontal flip of x)]."""
    gray = (x[:, 0:1] * 0.299 + x[:, 1:2] * 0.587 + x[:, 2:3] * 0.114).mul(255).round()
    gray = F.interpolate(gray, size=(128, 128), mode="bilinear", align_corners=False, antialias=True)
    gray = (gray - 127.5) / 127.5
    with torch.no_grad():
        return torch.cat([net(gray), net(gray.flip(-1))], dim=1)


def identity_angle(fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between feature vectors (rows)."""
    cos = F.cosine_similarity(fa.double(), fb.double(), dim=1).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))


@register("ids", lower_better=True, needs_ref=True,
          definition="VQFR IDS: arcface resnet_face18 (resnet18_110.pth), 128x128 gray + flip, angle in degrees")
def _ids(device, net: torch.nn.Module | None = None):
    if net is None:
        from resshift.weights import load_checkpoint

        net = ResNetFace18()
        load_checkpoint(net, W.METRIC_WEIGHTS["arcface_resnet18"].path)
    net = net.to(device).eval()

    def score(pred, ref):
        return identity_angle(face_features(net, pred.to(device).float()),
                              face_features(net, ref.to(device).float())).cpu()
    return score


def landmark_distance(la: np.ndarray, lb: np.ndarray) -> float:
    """Mean per-landmark L2 distance (pixels) between (K, 2) landmark arrays."""
    return float(np.linalg.norm(np.asarray(la, np.float64) - np.asarray(lb, np.float64), axis=1).mean())


def wflw_landmarks(device, align=None):
    """facexlib's AWing model (``alignment_WFLW_4HG.pth``) as a function: (B, 3, H, W) faces in
    [0, 1], resized to 512 -> B arrays of 98 (x, y) WFLW landmarks. ``align``: a built aligner."""
    if align is None:
        from resshift.compat import patch_facexlib

        patch_facexlib()
        from facexlib.alignment import init_alignment_model

        align = init_alignment_model("awing_fan", device=str(device), model_rootpath=str(W.facexlib_dir()))

    def landmarks(x: torch.Tensor) -> list[np.ndarray]:
        x = F.interpolate(x.float(), size=(512, 512), mode="bicubic", align_corners=False) if x.shape[-1] != 512 else x
        return [np.asarray(align.get_landmarks(im)) for im in _bgr255(x)]
    return landmarks


@register("lmd", lower_better=True, needs_ref=True,
          definition="facexlib AWing (alignment_WFLW_4HG.pth) 98 landmarks, mean L2 in pixels at 512")
def _lmd(device, align=None):
    landmarks = wflw_landmarks(device, align)

    def score(pred, ref):
        return torch.tensor([landmark_distance(a, b) for a, b in zip(landmarks(pred), landmarks(ref))],
                            dtype=torch.float64)
    return score


def score_pairs(metric: Metric, scorer, pred: torch.Tensor, ref: torch.Tensor | None) -> torch.Tensor:
    if metric.needs_ref and ref is None:
        raise ResShiftError(f"metric {metric.name} needs reference images (--ref)")
    return scorer(pred, ref) if metric.needs_ref else scorer(pred)


def match_files(pred_dir, ref_dir=None) -> list[tuple[str, object, object]]:
    """(stem, pred path, ref path) matched by stem; a missing or extra file is an error listing them."""
    from pathlib import Path

    from resshift.imageio import list_images

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
             progress=True, fid_reference=None) -> tuple[list[dict], dict]:
    """Per-image rows ``{"image": stem, metric: value}`` and notes ``{metric: why it is empty}``.

    Set-level metrics (FID) are returned in notes["set"][name]. A metric whose weights are
    missing gets an empty column and a note; it never stops the others.
    """
    from collections import defaultdict

    from resshift.imageio import read_image

    device = torch.device(device)
    metrics = [get(n) for n in names]
    pairs = match_files(pred_dir, ref_dir)
    for m in metrics:
        if m.needs_ref and ref_dir is None and m.name != "fid_f":
            raise ResShiftError(f"metric {m.name} needs reference images: pass --ref DIR")
    notes: dict = {"unavailable": {}, "set": {}, "definitions": {m.name: m.definition for m in metrics}}
    scorers = {}
    for m in metrics:
        reason = m.unavailable()
        if reason:
            notes["unavailable"][m.name] = reason
            continue
        if not m.set_level:
            scorers[m.name] = m.build(device)
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
            if m.name == "fid_g":
                notes["set"][m.name] = m.build(device)(preds, [r for _, _, r in pairs])
            else:
                notes["set"][m.name] = m.build(device, reference_stats=fid_reference)(preds)
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
