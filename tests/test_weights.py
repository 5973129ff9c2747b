import hashlib
import os

import pytest
import torch
from torch import nn

from resshift import weights as W
from resshift.errors import ResShiftError


def _tiny_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4))


@pytest.mark.parametrize("wrap", [
    lambda sd: sd,
    lambda sd: {"state_dict": sd},
    lambda sd: {"params_ema": sd, "params": {k: v * 0 for k, v in sd.items()}},
    lambda sd: {"params": sd},
    lambda sd: {f"module.{k}": v for k, v in sd.items()},
    lambda sd: {f"_orig_mod.{k}": v for k, v in sd.items()},
    lambda sd: {"state_dict": {f"module._orig_mod.{k}": v for k, v in sd.items()}},
])
def test_load_checkpoint_every_wrapper(wrap, tmp_path):
    src = _tiny_net()
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(src.state_dict()), path)
    dst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4))
    W.load_checkpoint(dst, path)
    for a, b in zip(src.state_dict().values(), dst.state_dict().values()):
        assert torch.equal(a, b)


def test_load_checkpoint_prefers_ema():
    sd = _tiny_net().state_dict()
    dst = _tiny_net()
    W.load_checkpoint(dst, {"params_ema": {k: v + 1 for k, v in sd.items()}, "params": sd})
    assert torch.equal(dst[0].bias, sd["0.bias"] + 1)


def test_load_checkpoint_errors(tmp_path):
    dst = _tiny_net()
    with pytest.raises(ResShiftError, match="no such checkpoint"):
        W.load_checkpoint(dst, tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ResShiftError, match="cannot be read"):
        W.load_checkpoint(dst, bad)
    with pytest.raises(ResShiftError, match="missing keys"):
        W.load_checkpoint(dst, {"0.weight": dst[0].weight.detach()})
    with pytest.raises(ResShiftError, match="size mismatch"):
        W.load_checkpoint(dst, {**dst.state_dict(), "0.bias": torch.zeros(7)})


def test_registry_covers_every_release():
    files = {c.filename for c in W.CHECKPOINTS.values()}
    assert files == {
        "resshift_realsrx4_s15_v1.pth", "resshift_realsrx4_s15_v2.pth", "resshift_realsrx4_s4_v3.pth",
        "resshift_bicsrx4_s4.pth", "resshift_inpainting_imagenet_s4.pth", "resshift_inpainting_face_s4.pth",
        "resshift_faceir_s4.pth", "autoencoder_vq_f4.pth", "celeba256_vq_f4_dim3_face.pth",
        "ffhq512_vq_f8_dim8_face.pth"}
    for c in W.CHECKPOINTS.values():
        assert c.url == "https://github.com/zsyOAOA/ResShift/releases/download/v2.0/" + c.filename


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "elsewhere"))
    assert W.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("RESSHIFT_HOME")
    assert W.cache_dir() == W.Path.home() / ".cache" / "resshift"


def test_missing_offline_names_file_url_and_place():
    with pytest.raises(ResShiftError) as err:
        W.fetch("realsr_v3", allow_download=False)
    msg = str(err.value)
    assert "resshift_realsrx4_s4_v3.pth" in msg and W.RELEASE_URL in msg and str(W.cache_dir()) in msg
    assert "\n" not in msg


def test_download_records_and_checks_sha256(tmp_path, monkeypatch):
    """The real download path, served from a local folder through a file:// URL."""
    served = tmp_path / "served"
    served.mkdir()
    payload = os.urandom(3 * (1 << 20) + 17)
    (served / "resshift_bicsrx4_s4.pth").write_bytes(payload)
    monkeypatch.setattr(W, "RELEASE_URL", served.as_uri() + "/")
    path = W.fetch("bicsr", progress=False)
    assert path == W.cache_dir() / "resshift_bicsrx4_s4.pth"
    assert path.read_bytes() == payload
    digest = hashlib.sha256(payload).hexdigest()
    assert W.recorded_sha256()["resshift_bicsrx4_s4.pth"] == digest
    assert not list(W.cache_dir().glob("*.part"))
    assert W.fetch("resshift_bicsrx4_s4.pth") == path             # by file name, no download
    path.write_bytes(payload[:-1])                                 # damaged later
    with pytest.raises(ResShiftError, match="differs from the recorded"):
        W.fetch("bicsr")


def test_download_failure_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(W, "RELEASE_URL", (tmp_path / "nowhere").as_uri() + "/")
    with pytest.raises(ResShiftError, match="download failed") as err:
        W.fetch("faceir", progress=False)
    assert "resshift_faceir_s4.pth" in str(err.value)
    assert not (W.cache_dir() / "resshift_faceir_s4.pth").exists()


def test_import_file(tmp_path):
    src = tmp_path / "downloaded.pth"
    src.write_bytes(b"abc")
    dest = W.import_file(src, "vq_f4")
    assert dest.name == "autoencoder_vq_f4.pth" and dest.read_bytes() == b"abc"
    assert W.recorded_sha256()["autoencoder_vq_f4.pth"] == hashlib.sha256(b"abc").hexdigest()
    row = next(r for r in W.status() if r["name"] == "vq_f4")
    assert row["present"]
