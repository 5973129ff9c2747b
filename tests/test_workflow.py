"""The Snakemake workflow: lint, configuration errors, dry runs of the paper protocol with every
profile, and the CI's small demo run end to end (then: a second run does nothing, and a changed
config value re-runs only what depends on it)."""
import copy
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FIXTURES = ROOT / "tests" / "fixtures" / "workflow"


def snakemake(*args, workdir: Path, timeout: int = 900, **extra_env) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", HF_HUB_OFFLINE="1", **extra_env)
    return subprocess.run([str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)


def job_counts(output: str) -> dict[str, int]:
    """The `Job stats` block of a (dry) run: rule -> jobs."""
    block = output.split("Job stats:", 1)[1] if "Job stats:" in output else ""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M) if m.group(1) != "total"}


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def ci_config(results_dir: Path) -> dict:
    """The CI mini-workflow's configuration (tests/fixtures/workflow/ci.yaml) writing to results_dir."""
    cfg = yaml.safe_load((FIXTURES / "ci.yaml").read_text())
    cfg["results_dir"] = str(results_dir)
    return cfg


@pytest.mark.slow
def test_lint(tmp_path):
    out = snakemake("--lint", workdir=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Lints for" not in out.stdout + out.stderr


@pytest.fixture
def paper_fixture(tmp_path):
    """config/paper.yaml with every data folder replaced by an existing, empty one."""
    cfg = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    for key in cfg["data"]["sources"]:
        (tmp_path / "data" / key).mkdir(parents=True)
        cfg["data"]["sources"][key] = str(tmp_path / "data" / key)
    (tmp_path / "data" / "ffhq").mkdir()
    cfg["fid"]["fid_ref"] = str(tmp_path / "data" / "ffhq")
    for entry in cfg["tables"]:
        if "set" in entry:
            (tmp_path / "data" / "imagenet_train").mkdir(exist_ok=True)
            entry["set"]["data.hq"] = str(tmp_path / "data" / "imagenet_train")
    cfg["results_dir"] = str(tmp_path / "results")
    return write_config(tmp_path / "paper.yaml", cfg)


@pytest.mark.slow
@pytest.mark.parametrize("profile", ["default", "slurm", "kubernetes"])
def test_paper_dry_run_with_each_profile(paper_fixture, tmp_path, profile):
    out = snakemake("-n", "--configfile", str(paper_fixture), "--profile", str(ROOT / "profiles" / profile),
                    workdir=tmp_path)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    jobs = job_counts(out.stdout + out.stderr)
    assert jobs["train"] == 13 and jobs["table"] == 7            # Table I grid, tables 1-7
    assert jobs["build_dataset"] == 9 and jobs["restore"] == jobs["metrics"] > 40
    assert (tmp_path / "results").exists() is False             # planning writes nothing


@pytest.mark.slow
def test_config_errors_are_one_clear_message(paper_fixture, tmp_path):
    cfg = yaml.safe_load(paper_fixture.read_text())
    bad_key = write_config(tmp_path / "bad_key.yaml", {**cfg, "tabels": []})
    out = snakemake("-n", "--configfile", str(bad_key), workdir=tmp_path)
    assert out.returncode != 0
    assert "config top level: Additional properties are not allowed ('tabels' was unexpected)" in out.stdout + out.stderr
    assert "Failed validating" not in out.stdout + out.stderr                # no schema dump

    bad_value = write_config(tmp_path / "bad_value.yaml", {**cfg, "device": "gpu"})
    out = snakemake("-n", "--configfile", str(bad_value), workdir=tmp_path)
    assert out.returncode != 0 and "config device: 'gpu' does not match" in out.stdout + out.stderr

    bad_row = dict(cfg, tables=[{"table": 2, "rows": [{"method": "bicubic", "step": -1}]}])
    out = snakemake("-n", "--configfile", str(write_config(tmp_path / "bad_row.yaml", bad_row)), workdir=tmp_path)
    assert out.returncode != 0 and "config tables.0.rows.0: Additional properties are not allowed ('step' was unexpected)" in out.stdout + out.stderr

    no_source = dict(cfg, data={"sources": {k: v for k, v in cfg["data"]["sources"].items() if k != "imagenet_val"}})
    out = snakemake("-n", "--configfile", str(write_config(tmp_path / "no_source.yaml", no_source)), workdir=tmp_path)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "dataset imagenet_test needs" in text and "set data.sources.imagenet_val in the config" in text

    unknown = dict(cfg, tables=[{"table": 2, "rows": [{"method": "no_such_method", "steps": -1}]}], targets=[2])
    out = snakemake("-n", "--configfile", str(write_config(tmp_path / "unknown.yaml", unknown)), workdir=tmp_path)
    assert out.returncode != 0 and "table 2: no registered method no_such_method" in out.stdout + out.stderr

    # offline: rows whose released weights are missing are planned as "not run" (named, no jobs)
    offline = dict(cfg, offline=True, targets=[2])
    out = snakemake("-n", "--configfile", str(write_config(tmp_path / "offline.yaml", offline)), workdir=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "table 2: not run here" in out.stderr and "RealESRGAN_x4plus.pth" in out.stderr
    assert "restore" not in job_counts(out.stdout + out.stderr)


@pytest.mark.slow
def test_resshiftl_demo_run_only_where_the_vgg_weights_are(tmp_path):
    """The demo's ResShiftL run (LPIPS-VGG) is planned when torchvision's VGG16 file is cached, and
    otherwise left out with one message naming the file."""
    torch_home = tmp_path / "torch"
    args = ("-n", "--config", f"results_dir={tmp_path / 'results'}")
    out = snakemake(*args, workdir=tmp_path, TORCH_HOME=str(torch_home))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "run demo_l4 and its table rows left out" in out.stderr and "vgg16-397923af.pth" in out.stderr
    assert job_counts(out.stdout + out.stderr)["train"] == 3
    weights = torch_home / "hub" / "checkpoints" / "vgg16-397923af.pth"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"")
    out = snakemake(*args, workdir=tmp_path, TORCH_HOME=str(torch_home))
    assert out.returncode == 0 and "left out" not in out.stderr
    assert job_counts(out.stdout + out.stderr)["train"] == 4 and "resshift@demo_l4:4" in out.stdout


def table2_title(results):
    return (results / "table2.md").read_text().splitlines()[0].removeprefix("### Table 2: ")


@pytest.mark.slow
def test_ci_workflow_end_to_end(ci_local_run):
    tmp_path, cfg, config, out = ci_local_run.root, copy.deepcopy(ci_local_run.cfg), ci_local_run.config, ci_local_run.out
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    results = tmp_path / "results"
    with open(results / "table2.csv", newline="") as f:
        rows = {(r["method"], r["steps"]): r for r in csv.DictReader(f)}
    assert set(rows) == {("bicubic", "-1"), ("resshift@ci_t4", "4"), ("ldm_retrained@ci_ldm", "4")}
    from bench.metrics import get

    lpips_missing = get("lpips").unavailable()                # offline here: its weights are not cached
    for r in rows.values():
        assert 5 < float(r["PSNR"]) < 50 and 0 < float(r["SSIM"]) <= 1 and float(r["NIQE"]) > 0
        if lpips_missing:
            assert r["LPIPS"] == "" and r["LPIPS_unavailable"] == f"lpips: {lpips_missing}"
        else:
            assert 0 <= float(r["LPIPS"]) <= 1
        assert float(r["runtime_s"]) > 0
    md = (results / "table2.md").read_text()
    assert not lpips_missing or ("n/a‡" in md and "‡ unavailable: lpips:" in md)
    for rule in ("build_dataset", "train", "restore", "metrics", "time", "table"):
        assert (results / "logs" / rule).is_dir() and (results / "benchmarks" / rule).is_dir(), rule
    with open(results / "data" / "demo_sr_val" / "manifest.csv", newline="") as f:
        samples = len(list(csv.DictReader(f)))
    assert len(list((results / "restored" / "demo_sr_val" / "resshift@ci_t4-4").glob("*.png"))) == samples == 6
    assert table2_title(results) == "x4 SR on demo_sr_val, 6 crops (standing in for ImageNet-Test)"
    for run in ("ci_t4", "ci_ldm"):                           # validate: every 3 of 6 iterations
        lines = (results / "models" / run / "validation.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in lines] == ["iteration", "3", "6"], lines
    for name in ("schedule", "forward_process", "compare_demo_sr_val", "validation_curves"):
        assert (results / "figures" / f"{name}.png").stat().st_size > 1000
        assert (results / "figures" / f"{name}.pdf").is_file()

    again = snakemake("-n", "--configfile", str(config), workdir=tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr

    cfg["training"]["ci_t4"]["set"]["train.lr"] = 0.002                  # one run's value changes
    changed = snakemake("-n", "--configfile", str(write_config(tmp_path / "ci2.yaml", cfg)), workdir=tmp_path)
    jobs = job_counts(changed.stdout + changed.stderr)
    assert jobs == {"train": 1, "restore": 1, "time_method": 1, "metrics": 1, "table": 1, "figure_compare": 1,
                    "figure_validation": 1, "all": 1}, jobs

    report = snakemake("--configfile", str(config), "--report", str(tmp_path / "report.html"), workdir=tmp_path)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert "table2" in html and "compare_demo_sr_val" in html and "forward_process" in html
    assert "validation_curves" in html


@pytest.mark.parametrize("mistake,line", [
    ("metric", "config tables (table 2) metrics: unknown metric 'lpip'; did you mean 'lpips'? (resshift-bench metrics --list)"),
    ("set", ("config training.ci_t4 set: 'train.iteratoins' is not a key of configuration 'demo_realsr'; "
             "did you mean 'train.iterations'?")),
])
@pytest.mark.slow
def test_unknown_metric_names_and_set_keys_fail_at_planning(tmp_path, mistake, line):
    """A typo in a table's metrics or a training run's `set:` (the `resshift train --set` keys)
    stops the dry run with one line naming it and the nearest valid name; nothing is run."""
    cfg = ci_config(tmp_path / "results")
    if mistake == "metric":
        cfg["tables"][0]["metrics"] = ["psnr", "lpip"]
    else:
        cfg["training"]["ci_t4"]["set"]["train.iteratoins"] = 5
    out = snakemake("-n", "--configfile", str(write_config(tmp_path / "bad.yaml", cfg)), workdir=tmp_path)
    assert out.returncode != 0
    assert line in (out.stdout + out.stderr).splitlines()
    assert "Job stats" not in out.stdout + out.stderr and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_crop_border_reaches_every_metrics_job(tmp_path):
    cfg = dict(ci_config(tmp_path / "results"), crop_border=4)
    out = snakemake("-n", "-p", "--configfile", str(write_config(tmp_path / "crop.yaml", cfg)), workdir=tmp_path)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    jobs = [line for line in out.stdout.splitlines() if "resshift-bench metrics" in line]
    assert len(jobs) == 3 and all("--crop-border 4 " in line for line in jobs)
