"""The project as a user installs it: a built wheel, run from an empty folder.

The wheel is built without build isolation and unpacked with ``pip install --target`` into a
temporary folder that goes first on ``PYTHONPATH``, so the commands below import the wheel's copy
(checked) and not the checkout; they run in another empty folder, where every output must land
under ``./results`` with the permissions the umask gives.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tiny_models import save_tiny_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder holding the installed wheel, the wheel file)."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(work / "dist"), str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((work / "dist").glob("resshift_bench-*.whl"))
    site = work / "site"
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr[-2000:]
    return site, wheel


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    old = os.umask(0o022)
    try:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=900)
    finally:
        os.umask(old)


def test_wheel_carries_every_file_the_code_reads(installed):
    _, wheel = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"bench/tables.yaml", "bench/datasets/demo_sr.yaml", "bench/datasets/imagenet_test.yaml",
                "bench/datasets/checksums/demo_sr.sha256", "bench/paper_tables/table2.csv",
                "resshift/configs/v3.yaml", "resshift/data/degradations.py", "resshift/nets/unet.py",
                "resshift/__main__.py", "bench/__main__.py"}
    assert expected <= names, expected - names
    for folder, pattern in (("bench/datasets", "*.yaml"), ("bench/paper_tables", "*.csv"),
                            ("resshift/configs", "*.yaml"), ("bench/datasets/checksums", "*.sha256")):
        for path in (ROOT / folder).glob(pattern):
            assert f"{folder}/{path.name}" in names, path
    for package in ("resshift", "baselines", "bench"):
        for path in (ROOT / package).rglob("*.py"):
            assert path.relative_to(ROOT).as_posix() in names, path


@pytest.mark.slow
def test_commands_run_from_any_folder_and_write_there(installed, tmp_path):
    site, _ = installed
    user = tmp_path / "user"
    user.mkdir()
    where = _run(site, user, "-c", "import bench, resshift; print(bench.__file__); print(resshift.__file__)")
    assert where.returncode == 0 and all(line.startswith(str(site)) for line in where.stdout.split()), where

    for prog in ("resshift", "bench"):
        version = _run(site, user, "-m", prog, "--version")
        assert version.returncode == 0 and "0.1.0" in version.stdout, version

    listing = _run(site, user, "-m", "bench", "data", "list")
    assert listing.returncode == 0 and "demo_sr" in listing.stdout and "imagenet_test" in listing.stdout, listing
    built = _run(site, user, "-m", "bench", "data", "build", "demo_sr", "--quiet")
    assert built.returncode == 0, built.stderr[-2000:]
    assert sorted((user / "results" / "data" / "demo_sr" / "gt").glob("*.png"))
    run = _run(site, user, "-m", "bench", "run", "bicubic", "--dataset", "demo_sr", "--quiet")
    assert run.returncode == 0, run.stderr[-2000:]
    restored = user / "results" / "restored" / "demo_sr" / "bicubic--1"
    assert (restored / "meta.json").is_file()
    metrics = _run(site, user, "-m", "bench", "metrics", "--pred", str(restored), "--ref",
                   "results/data/demo_sr/gt", "--metrics", "psnr,ssim", "--device", "cpu", "--quiet")
    assert metrics.returncode == 0, metrics.stderr[-2000:]
    csv_path = user / "results" / "metrics" / "demo_sr" / "bicubic--1.csv"
    assert csv_path.is_file() and len(csv_path.read_text().splitlines()) > 1

    # resshift restore on an image smaller than the padding multiple (tiny random weights)
    cfg, unet, ae = save_tiny_task("realsr", tmp_path / "tiny")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(user / "small.png")
    restore = _run(site, user, "-m", "resshift", "restore", "-i", "small.png", "--config", str(cfg),
                   "--checkpoint", str(unet), "--autoencoder", str(ae), "--quiet")
    assert restore.returncode == 0, restore.stderr[-2000:]
    out = user / "results" / "restored" / "small.png"
    assert Image.open(out).size == (80, 48)
    assert json.loads((out.parent / "meta.json").read_text())

    written = [p for p in (user / "results").rglob("*") if p.is_file()]
    assert len(written) > 10
    modes = {stat.S_IMODE(p.stat().st_mode) for p in written}
    assert modes == {0o644}, {oct(m) for m in modes}
    assert not list(site.rglob("results")), "something was written inside the installed package"
