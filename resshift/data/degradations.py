"""Test-time degradations as two pure steps: draw parameters, then apply them.

``draw_*(rng, cfg)`` draws every random choice from a per-sample ``numpy.random.Generator``
into a JSON-serialisable dict (noise realisations are represented by their own seeds);
``apply_*(gt, params, cfg)`` is deterministic, so a manifest row's parameters rebuild its LQ
bytes exactly. Kernels, noise and JPEG come from basicsr, the library the authors' release
vendors. The x4 SR pipeline is the release's ImageNet-Test synthesis (torch, ``DiffJPEG``; its
noise fields come from torch's generator seeded with the sample's own noise seed); the face
pipeline is the release's CelebA-Test synthesis (OpenCV; numpy's global generator, seeded right
before each call). Images are float32 HWC RGB in [0, 1].
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


# ----------------------------------------------------------------- x4 SR: the release's ImageNet-Test
# The authors' test-set synthesis (their RealESRGANDataset in testing mode with the second order
# switched off), step for step with basicsr's own operators: kernels from
# ``circular_lowpass_kernel`` / ``bivariate_Gaussian``, ``filter2D`` (reflect padding),
# ``F.interpolate`` with a scale factor, basicsr's noise generators on torch tensors, and
# ``DiffJPEG`` with a continuous quality. Images are RGB float32 tensors (1, 3, H, W).
INTERP_MODES = ("area", "bilinear", "bicubic")


def _kernel_sizes(cfg: dict, key: str, padded: int) -> list[int]:
    """Odd sizes from 3 up to (not including) the padded size, as ``range(3, padded, 2)``."""
    return [int(k) for k in cfg.get(key, range(3, padded, 2))]


def _f32(value: float) -> float:
    """The float32 value the release's torch draws would hold."""
    return float(np.float32(value))


def draw_realesrgan_first_order(rng: np.random.Generator, cfg: dict) -> dict:
    """Every random choice of one release ImageNet-Test sample, with the release's distributions
    (``configs/degradation_testing_realesrgan.yaml``): first-order kernel size uniform over
    3..(kernel_size - 2), sinc with ``sinc_prob`` (cutoff U(pi/3, pi) below size 13, else
    U(pi/5, pi)), otherwise iso/aniso Gaussian; resize up/down/keep with a random mode (drawn for
    keep too); Gaussian or Poisson noise (gray with ``gray_noise_prob``), its field given by
    ``noise_seed``; continuous JPEG qualities; the final stage's order, resize mode and sinc."""
    padded = int(cfg.get("kernel_size", 13))
    ks = int(rng.choice(_kernel_sizes(cfg, "kernel_range", padded)))
    p: dict = {"kernel_size": ks}
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
    p.update(resize=updown, resize_scale=scale, resize_mode=_choice(rng, list(INTERP_MODES)))
    if rng.random() < cfg["gaussian_noise_prob"]:
        p.update(noise="gaussian", noise_sigma=_f32(rng.uniform(*cfg["noise_range"])))
    else:
        p.update(noise="poisson", noise_scale=_f32(rng.uniform(*cfg["poisson_scale_range"])))
    p["noise_gray"] = bool(rng.random() < cfg["gray_noise_prob"])
    p["noise_seed"] = _seed(rng)
    p["jpeg_quality"] = _f32(rng.uniform(*cfg["jpeg_range"]))
    p["final_order"] = "resize_sinc_jpeg" if rng.random() < 0.5 else "jpeg_resize_sinc"
    p["final_resize_mode"] = _choice(rng, list(INTERP_MODES))
    final_pad = int(cfg.get("final_sinc_size", 7))
    if rng.random() < cfg["final_sinc_prob"]:
        p["final_sinc_size"] = int(rng.choice(_kernel_sizes(cfg, "final_sinc_range", final_pad)))
        p["final_sinc_cutoff"] = float(rng.uniform(math.pi / 3, math.pi))
    else:
        p["final_sinc_size"], p["final_sinc_cutoff"] = None, None
    p["final_jpeg_quality"] = _f32(rng.uniform(*cfg["final_jpeg_range"]))
    return p


def _pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    pad = (size - kernel.shape[0]) // 2
    return np.pad(kernel, ((pad, pad), (pad, pad)))


def first_kernel(p: dict, cfg: dict):
    """The first-stage kernel as the release uses it: built in float64 at its own size,
    zero-padded to ``kernel_size`` (13), then float32."""
    import torch

    bsr = _bsr()
    ks = int(p["kernel_size"])
    if p["kernel"] == "sinc":
        k = bsr.circular_lowpass_kernel(p["sinc_cutoff"], ks, pad_to=0)
    else:
        k = bsr.bivariate_Gaussian(ks, p["sigma_x"], p["sigma_y"], p["theta"], isotropic=p["kernel"] == "iso")
        k = k / np.sum(k)                       # basicsr's random kernel helpers normalise once more
    return torch.FloatTensor(_pad_kernel(k, int(cfg.get("kernel_size", 13))))


def final_sinc_kernel(p: dict, cfg: dict):
    """The final sinc kernel padded to ``final_sinc_size`` (7), or the centred pulse."""
    import torch

    size = int(cfg.get("final_sinc_size", 7))
    if p.get("final_sinc_cutoff") is None:
        pulse = torch.zeros(size, size)
        pulse[size // 2, size // 2] = 1
        return pulse
    k = _bsr().circular_lowpass_kernel(p["final_sinc_cutoff"], int(p["final_sinc_size"]), pad_to=size)
    return torch.FloatTensor(k)


def noise_field(x, p: dict):
    """The noise added after the first resize: basicsr's torch noise generators with the
    release's float32 levels, drawn from torch's generator seeded with ``noise_seed`` (the
    caller's torch state is left as it was)."""
    import torch

    bsr = _bsr()
    gray = torch.tensor([1.0 if p["noise_gray"] else 0.0])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(p["noise_seed"]))
        if p["noise"] == "gaussian":
            return bsr.generate_gaussian_noise_pt(x, torch.tensor([_f32(p["noise_sigma"])]), gray)
        return bsr.generate_poisson_noise_pt(x, torch.tensor([_f32(p["noise_scale"])]), gray)


_JPEGER = None


def diff_jpeg(x, quality: float):
    """basicsr's DiffJPEG (non-differentiable rounding) at a continuous float32 quality."""
    global _JPEGER
    import torch

    if _JPEGER is None:
        import_basicsr()
        from basicsr.utils.diffjpeg import DiffJPEG

        _JPEGER = DiffJPEG(differentiable=False)
    with torch.no_grad():
        return _JPEGER(x, quality=torch.tensor([_f32(quality)], dtype=torch.float32))


def apply_realesrgan_first_order(gt: np.ndarray, p: dict, cfg: dict, noise=None) -> np.ndarray:
    """GT (H, W, 3) float32 RGB in [0, 1] (the unrounded GT, as the release degrades it) -> LQ
    uint8 RGB of (H/sf, W/sf). ``noise`` (a (1, 3, h, w) float32 field) replaces the field
    that ``noise_seed`` would draw, to replay a recorded sample."""
    import torch
    import torch.nn.functional as F

    if cfg.get("jpeg", "diffjpeg") != "diffjpeg":
        raise ValueError(f"jpeg: {cfg['jpeg']!r}: this pipeline uses basicsr's DiffJPEG (jpeg: diffjpeg)")
    import_basicsr()
    from basicsr.utils.img_process_util import filter2D

    sf = int(cfg["sf"])
    h, w = gt.shape[:2]
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(gt, dtype=np.float32)).permute(2, 0, 1)[None].contiguous()
        x = filter2D(x, first_kernel(p, cfg))
        x = F.interpolate(x, scale_factor=p["resize_scale"], mode=p["resize_mode"])
        field = noise_field(x, p) if noise is None else torch.as_tensor(noise, dtype=torch.float32)
        x = torch.clamp(x + field, 0, 1)
        x = diff_jpeg(torch.clamp(x, 0, 1), p["jpeg_quality"])
        sinc = final_sinc_kernel(p, cfg)
        if p["final_order"] == "resize_sinc_jpeg":
            x = F.interpolate(x, size=(h // sf, w // sf), mode=p["final_resize_mode"])
            x = filter2D(x, sinc)
            x = diff_jpeg(torch.clamp(x, 0, 1), p["final_jpeg_quality"])
        else:
            x = diff_jpeg(torch.clamp(x, 0, 1), p["final_jpeg_quality"])
            x = F.interpolate(x, size=(h // sf, w // sf), mode=p["final_resize_mode"])
            x = filter2D(x, sinc)
        x = torch.clamp((x * 255.0).round(), 0, 255) / 255.0
        return np.round(x[0].permute(1, 2, 0).numpy() * 255).clip(0, 255).astype(np.uint8)


# ----------------------------------------------------------------- blind face restoration (test)
def draw_face_test(rng: np.random.Generator, cfg: dict) -> dict:
    """CelebA-Test draws of the release (``scripts/prepare_testing_celeba_faceir.py``): downscale
    U(1, 32), JPEG quality U(30, 70) (used truncated to an integer, so 30..69), noise sigma
    U(1, 20), kernel sigmas U(4, 16), angle U(0, pi)."""
    return {"sigma_x": float(rng.uniform(*cfg["blur_sigma"])), "sigma_y": float(rng.uniform(*cfg["blur_sigma"])),
            "theta": float(rng.uniform(0, math.pi)), "downscale": float(rng.uniform(*cfg["downscale_range"])),
            "noise_sigma": float(rng.uniform(*cfg["noise_range"])), "noise_seed": _seed(rng),
            "jpeg_quality": float(rng.uniform(*cfg["jpeg_range"]))}


def apply_face_test(gt: np.ndarray, p: dict, cfg: dict, noise=None) -> np.ndarray:
    """The release's ``face_degradation`` (``datapipe/face_degradation_testing.py``) on an RGB
    float32 face: 41x41 anisotropic Gaussian (float64, ``cv2.filter2D``), INTER_LINEAR down to
    (int(w // s), int(h // s)), Gaussian noise, OpenCV JPEG at int(quality), INTER_LINEAR back,
    8-bit rounding. ``noise`` ((h', w', 3) RGB float32) replaces the seeded field."""
    h, w = gt.shape[:2]
    kernel = gaussian_kernel(int(cfg["kernel_size"]), p["sigma_x"], p["sigma_y"], p["theta"], False)
    x = cv2.filter2D(gt, -1, kernel)
    s = p["downscale"]
    x = cv2.resize(x, (int(w // s), int(h // s)), interpolation=cv2.INTER_LINEAR)
    if noise is None:
        x = gaussian_noise(x, p["noise_sigma"], False, p["noise_seed"])
    else:
        x = np.clip(x + np.asarray(noise, np.float32), 0, 1)
    x = jpeg(x, int(p["jpeg_quality"]))
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
