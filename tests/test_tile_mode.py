"""``tile_mode``: the release's chop-and-average as an option of ``resshift restore``, the ResShift
methods and the workflow, recorded in meta.json and table provenance; a ResShift table row is a
reproduction of the paper's only in release mode. (Equality with the release's chopped inference
itself: tests/test_release_pipeline.py.)"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from test_workflow import ci_config

import resshift
from resshift.cli import main
from resshift.errors import ResShiftError
from resshift.sampling import release_patches, release_starts
from tiny_models import save_tiny_task

ROOT = Path(__file__).resolve().parents[1]


def test_release_patch_starts():
    """The release's rule (utils/util_image.py ImageSpliterTh.extract_starts): every stride from 0,
    a start past length - chop moved back to it, repeats dropped; a side <= chop is one patch."""
    assert release_starts(28, 16, 12) == [0, 12]
    assert release_starts(24, 16, 12) == [0, 8]
    assert release_starts(16, 16, 12) == [0]
    assert release_starts(10, 16, 12) == [0]
    assert release_starts(100, 32, 28) == [0, 28, 56, 68]
    assert release_patches(28, 24, 16, 12) == [(0, 0), (0, 8), (12, 0), (12, 8)]
    assert release_patches(28, 24, None, None) == [(0, 0)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return {task: save_tiny_task(task, folder / task) for task in ("realsr", "inpaint_imagenet")}


def _png(path, h, w, seed=0, gray=False):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w) if gray else (h, w, 3), dtype=np.uint8)).save(path)
    return path


def test_cli_release_mode_records_it(tmp_path, tiny):
    cfg, unet, ae = tiny["realsr"]
    src = _png(tmp_path / "a.png", 20, 16)
    out = tmp_path / "out"
    args = ["restore", "-i", str(src), "-o", str(out), "--task", "realsr", "--config", str(cfg), "--checkpoint",
            str(unet), "--autoencoder", str(ae), "--tile", "16", "--tile-overlap", "4", "--seed", "3"]
    assert main(args + ["--tile-mode", "release"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["tile_mode"] == "release" and meta["tile"] == 16 and meta["tile_overlap"] == 4
    assert meta["tile_norm"] is None and meta["blending"].startswith("release")
    with Image.open(out / "a.png") as im:
        assert im.size == (16 * 4, 20 * 4)
    with pytest.raises(SystemExit):
        main(args + ["--tile-mode", "nonsense"])


def test_release_mode_inpaints_images_that_need_padding_and_chopping(tiny):
    """The release pads and chops the image but not the mask, and fails; ours carries the mask
    along: a 40x44 input (not a multiple of the padding, larger than the 24-pixel chop)."""
    cfg, unet, ae = tiny["inpaint_imagenet"]
    model = resshift.build_model(str(cfg), checkpoint=str(unet), autoencoder_checkpoint=str(ae))
    g = torch.Generator().manual_seed(0)
    lq = torch.rand(1, 3, 40, 44, generator=g)
    mask = torch.zeros(1, 1, 40, 44)
    mask[..., 10:30, 5:25] = 1
    h, w = lq.shape[-2:]
    assert h % model.pad_multiple and w % model.pad_multiple
    out = resshift.restore(lq, model=model, masks=mask, tile=24, tile_overlap=8, tile_mode="release", progress=False)
    assert out.shape == (1, 3, 40, 44) and torch.isfinite(out).all()
    known = mask[0, 0] == 0
    assert torch.equal(out[0][:, known], lq[0][:, known])         # known pixels pasted back exactly
    assert out[0][:, ~known].abs().max() > 0                      # the hole (zero in the LQ) was filled


def test_bad_tile_mode_is_one_line(tiny):
    cfg, unet, ae = tiny["realsr"]
    model = resshift.build_model(str(cfg), checkpoint=str(unet), autoencoder_checkpoint=str(ae))
    with pytest.raises(ResShiftError, match="--tile-mode chop: choose seamless or release"):
        resshift.restore(torch.rand(1, 3, 16, 16), model=model, tile_mode="chop", progress=False)


def _restored(results: Path, ds: str, method: str, steps: int, tile_mode: str | None):
    folder = results / "restored" / ds / f"{method}-{steps}"
    folder.mkdir(parents=True)
    meta = {"method": method, "weights_sha256": {}, "device": "cpu"}
    if tile_mode:
        meta["tile_mode"] = tile_mode
    (folder / "meta.json").write_text(json.dumps(meta))


def test_tables_reproduce_only_in_release_mode(tmp_path):
    from bench.tables import provenance, why_not_reproduction

    results = tmp_path / "results"
    (results / "data" / "realset80").mkdir(parents=True)
    (results / "data" / "realset80" / "build.json").write_text(json.dumps({"prebuilt": "/authors/realset80"}))
    _restored(results, "realset80", "resshift", 4, "seamless")
    _restored(results, "realset80", "resshift_v1", 15, "release")
    _restored(results, "realset80", "bicubic", -1, None)                # other methods record none
    note = why_not_reproduction(results, "resshift", ["realset80"], 4)
    assert note and "tile_mode seamless" in note
    assert why_not_reproduction(results, "resshift_v1", ["realset80"], 15) is None
    assert why_not_reproduction(results, "bicubic", ["realset80"], -1) is None
    rows = [{"method": "resshift", "steps": 4}, {"method": "resshift_v1", "steps": 15}, {"method": "bicubic", "steps": -1}]
    prov = provenance(results, {"columns": [{"dataset": "realset80"}]}, rows, {})
    assert prov["tile_modes"] == {"resshift-4": "seamless", "resshift_v1-15": "release"}


def test_resshift_method_passes_tile_mode():
    import baselines as B

    with pytest.raises(ResShiftError, match="tile_mode=chop"):
        B.load_restorer("resshift", tile_mode="chop")


@pytest.mark.slow
@pytest.mark.parametrize("tile_mode", [None, "seamless"])
def test_workflow_restore_rule_passes_tile_mode(tmp_path, tile_mode):
    """Dry run of the CI configuration: ResShift restore jobs get the config's tile_mode (default
    release); other methods get none."""
    cfg = ci_config(tmp_path / "results")
    if tile_mode:
        cfg["tile_mode"] = tile_mode
    config = tmp_path / "ci.yaml"
    config.write_text(yaml.safe_dump(cfg))
    binary = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{binary}{os.pathsep}{os.environ['PATH']}", HF_HUB_OFFLINE="1")
    out = subprocess.run([str(binary / "snakemake"), "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path), "-n",
                          "-p", "--configfile", str(config)], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=600)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    runs = [line for line in out.stdout.splitlines() if "resshift-bench run " in line]
    expected = f"--option tile_mode={tile_mode or 'release'}"
    resshift_runs = [r for r in runs if "resshift-bench run resshift" in r]
    assert resshift_runs and all(expected in r for r in resshift_runs)
    assert all("tile_mode" not in r for r in runs if r not in resshift_runs)
