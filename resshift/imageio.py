"""Reading and writing images as float tensors in [0, 1] (RGB, CHW), with atomic writes.

Inputs: PNG/JPEG/BMP/TIFF/WebP, 8- or 16-bit, RGB, grayscale, with alpha, palette, CMYK;
the EXIF orientation is applied. Grayscale images are restored as RGB and written back as
grayscale (BT.601 luma); alpha is kept aside, resized like the image and written back;
16-bit inputs give 16-bit outputs. Outputs are always PNG.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import ResShiftError
from .files import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_ORIENTATION = 0x0112
_LUMA = (0.299, 0.587, 0.114)          # BT.601, as PIL's convert("L")


@dataclass
class ImageInfo:
    """What :func:`read_image` found, so that :func:`write_image` can write the same kind back."""

    bits: int = 8                      # 8 or 16
    gray: bool = False                 # single-channel input (restored as RGB)
    alpha: torch.Tensor | None = None  # (1, H, W) in [0, 1], or None
    mode: str = "RGB"                  # PIL mode of the file
    orientation: int = 1               # EXIF orientation that was applied


def list_images(path: str | os.PathLike) -> list[Path]:
    """A file, or the images of a folder (sorted by name; hidden files skipped)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not files:
            raise ResShiftError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    raise ResShiftError(f"{path}: no such file or folder")


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H, W[, C]) array."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
           7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1]}
    op = ops.get(orientation)
    return np.ascontiguousarray(op(arr)) if op else arr


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) after the EXIF orientation, from the header only."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = int(im.getexif().get(_ORIENTATION, 1) or 1)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ResShiftError(f"{path}: cannot be read as an image ({_reason(exc)})") from None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_array(path: str | os.PathLike) -> tuple[np.ndarray, str, int, int]:
    """Decode fully: (H, W, C) array (uint8 or uint16; C in 1..4), PIL mode, bits, orientation."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            orientation = int(im.getexif().get(_ORIENTATION, 1) or 1)
            im.load()                                   # raises on truncated data
            arr = None
            if im.format in ("PNG", "TIFF") and mode in ("RGB", "RGBA"):
                arr = _read_16bit_color(path)           # Pillow reads 48/64-bit PNGs as 8-bit
            if arr is not None:
                bits = 16
            elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                arr = np.asarray(im, dtype=np.int64)
                if arr.min() < 0 or arr.max() > 65535:
                    raise ResShiftError(f"{path}: 32-bit integer image; save it as 8- or 16-bit")
                arr, bits = arr.astype(np.uint16)[..., None], 16
            elif mode == "F":
                raise ResShiftError(f"{path}: floating-point image; save it as 8- or 16-bit PNG")
            else:
                bits = 8
                if mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif mode == "1":
                    im = im.convert("L")
                elif mode not in ("L", "LA", "RGB", "RGBA"):
                    im = im.convert("RGBA" if "A" in mode else "RGB")   # CMYK, YCbCr, LAB, ...
                arr = np.asarray(im)
                if arr.ndim == 2:
                    arr = arr[..., None]
    except ResShiftError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ResShiftError(f"{path}: cannot be read as an image ({_reason(exc)})") from None
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ResShiftError(f"{path}: empty image")
    return _orient(arr, orientation), mode, bits, orientation


def _read_16bit_color(path: Path) -> np.ndarray | None:
    """A 16-bit RGB(A) PNG/TIFF as (H, W, C) uint16 RGB(A) through OpenCV; None if 8-bit."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3:
        return None
    return arr[..., [2, 1, 0, 3][: arr.shape[2]]]


def read_image(path: str | os.PathLike) -> tuple[torch.Tensor, ImageInfo]:
    """(3, H, W) float tensor in [0, 1] (RGB) and an :class:`ImageInfo`."""
    arr, mode, bits, orientation = read_array(path)
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    x = torch.from_numpy(arr.astype(np.float32) / scale).permute(2, 0, 1)
    c = x.shape[0]
    alpha = x[-1:].clone() if c in (2, 4) else None
    color = x[:1].expand(3, -1, -1) if c in (1, 2) else x[:3]
    return color.contiguous(), ImageInfo(bits=bits, gray=c in (1, 2), alpha=alpha, mode=mode,
                                         orientation=orientation)


def read_mask(path: str | os.PathLike, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A binary hole mask (1, H, W) in {0, 1} (1/white = hole) from a 0/1 or 0/255 image."""
    arr, _, bits, _ = read_array(path)
    if arr.shape[2] in (2, 4):
        arr = arr[..., :-1]
    if arr.shape[2] == 3 and not ((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()):
        raise ResShiftError(f"{path}: mask has colour; save it as a black/white (0/255) PNG")
    values = np.unique(arr[..., 0])
    top = 65535 if bits == 16 else 255
    if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, top}):
        shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise ResShiftError(f"{path}: mask values must be 0/1 or 0/{top} (found {shown}); "
                            "save a binary PNG (JPEG compression blurs masks)")
    mask = torch.from_numpy((arr[..., 0] > 0).astype(np.float32))[None]
    if size is not None and tuple(mask.shape[-2:]) != tuple(size):
        raise ResShiftError(f"{path}: mask is {mask.shape[-1]}x{mask.shape[-2]} but its image is "
                            f"{size[1]}x{size[0]} (width x height); masks must match their images")
    return mask


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, C) uint8, rounded."""
    return img.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()


def to_bgr255(x: torch.Tensor) -> list[np.ndarray]:
    """(B, 3, H, W) in [0, 1] -> HWC BGR float64 arrays in [0, 255] (8-bit values), as cv2 reads files."""
    arr = x.detach().clamp(0, 1).mul(255).round().permute(0, 2, 3, 1).flip(-1).double().cpu().numpy()
    return list(arr)


def luma(img: torch.Tensor) -> torch.Tensor:
    """(3, H, W) RGB -> (1, H, W) BT.601 luma."""
    w = torch.tensor(_LUMA, dtype=img.dtype, device=img.device).view(3, 1, 1)
    return (img * w).sum(0, keepdim=True)


def _atomic(path: Path, save) -> Path:
    """Call ``save(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    with atomic_path(path, suffix=path.suffix) as tmp:
        save(str(tmp))
    return path


def write_image(img: torch.Tensor, path: str | os.PathLike, bits: int = 8, gray: bool = False,
                alpha: torch.Tensor | None = None) -> Path:
    """Write (3, H, W) in [0, 1] as PNG, atomically; ``gray`` writes BT.601 luma, ``alpha``
    (1, H, W) adds an alpha channel, ``bits`` 16 writes a 16-bit PNG."""
    path = Path(path)
    img = img.detach().float().clamp(0, 1).cpu()
    chans = [luma(img)] if gray else [img]
    if alpha is not None:
        chans.append(alpha.detach().float().clamp(0, 1).cpu())
    x = torch.cat(chans)
    if bits == 16:
        import cv2

        arr = (x * 65535).round().to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)
        if arr.shape[2] >= 3:
            arr = arr[..., [2, 1, 0, 3][: arr.shape[2]]]          # OpenCV wants BGR(A)
        if arr.shape[2] == 1:
            arr = arr[..., 0]

        def save(tmp):
            if not cv2.imwrite(tmp, arr):
                raise OSError(f"OpenCV could not write {path}")
    else:
        arr = to_uint8(x)
        pil = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)

        def save(tmp):
            pil.save(tmp, format="PNG")
    return _atomic(path, save)


def write_text(text: str, path: str | os.PathLike) -> Path:
    path = Path(path)

    def save(tmp):
        Path(tmp).write_text(text)
    return _atomic(path, save)


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` if needed and check that files can be written in it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test.")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise ResShiftError(f"{folder}: output folder is not writable ({exc.strerror or _reason(exc)}); "
                            "choose another -o") from None
    return folder
