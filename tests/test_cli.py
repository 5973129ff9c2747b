import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from resshift.cli import main
from resshift.config import build_model


@pytest.fixture
def tiny_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny", checkpoint=False)
    path = tmp_path / "tiny.pth"
    torch.save({"params_ema": model.unet.state_dict()}, path)
    return path


def _write_png(path, h, w, mode="RGB"):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
    Image.fromarray(arr, mode=None).save(path)
    return path


def test_restore_folder_with_odd_sizes(tmp_path, tiny_checkpoint):
    src = tmp_path / "in"
    src.mkdir()
    _write_png(src / "a.png", 13, 10)
    _write_png(src / "b.png", 8, 8, mode="L")
    out = tmp_path / "out"
    rc = main(["restore", "-i", str(src), "-o", str(out), "--config", "tiny", "--checkpoint", str(tiny_checkpoint),
               "--seed", "3"])
    assert rc == 0
    with Image.open(out / "a.png") as im:
        assert im.size == (40, 52) and im.mode == "RGB"          # x4, cropped back after padding
    with Image.open(out / "b.png") as im:
        assert im.size == (32, 32)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["steps"] == 4 and meta["seed"] == 3 and meta["timesteps"] == [3, 2, 1, 0]
    assert list(meta["weights_sha256"]) == ["tiny.pth"]
    first = (out / "a.png").read_bytes()
    assert main(["restore", "-i", str(src / "a.png"), "-o", str(out), "--config", "tiny",
                 "--checkpoint", str(tiny_checkpoint), "--seed", "3"]) == 0
    assert (out / "a.png").read_bytes() == first               # same seed and name, same bytes


def _run(args):
    env = {**os.environ, "RESSHIFT_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "resshift.cli", *args], capture_output=True, text=True, env=env)


def test_user_errors_are_one_line(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    """Each case through main() in this process (a traceback would fail the test here); the
    first also as a user starts it, `python -m resshift.cli` in a new process (each such start
    costs ~2.3 s of CPU importing torch: 8 of them were 18 s of the suite)."""
    monkeypatch.setenv("RESSHIFT_OFFLINE", "1")
    img = _write_png(tmp_path / "x.png", 8, 8)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG broken")
    cases = [
        (["restore", "-i", str(bad), "-o", str(tmp_path / "o"), "--config", "tiny",
          "--checkpoint", str(tiny_checkpoint)], "cannot be read as an image"),
        (["restore", "-i", str(img), "-o", str(tmp_path / "o"), "--config", "tiny", "--steps", "15",
          "--checkpoint", str(tiny_checkpoint)], "trained with 4 steps"),
        (["restore", "-i", str(tmp_path / "none.png"), "-o", str(tmp_path / "o"), "--config", "tiny",
          "--checkpoint", str(tiny_checkpoint)], "no such file or folder"),
        (["restore", "-i", str(img), "-o", str(tmp_path / "o"), "--task", "realsr"], "resshift_realsrx4_s4_v3.pth"),
        (["restore", "-i", str(img), "-o", str(tmp_path / "o"), "--task", "inpaint_imagenet"], "needs --mask"),
        (["train", "--config", "v3", "--out", str(tmp_path / "run")], "data.hq is not set"),
        (["train", "--config", "tiny", "--out", str(tmp_path / "run"), "--set", "train.lr"], "use KEY=VALUE"),
        (["train", "--config", "table1_T4_p0.3_k2.0", "--out", str(tmp_path / "run"),
          "--set", "data.hq=" + str(tmp_path / "nowhere")], "no such folder"),
    ]
    proc = _run(cases[0][0])
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("resshift: error")]
    assert len(lines) == 1 and cases[0][1] in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    for args, needle in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("resshift: error")]
        assert len(lines) == 1 and needle in lines[0], err


def test_a_reader_that_stops_early_gets_no_traceback():
    """`resshift-bench data list | head -1`: the pipe is closed before the listing is written."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "data", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 1 and err == "", err


def test_weights_list_runs(capsys):
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "resshift_realsrx4_s4_v3.pth" in out and "missing" in out


def test_bench_cli_weights(capsys):
    from bench.cli import main as bench_main

    assert bench_main(["weights"]) == 0
    assert "autoencoder_vq_f4.pth" in capsys.readouterr().out


@pytest.mark.slow
def test_config_task_is_used_without_task_flag(tmp_path, tiny_checkpoint):
    """--config with a non-realsr task needs no --task (and a contradicting --task is refused)."""
    import yaml

    from resshift.config import load_config

    cfg = load_config("tiny")
    cfg["task"] = "bicsr"
    path = tmp_path / "tiny_bicsr.yaml"
    path.write_text(yaml.safe_dump(cfg))
    img = _write_png(tmp_path / "x.png", 8, 8)
    base = ["restore", "-i", str(img), "-o", str(tmp_path / "o"), "--config", str(path),
            "--checkpoint", str(tiny_checkpoint)]
    assert main(base) == 0
    assert main(base + ["--task", "faceir"]) == 2


def test_demo_psnr_is_basicsr_y_psnr():
    import math

    from resshift.demo import psnr_y

    a = torch.full((1, 3, 8, 8), 0.5)
    assert psnr_y(a, a) == float("inf")
    # a uniform +10/255 step in RGB moves Y by 10 * (65.481 + 128.553 + 24.966) / 255
    assert psnr_y(a, a + 10 / 255) == pytest.approx(20 * math.log10(255 / (2190 / 255)), abs=1e-4)  # basicsr converts in float32
