"""Atomic file writes with the permissions a plain ``open()`` would give.

``tempfile.mkstemp`` creates files with mode 0600 whatever the umask, so a result renamed into
place from it cannot be read by collaborators on a cluster; these helpers give the temporary file
``0666 & ~umask`` (0644 under the usual umask 022) before anything is written to it.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_beside(path: str | os.PathLike, suffix: str = "") -> Path:
    """An empty hidden file in ``path``'s folder (created if needed), mode ``0666 & ~umask``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # ".<stem>.<random><suffix>" when the suffix is the file's own (".a.x1y2z3.png" for a.png), so a
    # reader filtering by suffix or a resume that cleans its own temporaries recognises it
    prefix = f".{path.stem}." if suffix and suffix == path.suffix else f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix or ".part")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds,
    remove it when the block raises (so a reader never sees a half-written file)."""
    tmp = temp_beside(path, suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
