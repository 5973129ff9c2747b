"""Test-time degradations as two pure steps: draw parameters, then apply them.

``draw_*(rng, cfg)`` draws every random choice from a per-sample ``numpy.random.Generator``
into a JSON-serialisable dict (noise realisations are represented by their own seeds);
``apply_*(gt, params, cfg)`` is deterministic, so a manifest row's parameters rebuild its LQ
bytes exactly. Kernels and noise come from basicsr (``basicsr.data.degradations``);
basicsr's noise draws from numpy's global generator, which is seeded right before each call
with the sample's own noise seed. Images are float32 HWC RGB in [0, 1]; JPEG is OpenCV's
(``cv2.imencode``), the one implementation every recipe uses.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..compat import import_basicsr

RESIZE_MODES = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


def _bsr():
    import_basicsr()
    from basicsr.data import degradations

    return degradations


def _choice(rng: np.random.Generator, options, probs=None):
    return options[int(rng.choice(len(options), p=probs))]


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2 ** 32 - 1))


# ----------------------------------------------------------------- building blocks
def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, isotropic: bool) -> np.ndarray:
    return _bsr().bivariate_Gaussian(size, sigma_x, sigma_y, theta, isotropic=isotropic)


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    return _bsr().circular_lowpass_kernel(cutoff, size, pad_to=0)


def blur(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


def resize(img: np.ndarray, height: int, width: int, mode: str) -> np.ndarray:
    return cv2.resize(img, (max(1, width), max(1, height)), interpolation=RESIZE_MODES[mode])


def gaussian_noise(img: np.ndarray, sigma: float, gray: bool, seed: int) -> np.ndarray:
    np.random.seed(seed)                             # basicsr draws from numpy's global generator
    return _bsr().add_gaussian_noise(img, sigma=sigma, clip=True, rounds=False, gray_noise=gray)


def poisson_noise(img: np.ndarray, scale: float, gray: bool, seed: int) -> np.ndarray:
    np.random.seed(seed)
    bgr = np.ascontiguousarray(img[..., ::-1])       # basicsr's gray conversion assumes BGR
    out = _bsr().add_poisson_noise(bgr, scale=scale, clip=True, rounds=False, gray_noise=gray)
    return np.ascontiguousarray(out[..., ::-1]).astype(np.float32)


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """OpenCV JPEG round trip at ``quality``, as basicsr's ``add_jpg_compression`` but rounding
    to 8 bits explicitly (OpenCV 5 would otherwise warn and convert the float image itself)."""
    bgr = np.ascontiguousarray(to_uint8(img)[..., ::-1])
    ok, enc = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("OpenCV JPEG encoding failed")
    return np.ascontiguousarray(cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1]).astype(np.float32) / 255.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip((img * 255.0).round(), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------- x4 SR: Real-ESRGAN, first order
def draw_realesrgan_first_order(rng: np.random.Generator, cfg: dict) -> dict:
    """Random choices of the Real-ESRGAN pipeline with the second order disabled (PROTOCOL §2)."""
    p: dict = {}
    ks = int(cfg["kernel_size"])
    if rng.random() < cfg["sinc_prob"]:
        lo = math.pi / 3 if ks < 13 else math.pi / 5
        p.update(kernel="sinc", sinc_cutoff=float(rng.uniform(lo, math.pi)))
    else:
        kind = _choice(rng, cfg["kernel_list"], cfg["kernel_prob"])
        sx = float(rng.uniform(*cfg["blur_sigma"]))
        if kind == "iso":
            p.update(kernel="iso", sigma_x=sx, sigma_y=sx, theta=0.0)
        else:
            p.update(kernel="aniso", sigma_x=sx, sigma_y=float(rng.uniform(*cfg["blur_sigma"])),
                     theta=float(rng.uniform(-math.pi, math.pi)))
    updown = _choice(rng, ["up", "down", "keep"], cfg["resize_prob"])
    lo, hi = cfg["resize_range"]
    scale = float(rng.uniform(1, hi)) if updown == "up" else float(rng.uniform(lo, 1)) if updown == "down" else 1.0
    p.update(resize=updown, resize_scale=scale, resize_mode=_choice(rng, list(RESIZE_MODES)))
    gray = bool(rng.random() < cfg["gray_noise_prob"])
    if rng.random() < cfg["gaussian_noise_prob"]:
        p.update(noise="gaussian", noise_sigma=float(rng.uniform(*cfg["noise_range"])), noise_gray=gray)
    else:
        p.update(noise="poisson", noise_scale=float(rng.uniform(*cfg["poisson_scale_range"])), noise_gray=gray)
    p["noise_seed"] = _seed(rng)
    p["jpeg_quality"] = int(rng.integers(cfg["jpeg_range"][0], cfg["jpeg_range"][1] + 1))
    p["final_order"] = "resize_sinc_jpeg" if rng.random() < 0.5 else "jpeg_resize_sinc"
    p["final_resize_mode"] = _choice(rng, list(RESIZE_MODES))
    if rng.random() < cfg["final_sinc_prob"]:
        p["final_sinc_cutoff"] = float(rng.uniform(math.pi / 3, math.pi))
    else:
        p["final_sinc_cutoff"] = None
    p["final_jpeg_quality"] = int(rng.integers(cfg["final_jpeg_range"][0], cfg["final_jpeg_range"][1] + 1))
    return p


def apply_realesrgan_first_order(gt: np.ndarray, p: dict, cfg: dict) -> np.ndarray:
    """GT (H, W, 3) float32 in [0, 1] -> LQ uint8 of (H/sf, W/sf)."""
    ks = int(cfg["kernel_size"])
    h, w = gt.shape[:2]
    sf = int(cfg["sf"])
    if p["kernel"] == "sinc":
        kernel = sinc_kernel(ks, p["sinc_cutoff"])
    else:
        kernel = gaussian_kernel(ks, p["sigma_x"], p["sigma_y"], p["theta"], p["kernel"] == "iso")
    x = blur(gt, kernel)
    s = p["resize_scale"]
    x = resize(x, int(h * s), int(w * s), p["resize_mode"])
    if p["noise"] == "gaussian":
        x = gaussian_noise(x, p["noise_sigma"], p["noise_gray"], p["noise_seed"])
    else:
        x = poisson_noise(x, p["noise_scale"], p["noise_gray"], p["noise_seed"])
    x = jpeg(x, p["jpeg_quality"])

    def final_resize_sinc(y):
        y = resize(y, h // sf, w // sf, p["final_resize_mode"])
        if p["final_sinc_cutoff"] is not None:
            y = blur(y, sinc_kernel(ks, p["final_sinc_cutoff"]))
        return y

    if p["final_order"] == "resize_sinc_jpeg":
        x = jpeg(np.clip(final_resize_sinc(x), 0, 1), p["final_jpeg_quality"])
    else:
        x = final_resize_sinc(jpeg(x, p["final_jpeg_quality"]))
    return to_uint8(x)


# ----------------------------------------------------------------- blind face restoration (test)
def draw_face_test(rng: np.random.Generator, cfg: dict) -> dict:
    """CelebA-Test degradation of the released test code (PROTOCOL §2)."""
    return {"sigma_x": float(rng.uniform(*cfg["blur_sigma"])), "sigma_y": float(rng.uniform(*cfg["blur_sigma"])),
            "theta": float(rng.uniform(0, math.pi)), "downscale": float(rng.uniform(*cfg["downscale_range"])),
            "noise_sigma": float(rng.uniform(*cfg["noise_range"])), "noise_seed": _seed(rng),
            "jpeg_quality": int(rng.integers(cfg["jpeg_range"][0], cfg["jpeg_range"][1] + 1))}


def apply_face_test(gt: np.ndarray, p: dict, cfg: dict) -> np.ndarray:
    h, w = gt.shape[:2]
    kernel = gaussian_kernel(int(cfg["kernel_size"]), p["sigma_x"], p["sigma_y"], p["theta"], False)
    x = blur(gt, kernel)
    x = resize(x, int(h / p["downscale"]), int(w / p["downscale"]), "bilinear")
    x = gaussian_noise(x, p["noise_sigma"], False, p["noise_seed"])
    x = jpeg(x, p["jpeg_quality"])
    x = resize(x, h, w, "bilinear")
    return to_uint8(x)


def draw_bicubic(rng: np.random.Generator, cfg: dict) -> dict:
    return {}


def apply_bicubic(gt: np.ndarray, p: dict, cfg: dict) -> np.ndarray:
    """Bicubic x``sf`` downsampling (MATLAB-like antialiasing via basicsr's ``imresize``)."""
    import_basicsr()
    from basicsr.utils.matlab_functions import imresize

    return to_uint8(imresize(gt, 1 / int(cfg["sf"])))


DEGRADATIONS = {
    "realesrgan_first_order": (draw_realesrgan_first_order, apply_realesrgan_first_order),
    "face_test": (draw_face_test, apply_face_test),
    "bicubic": (draw_bicubic, apply_bicubic),
}
