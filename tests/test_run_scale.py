"""`resshift-bench run` at scale: resume, shards, batches (bench/run.py).

The method ``slow_noisy`` (tests/slow_method.py) sleeps per image and adds noise drawn from the
image's own generator, so a run can be killed mid-way and any mix-up of seeds between images
changes the bytes."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import slow_method  # noqa: F401  (registers slow_noisy in this process)
from bench.run import ENTRIES, parse_shard, shard_files
from bench.cli import main
from resshift.errors import ResShiftError

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def make_set(folder: Path, n: int, sizes=((12, 12),)) -> Path:
    rng = np.random.default_rng(0)
    (folder / "lq").mkdir(parents=True)
    for i in range(n):
        h, w = sizes[i % len(sizes)]
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / "lq" / f"img{i:02d}.png")
    return folder


def pngs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def entries(folder: Path) -> dict[str, int]:
    """Finished images' entries -> their mtime (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in (folder / ENTRIES).glob("img*.json")}


def run(*args) -> int:
    return main(["run", *args])


def test_shards_split_the_set_deterministically():
    files = [Path(f"{i}.png") for i in range(10)]
    parts = [shard_files(files, (i, 3)) for i in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(files) and [len(p) for p in parts] == [4, 3, 3]
    assert parts[0] == [Path("0.png"), Path("3.png"), Path("6.png"), Path("9.png")]
    assert parse_shard("2/8") == (2, 8) and parse_shard(None) is None
    for bad in ("0/2", "3/2", "2", "a/b", "1/0"):
        with pytest.raises(ResShiftError, match="use I/N"):
            parse_shard(bad)


@pytest.mark.slow
def test_killed_sharded_restore_resumes_to_the_unsharded_bytes(tmp_path, monkeypatch):
    data = make_set(tmp_path / "data", 8)
    env = dict(os.environ, SLOW_NOISY_SECONDS="0.3", SLOW_NOISY_LOG=str(tmp_path / "calls.log"),
               PYTHONPATH=os.pathsep.join([str(TESTS), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SLOW_NOISY_SECONDS", "0")
    ref = tmp_path / "ref"
    assert run("slow_noisy", "--dataset", "set", "--data", str(data), "--out", str(ref), "--seed", "5") == 0
    assert len(pngs(ref)) == 8 and (ref / "meta.json").is_file()

    # shard 1 of 2 (4 images), killed once 2 of them are finished
    out = tmp_path / "out"
    code = ("import sys, slow_method; from bench.cli import main; sys.exit(main(sys.argv[1:]))")
    args = ["run", "slow_noisy", "--dataset", "set", "--data", str(data), "--out", str(out), "--seed", "5"]
    proc = subprocess.Popen([sys.executable, "-c", code, *args, "--shard", "1/2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while len(entries(out)) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = entries(out)
    assert 2 <= len(done_before) < 4, (len(done_before), proc.stderr.read().decode()[-2000:])
    assert not (out / "meta.json").exists()
    (tmp_path / "calls.log").unlink()

    # the rerun of shard 1 restores only its missing images; shard 2 (batch size asked, one at a
    # time since the method draws noise) completes the set and writes meta.json
    proc = subprocess.run([sys.executable, "-c", code, *args, "--shard", "1/2"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{len(done_before)} of 4 image(s) already restored" in proc.stderr
    calls = (tmp_path / "calls.log").read_text().split()
    assert calls == ["1"] * (4 - len(done_before))
    assert {k: v for k, v in entries(out).items() if k in done_before} == done_before     # untouched
    assert not (out / "meta.json").exists()
    assert run(*args[1:], "--shard", "2/2", "--batch-size", "3") == 0
    assert pngs(out) == pngs(ref)                                       # byte-identical
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.is_file()]   # no temporaries left
    meta, ref_meta = json.loads((out / "meta.json").read_text()), json.loads((ref / "meta.json").read_text())
    assert meta["images"] == ref_meta["images"] == 8 and meta["shards"] == ["1/2", "2/2"]

    # a run with another seed redoes every image instead of mixing two runs in one folder
    assert run(*args[1:-1], "6") == 0
    assert all(json.loads(p.read_text())["seed"] == 6 for p in (out / ENTRIES).glob("img*.json"))
    assert json.loads((out / "meta.json").read_text())["seed"] == 6 and pngs(out) != pngs(ref)


def test_work_folder_and_batches(tmp_path, capsys):
    """--work: images go to the work folder and the finished set is copied to --out; a gathering
    run finds everything done and does not load the method. Bicubic batches (3 sizes mixed, batch
    4) give the bytes of one image at a time."""
    data = make_set(tmp_path / "data", 7, sizes=((12, 12), (12, 12), (16, 8)))
    one = tmp_path / "one"
    assert run("bicubic", "--dataset", "set", "--data", str(data), "--out", str(one)) == 0
    work, out = tmp_path / "work", tmp_path / "out"
    base = ["bicubic", "--dataset", "set", "--data", str(data), "--work", str(work), "--out", str(out),
            "--batch-size", "4"]
    assert run(*base, "--shard", "1/2") == 2                          # the set is not complete yet
    assert "not every image is restored yet" in capsys.readouterr().err
    assert not out.exists() and len(pngs(work)) == 4
    assert run(*base, "--shard", "2/2") == 0
    assert pngs(out) == pngs(one) == pngs(work)
    batches = [json.loads(p.read_text())["batch"] for p in (work / ENTRIES).glob("img*.json")]
    assert max(batches) > 1
    import baselines.bicubic as B

    loads = []
    orig = B.Bicubic.load
    B.Bicubic.load = lambda self: loads.append(1) or orig(self)
    try:
        (out / "meta.json").unlink()
        assert run(*base) == 0
    finally:
        B.Bicubic.load = orig
    assert loads == [] and (out / "meta.json").is_file()

    # a changed input (a rebuilt test set) makes its image stale: only that one is restored again
    before = entries(work)
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(data / "lq" / "img00.png")
    assert run(*base) == 0
    after = entries(work)
    assert [k for k in after if after[k] != before[k]] == ["img00.json"]
    assert pngs(out)["img00.png"] != pngs(one)["img00.png"]
