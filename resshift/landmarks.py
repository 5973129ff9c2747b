"""Facial landmarks: facexlib's 98-point WFLW AWing FAN as a function, and the distance between
landmark sets. Below both the metrics (``lmd``) and the face baselines (DFDNet's part boxes), which
use the same detector.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .compat import patch_facexlib
from .imageio import to_bgr255
from .weights import WeightFile

ALIGNMENT_WFLW = WeightFile("alignment_WFLW_4HG.pth",
                            "https://github.com/xinntao/facexlib/releases/download/v0.1.0/alignment_WFLW_4HG.pth",
                            library="facexlib", name="alignment_wflw")


def landmark_distance(la: np.ndarray, lb: np.ndarray) -> float:
    """Mean per-landmark L2 distance (pixels) between (K, 2) landmark arrays."""
    return float(np.linalg.norm(np.asarray(la, np.float64) - np.asarray(lb, np.float64), axis=1).mean())


def wflw_landmarks(device, align=None, size: int | None = 512, uint8: bool = False):
    """facexlib's AWing model (``alignment_WFLW_4HG.pth``) as a function: (B, 3, H, W) faces in
    [0, 1], resized to ``size`` (None: kept) -> B arrays of 98 (x, y) WFLW landmarks. ``uint8``:
    hand the aligner 8-bit BGR arrays, as cv2.imread gives them (its cv2.resize then rounds).
    ``align``: a built aligner."""
    if align is None:
        patch_facexlib()
        from facexlib.alignment import init_alignment_model

        align = init_alignment_model("awing_fan", device=str(device), model_rootpath=str(ALIGNMENT_WFLW.folder))

    def landmarks(x: torch.Tensor) -> list[np.ndarray]:
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x.float(), size=(size, size), mode="bicubic", align_corners=False)
        images = to_bgr255(x)
        if uint8:
            images = [np.ascontiguousarray(im.astype(np.uint8)) for im in images]
        return [np.asarray(align.get_landmarks(im)) for im in images]
    return landmarks
