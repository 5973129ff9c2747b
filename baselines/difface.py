"""DifFace (Yue & Loy, "DifFace: Blind Face Restoration with Diffused Error Contraction") for
Tables VI/VII, run as its release's aligned-face script does (``inference_difface.py --aligned``
with ``configs/sample/iddpm_ffhq512_swinir.yaml``):

1. a diffused estimator, SwinIR on 512x512 faces (8x pixel-unshuffle in, nearest+conv x8 out;
   ``swinir_restoration512_L1.pth``, read by spandrel), gives x0_hat = f(y) in [0, 1];
2. x0_hat is diffused to level N of the 250-step respacing of the linear 1000-step schedule
   (q(x_N | x0_hat), DifFace Eq. 5 with the release's indexing): ``ddim250`` (timesteps 0, 4, ..,
   996) for DDIM, ``250`` (0 .. 999, rounded) for the ancestral sampler, as the release;
3. the FFHQ-512 diffusion model (``iddpm_ffhq512_ema500000.pth``, an improved-DDPM UNet) runs N
   steps from level N-1 down to 0: DDIM with eta 0.5 (the current release, ``ddim250``), or with
   ``--option sampler=ancestral`` the first release's ancestral steps with the learned variances
   (its estimator was ``General_Face_ffhq512.pth``: ``--option estimator=PATH``).

"DifFace-100" in the paper's tables is N = 100 (``--steps``, the release's ``started_timesteps``).
As in the release, the state diffused to level N enters the loop at level N - 1. S-Lab License 1.0.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from resshift.errors import ResShiftError
from resshift.weights import load_checkpoint

from .base import BASELINES, WeightFile, register, seeded
from .face import AlignedFaceRestorer
from .gan import load_spandrel
from .guided_diffusion import (
    ADMUNet,
    InpaintSchedule,
    ddim_step,
    ddim_timesteps,
    draw,
    posterior,
)

RELEASE = "https://github.com/zsyOAOA/DifFace/releases/download/V1.0/"

# configs/sample/iddpm_ffhq512_swinir.yaml of the release
FFHQ512_UNET = dict(image_size=512, in_channels=3, model_channels=32, out_channels=6,
                    num_res_blocks=(1, 2, 2, 2, 2, 3, 4), attention_resolutions=(32, 16, 8),
                    channel_mult=(1, 2, 4, 8, 8, 16, 16), num_head_channels=64, resblock_updown=False,
                    use_scale_shift_norm=True)
ESTIMATOR = dict(img_size=64, patch_size=1, in_chans=3, embed_dim=180, depths=[6] * 8, num_heads=[6] * 8,
                 window_size=8, mlp_ratio=2.0, upscale=8, img_range=1.0, upsampler="nearest+conv",
                 resi_connection="1conv", start_unshuffle=8)
RESPACING = 250
# tiny(): a narrow UNet (6 levels, one block each) and a one-stage estimator
TINY_FFHQ = dict(model_channels=32, channel_mult=(1,) * 6, num_res_blocks=(1,) * 6, attention_resolutions=(16,),
                 num_head_channels=32)
TINY_ESTIMATOR = dict(embed_dim=12, depths=[1], num_heads=[2])


def _clipped_x0(eps: torch.Tensor, x: torch.Tensor, s: int, sched: InpaintSchedule) -> torch.Tensor:
    """x0 from the model's eps (Ho et al. Eq. 15), clipped to [-1, 1]."""
    a = float(sched.abar[s])
    return ((x - math.sqrt(1 - a) * eps) / math.sqrt(a)).clamp(-1, 1)


def schedule(sampler: str) -> InpaintSchedule:
    """The release's respacing of the 1000-step linear schedule: ``ddim250`` (stride 4: 0, 4, .., 996)
    for DDIM (``inference_difface.py`` sets it), ``250`` (guided-diffusion's rounded spacing, 0 .. 999)
    for the first release's ancestral sampler (``configs/sample/iddpm_ffhq512_swinir.yaml``)."""
    return InpaintSchedule(RESPACING, timesteps=ddim_timesteps(1000, RESPACING) if sampler == "ddim" else None)


def difface_sample(model_fn, x0_hat: torch.Tensor, start: int, sched: InpaintSchedule, generator,
                   sampler: str = "ddim", eta: float = 0.5) -> torch.Tensor:
    """DifFace's sampler: diffuse the estimate ``x0_hat`` ([-1, 1]) to level ``start`` of ``sched``,
    then steps at levels start-1, ..., 0 (the release's loop), ``ddim`` (eta) or ``ancestral``
    (improved-DDPM: the posterior mean with the learned variance, :func:`posterior`).
    ``model_fn(x, t)`` returns the UNet's 6 channels (eps, variance interpolation) at timestep t.
    Noise draws (the release's): the diffusion to ``start``, then one per level (level 0's unused)."""
    if not 0 < start < sched.steps:
        raise ResShiftError(f"difface: --steps (the start level N) must be in 1..{sched.steps - 1}, got {start}")
    if sampler not in ("ddim", "ancestral"):
        raise ResShiftError(f"difface: --option sampler must be ddim or ancestral, got {sampler!r}")
    x = sched.noise_to(x0_hat, start, generator)
    for s in range(start - 1, -1, -1):
        out = model_fn(x, sched.tensor_t(s, x)).float()
        if sampler == "ddim":          # DDIM (Song et al. Eq. 12) as the release takes it: the model's own eps
            step = ddim_step(_clipped_x0(out[:, :3], x, s, sched), out[:, :3], s, sched, generator, eta=eta)
            if s == 0 or eta == 0:
                draw(x, generator)     # the release draws at every level, used or not
            x = step
        else:
            mean, log_var, _ = posterior(out, x, s, sched)
            z = draw(x, generator)
            x = mean + torch.exp(0.5 * log_var) * z if s > 0 else mean
    return x


@register
class DifFace(AlignedFaceRestorer):
    name, label = "difface", "DifFace"
    # estimator and both samplers against the release (same file: test_estimator_matches_release)
    release_parity = "tests/test_difface_parity.py::test_sampler_matches_release"
    implementation = "ours"
    steps_choices, default_steps = (100,), 100
    licence = "S-Lab License 1.0 (non-commercial)"
    needs = "a GPU (100 steps of a 512x512 diffusion UNet per face)"
    weights = (WeightFile("iddpm_ffhq512_ema500000.pth", RELEASE + "iddpm_ffhq512_ema500000.pth",
                          size="~639 MB (159.79 M fp32 parameters)", subdir=BASELINES),
               WeightFile("swinir_restoration512_L1.pth", RELEASE + "swinir_restoration512_L1.pth",
                          size="~63 MB (15.79 M fp32 parameters)", subdir=BASELINES))

    def load(self) -> None:
        path = self.weight_path(0)
        self.unet = ADMUNet(**dict(FFHQ512_UNET, **self.options.get("unet_config", {})))
        try:
            load_checkpoint(self.unet, path)
        except ResShiftError as exc:
            raise ResShiftError(f"{self.name}: {path} is not DifFace's FFHQ-512 diffusion model ({exc})") from None
        self.unet = self.unet.to(self.device).eval()
        est_path = Path(self.options.get("estimator") or self.weight_path(1))
        if not est_path.is_file():
            raise ResShiftError(f"{self.name}: estimator file {est_path} not found")
        desc = load_spandrel(est_path, self.name, "SwinIR estimator", "SwinIR", self.device)
        if getattr(desc.model, "start_unshuffle", 1) != 8:
            raise ResShiftError(f"{self.name}: {est_path} holds a SwinIR without DifFace's 8x pixel-unshuffle input")
        self.estimator = desc.model.eval()

    def modules(self):
        return {"trainable": self.unet, "frozen_estimator": self.estimator}

    def timesteps(self) -> list[int]:
        return schedule(self.sampler_name()).t[: self.steps][::-1]

    def sampler_name(self) -> str:
        return str(self.options.get("sampler", "ddim"))

    @classmethod
    def random_estimator(cls, **overrides) -> torch.nn.Module:
        from spandrel.architectures.SwinIR import SwinIR

        return SwinIR(**dict(ESTIMATOR, **overrides))

    @staticmethod
    def save_estimator(net: torch.nn.Module, path: Path) -> None:
        """In the release's layout: ``conv_first`` is a Sequential(PixelUnshuffle, Conv2d)."""
        sd = {("conv_first.1." + k[len("conv_first."):] if k.startswith("conv_first.") else k): v
              for k, v in net.state_dict().items()}
        torch.save(sd, path)

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        unet, est = cls.files_in(folder)[:2]
        torch.save({"state_dict": ADMUNet(**FFHQ512_UNET).state_dict()}, unet)
        cls.save_estimator(cls.random_estimator(), est)
        return cls(steps=steps, device=device, weights=str(unet), estimator=str(est))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """The release's two files, narrow (``unet_config``: TINY_FFHQ), one step."""
        unet, est = cls.files_in(folder)[:2]
        with seeded(0):
            torch.save({"state_dict": ADMUNet(**dict(FFHQ512_UNET, **TINY_FFHQ)).state_dict()}, unet)
            cls.save_estimator(cls.random_estimator(**TINY_ESTIMATOR), est)
        return cls(steps=1, device=device, weights=str(unet), estimator=str(est), unet_config=TINY_FFHQ)

    def restore_faces(self, x11, generator):
        generator = generator if generator is not None else torch.Generator().manual_seed(12345)
        x0_hat = self.estimator((x11 + 1) / 2).clamp(0, 1)          # the estimator works in [0, 1]
        return difface_sample(self.unet, x0_hat * 2 - 1, self.steps, schedule(self.sampler_name()), generator,
                              sampler=self.sampler_name(), eta=float(self.options.get("eta", 0.5)))
