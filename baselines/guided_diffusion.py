"""Shared parts of the diffusion inpainting baselines (RePaint, DDRM, Score-SDE, MCG; Tables IV/V).

- :class:`ADMUNet`: the guided-diffusion UNet (Dhariwal & Nichol) with the released checkpoints'
  key names (``input_blocks``/``middle_block``/``output_blocks``/``out``), built from our
  ResShift blocks plus :class:`AttentionBlock`; it loads ``256x256_diffusion_uncond.pt`` and the
  class-conditional ``256x256_diffusion.pt`` (ImageNet, openai) and RePaint's
  ``celeba256_250000.pt`` (CelebA-HQ) unchanged. :class:`ADMClassifier`: the noisy-image
  classifier ``256x256_classifier.pt``. Both are checked against the release's forward passes
  (``tests/test_guided_diffusion_parity.py``).
- :class:`InpaintSchedule`: the linear 1000-step schedule (betas 1e-4..0.02) respaced to the
  sampling steps as guided-diffusion's ``space_timesteps`` does.
- :func:`ddim_step`: one reverse step (DDIM, Song et al. 2021 Eq. 12; eta = 1 is the ancestral
  DDPM step with the posterior variance); :func:`posterior`: the release's p(x_{s-1} | x_s) with
  the learned variance.
- :class:`GuidedModel`: network + class labels + classifier guidance, what samplers call;
  :class:`RecordedNoise`: replays recorded draws wherever a sampler takes a generator.
- :class:`GuidedDiffusionInpainter`: the ``Restorer`` the four methods share; each method module
  only supplies its sampler. Known pixels are pasted back at the end, as for ResShift.

250 steps as in the paper.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from resshift.errors import ResShiftError
from resshift.nets.layers import (
    Downsample,
    GroupNorm32,
    ResBlock,
    TimestepSequential,
    Upsample,
    timestep_embedding,
)
from resshift.noise import randn
from resshift.weights import load_checkpoint, read_state_dict

from .base import BASELINES, SingleNetworkRestorer, WeightFile, register, seeded

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]   # (x_t, integer t of the 1000-step chain) -> eps

# The released models' constructor settings (guided-diffusion's model_and_diffusion_defaults as the
# releases' scripts set them).
ADM_256 = dict(image_size=256, in_channels=3, model_channels=256, out_channels=6, num_res_blocks=2,
               attention_resolutions=(32, 16, 8), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
               resblock_updown=True, use_scale_shift_norm=True)

OPENAI = "https://openaipublic.blob.core.windows.net/diffusion/jul-2021/"
REPAINT_DRIVE = "https://drive.google.com/drive/folders/1Ju_0c1dDdSgvXMoaQ7AJgLZR6Q0ncNf8"
NUM_CLASSES = 1000
# 256x256_classifier.pt as RePaint's ImageNet configs build it (classifier_width 128, depth 2,
# attention at 32, 16, 8, scale-shift, resblock_updown, attention pooling, 64-channel heads)
CLASSIFIER_256 = dict(image_size=256, in_channels=3, model_channels=128, out_channels=NUM_CLASSES, num_res_blocks=2,
                      attention_resolutions=(32, 16, 8), channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels=64,
                      use_scale_shift_norm=True, resblock_updown=True)
CLASSIFIER = WeightFile("256x256_classifier.pt", OPENAI + "256x256_classifier.pt", subdir=BASELINES)
MODELS = {
    "imagenet": WeightFile("256x256_diffusion_uncond.pt", OPENAI + "256x256_diffusion_uncond.pt", size="2.1 GB", subdir=BASELINES),
    # class-conditional ImageNet model: RePaint's test_inet256_*.yml (with the classifier, scale 1.0)
    "imagenet_cond": WeightFile("256x256_diffusion.pt", OPENAI + "256x256_diffusion.pt", size="2.1 GB", subdir=BASELINES),
    "celeba": WeightFile("celeba256_250000.pt", REPAINT_DRIVE, size="2.1 GB; RePaint's download.sh fetches it",
                         manual=True, subdir=BASELINES),
}

# tiny(): the same layouts, narrow and at 32x32 (the network and classifier options unet_config and
# classifier_config)
TINY_ADM = dict(image_size=32, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
                attention_resolutions=(16,), channel_mult=(1, 2), num_head_channels=32)
TINY_CLASSIFIER = dict(image_size=32, model_channels=32, num_res_blocks=1, attention_resolutions=(16,),
                       channel_mult=(1, 2), num_head_channels=32)

LICENCES = {"imagenet": "MIT (openai guided-diffusion)", "imagenet_cond": "MIT (openai guided-diffusion)", "celeba": "CC BY-NC-SA 4.0 (RePaint's CelebA-HQ model)"}


def _heads(channels: int, num_heads: int, num_head_channels: int) -> int:
    """guided-diffusion's rule: ``num_head_channels`` (when not -1) fixes the head width, else ``num_heads``."""
    return channels // num_head_channels if num_head_channels != -1 else num_heads


class AttentionBlock(nn.Module):
    """Self-attention over the pixels (guided-diffusion's legacy head order: the qkv channels are
    split into heads first, then into q, k, v)."""

    def __init__(self, channels: int, num_head_channels: int = -1, num_heads: int = 1):
        super().__init__()
        self.heads = _heads(channels, num_heads, num_head_channels)
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


class AttentionPool2d(nn.Module):
    """The classifier's head: attention of the spatial mean over [mean, pixels] plus a learned
    position embedding, read out at the mean token (heads in q/k/v-first order, as in CLIP)."""

    def __init__(self, spatial: int, channels: int, num_head_channels: int, out_channels: int):
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(channels, spatial ** 2 + 1))
        self.qkv_proj = nn.Conv1d(channels, 3 * channels, 1)
        self.c_proj = nn.Conv1d(channels, out_channels, 1)
        self.heads = channels // num_head_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        x = x.reshape(b, c, -1)
        x = torch.cat([x.mean(dim=-1, keepdim=True), x], dim=-1) + self.positional_embedding[None].to(x.dtype)
        q, k, v = self.qkv_proj(x).chunk(3, dim=1)
        n, hc = x.shape[-1], c // self.heads
        scale = hc ** -0.25
        w = torch.einsum("bct,bcs->bts", (q * scale).reshape(b * self.heads, hc, n),
                         (k * scale).reshape(b * self.heads, hc, n))
        w = torch.softmax(w.float(), dim=-1).type(w.dtype)
        a = torch.einsum("bts,bcs->bct", w, v.reshape(b * self.heads, hc, n)).reshape(b, c, n)
        return self.c_proj(a)[:, :, 0]


class ADMUNet(nn.Module):
    """guided-diffusion's UNetModel (2-D), keys as in its checkpoints; ``num_classes`` makes it
    class-conditional (a label embedding added to the timestep embedding, as the ImageNet
    ``256x256_diffusion.pt``); ``num_res_blocks`` may give one count per level (DifFace's FFHQ-512
    model). ``attention_resolutions`` are feature-map sizes (image_size // downsampling)."""

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int | Sequence[int], attention_resolutions=(32, 16, 8),
                 channel_mult=(1, 1, 2, 2, 4, 4),
                 num_head_channels: int = 64, resblock_updown: bool = True, use_scale_shift_norm: bool = True,
                 dropout: float = 0.0, num_classes: int | None = None, num_heads: int = 1):
        super().__init__()
        blocks = [num_res_blocks] * len(channel_mult) if isinstance(num_res_blocks, int) else list(num_res_blocks)
        if len(blocks) != len(channel_mult):
            raise ValueError("num_res_blocks: one count per level of channel_mult")
        self.out_channels, self.in_channels, self.num_classes = out_channels, in_channels, num_classes
        attn_ds = {image_size // r for r in attention_resolutions}
        emb = model_channels * 4
        self.model_channels = model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb), nn.SiLU(), nn.Linear(emb, emb))
        if num_classes is not None:
            self.label_emb = nn.Embedding(num_classes, emb)

        def res(cin, cout, **kw):
            return ResBlock(cin, emb, cout, dropout, use_scale_shift_norm, **kw)

        def attn(c):
            return AttentionBlock(c, num_head_channels, num_heads)

        ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        skips, ds = [ch], 1
        for level, mult in enumerate(channel_mult):
            for _ in range(blocks[level]):
                layers: list[nn.Module] = [res(ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attn_ds:
                    layers.append(attn(ch))
                self.input_blocks.append(TimestepSequential(*layers))
                skips.append(ch)
            if level != len(channel_mult) - 1:
                down = res(ch, ch, down=True) if resblock_updown else Downsample(ch)
                self.input_blocks.append(TimestepSequential(down))
                skips.append(ch)
                ds *= 2
        self.middle_block = TimestepSequential(res(ch, ch), attn(ch), res(ch, ch))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(blocks[level] + 1):
                layers = [res(ch + skips.pop(), int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attn_ds:
                    layers.append(attn(ch))
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

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if (y is None) != (self.num_classes is None):
            raise ValueError("ADMUNet: class labels y are needed exactly when the model is class-conditional")
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        if y is not None:
            emb = emb + self.label_emb(y)
        hs, h = [], x.type(self.dtype)
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h.type(x.dtype))


class ADMClassifier(nn.Module):
    """guided-diffusion's noisy-image classifier (EncoderUNetModel with attention pooling, as the
    released ``256x256_classifier.pt``): the UNet's encoder half and middle block, then GroupNorm,
    SiLU and :class:`AttentionPool2d` to ``out_channels`` logits; keys as in the checkpoint."""

    def __init__(self, image_size: int = 256, in_channels: int = 3, model_channels: int = 128,
                 out_channels: int = 1000, num_res_blocks: int = 2, attention_resolutions=(32, 16, 8),
                 channel_mult=(1, 1, 2, 2, 4, 4), num_head_channels: int = 64, use_scale_shift_norm: bool = True,
                 resblock_updown: bool = True):
        super().__init__()
        emb = model_channels * 4
        self.model_channels = model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb), nn.SiLU(), nn.Linear(emb, emb))
        attn_ds = {image_size // r for r in attention_resolutions}

        def res(cin, cout, **kw):
            return ResBlock(cin, emb, cout, 0.0, use_scale_shift_norm, **kw)

        ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        ds = 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res(ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attn_ds:
                    layers.append(AttentionBlock(ch, num_head_channels))
                self.input_blocks.append(TimestepSequential(*layers))
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepSequential(res(ch, ch, down=True) if resblock_updown else Downsample(ch)))
                ds *= 2
        self.middle_block = TimestepSequential(res(ch, ch), AttentionBlock(ch, num_head_channels), res(ch, ch))
        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(),
                                 AttentionPool2d(image_size // ds, ch, num_head_channels, out_channels))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
        return self.out(self.middle_block(h, emb))


def space_timesteps(total: int, steps: int) -> list[int]:
    """guided-diffusion's ``space_timesteps(total, [steps])``: evenly spaced, rounded, 0 and total-1 kept."""
    if steps >= total:
        return list(range(total))
    stride = (total - 1) / (steps - 1) if steps > 1 else 0
    return sorted({round(i * stride) for i in range(steps)})


def ddim_timesteps(total: int, steps: int) -> list[int]:
    """guided-diffusion's ``space_timesteps(total, "ddimN")``: the integer stride giving exactly N steps."""
    for stride in range(1, total):
        if len(range(0, total, stride)) == steps:
            return list(range(0, total, stride))
    raise ValueError(f"cannot make exactly {steps} steps out of {total} with an integer stride")


class InpaintSchedule:
    """The linear schedule of the released models (Ho et al.: betas 1e-4..0.02 over 1000 steps),
    respaced: level s = 0..N-1 has timestep ``t[s]`` and cumulative alpha ``abar[s]``."""

    def __init__(self, steps: int, total: int = 1000, timesteps: Sequence[int] | None = None):
        betas = np.linspace(1e-4 * 1000 / total, 0.02 * 1000 / total, total, dtype=np.float64)
        abar_full = np.cumprod(1.0 - betas)
        self.t = list(timesteps) if timesteps is not None else space_timesteps(total, steps)
        self.abar = abar_full[self.t]
        self.steps = len(self.t)

    def abar_prev(self, s: int) -> float:
        """Cumulative alpha one level down; 1 below level 0 (the chain's start)."""
        return float(self.abar[s - 1]) if s > 0 else 1.0

    def noise_to(self, y: torch.Tensor, s: int, noise: "NoiseSource") -> torch.Tensor:
        """q(x_s | y): sqrt(abar_s) y + sqrt(1 - abar_s) z (Ho et al. Eq. 4)."""
        return math.sqrt(self.abar[s]) * y + math.sqrt(1 - self.abar[s]) * draw(y, noise)

    def beta(self, s: int) -> float:
        """The respaced chain's beta_s = 1 - abar_s / abar_{s-1} (guided-diffusion's SpacedDiffusion)."""
        return 1.0 - float(self.abar[s]) / self.abar_prev(s)

    def tensor_t(self, s: int, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), self.t[s], device=x.device, dtype=torch.long)


class RecordedNoise:
    """A noise source that replays recorded standard-normal draws in order (e.g. those a release's
    sampler made), so our sampler can be run on exactly the same randomness; every sampler here
    takes it wherever it takes a ``torch.Generator``."""

    def __init__(self, draws):
        self.draws = list(draws)
        self.used = 0

    def draw(self, like: torch.Tensor) -> torch.Tensor:
        if self.used >= len(self.draws):
            raise ValueError(f"RecordedNoise: all {len(self.draws)} draws used; the sampler asked for one more")
        z = self.draws[self.used]
        if tuple(z.shape) != tuple(like.shape):
            raise ValueError(f"RecordedNoise: draw {self.used} has shape {tuple(z.shape)}, the sampler wants "
                             f"{tuple(like.shape)}")
        self.used += 1
        return z.to(device=like.device, dtype=like.dtype)


NoiseSource = "torch.Generator | RecordedNoise | None"


def draw(like: torch.Tensor, noise) -> torch.Tensor:
    """Standard normal noise shaped like ``like``: the next recorded draw, or from a generator."""
    return noise.draw(like) if isinstance(noise, RecordedNoise) else randn(like, noise)


class GuidedModel:
    """What the samplers call: the diffusion network ``net(x, t, y)`` (class labels ``labels`` for a
    class-conditional model, else None) and, optionally, a noisy-image classifier for classifier
    guidance (Dhariwal & Nichol Alg. 1: the mean moves by ``classifier_scale * variance *
    grad log p(y | x_t)``). Called as ``model(x, t)`` it returns eps (the first 3 channels)."""

    def __init__(self, net: Callable, labels: torch.Tensor | None = None, classifier: Callable | None = None,
                 classifier_scale: float = 0.0):
        self.net, self.labels, self.classifier, self.classifier_scale = net, labels, classifier, classifier_scale

    @classmethod
    def wrap(cls, model) -> "GuidedModel":
        """A plain ``fn(x, t) -> eps`` becomes an unconditional model without guidance."""
        return model if isinstance(model, GuidedModel) else cls(lambda x, t, y: model(x, t))

    def output(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """All output channels (eps, and the variance interpolation of ``learn_sigma`` models)."""
        return self.net(x, t, self.labels).float()

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.output(x, t)[:, :3]

    @property
    def guided(self) -> bool:
        return self.classifier is not None and self.classifier_scale > 0

    def log_prob_grad(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """classifier_scale * d/dx sum_i log softmax(classifier(x_i, t))[labels_i]."""
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            log_probs = torch.log_softmax(self.classifier(x_in, t), dim=-1)
            picked = log_probs[torch.arange(len(log_probs), device=x.device), self.labels.view(-1)]
            return torch.autograd.grad(picked.sum(), x_in)[0] * self.classifier_scale


def posterior(out: torch.Tensor, x: torch.Tensor, s: int, sched: "InpaintSchedule"):
    """p(x_{s-1} | x_s) of a guided-diffusion model at level s: (mean, log-variance, x0).

    x0 from eps (Ho et al. Eq. 15), clipped to [-1, 1]; mean: the posterior q(x_{s-1} | x_s, x0)
    (Ho et al. Eq. 7) with the respaced chain's beta_s; log-variance: with variance channels
    (``learn_sigma``), v log(beta_s) + (1 - v) log(beta~_s), v = (out_var + 1) / 2 (Nichol &
    Dhariwal Eq. 15), else log(beta~_s); beta~ at level 0 is taken from level 1, as the release's
    ``posterior_log_variance_clipped``."""
    a, a_prev, beta = float(sched.abar[s]), sched.abar_prev(s), sched.beta(s)
    x0 = (math.sqrt(1 / a) * x - math.sqrt(1 / a - 1) * out[:, :3]).clamp(-1, 1)
    mean = beta * math.sqrt(a_prev) / (1 - a) * x0 + (1 - a_prev) * math.sqrt(1 - beta) / (1 - a) * x
    k = max(s, 1)
    log_tilde = math.log(sched.beta(k) * (1 - sched.abar_prev(k)) / (1 - float(sched.abar[k])))
    if out.shape[1] >= 6:
        frac = (out[:, 3:6] + 1) / 2
        log_var = frac * math.log(beta) + (1 - frac) * log_tilde
    else:
        log_var = torch.full_like(x0, log_tilde)
    return mean, log_var, x0


def predict_x0(eps_fn: EpsFn, x: torch.Tensor, s: int, sched: InpaintSchedule, clip: bool = True):
    """x0 estimate from eps (Ho et al. Eq. 15), clipped to [-1, 1]; returns (x0, eps consistent with it)."""
    a = sched.abar[s]
    eps = eps_fn(x, sched.tensor_t(s, x))
    x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
    if clip:
        x0 = x0.clamp(-1, 1)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
    return x0, eps


def ddim_step(x0: torch.Tensor, eps: torch.Tensor, s: int, sched: InpaintSchedule, noise,
              eta: float = 1.0) -> torch.Tensor:
    """x_{s-1} from (x0, eps) at level s (DDIM Eq. 12): sqrt(abar') x0 + sqrt(1 - abar' - sigma^2) eps
    + sigma z, sigma^2 = eta^2 (1 - abar')/(1 - abar)(1 - abar/abar'); eta = 1: DDPM's posterior.
    At level 0 (abar' = 1) it returns x0."""
    a, a_prev = sched.abar[s], sched.abar_prev(s)
    sigma = eta * math.sqrt((1 - a_prev) / (1 - a) * (1 - a / a_prev))
    out = math.sqrt(a_prev) * x0 + math.sqrt(max(1 - a_prev - sigma ** 2, 0.0)) * eps
    return out + sigma * draw(x0, noise) if sigma > 0 else out


class GuidedDiffusionInpainter(SingleNetworkRestorer):
    """Diffusion inpainting on a released guided-diffusion model; subclasses set ``sampler``.

    ``restore`` maps the LQ (holes zeroed) to [-1, 1], runs ``sampler(model, y, keep, schedule,
    generator, **sampler_options)`` (``model``: a :class:`GuidedModel`) and pastes the known pixels
    back. Class-conditional models (``class_cond``) get one random ImageNet class per image from
    the generator, as RePaint's ``test.py`` draws them (``torch.randint(0, 1000)``) unless
    ``--option class_label=K`` fixes one; with ``classifier_scale`` > 0 the classifier
    (``weights[1]``) guides every reverse step. Options: ``steps`` (default 250), weights via
    ``weights=`` (and ``classifier=``), ``unet_config``/``classifier_config`` (test sizes), ``fp16``:
    the UNet's blocks in half precision on CUDA, on by default where the release's config sets
    ``use_fp16`` (RePaint's and DDRM's ImageNet configs; ``fp16=0`` turns it off).
    """

    implementation = "ours"

    task, sf = "inpaint", 1
    steps_choices, default_steps = (250,), 250
    model_key: ClassVar[str] = "imagenet"
    class_cond: ClassVar[bool] = False
    classifier_scale: ClassVar[float] = 0.0
    sampler: ClassVar[Callable]                # staticmethod(fn(model, y, keep, schedule, noise, **options))
    sampler_options: ClassVar[dict] = {}       # defaults; each can be overridden by --option NAME=VALUE
    needs_grad: ClassVar[bool] = False         # MCG differentiates through the network
    schedule: ClassVar[type] = None            # InpaintSchedule (guided-diffusion respacing) or a method's own
    release_fp16: ClassVar[bool] = False       # the release's config runs the UNet in half precision (on CUDA)
    tiny_options: ClassVar[dict] = {}          # sampler options of tiny() (RePaint: a short jump schedule)
    needs = "a GPU for the paper's 250 steps (hours per image set on a CPU)"

    network_kind = "a guided-diffusion 256x256 model"

    @classmethod
    def build_network(cls, options):
        return ADMUNet(**dict(ADM_256, num_classes=NUM_CLASSES if cls.class_cond else None,
                              **options.get("unet_config", {})))

    def load(self) -> None:
        super().load()                                       # bare state dicts, as released
        self.scale = float(self.options.get("classifier_scale", self.classifier_scale))
        self.classifier = None
        if self.scale > 0:
            path = Path(self.options["classifier"]) if self.options.get("classifier") else self.weight_path(1)
            if not path.is_file():
                raise ResShiftError(f"{self.name}: classifier file {path} not found")
            self.classifier = ADMClassifier(**dict(CLASSIFIER_256, **self.options.get("classifier_config", {})))
            try:
                load_checkpoint(self.classifier, read_state_dict(path))
            except ResShiftError as exc:
                raise ResShiftError(f"{self.name}: {path} is not a guided-diffusion 256x256 classifier ({exc})") from None
            self.classifier = self.classifier.to(self.device).eval()
        fp16 = str(self.options.get("fp16", self.release_fp16)).lower() in ("1", "true", "yes")
        if fp16 and self.device.type == "cuda":
            self.net.to_fp16()

    @classmethod
    def with_random_weights(cls, folder, steps: int | None = None, device: str = "cpu") -> GuidedDiffusionInpainter:
        """The full-size network (and classifier, where guided) with random weights, as released."""
        if not cls.classifier_scale > 0:
            return super().with_random_weights(folder, steps=steps, device=device)
        unet, classifier = cls.files_in(folder)[:2]
        torch.save(cls.build_network({}).state_dict(), unet)
        torch.save(ADMClassifier(**CLASSIFIER_256).state_dict(), classifier)
        return cls(steps=steps, device=device, weights=str(unet), classifier=str(classifier))

    @classmethod
    def tiny(cls, folder, device: str = "cpu") -> GuidedDiffusionInpainter:
        """The released layouts (bare state dicts) at :data:`TINY_ADM` / :data:`TINY_CLASSIFIER`
        sizes, 4 steps; the UNet's weights drawn with std 0.02 so that its eps is not zero."""
        unet, *others = cls.files_in(folder)
        options = dict(cls.tiny_options, weights=str(unet), unet_config=TINY_ADM)
        with seeded(0):
            net = cls.build_network({"unet_config": TINY_ADM})
            for p in net.parameters():
                if p.dim() > 1:
                    nn.init.normal_(p, std=0.02)
            torch.save(net.state_dict(), unet)
        if cls.classifier_scale > 0:
            classifier = others[0]
            with seeded(1):
                torch.save(ADMClassifier(**TINY_CLASSIFIER).state_dict(), classifier)
            options.update(classifier=str(classifier), classifier_config=TINY_CLASSIFIER)
        return cls(steps=4, device=device, **options)

    def modules(self) -> dict[str, torch.nn.Module]:
        mods = {"trainable": self.net}
        if self.classifier is not None:
            mods["trainable_classifier"] = self.classifier
        return mods

    def timesteps(self) -> list[int]:
        return (self.schedule or InpaintSchedule)(self.steps).t[::-1]

    def guided_model(self, batch: int, generator) -> GuidedModel:
        labels = None
        if self.class_cond:
            fixed = self.options.get("class_label")
            labels = (torch.full((batch,), int(fixed), dtype=torch.long) if fixed is not None else
                      torch.randint(0, NUM_CLASSES, (batch,), generator=generator, device=generator.device).cpu())
            labels = labels.to(self.device)
        return GuidedModel(self.net, labels, self.classifier, self.scale)

    def restore(self, lq, mask=None, generator=None):
        lq, mask = lq.to(self.device), mask.to(self.device)
        keep = 1 - mask
        y = (lq * 2 - 1) * keep
        generator = generator if generator is not None else torch.Generator().manual_seed(12345)
        sched = (self.schedule or InpaintSchedule)(self.steps)
        options = {k: type(v)(self.options.get(k, v)) for k, v in self.sampler_options.items()}
        model = self.guided_model(lq.shape[0], generator)
        with torch.set_grad_enabled(self.needs_grad):
            x = self.sampler(model, y, keep, sched, generator, **options)
        out = ((x.detach().clamp(-1, 1) + 1) / 2)
        return (keep * lq + mask * out).clamp(0, 1)


def register_pair(module_name: str, name: str, label: str, sampler: Callable, options: dict | None = None,
                  needs_grad: bool = False, imagenet: str = "imagenet", release_parity: str = "",
                  schedule: type | None = None, imagenet_fp16: bool = False, tiny_options: dict | None = None) -> None:
    """Register ``name`` (ImageNet model ``imagenet``, Table IV) and ``name_face`` (CelebA-HQ model, Table V)."""

    for suffix, key in (("", imagenet), ("_face", "celeba")):
        guided = key == "imagenet_cond"
        body = dict(name=name + suffix, label=label, model_key=key, __module__=module_name,
                    weights=(MODELS[key], CLASSIFIER) if guided else (MODELS[key],),
                    class_cond=guided, classifier_scale=1.0 if guided else 0.0,
                    release_fp16=imagenet_fp16 and key.startswith("imagenet"),
                    licence=LICENCES[key], **({"release_parity": release_parity} if release_parity else {}),
                    sampler=staticmethod(sampler), sampler_options=dict(options or {}), needs_grad=needs_grad,
                    schedule=schedule or InpaintSchedule, tiny_options=dict(tiny_options or {}))
        register(type(f"{label.replace('-', '')}{suffix.title().replace('_', '')}", (GuidedDiffusionInpainter,), body))


def paste(keep: torch.Tensor, known: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return keep * known + (1 - keep) * x

