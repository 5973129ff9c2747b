import pytest
import torch
import yaml

from resshift.config import RELEASED, build_model, config_for, load_config
from resshift.errors import ResShiftError
from resshift import weights as W

# docs/protocol.md §1: (T, min_noise_level, mse, lpips-vgg, batch, iterations)
TABLE = {"v1": (15, 0.04, 1, 0, 64, 300_000), "v2": (15, 0.04, 1, 0, 64, 500_000),
         "v3": (4, 0.2, 1, 1, 96, 400_000), "bicsr": (4, 0.2, 1, 1, 96, 400_000),
         "inpaint_imagenet": (4, 0.2, 1, 10, 96, 400_000), "inpaint_face": (4, 0.2, 1, 10, 96, 400_000),
         "faceir": (4, 0.2, 1, 10, 56, 400_000)}
PARAMS = {"v1": "unet_realsr_v3", "v2": "unet_realsr_v3", "v3": "unet_realsr_v3", "bicsr": "unet_realsr_v3",
          "inpaint_imagenet": "unet_inpaint", "inpaint_face": "unet_inpaint", "faceir": "unet_faceir"}
AE = {"faceir": "vq_f8_face"}


@pytest.mark.parametrize("name", RELEASED)
def test_released_configs(name, official_state_dicts):
    cfg = load_config(name)
    steps, mnl, mse, lp, batch, iters = TABLE[name]
    d = cfg["diffusion"]
    assert (d["steps"], d["min_noise_level"], d["kappa"], d["p"], d["etas_end"]) == (steps, mnl, 2.0, 0.3, 0.99)
    assert (cfg["loss"]["mse"], cfg["loss"]["lpips_vgg"]) == (mse, lp)
    assert (cfg["train"]["batch_size"], cfg["train"]["iterations"]) == (batch, iters)
    root = official_state_dicts
    assert cfg["unet"]["params"] == yaml.safe_load((root / f"{PARAMS[name]}.params.yaml").read_text())
    assert cfg["autoencoder"]["params"] == yaml.safe_load((root / f"{AE.get(name, 'vq_f4')}.params.yaml").read_text())
    assert cfg["checkpoint"] in W.CHECKPOINTS and cfg["autoencoder"]["checkpoint"] in W.CHECKPOINTS


def test_task_defaults():
    assert config_for("realsr")["name"] == "v3"
    assert config_for("realsr", "v1")["diffusion"]["steps"] == 15
    with pytest.raises(ResShiftError, match="unknown task"):
        config_for("deblur")
    with pytest.raises(ResShiftError, match="realsr only"):
        config_for("faceir", "v2")
    with pytest.raises(ResShiftError, match="unknown configuration"):
        load_config("v9")


@pytest.mark.slow
def test_build_model_loads_saved_weights(tmp_path):
    torch.manual_seed(1)
    a = build_model("tiny_latent", checkpoint=False, autoencoder_checkpoint=False)
    torch.save({"state_dict": a.unet.state_dict()}, tmp_path / "unet.pth")
    torch.save({"state_dict": {f"module.{k}": v for k, v in a.autoencoder.state_dict().items()}}, tmp_path / "ae.pth")
    torch.manual_seed(2)
    b = build_model("tiny_latent", checkpoint=tmp_path / "unet.pth", autoencoder_checkpoint=tmp_path / "ae.pth")
    for x, y in zip(a.unet.state_dict().values(), b.unet.state_dict().values()):
        assert torch.equal(x, y)
    assert set(b.weights) == {"unet.pth", "ae.pth"}
    lq = torch.rand(1, 3, 8, 8)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    assert torch.equal(a.restore(lq, generator=g()), b.restore(lq, generator=g()))


def test_released_model_without_weights_is_a_clear_error():
    with pytest.raises(ResShiftError, match="resshift_realsrx4_s4_v3.pth"):
        build_model("v3", allow_download=False)
