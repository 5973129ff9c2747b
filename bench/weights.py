"""Every weight file the harness's metrics need: file, where its library looks for it, URL.

The libraries download on first use (pyiqa into ``$TORCH_HOME/hub/pyiqa`` and CLIP into
``$TORCH_HOME/hub/clip``, torchvision and torch-fidelity into ``$TORCH_HOME/hub/checkpoints``,
facexlib into its ``model_rootpath``).
``fetch`` triggers those downloads where the network allows; offline, a metric whose files are
missing is reported unavailable with this table's information instead of hanging.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from resshift.errors import ResShiftError

HF = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/"
TV = "https://download.pytorch.org/models/"


def torch_hub() -> Path:
    import torch

    return Path(torch.hub.get_dir())


def facexlib_dir() -> Path:
    """facexlib's default ``model_rootpath``: ``facexlib/weights`` inside the installed package."""
    import facexlib

    return Path(os.environ.get("FACEXLIB_HOME", Path(facexlib.__file__).parent / "weights"))


def resshift_bench_dir() -> Path:
    return Path(os.environ.get("RESSHIFT_HOME", Path.home() / ".cache" / "resshift")) / "metrics"


@dataclass(frozen=True)
class WeightFile:
    name: str
    file: str
    url: str
    where: str            # "pyiqa" | "torchvision" | "clip" | "facexlib" | "resshift"
    used_by: tuple[str, ...]
    sha256: str = ""      # published by the release (CLIP: in its address); else the name's hash prefix, if any

    @property
    def folder(self) -> Path:
        return {"pyiqa": lambda: torch_hub() / "pyiqa", "torchvision": lambda: torch_hub() / "checkpoints",
                "clip": lambda: torch_hub() / "clip",
                "facexlib": facexlib_dir, "resshift": resshift_bench_dir}[self.where]()

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def present(self) -> bool:
        return self.path.is_file()


METRIC_WEIGHTS = {w.name: w for w in [
    WeightFile("lpips_alex", "LPIPS_v0.1_alex-df73285e.pth", HF + "LPIPS_v0.1_alex-df73285e.pth", "pyiqa", ("lpips",)),
    WeightFile("alexnet", "alexnet-owt-7be5be79.pth", TV + "alexnet-owt-7be5be79.pth", "torchvision", ("lpips",)),
    WeightFile("vgg16", "vgg16-397923af.pth", TV + "vgg16-397923af.pth", "torchvision", ("lpips_vgg",)),
    WeightFile("musiq_koniq", "musiq_koniq_ckpt-e95806b9.pth", HF + "musiq_koniq_ckpt-e95806b9.pth", "pyiqa", ("musiq",)),
    WeightFile("clip_rn50", "RN50.pt",
               "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
               "clip", ("clipiqa",), sha256="afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762"),
    WeightFile("inception_fid", "weights-inception-2015-12-05-6726825d.pth",
               "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
               "torchvision", ("fid_g", "fid_f", "kid_g")),
    WeightFile("arcface_resnet18", "resnet18_110.pth",
               "https://github.com/TencentARC/VQFR/releases/download/v2.0.0/metric_weights/resnet18_110.pth",
               "resshift", ("ids",)),
    WeightFile("alignment_wflw", "alignment_WFLW_4HG.pth",
               "https://github.com/xinntao/facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth",
               "facexlib", ("lmd",)),
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
    if w.present():
        return w.path
    if os.environ.get("RESSHIFT_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ResShiftError(f"{w.file}: offline (RESSHIFT_OFFLINE/HF_HUB_OFFLINE set); download {w.url} "
                            f"to {w.path}")
    from resshift.download import download

    download(w.url, w.path, sha256=w.sha256)
    return w.path
