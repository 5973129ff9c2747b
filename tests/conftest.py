import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from filelock import FileLock

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
    with this one. Under pytest-xdist the two tests may run on two workers: the first to ask runs
    the workflow in the session's shared temporary folder under a file lock and records the result,
    the other waits for it and reads the record (xdist_group cannot keep them together:
    pytest-xdist 3.8's loadgroup has no effect with pytest 9.2's structured node ids,
    pytest-dev/pytest-xdist#1386)."""
    from test_workflow import ci_config, snakemake, write_config

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent                                  # the session's folder, above popen-gw*
    root, record = shared / "ci_local", shared / "ci_local" / "run.json"
    with FileLock(str(shared / "ci_local.lock")):
        if not record.is_file():
            root.mkdir()
            out = snakemake("--cores", "8", "--configfile", str(write_config(root / "ci.yaml", ci_config(root / "results"))),
                            workdir=root)
            tmp = record.with_suffix(".tmp")
            tmp.write_text(json.dumps({"returncode": out.returncode, "stdout": out.stdout, "stderr": out.stderr}))
            tmp.rename(record)
    return SimpleNamespace(root=root, cfg=yaml.safe_load((root / "ci.yaml").read_text()), config=root / "ci.yaml",
                           results=root / "results", out=SimpleNamespace(**json.loads(record.read_text())))


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (make test: --dist worksteal) each worker's initial share starts with its
    part of the slowest tests, dealt round-robin: the SLURM test, then the tests of the CI
    workflow's local run, then the other `slow` tests. Each other test joins the share that holds
    its module's tests where there is room. Worksteal splits the collection into contiguous shares
    (sized as below) and lets an idle worker take the tail of another's queue. Within a share a
    module's tests stay together: pytest sets a module-scoped fixture up again each time a worker
    comes back to its module (the four demo test sets of tests/test_data.py were built four times
    in one run, ~5 s each)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers < 2:
        return
    def rank(item):
        return (item.get_closest_marker("slurm") is None, "ci_local_run" not in item.fixturenames,
                item.get_closest_marker("slow") is None)
    sizes, left = [], len(items)
    for share in range(workers):
        sizes.append(left // (workers - share))                # worksteal's split of the pending tests
        left -= sizes[-1]
    ordered = sorted(items, key=rank)                          # stable: collection order within a rank
    heavy = [item for item in ordered if rank(item) != (True, True, True)]
    shares = [heavy[share::workers][:sizes[share]] for share in range(workers)]
    placed = {id(item) for share in shares for item in share}
    home = {}                                                  # module -> the share that has its tests
    for share, dealt in enumerate(shares):
        for item in dealt:
            home.setdefault(item.module, share)
    for item in items:
        if id(item) not in placed:
            share = home.get(item.module)
            if share is None or len(shares[share]) == sizes[share]:
                share = next(s for s in range(workers) if len(shares[s]) < sizes[s])
            home.setdefault(item.module, share)
            shares[share].append(item)
    items[:] = []
    for dealt in shares:
        first = {}
        for i, item in enumerate(dealt):
            first.setdefault(item.module, i)
        items += sorted(dealt, key=lambda item: first[item.module])
