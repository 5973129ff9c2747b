"""ResShift through the same interface: thin adapters over :func:`resshift.restore`.

``resshift`` is ResShiftL v3 (4 steps); ``resshift_v1``/``resshift_v2`` the 15-step releases; one
method per released task. Options ``config=``, ``checkpoint=`` and ``autoencoder=`` select other
weights, e.g. a run trained by the workflow (``resshift@<run>`` in tables); ``tile_mode=`` picks
how large inputs are split (``seamless``, the default, or ``release``: the authors' chop-and-average,
needed to reproduce the paper's numbers on images beyond the chop size), recorded in meta.json.
"""
from __future__ import annotations

from pathlib import Path

import torch

import resshift
from resshift import weights as W
from resshift.config import build_model, load_config
from resshift.errors import ResShiftError
from resshift.sampling import TILE_MODES
from resshift.tiny import save_tiny_task

from .base import Restorer, register, seeded


class ResShiftMethod(Restorer):
    """Padding and tiling are :func:`resshift.restore`'s own (``tile_mode``): the descriptor adds none."""

    config_name = "v3"
    tiny_task = "realsr"               # the released task whose layout tiny() scales down
    sf = 4
    implementation = "ours"
    # every task end to end against the release's sampler with its recorded noise (the networks and
    # schedules alone: tests/test_nets.py, tests/test_schedule.py)
    release_parity = "tests/test_release_pipeline.py::test_restore_equals_release"

    def __init__(self, steps=None, device="cpu", **options):
        cfg = load_config(options.get("config") or self.config_name)
        self.trained_steps = int(cfg["diffusion"]["steps"])
        if steps not in (None, -1) and int(steps) != self.trained_steps:
            raise ResShiftError(f"{self.name}: configuration {cfg['name']} was trained with "
                                f"{self.trained_steps} steps; use --steps {self.trained_steps}")
        self.cfg = cfg
        # a run trained by the workflow (resshift@RUN) may be of another task than the class's
        self.sf = int(cfg["diffusion"].get("sf", self.sf))
        task = str(cfg.get("task", ""))
        self.task = "inpaint" if task.startswith("inpaint") else "face" if task == "faceir" else "sr"

        self.tile_mode = str(options.get("tile_mode", "seamless"))
        if self.tile_mode not in TILE_MODES:
            raise ResShiftError(f"{self.name}: option tile_mode={self.tile_mode}: choose {' or '.join(TILE_MODES)}")
        super().__init__(self.trained_steps, device, **options)

    def load(self) -> None:
        self.model = build_model(self.cfg, checkpoint=self.options.get("checkpoint"),
                                 autoencoder_checkpoint=self.options.get("autoencoder"),
                                 allow_download=False).to(self.device)

    def weights_sha256(self) -> dict[str, str]:
        return dict(self.model.weights)

    def modules(self):
        return self.model_modules(self.model)

    def timesteps(self) -> list[int]:
        return list(range(self.model.steps, 0, -1))           # t = T, ..., 1 (paper's indexing)

    def restore(self, lq, mask=None, generator=None):
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 12345
        return resshift.restore(lq, model=self.model, masks=mask, seed=seed, device=str(self.device),
                                progress=False, tile_mode=self.tile_mode)

    def meta(self) -> dict:
        return {**super().meta(), "tile_mode": self.tile_mode}

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """The released configuration of its task scaled down (:func:`resshift.tiny.tiny_task_config`)."""
        with seeded(0):
            cfg, unet, ae = save_tiny_task(cls.tiny_task, Path(folder) / "tiny")
        return cls(device=device, config=str(cfg), checkpoint=str(unet), autoencoder=str(ae))


def _make(name: str, config: str, task: str, label: str, sf: int, files: tuple[str, ...], steps: int = 4):
    weights = tuple(W.get(f).weight_file for f in files)
    cls = type(f"ResShift_{name}", (ResShiftMethod,), {
        "name": name, "config_name": config, "task": task, "label": label, "sf": sf, "weights": weights,
        "steps_choices": (steps,), "default_steps": steps, "__module__": __name__,
        "licence": W.RELEASE_LICENCE, "tiny_task": "realsr" if config in ("v1", "v2", "v3") else config})
    return register(cls)


_make("resshift", "v3", "sr", "ResShiftL", 4, ("resshift_realsrx4_s4_v3.pth", "autoencoder_vq_f4.pth"))
_make("resshift_v1", "v1", "sr", "ResShift", 4, ("resshift_realsrx4_s15_v1.pth", "autoencoder_vq_f4.pth"), 15)
_make("resshift_v2", "v2", "sr", "ResShift", 4, ("resshift_realsrx4_s15_v2.pth", "autoencoder_vq_f4.pth"), 15)
_make("resshift_bicsr", "bicsr", "sr", "ResShiftL (bicubic)", 4, ("resshift_bicsrx4_s4.pth", "autoencoder_vq_f4.pth"))
_make("resshift_inpaint_imagenet", "inpaint_imagenet", "inpaint", "ResShiftL", 1,
      ("resshift_inpainting_imagenet_s4.pth", "autoencoder_vq_f4.pth"))
_make("resshift_inpaint_face", "inpaint_face", "inpaint", "ResShiftL", 1,
      ("resshift_inpainting_face_s4.pth", "celeba256_vq_f4_dim3_face.pth"))
_make("resshift_faceir", "faceir", "face", "ResShiftL", 1, ("resshift_faceir_s4.pth", "ffhq512_vq_f8_dim8_face.pth"))
