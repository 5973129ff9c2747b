"""Reading and writing images as float tensors in [0, 1] (RGB, CHW), with atomic writes."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import ResShiftError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(path: str | os.PathLike) -> list[Path]:
    """A file, or the images of a folder (sorted by name)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ResShiftError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    raise ResShiftError(f"{path}: no such file or folder")


def read_image(path: str | os.PathLike) -> tuple[torch.Tensor, dict]:
    """(3, H, W) float tensor in [0, 1] and info (``bits``, ``mode``)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64) / 65535.0
                arr = np.repeat(arr[..., None], 3, axis=-1)
                bits = 16
            else:
                arr = np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
                bits = 8
    except (UnidentifiedImageError, OSError) as exc:
        raise ResShiftError(f"{path}: cannot be read as an image ({exc})") from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ResShiftError(f"{path}: empty image")
    tensor = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).float()
    return tensor, {"bits": bits, "mode": mode}


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8, rounded."""
    return (img.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy())


def write_image(img: torch.Tensor, path: str | os.PathLike, bits: int = 8) -> Path:
    """Write (3, H, W) in [0, 1] as PNG, atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if bits == 16:
        arr = (img.detach().clamp(0, 1).mean(0) * 65535).round().to(torch.int32).cpu().numpy().astype(np.uint16)
        pil = Image.fromarray(arr)
    else:
        pil = Image.fromarray(to_uint8(img))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".png")
    os.close(fd)
    try:
        pil.save(tmp, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path
