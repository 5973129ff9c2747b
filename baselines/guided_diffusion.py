"""Shared parts of the diffusion inpainting baselines (RePaint, DDRM, Score-SDE, MCG; Tables IV/V).

- :class:`ADMUNet`: the guided-diffusion UNet (Dhariwal & Nichol) with the released checkpoints'
  key names (``input_blocks``/``middle_block``/``output_blocks``/``out``), built from our
  ResShift blocks plus :class:`AttentionBlock`; it loads ``256x256_diffusion_uncond.pt``
  (ImageNet, openai) and RePaint's ``celeba256_250000.pt`` (CelebA-HQ) unchanged.
- :class:`InpaintSchedule`: the linear 1000-step schedule (betas 1e-4..0.02) respaced to the
  sampling steps as guided-diffusion's ``space_timesteps`` does.
- :func:`ddim_step`: one reverse step (DDIM, Song et al. 2021 Eq. 12; eta = 1 is the ancestral
  DDPM step with the posterior variance), the building block of every sampler here.
- :class:`GuidedDiffusionInpainter`: the ``Restorer`` the four methods share; each method module
  only supplies its sampler. Known pixels are pasted back at the end, as for ResShift.

All four use the same two public models (the variance channels of ``learn_sigma`` models are
not used: every sampler takes the posterior variance), 250 steps as in the paper.
"""
from __future__ import annotations

import math
from typing import Callable, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from resshift.diffusion import randn
from resshift.errors import ResShiftError
from resshift.nets.layers import Downsample, GroupNorm32, ResBlock, TimestepSequential, Upsample, timestep_embedding

from .base import SingleNetworkRestorer, WeightFile

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (x_t, integer t of the 1000-step chain) -> eps

# The released models' constructor settings (guided-diffusion's model_and_diffusion_defaults as the
# releases' scripts set them).
ADM_256 = dict(image_size=256, in_channels=3, model_channels=256, out_channels=6, num_res_blocks=2,
               attention_resolutions=(32, 16, 8), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
               resblock_updown=True, use_scale_shift_norm=True)

OPENAI = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
REPAINT_DRIVE = "https://drive.google.com/drive/folders/1Ju_0c1dDdSgvXMoaQ7AJgLZR6Q0ncNf8"
MODELS = {
    "imagenet": WeightFile("256x256_diffusion_uncond.pt", OPENAI + "256x256_diffusion_uncond.pt", size="2.1 GB"),
    "celeba": WeightFile("celeba256_250000.pt", REPAINT_DRIVE, size="2.1 GB; RePaint's download.sh fetches it",
                         manual=True),
}

LICENCES = {"imagenet": "MIT (openai guided-diffusion)", "celeba": "CC BY-NC-SA 4.0 (RePaint's CelebA-HQ model)"}


class AttentionBlock(nn.Module):
    """Self-attention over the pixels (guided-diffusion's legacy head order: the qkv channels are
    split into heads first, then into q, k, v)."""

    def __init__(self, channels: int, num_head_channels: int):
        super().__init__()
        self.heads = channels // num_head_channels
        self.norm = GroupNorm32(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        h = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(h)).reshape(b * self.heads, 3 * c // self.heads, -1)
        q, k, v = qkv.chunk(3, dim=1)
        scale = (c // self.heads) ** -0.25
        w = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale).float(), dim=-1).type(q.dtype)
        a = torch.einsum("bts,bcs->bct", w, v).reshape(b, c, -1)
        return (h + self.proj_out(a)).reshape(b, c, *spatial)


class ADMUNet(nn.Module):
    """guided-diffusion's UNetModel (unconditional, 2-D), keys as in its checkpoints;
    ``num_res_blocks`` may give one count per level (DifFace's FFHQ-512 model)."""

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int | Sequence[int], attention_resolutions=(32, 16, 8),
                 channel_mult=(1, 1, 2, 2, 4, 4),
                 num_head_channels: int = 64, resblock_updown: bool = True, use_scale_shift_norm: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        blocks = [num_res_blocks] * len(channel_mult) if isinstance(num_res_blocks, int) else list(num_res_blocks)
        if len(blocks) != len(channel_mult):
            raise ValueError("num_res_blocks: one count per level of channel_mult")
        self.out_channels, self.in_channels = out_channels, in_channels
        attn_ds = {image_size // r for r in attention_resolutions}
        emb = model_channels * 4
        self.model_channels = model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb), nn.SiLU(), nn.Linear(emb, emb))

        def res(cin, cout, **kw):
            return ResBlock(cin, emb, cout, dropout, use_scale_shift_norm, **kw)

        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels, model_channels, 3, padding=1))])
        skips, ch, ds = [model_channels], model_channels, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(blocks[level]):
                layers: list[nn.Module] = [res(ch, mult * model_channels)]
                ch = mult * model_channels
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, num_head_channels))
                self.input_blocks.append(TimestepSequential(*layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                down = res(ch, ch, down=True) if resblock_updown else Downsample(ch)
                self.input_blocks.append(TimestepSequential(down))
                skips.append(ch)
                ds *= 2
        self.middle_block = TimestepSequential(res(ch, ch), AttentionBlock(ch, num_head_channels), res(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(blocks[level] + 1):
                layers = [res(ch + skips.pop(), mult * model_channels)]
                ch = mult * model_channels
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, num_head_channels))
                if level and i == blocks[level]:
                    layers.append(res(ch, ch, up=True) if resblock_updown else Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepSequential(*layers))
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(), nn.Conv2d(ch, out_channels, 3, padding=1))
        self.dtype = torch.float32

    def to_fp16(self) -> "ADMUNet":
        """guided-diffusion's use_fp16: the blocks' convolutions in half precision; norms, linear
        layers (timestep embedding) and the output head stay in fp32."""
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            for m in part.modules():
                if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                    m.half()
        self.dtype = torch.float16
        return self

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        hs, h = [], x.type(self.dtype)
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


def space_timesteps(total: int, steps: int) -> list[int]:
    """guided-diffusion's ``space_timesteps(total, [steps])``: evenly spaced, rounded, 0 and total-1 kept."""
    if steps >= total:
        return list(range(total))
    stride = (total - 1) / (steps - 1) if steps > 1 else 0
    return sorted({round(i * stride) for i in range(steps)})


class InpaintSchedule:
    """The linear schedule of the released models (Ho et al.: betas 1e-4..0.02 over 1000 steps),
    respaced: level s = 0..N-1 has timestep ``t[s]`` and cumulative alpha ``abar[s]``."""

    def __init__(self, steps: int, total: int = 1000):
        betas = np.linspace(1e-4 * 1000 / total, 0.02 * 1000 / total, total, dtype=np.float64)
        abar_full = np.cumprod(1.0 - betas)
        self.t = space_timesteps(total, steps)
        self.abar = abar_full[self.t]
        self.steps = len(self.t)

    def abar_prev(self, s: int) -> float:
        """Cumulative alpha one level down; 1 below level 0 (the chain's start)."""
        return float(self.abar[s - 1]) if s > 0 else 1.0

    def noise_to(self, y: torch.Tensor, s: int, generator) -> torch.Tensor:
        """q(x_s | y): sqrt(abar_s) y + sqrt(1 - abar_s) z (Ho et al. Eq. 4)."""
        return math.sqrt(self.abar[s]) * y + math.sqrt(1 - self.abar[s]) * randn(y, generator)

    def tensor_t(self, s: int, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), self.t[s], device=x.device, dtype=torch.long)


def predict_x0(eps_fn: EpsFn, x: torch.Tensor, s: int, sched: InpaintSchedule, clip: bool = True):
    """x0 estimate from eps (Ho et al. Eq. 15), clipped to [-1, 1]; returns (x0, eps consistent with it)."""
    a = sched.abar[s]
    eps = eps_fn(x, sched.tensor_t(s, x))
    x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
    return x0, eps


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, s: int, sched: InpaintSchedule, generator,
              eta: float = 1.0) -> torch.Tensor:
    """x_{s-1} from (x0, eps) at level s (DDIM Eq. 12): sqrt(abar') x0 + sqrt(1 - abar' - sigma^2) eps
    + sigma z, sigma^2 = eta^2 (1 - abar')/(1 - abar)(1 - abar/abar'); eta = 1: DDPM's posterior.
    At level 0 (abar' = 1) it returns x0."""
    a, a_prev = sched.abar[s], sched.abar_prev(s)
    sigma = eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
    out = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)) * eps
    return out + sigma * randn(x0, generator) if sigma > 0 else out


class GuidedDiffusionInpainter(SingleNetworkRestorer):
    """Diffusion inpainting on a released guided-diffusion model; subclasses set ``sampler``.

    ``restore`` maps the LQ (holes zeroed) to [-1, 1], runs ``sampler(eps_fn, y, keep, schedule,
    generator, **sampler_options)`` and pastes the known pixels back. Options: ``steps``
    (default 250), ``model`` weights via ``weights=``, ``fp16=1`` on CUDA.
    """

    implementation = "ours"

    task, sf = "inpaint", 1
    steps_choices, default_steps = (250,), 250
    model_key: ClassVar[str] = "imagenet"
    sampler: ClassVar[Callable]                # staticmethod(fn(eps_fn, y, keep, schedule, generator, **options))
    sampler_options: ClassVar[dict] = {}       # defaults; each can be overridden by --option NAME=VALUE
    needs_grad: ClassVar[bool] = False         # MCG differentiates through the network
    needs = "a GPU for the paper's 250 steps (hours per image set on a CPU)"

    network_kind = "a guided-diffusion 256x256 model"

    @classmethod
    def build_network(cls, options):
        return ADMUNet(**dict(ADM_256, **options.get("unet_config", {})))

    def load(self) -> None:
        super().load()                                       # bare state dicts, as released
        if self.options.get("fp16") and self.device.type == "cuda":
            self.net.to_fp16()

    def timesteps(self) -> list[int]:
        return InpaintSchedule(self.steps).t[::-1]

    def eps_fn(self) -> EpsFn:
        def eps(x, t):
            return self.net(x, t)[:, :3].float()          # learn_sigma models: the first 3 channels
        return eps

    def restore(self, lq, mask=None, generator=None):
        if mask is None:
            raise ResShiftError(f"{self.name}: inpainting needs a mask (1 = hole)")
        lq, mask = lq.to(self.device), mask.to(self.device)
        keep = 1 - mask
        y = (lq * 2 - 1) * keep
        generator = generator if generator is not None else torch.Generator().manual_seed(12345)
        sched = InpaintSchedule(self.steps)
        options = {k: type(v)(self.options.get(k, v)) for k, v in self.sampler_options.items()}
        with torch.set_grad_enabled(self.needs_grad):
            x = self.sampler(self.eps_fn(), y, keep, sched, generator, **options)
        out = ((x.detach().clamp(-1, 1) + 1) / 2)
        return (keep * lq + mask * out).clamp(0, 1)


def register_pair(module_name: str, name: str, label: str, sampler: Callable, options: dict | None = None,
                  needs_grad: bool = False) -> None:
    """Register ``name`` (ImageNet model, Table IV) and ``name_face`` (CelebA-HQ model, Table V)."""
    from .base import register

    for suffix, key in (("", "imagenet"), ("_face", "celeba")):
        body = dict(name=name + suffix, label=label, model_key=key, weights=(MODELS[key],), __module__=module_name,
                    licence=LICENCES[key],
                    sampler=staticmethod(sampler), sampler_options=dict(options or {}), needs_grad=needs_grad)
        register(type(f"{label.replace('-', '')}{suffix.title().replace('_', '')}", (GuidedDiffusionInpainter,), body))


def paste(keep: torch.Tensor, known: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return keep * known + (1 - keep) * x

