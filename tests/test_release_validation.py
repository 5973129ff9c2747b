"""Which methods may be set beside the paper: the maintainers' code, or ours with a parity test
against its release's recorded output (``Restorer.implementation`` / ``release_parity``)."""
import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest

import baselines as B
from bench import tables as T

ROOT = Path(__file__).resolve().parents[1]


def _test_functions(path: Path) -> set[str]:
    """``test_*`` functions (top level and in ``Test*`` classes, as ``Class::name``) of a test file."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.add(node.name)
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names |= {f"{node.name}::{f.name}" for f in node.body
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)) and f.name.startswith("test")}
    return names


def test_every_release_parity_names_an_existing_test():
    named = {cls.release_parity for cls in B.registry().values() if cls.release_parity}
    assert named, "no method names a parity test"
    for node in sorted(named):
        file, sep, func = node.partition("::")
        assert sep and func, f"{node}: not a pytest node id (path::function)"
        path = ROOT / file
        assert path.is_file() and file.startswith("tests/"), f"{node}: no test file {file}"
        assert func.split("[")[0] in _test_functions(path), f"{node}: {file} has no test {func}"


def test_every_method_says_whose_code_runs():
    reg = B.registry()
    assert all(cls.implementation in B.base.IMPLEMENTATIONS for cls in reg.values())
    from baselines.gan import SpandrelRestorer

    for name, cls in reg.items():
        if issubclass(cls, SpandrelRestorer):                       # spandrel's copies of the releases
            assert cls.implementation == "maintainers", name
    assert {n for n, c in reg.items() if c.implementation == "none"} == {"bicubic", "lq_input"}
    # the networks written here (issue 23's list); they count only with a parity test
    for name in ("dasr", "vqfr", "psfrgan", "deepfillv2", "deepfillv2_face", "lama_face", "repaint", "ddrm", "mcg",
                 "score_sde", "difface", "dfdnet"):
        assert reg[name].implementation == "ours", name
        assert reg[name].validated() == bool(reg[name].release_parity), name
    with pytest.raises(ValueError, match="implementation"):
        B.register(type("Odd", (B.Restorer,), {"name": "odd", "implementation": "theirs",
                                                "restore": lambda self, lq, mask=None, generator=None: lq}))


def _metrics(results, dataset, method, steps, cols, n=20):
    rng = np.random.default_rng(0)
    path = results / "metrics" / dataset / f"{method}-{steps}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", *cols])
        for i in range(n):
            w.writerow([f"img{i:03d}", *[cols[c] + 0.01 * rng.standard_normal() for c in cols]])


def test_an_unvalidated_reimplementation_gets_no_verdict_and_is_named(tmp_path, monkeypatch):
    d = tmp_path / "data" / "imagenet_test"
    d.mkdir(parents=True)
    (d / "build.json").write_text(json.dumps({"recipe": "imagenet_test", "prebuilt": "/x"}))
    _metrics(tmp_path, "imagenet_test", "dasr", -1, {"psnr": 24.5, "ssim": 0.65, "lpips": 0.25})
    _metrics(tmp_path, "imagenet_test", "bsrgan", -1, {"psnr": 24.42, "ssim": 0.659, "lpips": 0.259})
    monkeypatch.setattr(B.get("dasr"), "release_parity", None)
    table = T.compute_table(2, tmp_path)
    dasr = next(r for r in table["rows"] if r["method"] == "dasr")
    bsrgan = next(r for r in table["rows"] if r["method"] == "bsrgan")
    assert not dasr["reproduction"] and dasr["note"] == T.NOT_VALIDATED
    assert "verdict" not in dasr["cells"]["PSNR"] and "paper" not in dasr["cells"]["PSNR"]
    assert bsrgan["reproduction"] and bsrgan["cells"]["PSNR"]["verdict"] == "match"     # maintainers' code
    md = T.to_markdown(table)
    assert "| DASR† |" in md and f"DASR: {T.NOT_VALIDATED}" in md
    monkeypatch.setattr(B.get("dasr"), "release_parity", "tests/test_parity_dasr.py::test_dasr_matches_release")
    dasr = next(r for r in T.compute_table(2, tmp_path)["rows"] if r["method"] == "dasr")
    assert dasr["reproduction"] and dasr["cells"]["PSNR"]["verdict"] in ("match", "differs")


def test_baselines_listing_shows_the_validation_status(capsys, monkeypatch):
    from bench.cli import main

    monkeypatch.setattr(B.get("dasr"), "release_parity", None)
    assert main(["baselines"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()[1:] if ln.strip()}
    assert "not validated" in lines["dasr"]
    assert "validated against release" in lines["gfpgan"] and "not validated" not in lines["gfpgan"]
    for name, cls in B.registry().items():
        assert ("not validated" in lines[name]) == (not cls.validated()), name
