"""Training-time degradations (on the fly, per batch), built on basicsr.

- :class:`RealESRGANDegradation`: the two-order Real-ESRGAN pipeline on a (B, 3, H, W) batch in
  [0, 1]: blur, resize and noise run on the batch's device (GPU when present), JPEG through
  OpenCV on the CPU; every draw comes from the ``numpy.random.Generator`` passed in.
- :func:`face_degradation`: GFPGAN-style blind face degradation of one image (paper Eq. 22
  ranges: blur sigma [0.1, 15], downscale [0.8, 32], noise [0, 20], JPEG [30, 100]).
- :func:`resshift.data.masks.random_mask`: mixed inpainting masks.
"""
from __future__ import annotations

import math
import random

import numpy as np
import torch
import torch.nn.functional as F

from ..compat import import_basicsr
from . import degradations as D

REALESRGAN_DEFAULTS = {
    "sf": 4, "kernel_list": ["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"],
    "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
    "blur_sigma": [0.2, 3.0], "betag_range": [0.5, 4.0], "betap_range": [1, 2], "sinc_prob": 0.1,
    "blur_sigma2": [0.2, 1.5], "betag_range2": [0.5, 4.0], "betap_range2": [1, 2], "sinc_prob2": 0.1,
    "resize_prob": [0.2, 0.7, 0.1], "resize_range": [0.15, 1.5], "gaussian_noise_prob": 0.5,
    "noise_range": [1, 30], "poisson_scale_range": [0.05, 3.0], "gray_noise_prob": 0.4, "jpeg_range": [30, 95],
    "second_blur_prob": 0.8, "resize_prob2": [0.3, 0.4, 0.3], "resize_range2": [0.3, 1.2],
    "gaussian_noise_prob2": 0.5, "noise_range2": [1, 25], "poisson_scale_range2": [0.05, 2.5],
    "gray_noise_prob2": 0.4, "jpeg_range2": [30, 95], "final_sinc_prob": 0.8,
}


class RealESRGANDegradation:
    """Real-ESRGAN's second-order degradation of HQ batches."""

    def __init__(self, cfg: dict | None = None):
        self.cfg = {**REALESRGAN_DEFAULTS, **(cfg or {})}

    def _kernel(self, rng: np.random.Generator, second: bool) -> np.ndarray:
        c, s = self.cfg, "2" if second else ""
        size = int(rng.choice(np.arange(7, 22, 2)))
        if rng.random() < c["sinc_prob" + s]:
            lo = math.pi / 3 if size < 13 else math.pi / 4
            k = D.sinc_kernel(size, float(rng.uniform(lo, math.pi)))
        else:
            bsr = D._bsr()
            seed = int(rng.integers(2 ** 32 - 1))   # basicsr draws kernels from numpy's and Python's
            np.random.seed(seed)                    # global generators: seed both per sample
            random.seed(seed)
            k = bsr.random_mixed_kernels(c["kernel_list"], c["kernel_prob"], size, c["blur_sigma" + s],
                                         c["blur_sigma" + s], [-math.pi, math.pi], c["betag_range" + s],
                                         c["betap_range" + s], noise_range=None)
        return np.pad(k, ((21 - size) // 2,) * 2)

    def _resize(self, x, rng, probs, rng_range, size=None):
        mode = str(rng.choice(["area", "bilinear", "bicubic"]))
        if size is None:
            kind = rng.choice(3, p=probs)
            scale = rng.uniform(1, rng_range[1]) if kind == 0 else rng.uniform(rng_range[0], 1) if kind == 1 else 1
            size = (max(1, int(x.shape[-2] * scale)), max(1, int(x.shape[-1] * scale)))
        return F.interpolate(x, size=size, mode=mode, **({} if mode == "area" else {"align_corners": False}))

    def _noise(self, x, rng, second):
        import_basicsr()
        from basicsr.data.degradations import random_add_gaussian_noise_pt, random_add_poisson_noise_pt

        c, s = self.cfg, "2" if second else ""
        torch.manual_seed(int(rng.integers(2 ** 63 - 1)))          # basicsr's torch noise uses the global RNG
        if rng.random() < c["gaussian_noise_prob" + s]:
            return random_add_gaussian_noise_pt(x, sigma_range=c["noise_range" + s], clip=True, rounds=False,
                                                gray_prob=c["gray_noise_prob" + s])
        return random_add_poisson_noise_pt(x, scale_range=c["poisson_scale_range" + s],
                                           gray_prob=c["gray_noise_prob" + s], clip=True, rounds=False)

    def _jpeg(self, x, rng, second):
        """OpenCV JPEG per image (basicsr 1.4.2's DiffJPEG gave different outputs for the same
        input on two calls with torch 2.14, so it is not used)."""
        lo, hi = self.cfg["jpeg_range2" if second else "jpeg_range"]
        out = []
        for img in x.clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy():
            out.append(D.jpeg(img, int(rng.integers(lo, hi + 1))))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x)

    @torch.no_grad()
    def __call__(self, hq: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(B, 3, H, W) HQ in [0, 1] -> (B, 3, H/sf, W/sf) LQ in [0, 1], rounded to 8 bits."""
        import_basicsr()
        from basicsr.utils.img_process_util import filter2D

        c = self.cfg
        b, _, h, w = hq.shape

        def kernels(second):
            return torch.from_numpy(np.stack([self._kernel(rng, second) for _ in range(b)])).float().to(hq.device)

        x = filter2D(hq.contiguous(), kernels(False))
        x = self._resize(x, rng, c["resize_prob"], c["resize_range"])
        x = self._noise(x, rng, False)
        x = self._jpeg(x, rng, False)
        if rng.random() < c["second_blur_prob"]:
            x = filter2D(x.contiguous(), kernels(True))
        sf = c["sf"]
        x = self._resize(x, rng, c["resize_prob2"], c["resize_range2"])
        x = self._noise(x, rng, True)
        pulse = np.zeros((21, 21))
        pulse[10, 10] = 1

        def final_sinc():
            ks = [D.sinc_kernel(21, float(rng.uniform(math.pi / 3, math.pi))) if rng.random() < c["final_sinc_prob"]
                  else pulse for _ in range(b)]
            return torch.from_numpy(np.stack(ks)).float().to(hq.device)

        if rng.random() < 0.5:
            x = self._resize(x, rng, None, None, (h // sf, w // sf))
            x = filter2D(x.contiguous(), final_sinc())
            x = self._jpeg(x, rng, True)
        else:
            x = self._jpeg(x, rng, True)
            x = self._resize(x, rng, None, None, (h // sf, w // sf))
            x = filter2D(x.contiguous(), final_sinc())
        return (x.clamp(0, 1) * 255).round() / 255


FACE_TRAIN_DEFAULTS = {"kernel_size": 41, "blur_sigma": [0.1, 15], "downscale_range": [0.8, 32],
                       "noise_range": [0, 20], "jpeg_range": [30, 100]}


def face_degradation(gt: np.ndarray, rng: np.random.Generator, cfg: dict | None = None) -> np.ndarray:
    """GFPGAN-style degradation of one (H, W, 3) float32 face in [0, 1]; returns uint8 (H, W, 3)."""
    c = {**FACE_TRAIN_DEFAULTS, **(cfg or {})}
    kind = "iso" if rng.random() < 0.5 else "aniso"
    sx = float(rng.uniform(*c["blur_sigma"]))
    sy = sx if kind == "iso" else float(rng.uniform(*c["blur_sigma"]))
    theta = 0.0 if kind == "iso" else float(rng.uniform(-math.pi, math.pi))
    h, w = gt.shape[:2]
    x = D.blur(gt, D.gaussian_kernel(c["kernel_size"], sx, sy, theta, kind == "iso"))
    s = float(rng.uniform(*c["downscale_range"]))
    x = D.resize(x, int(h / s), int(w / s), "bilinear")
    x = D.gaussian_noise(x, float(rng.uniform(*c["noise_range"])), False, int(rng.integers(2 ** 32 - 1)))
    x = D.jpeg(x, int(rng.integers(c["jpeg_range"][0], c["jpeg_range"][1] + 1)))
    return D.to_uint8(D.resize(x, h, w, "bilinear"))
