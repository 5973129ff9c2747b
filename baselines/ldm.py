"""The two LDM rows.

- ``ldm``: the released LDM x4 (CompVis latent-diffusion ``bsr_sr``, OpenImages with BSR
  degradations; 113.62 M UNet, VQ-f4), in diffusers' format (``CompVis/ldm-super-resolution-4x-openimages``,
  the conversion of ``sr_bsr.zip``), run by diffusers' ``LDMSuperResolutionPipeline`` parts with
  its ``DDIMScheduler`` at eta = 1.0 and LDM's timesteps (uniform, +1).
- ``ldm_retrained``: an eps-prediction model trained by ``resshift train`` (``diffusion.kind: eps``,
  e.g. ``--config ldm`` or ``demo_ldm``) with ResShift's backbone and budget; labelled
  "LDM (retrained, same budget)" and never set beside the paper's LDM numbers.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch

from resshift.chain import reverse_chain
from resshift.config import build_model, load_config
from resshift.errors import ResShiftError
from resshift.ldm import EpsDiffusion
from resshift.noise import GeneratorNoise
from resshift.train import load_training_checkpoint, train

from .base import BASELINES, Restorer, WeightFile, register, seeded

HF_LDM = "https://huggingface.co/CompVis/ldm-super-resolution-4x-openimages"


# The released UNet's layout (latent-diffusion bsr_sr: in 6 / out 3, 160 channels, mult [1, 2, 2, 4],
# 2 res blocks, attention at the deepest level and the middle, 32-channel heads) in diffusers' terms:
# field for field the release's unet/config.json. 113,622,563 parameters (Table II prints 113.60 M).
LDM_UNET_CONFIG = dict(sample_size=64, in_channels=6, out_channels=3, layers_per_block=2,
                       block_out_channels=(160, 320, 320, 640),
                       down_block_types=("DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"), attention_head_dim=32)


# The VQ-f4 autoencoder shared with ResShift, in diffusers' terms.
LDM_VQ_CONFIG = dict(in_channels=3, out_channels=3, latent_channels=3, block_out_channels=(128, 256, 512),
                     layers_per_block=2, down_block_types=("DownEncoderBlock2D",) * 3,
                     up_block_types=("UpDecoderBlock2D",) * 3, num_vq_embeddings=8192, sample_size=256)


def released_ldm_unet():
    """The released LDM x4 UNet's architecture with random weights (timing, parameter counts)."""
    from diffusers import UNet2DModel

    return UNet2DModel(**LDM_UNET_CONFIG)


def save_tiny_ldm(path: Path) -> Path:
    """A small random-weight LDM x4 in diffusers' folder layout (``unet/``, ``vqvae/``)."""
    from diffusers import UNet2DModel, VQModel

    with seeded(0):
        UNet2DModel(sample_size=16, in_channels=6, out_channels=3, layers_per_block=1, block_out_channels=(16, 32),
                    down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                    attention_head_dim=8, norm_num_groups=8).save_pretrained(path / "unet")
        VQModel(in_channels=3, out_channels=3, latent_channels=3, block_out_channels=(16, 16, 32), layers_per_block=1,
                down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                num_vq_embeddings=32, norm_num_groups=8, sample_size=64).save_pretrained(path / "vqvae")
    return path


def ldm_diffusion():
    """The released LDM's sampler: :class:`resshift.ldm.EpsDiffusion` (diffusers' DDIMScheduler,
    1000 steps, betas 0.0015-0.0155 sqrt-linear, timesteps uniform + 1, eta 1)."""

    return EpsDiffusion(eta=1.0)


@register
class LDM(Restorer):
    name, task, label, sf = "ldm", "sr", "LDM", 4
    implementation = "maintainers"     # diffusers' UNet, VQ model and DDIMScheduler
    licence = "MIT (latent-diffusion)"
    steps_choices, default_steps = (4, 15, 50), 15
    weights = (WeightFile("ldm-super-resolution-4x-openimages", HF_LDM, size="about 450 MB (unet/ and vqvae/)",
                          is_folder=True, subdir=BASELINES),)

    def load(self) -> None:
        from diffusers import UNet2DModel, VQModel

        folder = self.weight_path(0)
        try:
            self.unet = UNet2DModel.from_pretrained(folder, subfolder="unet").to(self.device).eval()
            self.vqvae = VQModel.from_pretrained(folder, subfolder="vqvae").to(self.device).eval()
        except (OSError, ValueError) as exc:
            raise ResShiftError(f"ldm: {folder} is not the diffusers-format LDM x4 folder (unet/, vqvae/) from "
                                f"{HF_LDM} ({str(exc).splitlines()[0][:160]})") from None

    def modules(self):
        return {"trainable": self.unet, "frozen_vqvae": self.vqvae}

    @classmethod
    def tiny(cls, folder, device="cpu"):
        return cls(device=device, weights=str(save_tiny_ldm(Path(folder) / cls.weights[0].file)))

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        from diffusers import VQModel

        path = Path(folder) / cls.weights[0].file
        released_ldm_unet().save_pretrained(path / "unet")
        VQModel(**LDM_VQ_CONFIG).save_pretrained(path / "vqvae")
        return cls(steps=steps, device=device, weights=str(path))

    def timesteps(self) -> list[int]:
        return ldm_diffusion().timesteps(self.steps)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        # LDMSuperResolutionPipeline's loop: LQ in [-1, 1] concatenated to the latent, DDIM eta 1.
        lq11 = lq.to(self.device) * 2 - 1
        b, _, h, w = lq11.shape
        like = lq11.new_empty(b, self.vqvae.config.latent_channels, h, w)   # the latent is the LQ's size (VQ-f4)
        latents = reverse_chain(lambda x, t: self.unet(torch.cat([x, lq11], dim=1), t).sample, ldm_diffusion(), like,
                                GeneratorNoise(generator, b), steps=self.steps)
        image = self.vqvae.decode(latents).sample
        return ((image.clamp(-1, 1) + 1) / 2)


@register
class LDMRetrained(Restorer):
    """``checkpoint=`` a `resshift train` checkpoint of an eps-prediction configuration."""

    name, task, label, sf = "ldm_retrained", "sr", "LDM (retrained, same budget)", 4
    implementation = "ours"
    steps_choices, default_steps = (4, 15, 50), 15

    def load(self) -> None:
        ckpt_path = self.options.get("checkpoint")
        if not ckpt_path:
            raise ResShiftError("ldm_retrained: pass checkpoint=RUN/checkpoints/last.pth, a `resshift train` run of "
                                "an eps-prediction configuration (e.g. --config ldm or demo_ldm)")

        try:
            cfg = torch.load(ckpt_path, map_location="cpu", weights_only=True)["config"]
        except FileNotFoundError:
            raise ResShiftError(f"ldm_retrained: {ckpt_path}: no such checkpoint") from None
        except Exception as exc:
            raise ResShiftError(f"ldm_retrained: {ckpt_path}: not a `resshift train` checkpoint ({exc})") from None
        if cfg["diffusion"].get("kind") != "eps":
            raise ResShiftError(f"ldm_retrained: {ckpt_path} is a ResShift run ({cfg['name']}); "
                                "train an eps-prediction configuration (diffusion.kind: eps)")
        load_training_checkpoint(ckpt_path, cfg)
        self.model = build_model(cfg, checkpoint=ckpt_path, autoencoder_checkpoint=self.options.get("autoencoder"),
                                 allow_download=False).to(self.device)
        self.sf = self.model.sf
        self.pad_multiple = self.model.size_multiple          # reflect-padded, cropped back by __call__

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """A `resshift train` run of ``demo_ldm`` after one iteration on one packaged image (the
        checkpoint format this method reads: configuration and weights together)."""
        cfg = copy.deepcopy(load_config("demo_ldm"))
        cfg["data"] = {"kind": "packaged", "crop": 32, "images": ["astronaut"]}
        cfg["train"].update(iterations=1, batch_size=2, micro_batch=2, checkpoint_every=1)
        with seeded(0):
            ckpt = train(cfg, Path(folder) / "ldm_run", progress=False, log=lambda m: None)
        return cls(device=device, checkpoint=str(ckpt))

    def modules(self):
        return self.model_modules(self.model)

    def timesteps(self) -> list[int]:
        return self.model.diffusion.timesteps(self.steps)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        lq11 = lq.to(self.device) * 2 - 1
        out = self.model.diffusion.sample(self.model.unet, lq11, autoencoder=self.model.autoencoder,
                                          model_kwargs=self.model.model_kwargs(lq11), generator=generator,
                                          steps=self.steps)
        return (out + 1) / 2

    def weights_sha256(self) -> dict[str, str]:
        return dict(self.model.weights)
