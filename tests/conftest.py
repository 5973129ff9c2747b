import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The project's shared material: $RESSHIFT_SHARED or ../shared beside the checkout."""
    path = Path(os.environ.get("RESSHIFT_SHARED", ROOT.parent / "shared"))
    if not (path / "reference").is_dir():
        raise RuntimeError(f"{path}: shared reference material not found; set RESSHIFT_SHARED")
    return path


@pytest.fixture(scope="session")
def reference() -> Path:
    return shared_dir() / "reference"


@pytest.fixture(scope="session")
def release_outputs(reference):
    return torch.load(reference / "release-outputs" / "release_outputs.pt", weights_only=False)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty weights cache."""
    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "cache"))
    torch.set_num_threads(2)
