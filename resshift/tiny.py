"""Tiny random-weight versions of the released configurations, saved like the released files
(plain state dicts), so that every task runs end to end in tests and in the baselines' ``tiny()``."""
from __future__ import annotations

import copy
from pathlib import Path

import torch
import yaml

from .config import TASK_DEFAULT, build_model, load_config

# (chop_size, chop_stride) in input pixels: each a multiple of the tiny model's size multiple
_CHOP = {"realsr": (64, 56), "bicsr": (64, 56), "inpaint_imagenet": (256, 224),
         "inpaint_face": (256, 224), "faceir": (512, 448)}


def tiny_task_config(task: str) -> dict:
    """The released configuration of ``task`` with the same layout, scaled down."""
    cfg = copy.deepcopy(load_config(TASK_DEFAULT[task]))
    cfg["name"] = f"tiny_{task}"
    cfg["checkpoint"] = None
    p = cfg["unet"]["params"]
    factor = p["lq_size"] // p["image_size"]
    p.update(image_size=16, lq_size=16 * factor, model_channels=32, channel_mult=[1, 2],
             num_res_blocks=[1, 1], attention_resolutions=[8], num_head_channels=16,
             swin_embed_dim=32, window_size=4, mlp_ratio=2)
    ae = cfg["autoencoder"]
    ae["checkpoint"] = None
    levels = len(ae["params"]["ddconfig"]["ch_mult"])
    ae["params"]["n_embed"] = 32
    ae["params"]["ddconfig"].update(ch=32, ch_mult=[1] * levels, num_res_blocks=1)
    chop, stride = _CHOP[task]
    cfg["inference"] = {"chop_size": chop, "chop_stride": stride}
    return cfg


def save_tiny_task(task: str, folder: Path, seed: int = 0) -> tuple[Path, Path, Path]:
    """Write the configuration YAML, UNet and autoencoder checkpoints; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = tiny_task_config(task)
    torch.manual_seed(seed)
    model = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False)
    cfg_path = folder / f"tiny_{task}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    unet_path, ae_path = folder / f"tiny_{task}_unet.pth", folder / f"tiny_{task}_vq.pth"
    torch.save(model.unet.state_dict(), unet_path)
    torch.save(model.autoencoder.state_dict(), ae_path)
    return cfg_path, unet_path, ae_path
