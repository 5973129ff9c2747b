"""The one download path for every released file (ResShift's checkpoints, the baselines' weights,
the metrics' weights).

- Files hosted on the Hugging Face Hub (``https://huggingface.co/<repo>/resolve/<rev>/<path>``,
  or under ``$HF_ENDPOINT``) go through ``huggingface_hub.hf_hub_download``: its cache, resume
  and retries; the cached file is then copied into place.
- Other addresses are fetched over HTTP into a hidden partial file beside the destination
  (``.<name>.part``); a dropped connection is retried from where it stopped (HTTP ``Range``),
  and a later call resumes the partial file the same way.
- Before a file takes its final name it is checked: against its pinned sha256 where the release
  publishes one, and against the hash prefix in its name where the name carries one
  (torch.hub's convention, ``name-<8+ hex digits of the sha256>.ext``). A file that fails is
  deleted; the destination never holds a half-written or unchecked file.

Every failure is a :class:`ResShiftError` with one line: the file, what happened, what to do.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from .errors import ResShiftError
from .files import atomic_path
from .progress import progress_bar

HASH_PREFIX = re.compile(r"-([a-f0-9]{8,64})\.[A-Za-z0-9]+$")     # torch.hub: name-<sha256 prefix>.ext
HUB_HOST = "https://huggingface.co"
CHUNK = 1 << 20


def hash_prefix(name: str) -> str:
    """The sha256 prefix a file name carries (``alexnet-owt-7be5be79.pth`` -> ``7be5be79``), or ""."""
    m = HASH_PREFIX.search(name)
    return m.group(1) if m else ""


def pin_label(name: str, sha256: str = "") -> str:
    """How a file is checked: ``sha256`` (pinned), ``prefix <hex>`` (in its name) or ``none``."""
    if sha256:
        return "sha256 " + sha256[:12]
    prefix = hash_prefix(name)
    return f"prefix {prefix}" if prefix else "none"


def sha256_of(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def hub_file(url: str) -> tuple[str, str, str, str] | None:
    """(endpoint, repo_id, revision, filename) of a Hub ``resolve`` address, else None."""
    endpoints = [HUB_HOST] + ([os.environ["HF_ENDPOINT"].rstrip("/")] if os.environ.get("HF_ENDPOINT") else [])
    for endpoint in endpoints:
        if url.startswith(endpoint + "/"):
            parts = url[len(endpoint) + 1:].split("/")
            if len(parts) >= 5 and parts[2] == "resolve":
                return endpoint, f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
    return None


def _check(path: Path, name: str, url: str, sha256: str) -> str:
    """sha256 of ``path`` after the pinned-hash and name-prefix checks (the file is deleted when one fails)."""
    digest = sha256_of(path)
    prefix = hash_prefix(name)
    problem = ""
    if sha256 and digest != sha256.lower():
        problem = f"sha256 {digest} differs from the pinned {sha256}"
    elif prefix and not digest.startswith(prefix):
        problem = f"sha256 {digest[:16]}... does not start with the hash prefix {prefix} in its name"
    if problem:
        path.unlink(missing_ok=True)
        raise ResShiftError(f"{name}: downloaded file rejected: {problem}; the download was damaged or the release "
                            f"changed (deleted, nothing kept); try again or download it by hand from {url}")
    return digest


def _place(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` through a temporary file beside it (never a half-written ``dest``)."""
    with atomic_path(dest, suffix=".tmp") as tmp:
        shutil.copyfile(src, tmp)


def _from_hub(url: str, dest: Path, sha256: str, hub: tuple[str, str, str, str]) -> str:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    endpoint, repo_id, revision, filename = hub
    try:
        cached = Path(hf_hub_download(repo_id, filename, revision=revision, endpoint=endpoint, etag_timeout=30))
    except (EntryNotFoundError, RepositoryNotFoundError):
        raise ResShiftError(f"{dest.name}: not found on the Hub ({url}); the release may have moved: download it by "
                            f"hand into {dest.parent}") from None
    except LocalEntryNotFoundError as exc:
        raise ResShiftError(f"{dest.name}: the Hub cannot be reached and the file is not in its cache "
                            f"({str(exc).splitlines()[0][:160]}); run again where the network allows (partial "
                            "downloads resume from the Hub cache)") from None
    except Exception as exc:  # noqa: BLE001 - network and HTTP errors of the Hub client
        raise ResShiftError(f"{dest.name}: download from the Hub failed ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:160] if str(exc) else ''}); run again to resume") from None
    try:
        digest = _check(cached.resolve(), dest.name, url, sha256)
    finally:
        if not cached.resolve().exists():
            cached.unlink(missing_ok=True)              # the cache's link to a rejected blob
    _place(cached, dest)
    return digest


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": "resshift-bench"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _over_http(url: str, dest: Path, sha256: str, timeout: float, retries: int, progress: bool) -> str:
    part = dest.parent / f".{dest.name}.part"
    total = None
    error = None
    complete = False
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(2 ** (attempt - 1), 8) * float(os.environ.get("RESSHIFT_RETRY_DELAY", "1")))
        have = part.stat().st_size if part.exists() else 0
        try:
            resp = _open(url, have, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:               # nothing left to fetch: the partial file is whole
                total, complete = have, True
                break
            if exc.code in (404, 410, 401, 403):
                raise ResShiftError(f"{dest.name}: {url} answered {exc.code} {exc.reason}; the release may have moved: "
                                    f"download it by hand into {dest.parent}") from None
            error = f"HTTP {exc.code} {exc.reason}"
            continue
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            error = str(getattr(exc, "reason", exc))
            if isinstance(getattr(exc, "reason", None), FileNotFoundError):     # file:// address: nothing to retry
                break
            continue
        with resp:
            if have and resp.status == 206:
                total = int(resp.headers.get("Content-Range", "/0").rpartition("/")[2] or 0) or None
                mode = "ab"
            else:                                       # the whole file (the server ignored Range)
                have, mode = 0, "wb"
                total = int(resp.headers.get("Content-Length") or 0) or None
            try:
                with open(part, mode) as out, progress_bar(total=total, initial=have, unit="B", unit_scale=True,
                                                           desc=dest.name, show=progress) as bar:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
            except (OSError, http.client.HTTPException, ValueError) as exc:   # dropped connection, timeout
                error = f"{type(exc).__name__}: {exc}"
                continue
        size = part.stat().st_size
        if total is None or size == total:
            complete = True
            break
        error = f"connection closed after {size} of {total} bytes"
    if not complete:
        size = part.stat().st_size if part.exists() else 0
        if not size:
            part.unlink(missing_ok=True)
            raise ResShiftError(f"{dest.name}: download failed from {url} ({error}); check the address and the "
                                "network, and run again")
        of = f" of {total}" if total else ""
        raise ResShiftError(f"{dest.name}: download interrupted after {size}{of} bytes ({error}); run the same command "
                            f"again to resume (partial file kept as {part})")
    digest = _check(part, dest.name, url, sha256)
    os.replace(part, dest)
    return digest


def download(url: str, dest: str | os.PathLike, *, sha256: str = "", progress: bool = True, timeout: float = 30.0,
             retries: int = 4) -> str:
    """Download ``url`` to ``dest`` (checked, then renamed into place); returns the file's sha256.

    ``sha256``: the release's published checksum, when there is one. Names with a torch.hub hash
    prefix are checked against it. ``retries``: reconnections (each resuming where the last
    stopped) before giving up with the partial file kept for the next call.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if urlparse(url).scheme not in ("http", "https", "file"):
        raise ResShiftError(f"{dest.name}: {url} is not a direct-download address; download it by hand into {dest.parent}")
    hub = hub_file(url)
    if hub:
        return _from_hub(url, dest, sha256, hub)
    return _over_http(url, dest, sha256, timeout, retries, progress)
