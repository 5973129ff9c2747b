"""ResShift's denoiser: a UNet whose attention is shifted-window self-attention (paper Fig. 4).

``UNetSwin(**params)`` takes the parameter names of the released configurations
(``tests/fixtures/official_state_dicts/*.params.yaml``) and produces their state-dict keys.
The network predicts x_0 (Eq. 9) from the scaled state x_t, the timestep index (0..T-1)
and the condition: the LQ image (SR: concatenated as is; inpainting: LQ and mask through a
small strided-conv extractor; face restoration: the 512 LQ through a 3-stage extractor).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import Downsample, GroupNorm32, ResBlock, TimestepSequential, Upsample, timestep_embedding
from .swin import SwinLayer


def _condition_extractor(in_ch: int, stages: int) -> tuple[nn.Module, int]:
    """Stride-2 stages (conv, SiLU, strided conv) bringing the LQ to the latent size."""
    if stages == 0:
        return nn.Identity(), in_ch
    layers: list[nn.Module] = []
    ch, width = in_ch, 16
    for _ in range(stages):
        layers += [nn.Conv2d(ch, width, 3, 1, 1), nn.SiLU(), Downsample(width, 2 * width)]
        ch = width = 2 * width
    return nn.Sequential(*layers), ch


class UNetSwin(nn.Module):
    def __init__(
        self,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int | Sequence[int],
        attention_resolutions: Sequence[int],
        dropout: float = 0.0,
        channel_mult: Sequence[int] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        use_fp16: bool = False,
        num_heads: int = -1,
        num_head_channels: int = -1,
        use_scale_shift_norm: bool = True,
        resblock_updown: bool = False,
        swin_depth: int = 2,
        swin_embed_dim: int = 96,
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        patch_norm: bool = False,
        cond_lq: bool = True,
        cond_mask: bool = False,
        lq_size: int = 256,
        output_skip: bool = False,
        space_to_depth: int = 1,
    ):
        """``output_skip``: add the condition (the bicubic-upsampled LQ, in the output's space) to
        the output, f_theta = y_0 + g_theta (Eq. 9 allows any function of y_0). Used by the tiny
        pixel-space demo networks, which start from bicubic and learn a correction; the released
        networks predict x_0 directly (False). It adds no weights.

        ``space_to_depth`` s > 1: the network works on s x s pixel blocks folded into channels
        (pixel-unshuffle of x_t and of the condition, pixel-shuffle of the output), so a pixel-space
        chain runs at 1/s of the resolution; ``image_size``/``lq_size`` stay in pixels and
        ``attention_resolutions`` refer to the folded maps. The CPU demo networks use it; the
        released networks do not (1)."""
        super().__init__()
        if dims != 2 or not conv_resample or resblock_updown or patch_norm:
            raise ValueError("UNetSwin supports dims=2, conv_resample=True, resblock_updown=False, "
                             "patch_norm=False (the released configurations)")
        if isinstance(num_res_blocks, int):
            num_res_blocks = [num_res_blocks] * len(channel_mult)
        if len(num_res_blocks) != len(channel_mult):
            raise ValueError("num_res_blocks needs one entry per channel_mult level")
        heads = num_heads if num_head_channels == -1 else swin_embed_dim // num_head_channels
        if heads <= 0:
            raise ValueError("set num_heads or num_head_channels")
        self.image_size = image_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.model_channels = model_channels
        self.cond_lq, self.cond_mask = cond_lq, cond_mask
        self.lq_size = lq_size
        self.space_to_depth = s2d = int(space_to_depth)
        if s2d < 1 or image_size % s2d:
            raise ValueError(f"space_to_depth {space_to_depth} must be a positive divisor of image_size {image_size}")
        self.output_skip = output_skip
        # Size multiple of the latent input: every level's Swin window (a block whose map at
        # image_size is no larger than the window takes the whole map as its window, see
        # SwinBlock) and the downsamplings.
        levels = len(channel_mult)
        multiple = 2 ** (levels - 1)
        for level in range(levels):
            res_l = image_size // s2d // 2 ** level
            if res_l in attention_resolutions or level == levels - 1:
                multiple = max(multiple, min(window_size, res_l) * 2 ** level)
        self.size_multiple = multiple * s2d
        self.dtype = torch.float16 if use_fp16 else torch.float32

        emb_dim = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_dim), nn.SiLU(),
                                        nn.Linear(emb_dim, emb_dim))
        cond_ch = 0
        if cond_lq:
            stages = int(round(math.log2(lq_size / image_size)))
            if 2 ** stages * image_size != lq_size:
                raise ValueError(f"lq_size {lq_size} must be image_size {image_size} times a power of 2")
            self.feature_extractor, cond_ch = _condition_extractor((4 if cond_mask else 3) * s2d * s2d, stages)
        self.lq_factor = lq_size // image_size

        def swin(ch: int, res: int) -> SwinLayer:
            return SwinLayer(ch, swin_embed_dim, heads, window_size, swin_depth, res, mlp_ratio)

        ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels * s2d * s2d + cond_ch, ch, 3,
                                                                        padding=1))])
        skip_channels = [ch]
        res = image_size // s2d               # attention_resolutions are feature-map sizes
        for level, mult in enumerate(channel_mult):
            for j in range(num_res_blocks[level]):
                layers: list[nn.Module] = [ResBlock(ch, emb_dim, int(mult * model_channels), dropout,
                                                    use_scale_shift_norm)]
                ch = int(mult * model_channels)
                if res in attention_resolutions and j == 0:
                    layers.append(swin(ch, res))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_channels.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(TimestepSequential(Downsample(ch)))
                skip_channels.append(ch)
                res //= 2

        self.middle_block = TimestepSequential(ResBlock(ch, emb_dim, ch, dropout, use_scale_shift_norm),
                                               swin(ch, res),
                                               ResBlock(ch, emb_dim, ch, dropout, use_scale_shift_norm))

        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks[level] + 1):
                layers = [ResBlock(ch + skip_channels.pop(), emb_dim, int(mult * model_channels), dropout,
                                   use_scale_shift_norm)]
                ch = int(mult * model_channels)
                if res in attention_resolutions and i == 0:
                    layers.append(swin(ch, res))
                if level and i == num_res_blocks[level]:
                    layers.append(Upsample(ch))
                    res *= 2
                self.output_blocks.append(TimestepSequential(*layers))

        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(),
                                 nn.Conv2d(int(channel_mult[0] * model_channels), out_channels * s2d * s2d, 3,
                                           padding=1))
        if output_skip:                         # start at f_theta = y_0 (bicubic)
            nn.init.zeros_(self.out[-1].weight)
            nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, lq: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, in_channels, h, w) scaled state; t: (B,) integer steps; lq: condition.

        h and w must be multiples of ``size_multiple``; lq is ``lq_size / image_size`` times larger.
        """
        if x.shape[-2] % self.size_multiple or x.shape[-1] % self.size_multiple:
            raise ValueError(f"input {tuple(x.shape[-2:])} is not a multiple of {self.size_multiple}; "
                             "pad it (resshift.sampling pads with reflection)")
        emb = self.time_embed(timestep_embedding(t, self.model_channels)).type(self.dtype)
        skip = lq
        if self.output_skip and (lq is None or lq.shape[1:] != (self.out_channels, *x.shape[-2:])):
            raise ValueError("output_skip needs the LQ condition upsampled to the output's size (pixel space)")
        if self.space_to_depth > 1:
            x = F.pixel_unshuffle(x, self.space_to_depth)
        if lq is not None:
            if not self.cond_lq:
                raise ValueError("this network takes no LQ condition")
            if mask is not None:
                if not self.cond_mask:
                    raise ValueError("this network takes no mask")
                lq = torch.cat([lq, mask], dim=1)
            elif self.cond_mask:
                raise ValueError("this inpainting network needs a mask")
            if self.space_to_depth > 1:
                lq = F.pixel_unshuffle(lq, self.space_to_depth)
            x = torch.cat([x, self.feature_extractor(lq.type(self.dtype))], dim=1)
        elif self.cond_lq:
            raise ValueError("this network needs the LQ condition (lq=...)")
        h = x.type(self.dtype)
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        out = self.out(h.type(x.dtype))
        if self.space_to_depth > 1:
            out = F.pixel_shuffle(out, self.space_to_depth)
        return out + skip.to(out.dtype) if self.output_skip else out
