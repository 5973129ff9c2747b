"""The one place that adapts third-party packages to the pinned stack.

- basicsr 1.4.2 imports ``torchvision.transforms.functional_tensor``, removed in torchvision
  0.17: :func:`import_basicsr` registers an alias to ``torchvision.transforms.functional``
  (which still provides ``rgb_to_grayscale``) before the first import.
- facexlib 0.3.0's landmark decoder (``awing_arch.calculate_points``) uses ``np.float``,
  removed in numpy 1.24: :func:`patch_facexlib` gives that module a numpy view with the alias,
  and replaces the decoder by one that does not read past the heatmap's last pixel.
- facexlib's ``init_recognition_model`` moves ArcFace to CUDA whatever ``device`` says:
  :func:`patch_facexlib` replaces it with a loader that honours ``device``.
- basicsr's ``VGGFeatureExtractor`` downloads torchvision's VGG19 weights when it is built, even
  when the checkpoint being loaded holds them (DFDNet's does): :func:`basicsr_vgg_unweighted`
  builds it on an unweighted VGG19 for the duration of a ``with`` block.

No other module of this project patches third-party code; each patch is idempotent (the VGG one
is undone when its block ends).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
import types

import numpy as np

_FUNCTIONAL_TENSOR = "torchvision.transforms.functional_tensor"


def alias_torchvision_functional_tensor() -> bool:
    """Make ``torchvision.transforms.functional_tensor`` importable; True if an alias was added."""
    try:
        importlib.import_module(_FUNCTIONAL_TENSOR)
        return False
    except ModuleNotFoundError:
        pass
    import torchvision.transforms.functional as functional

    alias = types.ModuleType(_FUNCTIONAL_TENSOR)
    alias.__dict__.update({k: v for k, v in vars(functional).items() if not k.startswith("__")})
    alias.__doc__ = "Alias of torchvision.transforms.functional added by resshift.compat for basicsr."
    sys.modules[_FUNCTIONAL_TENSOR] = alias
    return True


def import_basicsr():
    """Import basicsr on current torchvision."""
    alias_torchvision_functional_tensor()
    return importlib.import_module("basicsr")


@contextlib.contextmanager
def basicsr_vgg_unweighted():
    """Within the block, basicsr's VGG feature extractors start from an unweighted VGG (no
    download); the caller loads a checkpoint that holds the VGG weights."""
    import_basicsr()
    import torchvision.models

    vgg_arch = importlib.import_module("basicsr.archs.vgg_arch")
    unweighted = types.SimpleNamespace(**{name: (lambda fn: lambda pretrained=False, **kw: fn(weights=None, **kw))(
        getattr(torchvision.models, name)) for name in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
                                                          "vgg16_bn", "vgg19_bn")})
    saved = vgg_arch.vgg
    vgg_arch.vgg = unweighted
    try:
        yield
    finally:
        vgg_arch.vgg = saved


class _NumpyWithFloat(types.ModuleType):
    """numpy, plus the ``np.float`` alias (= float) that old code expects."""

    float = float

    def __getattr__(self, name):
        return getattr(np, name)


def _init_recognition_model(model_name, half=False, device="cpu", model_rootpath=None):
    """facexlib's ArcFace loader, honouring ``device`` (the original hard-codes CUDA)."""
    import torch
    from facexlib.recognition.arcface_arch import Backbone
    from facexlib.utils import load_file_from_url

    if model_name != "arcface":
        raise ValueError(f"{model_name} is not a facexlib recognition model")
    model = Backbone(num_layers=50, drop_ratio=0.6, mode="ir_se")
    url = "https://github.com/xinntao/facexlib/releases/download/v0.1.0/recognition_arcface_ir_se50.pth"
    path = load_file_from_url(url=url, model_dir="facexlib/weights", progress=True, file_name=None,
                              save_dir=model_rootpath)
    model.load_state_dict(torch.load(path, map_location="cpu"), strict=True)
    model = model.to(device).eval()
    return model.half() if half else model


def _awing_points(heatmaps):
    """facexlib 0.3.0's ``awing_arch.calculate_points`` with one change: the right neighbour of a
    maximum in the last heatmap pixel is read at that pixel instead of one past the end
    (IndexError). Everything else, including its batch-wide edge rules for the vertical
    neighbours, is kept so that landmarks (and LMD) match facexlib's."""
    import numpy

    b, n, h, w = heatmaps.shape
    hw = h * w
    flat = heatmaps.reshape(b * n, hw)
    idx = numpy.argmax(flat, axis=1)
    rows = numpy.arange(b * n)
    preds = numpy.stack((idx % w, idx // w), axis=1).astype(numpy.float64)
    x_up, x_down = flat[rows, numpy.minimum(idx + 1, hw - 1)], flat[rows, idx - 1]
    y_up = flat[rows, 4095] if any(idx + w >= 4096) else flat[rows, idx + w]
    y_down = flat[rows, 0] if any(idx - w <= 0) else flat[rows, idx - w]
    preds += numpy.sign(numpy.stack((x_up - x_down, y_up - y_down), axis=1)) * 0.25
    return (preds + 0.5).reshape(b, n, 2)


def patch_facexlib() -> None:
    """Apply the facexlib fixes described above (idempotent)."""
    awing = importlib.import_module("facexlib.alignment.awing_arch")
    if not isinstance(awing.np, _NumpyWithFloat):
        awing.np = _NumpyWithFloat("numpy")
    awing.calculate_points = _awing_points
    recognition = importlib.import_module("facexlib.recognition")
    recognition.init_recognition_model = _init_recognition_model
