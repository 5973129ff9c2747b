"""Training pairs for ``resshift train``.

``TrainingBatches(cfg, sf, seed, batch_size)[it]`` is iteration ``it``'s batch (or one process's
share of it): sample ``k`` is drawn from its own generator, seeded by (seed, "data", it, k), so a
batch does not depend on how many processes or prefetching workers build it, and a resumed run
sees the same data as one that did not stop.

Sources (``config["data"]["kind"]``):
- ``packaged``: images inside installed packages (the offline demo; ``images`` lists them;
  ``resize_short`` rescales each to that short side first, like the demo test sets' GT);
- ``folder``: a folder of HQ images (``hq``; searched recursively, read when drawn);
- ``paired``: folders ``gt`` and ``lq`` with the same file names (no pipeline).

HQ crops of ``crop`` px (random position, horizontal flip) are degraded by ``pipeline``:
- ``bicubic`` (default): antialiased bicubic x``sf`` downsampling (torch), 8-bit;
- ``matlab_bicubic``: MATLAB-style bicubic (basicsr ``imresize``), as the bicsr test sets;
- ``realesrgan``: Real-ESRGAN's two-order pipeline (:class:`RealESRGANDegradation`; its keys
  override ``REALESRGAN_DEFAULTS``), the released realsr training data;
- ``face``: GFPGAN-style blind face degradation (paper Eq. 22 ranges), LQ the size of HQ;
- ``inpaint``: a mixed mask (``kinds``, ``probs``; 1 = hole), LQ = HQ * (1 - mask);
- ``realesrgan_first_order`` / ``face_test``: a test-set degradation with its recipe fields
  (``bench/datasets/*.yaml``), e.g. to train the demo on the demo_sr distribution.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ResShiftError
from ..imageio import IMAGE_SUFFIXES, list_images, read_image
from ..noise import seed_for
from ..packaged import TRAIN_IMAGES, packaged_array

PIPELINES = ("bicubic", "matlab_bicubic", "realesrgan", "face", "inpaint", "realesrgan_first_order", "face_test")


def _recursive_images(folder) -> list:
    from pathlib import Path


    root = Path(folder)
    if not root.is_dir():
        raise ResShiftError(f"data.hq {folder}: no such folder; set it with --set data.hq=DIR")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise ResShiftError(f"data.hq {folder}: no images found (searched recursively)")
    return files


def _as_float(img_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img_u8)).permute(2, 0, 1).float() / 255


def _read_u8(path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file (16-bit files rounded to 8 bits)."""

    return (read_image(path)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


class TrainingBatches(torch.utils.data.Dataset):
    """Item ``it``: ``{"hq", "lq", "mask"}`` for samples ``[lo, hi)`` of iteration ``it``'s batch
    (tensors in [0, 1]; ``mask`` (n, 1, H, W) for inpainting, else absent)."""

    def __init__(self, cfg: dict, sf: int, seed: int, lo: int, hi: int, length: int):
        data = cfg.get("data") or {"kind": "packaged"}
        self.kind, self.sf, self.seed, self.lo, self.hi, self.length = data.get("kind"), sf, seed, lo, hi, length
        self.crop = int(data.get("crop", 64))
        pipe = data.get("pipeline") or data.get("degradation") or {"name": "bicubic"}
        self.pipeline = dict(pipe if isinstance(pipe, dict) else {"name": pipe})
        name = self.pipeline.get("name")
        if name not in PIPELINES:
            raise ResShiftError(f"data.pipeline {name!r}: choose one of {', '.join(PIPELINES)}")
        if name in ("face", "inpaint", "face_test") and sf != 1:
            raise ResShiftError(f"data.pipeline {name} keeps the image size; the configuration's diffusion.sf must be 1")
        if self.crop % sf:
            raise ResShiftError(f"data.crop {self.crop} is not a multiple of the scale factor {sf}")
        self._two_order = None
        if self.kind == "packaged":
            self.images = [packaged_array(n) for n in data.get("images", TRAIN_IMAGES)]
            if data.get("resize_short"):             # as the demo test sets' GT (PIL bicubic)
                from PIL import Image

                size = int(data["resize_short"])
                out = []
                for img in self.images:
                    h, w = img.shape[:2]
                    r = size / min(h, w)
                    pil = Image.fromarray(img).resize((max(size, round(w * r)), max(size, round(h * r))),
                                                      Image.BICUBIC)
                    out.append(np.asarray(pil))
                self.images = out
        elif self.kind == "folder":
            if not data.get("hq"):
                raise ResShiftError(f"configuration {cfg['name']}: data.hq is not set; pass "
                                    "--set data.hq=DIR (a folder of HQ training images)")
            self.files = _recursive_images(data["hq"])
        elif self.kind == "paired":
            for key in ("gt", "lq"):
                if not data.get(key):
                    raise ResShiftError(f"configuration {cfg['name']}: data.{key} is not set (paired data)")
            gt = {p.stem: p for p in list_images(data["gt"])}
            lq = {p.stem: p for p in list_images(data["lq"])}
            if set(gt) != set(lq):
                raise ResShiftError(f"{data['gt']} and {data['lq']}: file names differ")
            self.pairs = [(gt[s], lq[s]) for s in sorted(gt)]
        else:
            raise ResShiftError(f"data.kind {self.kind!r}: use packaged, folder or paired")

    def __len__(self) -> int:
        return self.length

    # ------------------------------------------------------------------ one sample
    def _hq_array(self, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "packaged":
            return self.images[int(rng.integers(len(self.images)))]
        return _read_u8(self.files[int(rng.integers(len(self.files)))])

    def _crop(self, img: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
        h, w = img.shape[:2]
        if h < size or w < size:                        # small images: reflect-pad up to the crop
            img = np.pad(img, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
            h, w = img.shape[:2]
        top, left = int(rng.integers(h - size + 1)), int(rng.integers(w - size + 1))
        out = img[top:top + size, left:left + size]
        return out[:, ::-1] if rng.random() < 0.5 else out

    def sample(self, it: int, k: int) -> dict:
        rng = np.random.default_rng(seed_for(self.seed, "data", it, k))
        if self.kind == "paired":
            gt_path, lq_path = self.pairs[int(rng.integers(len(self.pairs)))]
            gt, lq = _read_u8(gt_path), _read_u8(lq_path)
            cl = self.crop // self.sf
            top, left = int(rng.integers(lq.shape[0] - cl + 1)), int(rng.integers(lq.shape[1] - cl + 1))
            s = self.sf
            return {"hq": _as_float(gt[top * s:(top + cl) * s, left * s:(left + cl) * s]),
                    "lq": _as_float(lq[top:top + cl, left:left + cl])}
        hq = self._crop(self._hq_array(rng), rng, self.crop)
        name, hq_t = self.pipeline["name"], _as_float(hq)
        if name == "bicubic":
            lq = F.interpolate(hq_t[None], scale_factor=1 / self.sf, mode="bicubic", antialias=True,
                               align_corners=False)[0]
            return {"hq": hq_t, "lq": lq.clamp(0, 1).mul(255).round().div(255)}
        if name == "realesrgan":
            from .training import RealESRGANDegradation

            if self._two_order is None:
                params = {k: v for k, v in self.pipeline.items() if k != "name"}
                self._two_order = RealESRGANDegradation({"sf": self.sf, **params})
            return {"hq": hq_t, "lq": self._two_order(hq_t[None], rng)[0]}
        if name == "face":
            from .training import face_degradation

            params = {k: v for k, v in self.pipeline.items() if k != "name"}
            return {"hq": hq_t, "lq": _as_float(face_degradation(hq.astype(np.float32) / 255, rng, params))}
        if name == "inpaint":
            from .masks import MASK_KINDS, random_mask

            kinds = tuple(self.pipeline.get("kinds", MASK_KINDS))
            mask, _ = random_mask(rng, self.crop, self.crop, kinds, self.pipeline.get("probs"),
                                  self.pipeline.get("settings"))
            m = torch.from_numpy(np.ascontiguousarray(mask)).float()[None]
            return {"hq": hq_t, "lq": hq_t * (1 - m), "mask": m}
        from .degradations import DEGRADATIONS  # a test-set degradation

        draw, apply = DEGRADATIONS["bicubic" if name == "matlab_bicubic" else name]
        cfg = {"sf": self.sf, **self.pipeline}
        return {"hq": hq_t, "lq": _as_float(apply(hq.astype(np.float32) / 255, draw(rng, cfg), cfg))}

    def __getitem__(self, it: int) -> dict:
        samples = [self.sample(int(it), k) for k in range(self.lo, self.hi)]
        return {key: torch.stack([s[key] for s in samples]) for key in samples[0]}
