"""PSFR-GAN (Chen et al., "Progressive Semantic-Aware Style Transformation for Blind Face
Restoration", CVPR 2021) for Tables VI/VII, written here with the release's key names and run
as its aligned-face script does (``test_enhance_dir_align.py``):

1. the face-parsing network (``parse_multi_iter_90000.pth``) maps the LQ face ([-1, 1]) to 19
   parsing logits; their arg-max one-hot map is the semantic prior;
2. the generator (``psfrgan_epoch15_net_G.pth``) starts from a learned 16x16 constant and, at each
   of five x2 stages, modulates instance-normalised features with SPADE (Park et al. 2019,
   Eq. 1: IN(x) * gamma(ref) + beta(ref)) from [LQ, parsing map] resized to the stage
   (bicubic), ending with a 3x3 convolution to RGB in [-1, 1]. Its convolutions carry spectral
   normalisation (the release saves ``weight_orig``/``weight_u``/``weight_v``).

Licence: CC BY-NC-SA 4.0 (the release).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from resshift.errors import ResShiftError
from resshift.weights import load_checkpoint, read_state_dict

from .base import BASELINES, WeightFile, register, seeded
from .face import AlignedFaceRestorer

RELEASE = "https://github.com/chaofengc/PSFRGAN/releases/download/v0.1.0/"
PARSING_CLASSES = 19


# -- face parsing network (the release's ParseNet: in/out 512, bottleneck 32x32, channels 32..256) --------
class _Norm(nn.Module):
    def __init__(self, channels: int, kind: str):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels) if kind == "bn" else nn.Identity()

    def forward(self, x):
        return self.norm(x)


class ConvLayer(nn.Module):
    """Reflect-padded 3x3 convolution; optional nearest x2 before it or stride 2; norm; activation."""

    def __init__(self, cin: int, cout: int, scale: str = "none", norm: str = "none", act: bool = False):
        super().__init__()
        self.scale, self.act = scale, act
        self.conv2d = nn.Conv2d(cin, cout, 3, 2 if scale == "down" else 1, bias=norm != "bn")
        self.norm = _Norm(cout, norm)

    def forward(self, x):
        if self.scale == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.norm(self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect")))
        return F.leaky_relu(x, 0.2) if self.act else x


class ResidualBlock(nn.Module):
    def __init__(self, cin: int, cout: int, scale: str = "none"):
        super().__init__()
        self.shortcut_func = None if scale == "none" and cin == cout else ConvLayer(cin, cout, scale)
        first, second = {"down": ("none", "down"), "up": ("up", "none"), "none": ("none", "none")}[scale]
        self.conv1 = ConvLayer(cin, cout, first, "bn", act=True)
        self.conv2 = ConvLayer(cout, cout, second, "bn")

    def forward(self, x):
        identity = x if self.shortcut_func is None else self.shortcut_func(x)
        return identity + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    def __init__(self, size: int = 512, min_feat: int = 32, base: int = 64, depth: int = 10,
                 ch_range: tuple[int, int] = (32, 256)):
        super().__init__()
        clip = lambda c: max(ch_range[0], min(c, ch_range[1]))  # noqa: E731
        steps = (size // min_feat).bit_length() - 1
        enc: list[nn.Module] = [ConvLayer(3, base)]
        ch = base
        for _ in range(steps):
            enc.append(ResidualBlock(clip(ch), clip(ch * 2), "down"))
            ch *= 2
        self.encoder = nn.Sequential(*enc)
        self.body = nn.Sequential(*[ResidualBlock(clip(ch), clip(ch)) for _ in range(depth)])
        dec = []
        for _ in range(steps):
            dec.append(ResidualBlock(clip(ch), clip(ch // 2), "up"))
            ch //= 2
        self.decoder = nn.Sequential(*dec)
        self.out_img_conv = ConvLayer(clip(ch), 3)
        self.out_mask_conv = ConvLayer(clip(ch), PARSING_CLASSES)

    def forward(self, x):
        feat = self.encoder(x)
        x = self.decoder(feat + self.body(feat))
        return self.out_mask_conv(x), self.out_img_conv(x)


# -- the PSFR generator ----------------------------------------------------------------------------------
class SPADENorm(nn.Module):
    """IN(x) * gamma(ref) + beta(ref) (Park et al. 2019, Eq. 1); ref resized to x by bicubic."""

    def __init__(self, channels: int, ref_channels: int, hidden: int = 64):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(ref_channels, hidden, 3, 1, 1), nn.LeakyReLU(0.2))
        self.gamma_conv = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.beta_conv = nn.Conv2d(hidden, channels, 3, 1, 1)

    def forward(self, x, ref):
        if ref.shape[-1] != x.shape[-1]:
            ref = F.interpolate(ref, x.shape[2:], mode="bicubic", align_corners=False)
        act = self.conv1(ref)
        return F.instance_norm(x) * self.gamma_conv(act) + self.beta_conv(act)


class SPADEResBlock(nn.Module):
    def __init__(self, channels: int, ref_channels: int):
        super().__init__()
        self.conv_0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm_0 = SPADENorm(channels, ref_channels)
        self.norm_1 = SPADENorm(channels, ref_channels)

    def forward(self, x, ref):
        res = self.conv_0(F.leaky_relu(self.norm_0(x, ref), 0.2))
        return x + self.conv_1(F.leaky_relu(self.norm_1(res, ref), 0.2))


class PSFRGenerator(nn.Module):
    def __init__(self, out_size: int = 512, min_feat: int = 16, ch_range: tuple[int, int] = (32, 1024),
                 spectral_norm: bool = True):
        super().__init__()
        clip = lambda c: max(ch_range[0], min(c, ch_range[1]))  # noqa: E731
        ref_ch = 3 + PARSING_CLASSES
        ch = clip(1024 * 16 // min_feat)
        self.const_input = nn.Parameter(torch.randn(1, ch, min_feat, min_feat))
        self.head = nn.Sequential(nn.Conv2d(ch, ch, 3, padding=1), SPADEResBlock(ch, ref_ch))
        body = []
        for _ in range((out_size // min_feat).bit_length() - 1):
            cin, cout = clip(ch), clip(ch // 2)
            body.append(nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(cin, cout, 3, padding=1),
                                      SPADEResBlock(cout, ref_ch)))
            ch //= 2
        self.body = nn.Sequential(*body)
        self.img_out = nn.Conv2d(clip(ch), 3, 3, padding=1)
        if spectral_norm:                                   # as the release trains and saves it
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.utils.spectral_norm(m)

    @staticmethod
    def _run(seq, x, ref):
        for m in seq:
            x = m(x, ref) if isinstance(m, SPADEResBlock) else m(x)
        return x

    def forward(self, lq: torch.Tensor, parsing: torch.Tensor) -> torch.Tensor:
        ref = torch.cat([lq, parsing], dim=1)
        feat = self._run(self.head, self.const_input.expand(len(lq), -1, -1, -1), ref)
        for stage in self.body:
            feat = self._run(stage, feat, ref)
        return self.img_out(feat)


@torch.no_grad()
def settle_spectral_norms(net: nn.Module, iters: int = 30) -> nn.Module:
    """Power iterations on each spectrally normalised weight (what training leaves in ``weight_u``,
    ``weight_v``), for networks built here with random weights."""
    for m in net.modules():
        if hasattr(m, "weight_orig"):
            w = m.weight_orig.flatten(1)
            u, v = m.weight_u, m.weight_v
            for _ in range(iters):
                v = F.normalize(w.t() @ u, dim=0)
                u = F.normalize(w @ v, dim=0)
            m.weight_u.copy_(u)
            m.weight_v.copy_(v)
    return net


def one_hot_parsing(logits: torch.Tensor) -> torch.Tensor:
    """The release's prior: 1 where a class's logit equals the maximum over classes."""
    return (logits == logits.max(dim=1, keepdim=True)[0]).to(logits.dtype)


@register
class PSFRGAN(AlignedFaceRestorer):
    name, label = "psfrgan", "PSFRGAN"
    implementation = "ours"
    release_parity = "tests/test_parity_psfrgan.py::test_psfrgan_matches_release"
    licence = "CC BY-NC-SA 4.0"
    weights = (WeightFile("psfrgan_epoch15_net_G.pth", RELEASE + "psfrgan_epoch15_net_G.pth",
                          size="~184 MB (45.96 M fp32 parameters)", subdir=BASELINES),
               WeightFile("parse_multi_iter_90000.pth", RELEASE + "parse_multi_iter_90000.pth",
                          size="~85 MB (21.30 M fp32 parameters)", subdir=BASELINES))

    def load(self) -> None:
        self.generator, self.parser = PSFRGenerator(), ParseNet()
        for net, index, what in ((self.generator, 0, "PSFR generator"), (self.parser, 1, "face-parsing network")):
            path = Path(self.options.get("parse_net")) if index == 1 and self.options.get("parse_net") else \
                self.weight_path(index)
            if not path.is_file():
                raise ResShiftError(f"{self.name}: {what} file {path} not found")
            try:
                state = read_state_dict(path)
                # The release loads its generator non-strictly; files from its earlier code also carry
                # per-scale RGB heads (``to_rgb.*``) that the released generator does not use.
                load_checkpoint(net, {k: v for k, v in state.items() if not k.startswith("to_rgb.")})
            except ResShiftError as exc:
                raise ResShiftError(f"{self.name}: {path} is not the release's {what} ({exc})") from None
        self.generator = self.generator.to(self.device).eval()
        self.parser = self.parser.to(self.device).eval()

    def modules(self):
        return {"trainable": self.generator, "frozen_parser": self.parser}

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        gen, parse = cls.files_in(folder)[:2]
        torch.save(settle_spectral_norms(PSFRGenerator()).state_dict(), gen)     # bare state dicts, as released
        torch.save(ParseNet().state_dict(), parse)
        return cls(steps=steps, device=device, weights=str(gen), parse_net=str(parse))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """Full size (its loader builds the released layout): random weights saved as released."""
        with seeded(0):
            return cls.with_random_weights(folder, device=device)

    def restore_faces(self, x11, generator):
        return self.generator(x11, one_hot_parsing(self.parser(x11)[0]))
