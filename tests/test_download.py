"""The one download path (resshift/download.py) against a local HTTP server on 127.0.0.1 that
serves small files in the releases' formats (torch state dicts saved like the releases save
them) with HTTP Range support, drops connections on demand, and answers like the Hugging Face
Hub (the headers huggingface_hub reads) under /<owner>/<repo>/resolve/<rev>/<file>."""
import hashlib
import http.server
import io
import threading
from pathlib import Path

import pytest
import torch

from resshift.download import download, hash_prefix, pin_label
from resshift.errors import ResShiftError
from resshift.weights import read_state_dict


def release_file(seed: int) -> bytes:
    """A small state dict saved as the releases save theirs (torch.save of {'params_ema': ...})."""
    g = torch.Generator().manual_seed(seed)
    buf = io.BytesIO()
    torch.save({"params_ema": {"conv.weight": torch.randn(64, 3, 3, 3, generator=g),
                               "conv.bias": torch.randn(64, generator=g)}}, buf)
    return buf.getvalue()


class Server:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_after: list[int] = []          # per coming GET: close the connection after this many bytes
        self.requests: list[tuple[str, str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _headers(self, body: bytes, start: int):
                commit = "0" * 40
                etag = hashlib.sha256(body).hexdigest()
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{etag}"')
                self.send_header("X-Repo-Commit", commit)
                self.end_headers()

            def _serve(self, head: bool):
                server.requests.append((self.command, self.path, self.headers.get("Range", "")))
                path = self.path.split("?")[0]
                if "/resolve/" in path:
                    path = "/" + path.split("/resolve/", 1)[1].split("/", 1)[1]
                body = server.files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                self._headers(body, start)
                if head:
                    return
                data = body[start:]
                if server.drop_after:
                    data = data[:server.drop_after.pop(0)]
                    self.wfile.write(data)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data)

            def do_HEAD(self):
                self._serve(True)

            def do_GET(self):
                self._serve(False)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("RESSHIFT_RETRY_DELAY", "0")
    s = Server()
    yield s
    s.close()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_hash_prefix_names():
    assert hash_prefix("alexnet-owt-7be5be79.pth") == "7be5be79"
    assert hash_prefix("weights-inception-2015-12-05-6726825d.pth") == "6726825d"
    assert hash_prefix("lama-celeba-hq-fourier-best.ckpt") == "" and hash_prefix("RealESRGAN_x4plus.pth") == ""
    assert pin_label("x-7be5be79.pth") == "prefix 7be5be79" and pin_label("x.pth") == "none"
    assert pin_label("x.pth", "ab" * 32).startswith("sha256 abab")


def test_interrupted_transfer_resumes(server, tmp_path):
    body = release_file(0)
    digest = hashlib.sha256(body).hexdigest()
    name = f"net_g-{digest[:8]}.pth"                       # a torch.hub-style name: its prefix is checked
    server.files["/" + name] = body
    dest = tmp_path / "cache" / name
    # the connection drops twice; with no retries the call stops with one line and keeps the part
    server.drop_after = [1000, 3000]
    with pytest.raises(ResShiftError) as err:
        download(f"{server.url}/{name}", dest, retries=0, progress=False)
    msg = str(err.value)
    assert "\n" not in msg and "download interrupted after 1000 of" in msg and "run the same command again to resume" in msg
    assert leftovers(dest.parent) == [f".{name}.part"] and not dest.exists()
    # the next call resumes with Range (and once more after the second drop), then checks the prefix
    assert download(f"{server.url}/{name}", dest, retries=3, progress=False) == digest
    ranges = [r for _, _, r in server.requests]
    assert ranges == ["", "bytes=1000-", "bytes=4000-"], server.requests
    assert dest.read_bytes() == body and leftovers(dest.parent) == [name]
    assert set(read_state_dict(dest)) == {"conv.weight", "conv.bias"}


def test_wrong_checksum_and_missing_file(server, tmp_path):
    body = release_file(1)
    server.files["/RealESRGAN_x4plus.pth"] = body
    server.files["/ESRGAN_SRx4-00000000.pth"] = body          # its name's prefix is not its hash
    dest = tmp_path / "cache"
    with pytest.raises(ResShiftError) as err:
        download(f"{server.url}/RealESRGAN_x4plus.pth", dest / "RealESRGAN_x4plus.pth", sha256="0" * 64, progress=False)
    assert "\n" not in str(err.value) and "differs from the pinned" in str(err.value) and "deleted" in str(err.value)
    with pytest.raises(ResShiftError, match="does not start with the hash prefix 00000000 in its name"):
        download(f"{server.url}/ESRGAN_SRx4-00000000.pth", dest / "ESRGAN_SRx4-00000000.pth", progress=False)
    with pytest.raises(ResShiftError) as err:
        download(f"{server.url}/nothing.pth", dest / "nothing.pth", progress=False)
    assert "\n" not in str(err.value) and "answered 404" in str(err.value)
    assert leftovers(dest) == []                               # nothing half-written or unchecked
    # the pinned hash of the right file passes
    good = hashlib.sha256(body).hexdigest()
    assert download(f"{server.url}/RealESRGAN_x4plus.pth", dest / "RealESRGAN_x4plus.pth", sha256=good,
                    progress=False) == good


def test_hub_files_go_through_huggingface_hub(server, tmp_path, monkeypatch):
    """A Hub address (here under HF_ENDPOINT, the local server) is fetched by hf_hub_download into
    its cache, checked, then copied into place; a wrong pin leaves neither file nor cached blob."""
    import huggingface_hub.constants as C

    monkeypatch.setattr(C, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    body = release_file(2)
    server.files["/lpips-" + hashlib.sha256(body).hexdigest()[:8] + ".pth"] = body
    name = "lpips-" + hashlib.sha256(body).hexdigest()[:8] + ".pth"
    url = f"{server.url}/owner/weights/resolve/main/{name}"
    dest = tmp_path / "torch" / name
    assert download(url, dest, progress=False) == hashlib.sha256(body).hexdigest()
    assert dest.read_bytes() == body and leftovers(dest.parent) == [name]
    assert any(cmd == "GET" and "/resolve/main/" in path for cmd, path, _ in server.requests)
    dest.unlink()
    with pytest.raises(ResShiftError, match="differs from the pinned"):
        download(url, dest, sha256="1" * 64, progress=False)
    assert leftovers(dest.parent) == []
    assert not [p for p in (tmp_path / "hub").rglob("*") if p.is_file() and p.stat().st_size == len(body)]
    with pytest.raises(ResShiftError, match="not found on the Hub"):
        download(f"{server.url}/owner/weights/resolve/main/missing.pth", tmp_path / "torch" / "missing.pth",
                 progress=False)
