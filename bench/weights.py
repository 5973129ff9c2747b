"""The weight files the harness's metrics need (:class:`resshift.weights.WeightFile`): file, where
its library looks for it, address.

The libraries download on first use (pyiqa into ``$TORCH_HOME/hub/pyiqa`` and CLIP into
``$TORCH_HOME/hub/clip``, torchvision and torch-fidelity into ``$TORCH_HOME/hub/checkpoints``,
facexlib into its ``model_rootpath``); files no library fetches are kept under ``metrics/`` in the
cache. ``fetch`` triggers those downloads where the network allows; offline, a metric whose files
are missing is reported unavailable with this table's information instead of hanging.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from resshift.errors import ResShiftError
from resshift.landmarks import ALIGNMENT_WFLW
from resshift.weights import WeightFile, cache_dir

HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
TV = "https://download.pytorch.org/models/"
METRICS = "metrics"              # the metrics' folder in the cache


def metrics_dir() -> Path:
    return cache_dir() / METRICS


METRIC_WEIGHTS = {w.name: w for w in [
    WeightFile("LPIPS_v0.1_alex-df73285e.pth", HF + "LPIPS_v0.1_alex-df73285e.pth", library="pyiqa",
               name="lpips_alex", used_by=("lpips",)),
    WeightFile("alexnet-owt-7be5be79.pth", TV + "alexnet-owt-7be5be79.pth", library="torchvision",
               name="alexnet", used_by=("lpips",)),
    WeightFile("vgg16-397923af.pth", TV + "vgg16-397923af.pth", library="torchvision",
               name="vgg16", used_by=("lpips_vgg",)),
    WeightFile("musiq_koniq_ckpt-e95806b9.pth", HF + "musiq_koniq_ckpt-e95806b9.pth", library="pyiqa",
               name="musiq_koniq", used_by=("musiq",)),
    WeightFile("RN50.pt",
               "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
               sha256="afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", library="clip",
               name="clip_rn50", used_by=("clipiqa",)),
    WeightFile("weights-inception-2015-12-05-6726825d.pth",
               "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
               library="torchvision", name="inception_fid", used_by=("fid_g", "fid_f", "kid_g")),
    WeightFile("resnet18_110.pth", "https://github.com/TencentARC/VQFR/releases/download/v2.0.0/metric_weights/resnet18_110.pth",
               subdir=METRICS, name="arcface_resnet18", used_by=("ids",)),
    replace(ALIGNMENT_WFLW, used_by=("lmd",)),
]}


def for_metric(metric: str) -> list[WeightFile]:
    return [w for w in METRIC_WEIGHTS.values() if metric in w.used_by]


def missing_reason(metric: str) -> str | None:
    """None when every file of ``metric`` is present; else one line naming them and the fix."""
    missing = [w for w in for_metric(metric) if not w.present()]
    if not missing:
        return None
    files = "; ".join(f"{w.file} (expected at {w.path}, from {w.url})" for w in missing)
    return f"weights missing: {files}; run `resshift-bench weights fetch {metric}` where the network allows"


def fetch(name: str) -> Path:
    """Download one weight file into the folder its library reads."""
    w = METRIC_WEIGHTS.get(name)
    if w is None:
        raise ResShiftError(f"unknown weight file {name!r}; known: {', '.join(METRIC_WEIGHTS)}")
    return w.fetch()
