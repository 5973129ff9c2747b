from pathlib import Path

import pytest
import torch

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
    """Every test gets its own empty weights cache."""
    monkeypatch.setenv("RESSHIFT_HOME", str(tmp_path / "cache"))
    torch.set_num_threads(2)
