"""Weight files, for ResShift, the baselines and the metrics alike: :class:`WeightFile` (file,
address, size, hash, licence, where it is kept, fetch), the one cache root, ResShift's released
checkpoints, and tolerant loading.

Files live in ``$RESSHIFT_HOME`` (default ``~/.cache/resshift``; :func:`cache_dir`), never in the
repository: ResShift's releases at its top, the baselines' under ``baselines/``, the metrics'
extras under ``metrics/``; files a metric library downloads itself stay where that library reads
them (``library``). ResShift's authors publish no checksums, so the sha256 of each of their files
is recorded at first download (``sha256.json`` in the cache) and checked on every later load.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from .download import download, pin_label, sha256_of  # noqa: F401  (the one download path and hash; re-exported)
from .errors import ResShiftError
from .files import atomic_path

RELEASE_URL = "https://github.com/zsyOAOA/ResShift/releases/download/v2.0/"
RELEASE_LICENCE = "S-Lab License 1.0 (non-commercial)"


def cache_dir() -> Path:
    """``$RESSHIFT_HOME`` or ``~/.cache/resshift``: the one cache root."""
    return Path(os.environ.get("RESSHIFT_HOME", Path.home() / ".cache" / "resshift")).expanduser()


def torch_hub() -> Path:
    return Path(torch.hub.get_dir())


def facexlib_dir() -> Path:
    """facexlib's default ``model_rootpath``: ``facexlib/weights`` inside the installed package."""
    import facexlib

    return Path(os.environ.get("FACEXLIB_HOME", Path(facexlib.__file__).parent / "weights"))


# folders of the libraries that download their own files (metrics)
LIBRARY_FOLDERS = {"pyiqa": lambda: torch_hub() / "pyiqa", "torchvision": lambda: torch_hub() / "checkpoints",
                   "clip": lambda: torch_hub() / "clip", "facexlib": facexlib_dir}


def offline() -> bool:
    """``RESSHIFT_OFFLINE`` (or ``HF_HUB_OFFLINE``) set: no downloads."""
    return any(os.environ.get(k, "") not in ("", "0") for k in ("RESSHIFT_OFFLINE", "HF_HUB_OFFLINE"))


@dataclass(frozen=True)
class WeightFile:
    """One weight file: its name, where it comes from, how it is checked and where it is kept."""

    file: str
    url: str
    sha256: str = ""                        # pinned where the release publishes one
    size: str = ""                          # for messages, e.g. "about 450 MB"
    subdir: str = ""                        # folder under the cache root
    is_folder: bool = False                 # a diffusers-format folder rather than one file
    manual: bool = False                    # no direct-download address: fetched by hand
    licence: str = ""
    library: str = ""                       # kept where this library reads it (LIBRARY_FOLDERS) instead
    name: str = ""                          # its key where a registry lists it
    used_by: tuple[str, ...] = ()           # metrics that read it

    @property
    def folder(self) -> Path:
        return LIBRARY_FOLDERS[self.library]() if self.library else cache_dir() / self.subdir

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def present(self) -> bool:
        return self.path.is_dir() if self.is_folder else self.path.is_file()

    def missing_message(self, user: str, fetch_command: str = "") -> str:
        """One line: ``user`` lacks the file, where it was looked for, its address and the fix."""
        size = f", {self.size}" if self.size else ""
        fetch = f", or run `{fetch_command}`" if fetch_command and not (self.manual or self.is_folder) else ""
        return (f"{user}: weight file {self.file} is missing (looked in {self.folder}); download it from "
                f"{self.url}{size} into that folder{fetch}")

    def fetch(self, progress: bool = True) -> Path:
        """The file, downloaded first when missing (checked against its pin or name's hash prefix)."""
        if self.present():
            return self.path
        if offline():
            raise ResShiftError(f"{self.file}: offline (RESSHIFT_OFFLINE/HF_HUB_OFFLINE set); download {self.url} "
                                f"to {self.path}")
        if self.manual or self.is_folder:
            raise ResShiftError(f"{self.file}: no direct download; get it from {self.url} into {self.folder}")
        download(self.url, self.path, sha256=self.sha256, progress=progress)
        return self.path


@dataclass(frozen=True)
class Checkpoint:
    """One released ResShift weight file and the configuration it belongs to."""

    name: str            # registry key
    filename: str
    kind: str            # "unet" or "autoencoder"
    tasks: tuple[str, ...]
    config: str          # configuration (resshift/configs/<config>.yaml) it belongs to
    version: str = ""
    sha256: str = ""     # empty: not published, recorded at first download

    @property
    def url(self) -> str:
        return RELEASE_URL + self.filename

    @property
    def weight_file(self) -> WeightFile:
        return WeightFile(self.filename, self.url, self.sha256, licence=RELEASE_LICENCE, name=self.name)


CHECKPOINTS: dict[str, Checkpoint] = {c.name: c for c in [
    Checkpoint("realsr_v1", "resshift_realsrx4_s15_v1.pth", "unet", ("realsr",), "v1", "v1"),
    Checkpoint("realsr_v2", "resshift_realsrx4_s15_v2.pth", "unet", ("realsr",), "v2", "v2"),
    Checkpoint("realsr_v3", "resshift_realsrx4_s4_v3.pth", "unet", ("realsr",), "v3", "v3"),
    Checkpoint("bicsr", "resshift_bicsrx4_s4.pth", "unet", ("bicsr",), "bicsr"),
    Checkpoint("inpaint_imagenet", "resshift_inpainting_imagenet_s4.pth", "unet", ("inpaint_imagenet",),
               "inpaint_imagenet"),
    Checkpoint("inpaint_face", "resshift_inpainting_face_s4.pth", "unet", ("inpaint_face",), "inpaint_face"),
    Checkpoint("faceir", "resshift_faceir_s4.pth", "unet", ("faceir",), "faceir"),
    Checkpoint("vq_f4", "autoencoder_vq_f4.pth", "autoencoder", ("realsr", "bicsr", "inpaint_imagenet"), "v3"),
    Checkpoint("vq_f4_face", "celeba256_vq_f4_dim3_face.pth", "autoencoder", ("inpaint_face",),
               "inpaint_face"),
    Checkpoint("vq_f8_face", "ffhq512_vq_f8_dim8_face.pth", "autoencoder", ("faceir",), "faceir"),
]}


def _recorded_path(root: Path) -> Path:
    return root / "sha256.json"


def recorded_sha256(root: Path | None = None) -> dict[str, str]:
    path = _recorded_path(root or cache_dir())
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResShiftError(f"{path}: not valid JSON ({exc.msg}); delete it to re-record checksums") from exc


def _record_sha256(root: Path, filename: str, digest: str) -> None:
    table = recorded_sha256(root)
    table[filename] = digest
    with atomic_path(_recorded_path(root)) as tmp:
        tmp.write_text(json.dumps(table, indent=2, sort_keys=True))


def _expected_sha256(ckpt: Checkpoint, root: Path) -> str:
    return ckpt.sha256 or recorded_sha256(root).get(ckpt.filename, "")


def missing_message(ckpt: Checkpoint, root: Path, reason: str = "not in the cache") -> str:
    return (f"{ckpt.filename}: {reason}; download it from {ckpt.url} and put it at "
            f"{root / ckpt.filename} (or set RESSHIFT_HOME), or run `resshift weights download {ckpt.name}`")


def fetch(name: str, *, root: Path | None = None, allow_download: bool = True, progress: bool = True) -> Path:
    """Path to the released file ``name`` (registry key or file name), downloading it if needed.

    ``RESSHIFT_OFFLINE=1`` forbids downloads. Raises :class:`ResShiftError` with the file, its URL and where to put it when the file is
    missing and cannot be downloaded, or when its checksum does not match.
    """
    ckpt = get(name)
    root = root or cache_dir()
    path = root / ckpt.filename
    if os.environ.get("RESSHIFT_OFFLINE", "") not in ("", "0"):
        allow_download = False
    if not path.exists():
        if not allow_download:
            raise ResShiftError(missing_message(ckpt, root))
        digest = download(ckpt.url, path, sha256=ckpt.sha256, progress=progress)
        _record_sha256(root, ckpt.filename, digest)
        return path
    expected = _expected_sha256(ckpt, root)
    if expected:
        digest = sha256_of(path)
        if digest != expected:
            raise ResShiftError(f"{path}: sha256 {digest} differs from the recorded {expected}; the file "
                                f"is damaged or replaced: delete it and download {ckpt.url} again")
    else:
        _record_sha256(root, ckpt.filename, sha256_of(path))
    return path


def get(name: str) -> Checkpoint:
    if name in CHECKPOINTS:
        return CHECKPOINTS[name]
    for ckpt in CHECKPOINTS.values():
        if ckpt.filename == name:
            return ckpt
    raise ResShiftError(f"unknown checkpoint {name!r}; known: {', '.join(CHECKPOINTS)}")


def status(root: Path | None = None) -> list[dict]:
    """One row per registered file: name, file, present, path, url."""
    root = root or cache_dir()
    rows = []
    for ckpt in CHECKPOINTS.values():
        path = root / ckpt.filename
        rows.append({"name": ckpt.name, "file": ckpt.filename, "kind": ckpt.kind, "config": ckpt.config,
                     "present": path.exists(), "path": str(path), "url": ckpt.url,
                     "sha256": _expected_sha256(ckpt, root), "pinned": pin_label(ckpt.filename, ckpt.sha256)})
    return rows


# --------------------------------------------------------------------- loading
_WRAPPER_KEYS = ("state_dict", "params_ema", "params", "model", "ema")
_PREFIXES = ("module.", "_orig_mod.")


def unwrap_state_dict(obj: Mapping) -> dict[str, torch.Tensor]:
    """Plain state dict from a checkpoint object: unwraps ``state_dict``/``params_ema``/``params``
    and strips ``module.``/``_orig_mod.`` key prefixes (in any order, repeated)."""
    seen = 0
    while isinstance(obj, Mapping) and seen < 4:
        inner = next((obj[k] for k in _WRAPPER_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if inner is None or any(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        obj, seen = inner, seen + 1
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ResShiftError("checkpoint holds no state dict of tensors (looked inside "
                            f"{', '.join(_WRAPPER_KEYS)})")
    out = {}
    for key, value in obj.items():
        changed = True
        while changed:
            changed = False
            for prefix in _PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix):], True
        out[key] = value
    return out


def read_state_dict(path: str | os.PathLike, key: str = "") -> dict[str, torch.Tensor]:
    """The state dict in a checkpoint file (safe loader; first ``obj[key]`` when the file wraps it
    in ``key``, then unwrapped as :func:`unwrap_state_dict`), or a one-line ResShiftError."""
    path = Path(path)
    if not path.exists():
        raise ResShiftError(f"{path}: no such checkpoint file")
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a user-facing error
        raise ResShiftError(f"{path}: cannot be read as a torch checkpoint ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if key and isinstance(source, Mapping) and key in source:
        source = source[key]
    return unwrap_state_dict(source)


def load_checkpoint(model: torch.nn.Module, source, *, strict: bool = True) -> torch.nn.Module:
    """Load ``source`` (path or already-loaded object) into ``model``.

    Accepts plain state dicts and those wrapped in ``state_dict``, ``params_ema``/``params``,
    with ``module.`` or ``_orig_mod.`` prefixes. Mismatches raise a one-line ResShiftError.
    """
    label = str(source) if isinstance(source, (str, os.PathLike)) else "checkpoint"
    state = read_state_dict(source) if isinstance(source, (str, os.PathLike)) else unwrap_state_dict(source)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:          # shape mismatches
        first = next((l.strip() for l in str(exc).splitlines() if "size mismatch" in l), str(exc)[:200])
        raise ResShiftError(f"{label}: does not fit {type(model).__name__} ({first}); "
                            "check --task/--version or the configuration") from None
    if strict and (result.missing_keys or result.unexpected_keys):
        raise ResShiftError(
            f"{label}: does not fit {type(model).__name__} ({len(result.missing_keys)} missing keys, e.g. "
            f"{result.missing_keys[:2]}; {len(result.unexpected_keys)} unexpected, e.g. "
            f"{result.unexpected_keys[:2]}); check --task/--version or the configuration")
    return model


def import_file(src: Path, name: str, root: Path | None = None) -> Path:
    """Place a user-downloaded file into the cache under its registry file name."""
    ckpt = get(name)
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    dest = root / ckpt.filename
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    _record_sha256(root, ckpt.filename, sha256_of(dest))
    return dest
