import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def official_state_dicts() -> Path:
    """Key/shape listings of the released checkpoints and the constructor parameters that produce
    them (see tests/fixtures/official_state_dicts/README.md)."""
    return FIXTURES / "official_state_dicts"


@pytest.fixture(scope="session")
def release_outputs() -> dict:
    """Outputs of the authors' released code on small random-weight networks
    (tests/fixtures/release_outputs/README.md). The UNet's state dict is stored in parts under 5 MB."""
    root = FIXTURES / "release_outputs"
    ref = torch.load(root / "outputs.pt", weights_only=True)
    state = {}
    for part in sorted(root.glob("unet_state_dict.*.pt"), key=lambda p: int(p.suffixes[0][1:])):
        state.update(torch.load(part, weights_only=True))
    ref["unet"]["state_dict"] = state
    return ref


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty weights cache; one torch thread per pytest-xdist worker (make
    test runs a worker per core: more threads than cores makes every test several times slower)."""
    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "cache"))
    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(scope="session")
def ci_local_run(tmp_path_factory):
    """The CI mini-workflow (tests/fixtures/workflow/ci.yaml) run once locally, shared by the
    end-to-end test of tests/test_workflow.py and the SLURM test, which compares its sbatch run
    with this one. Both are marked `xdist_group("ci_workflow")` so that one pytest-xdist worker
    runs both; defined here, once: a fixture imported into two test modules is two fixtures."""
    from test_workflow import FIXTURES as WORKFLOW_FIXTURES, snakemake, write_config

    root = tmp_path_factory.mktemp("ci_local")
    cfg = yaml.safe_load((WORKFLOW_FIXTURES / "ci.yaml").read_text())
    cfg["results_dir"] = str(root / "results")
    config = write_config(root / "ci.yaml", cfg)
    out = snakemake("--cores", "8", "--configfile", str(config), workdir=root)
    return SimpleNamespace(root=root, cfg=cfg, config=config, out=out, results=root / "results")
