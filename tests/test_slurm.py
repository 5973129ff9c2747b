"""The CI mini-workflow on a real SLURM cluster: every job submitted with sbatch and followed with
sacct by snakemake-executor-plugin-slurm, through profiles/slurm, and its results equal to a
local run's (`ci_local_run` of tests/conftest.py, shared with tests/test_workflow.py's end-to-end
test; the sbatch run starts first and goes on while the local run is made or awaited). The
target is table2.csv, what is compared: the 4 figure jobs are not submitted. The submitted table
keeps the rows of bicubic (sharded) and resshift@ci_t4 (trained on the cluster): 11 jobs, one of
every rule that builds a table; the local run's third row, ldm_retrained@ci_ldm, would add 4
more jobs of the same rules (train, restore, metrics, time_method), ~60 s of the suite's CPU
time on 2 cores (each submitted job parses the Snakefile twice, ~3.5 s each). Where there is no
SLURM and this is root with apt-get, the test sets up a single-node cluster itself with
workflow/ci/slurm-up.sh (about a minute; .ci/run does the same).
The restore job of bicubic runs as two shards and a gathering job (tests/fixtures/workflow/ci.yaml).
"""
import csv
import os
import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.layout import parse_result_name
from test_workflow import ROOT, ci_config, job_counts, snakemake, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
SLURM_UP = ROOT / "workflow" / "ci" / "slurm-up.sh"
SUBMITTED_ROWS = ("bicubic", "resshift@ci_t4")


def slurm_ready() -> bool:
    if not (shutil.which("sbatch") and shutil.which("sacct")):
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode == 0 and \
        subprocess.run(["sacct", "-n", "-X"], capture_output=True, timeout=30).returncode == 0


@pytest.fixture(scope="module")
def slurm():
    if not slurm_ready():
        if os.geteuid() == 0 and shutil.which("apt-get"):
            up = subprocess.run(["bash", str(SLURM_UP)], capture_output=True, text=True, timeout=900)
            assert up.returncode == 0, up.stdout + up.stderr
        elif os.environ.get("CI"):
            pytest.fail("CI without SLURM: run workflow/ci/slurm-up.sh as root first (.ci/run does)")
        else:
            pytest.skip("no SLURM here (sbatch/sacct absent) and not root with apt-get to set one up "
                        "with workflow/ci/slurm-up.sh")
    assert slurm_ready()


def table(path: Path) -> dict:
    """The table without its timing columns (wall-clock times differ between any two runs)."""
    with open(path, newline="") as f:
        return {(r["method"], r["steps"]): {k: v for k, v in r.items() if not k.startswith("runtime")} for r in csv.DictReader(f)}


def restored(results: Path) -> dict[str, bytes]:
    return {str(p.relative_to(results)): p.read_bytes() for p in sorted((results / "restored").glob("*/*/*.png"))}


def test_ci_workflow_through_sbatch_equals_local_run(slurm, tmp_path, request):
    cfg = ci_config(tmp_path / "slurm" / "results")
    cfg["tables"][0]["rows"] = [row for row in cfg["tables"][0]["rows"] if row["method"] in SUBMITTED_ROWS]
    assert len(cfg["tables"][0]["rows"]) == len(SUBMITTED_ROWS)
    on_slurm = write_config(tmp_path / "slurm.yaml", cfg)
    # the profile as it is, with requests this one small node can grant; the target is the table
    # (what is compared below), so the 4 figure jobs are left out
    args = (str(Path(cfg["results_dir"]) / "table2.csv"), "--configfile", str(on_slurm), "--profile", str(ROOT / "profiles" / "slurm"),
            "--jobs", "4", "--latency-wait", "5", "--slurm-init-seconds-before-status-checks", "2",
            "--slurm-logdir", str(tmp_path / "slurm" / "logs"),
            "--default-resources", "slurm_partition=cpu", "slurm_account=ci", "runtime=30", "mem_mb=1500", "cpus_per_task=1",
            "--set-resources", "train:mem_mb=3000", "train:cpus_per_task=1", "train:runtime=30")
    def run_on_slurm():
        t0 = time.time()
        return snakemake(*args, workdir=tmp_path / "slurm", timeout=1800), time.time() - t0

    with ThreadPoolExecutor(1) as pool:          # the sbatch run goes on beside the local run
        submitted_run = pool.submit(run_on_slurm)
        local = request.getfixturevalue("ci_local_run")
        out, seconds = submitted_run.result()
    assert local.out.returncode == 0, (local.out.stdout + local.out.stderr)[-4000:]
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-6000:]
    jobs = job_counts(text)
    assert jobs["restore_shard"] == 2 and jobs["restore"] == 2 and jobs["train"] == 1, jobs
    assert not any(k.startswith("figure") for k in jobs), jobs
    submitted = [int(j) for j in re.findall(r"SLURM jobid (\d+)", text)]
    assert len(submitted) == sum(v for k, v in jobs.items() if k != "all"), (submitted, jobs)

    acct = subprocess.run(["sacct", "-X", "-n", "-P", "-j", ",".join(map(str, submitted)),
                           "--format", "JobID,Comment%80,Partition,AllocCPUS,ReqMem,Timelimit,State,ExitCode,Elapsed"],
                          capture_output=True, text=True, timeout=60)
    lines = [line for line in acct.stdout.splitlines() if line]
    record = f"# {len(lines)} jobs, snakemake --profile profiles/slurm took {seconds:.0f} s\n" + "\n".join(lines) + "\n"
    if os.environ.get("SLURM_TEST_RECORD"):                 # where to keep the sacct lines (CI logs, reports)
        Path(os.environ["SLURM_TEST_RECORD"]).write_text(record)
    print(record)
    assert len(lines) == len(submitted) and all("|COMPLETED|0:0|" in line for line in lines), lines
    assert sum("rule_restore_shard" in line for line in lines) == 2, lines      # the comment names the rule

    local_results, slurm_results = local.results, tmp_path / "slurm" / "results"
    local_table, slurm_table = table(local_results / "table2.csv"), table(slurm_results / "table2.csv")
    assert set(local_table) > set(slurm_table)                              # the local table has the third row too
    assert slurm_table == {key: row for key, row in local_table.items() if key[0] in SUBMITTED_ROWS}
    with open(local_results / "data" / "demo_sr_val" / "manifest.csv", newline="") as f:
        samples = len(list(csv.DictReader(f)))                      # the CI table's test set
    rows = len(cfg["tables"][0]["rows"])
    local_restored = {name: data for name, data in restored(local_results).items()
                      if parse_result_name(Path(name).parts[2])[0] in SUBMITTED_ROWS}
    assert restored(slurm_results) == local_restored and len(local_restored) == rows * samples
