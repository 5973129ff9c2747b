"""VQFR v2 (Gu et al., "VQFR: Blind Face Restoration with Vector-Quantized Dictionary and
Parallel Decoder", ECCV 2022) for Tables VI/VII, written here with the keys of the released
``VQFR_v2.pth`` and run as the release's ``inference_vqfr.py -v 2.0`` runs aligned faces.

- Encoder: a VQGAN encoder, 512x512 in [-1, 1] down to a 16x16x256 feature.
- Code selection ("Predict"): LayerNorm + linear layer over the 1,024 codes, arg-max, codebook
  look-up (Sec. 3.2 of the v2 release notes: codes predicted instead of nearest-neighbour).
- Parallel decoder (Sec. 3.3): the texture decoder (a VQGAN decoder on the codes) gives features at
  each of six scales; the main decoder warps them with modulated deformable convolutions whose
  offsets come from the input's features (texture warping module), coarse to fine.
- Output: ``conv_out(texture_level1 + fidelity_ratio * main)``; the release's default ratio is 0
  (``-f``, "0 for the best quality"), option ``fidelity`` here.

Deformable convolution: ``torchvision.ops.deform_conv2d``, as the release calls it. The release
is Apache-2.0 (Tencent ARC), third-party parts under their own licences.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import BASELINES, SingleNetworkRestorer, WeightFile, register, seeded
from .face import AlignedFaceRestorer

V2_CONFIG = dict(base_channels=64, channel_multipliers=(1, 2, 2, 4, 4, 8), num_blocks=2, code_dim=256, num_code=1024,
                 inpfeat_dim=32, deformable_groups=4, latent_size=16)
TINY_CONFIG = dict(base_channels=32, channel_multipliers=(1,) * 6, num_blocks=1, code_dim=32, num_code=16)


def _gn(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, ch, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1, self.conv1 = _gn(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = _gn(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.residual_func = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return self.residual_func(x) + self.conv2(F.silu(self.norm2(h)))


class AttnBlock(nn.Module):
    """Single-head self-attention over the pixels, softmax(q k^T / sqrt(c)) v."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = _gn(ch)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(ch, ch, 1) for _ in range(4))

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (m(y).flatten(2) for m in (self.q, self.k, self.v))
        attn = torch.softmax(torch.einsum("bci,bcj->bij", q, k) * c ** -0.5, dim=2)
        return x + self.proj_out(torch.einsum("bij,bcj->bci", attn, v).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _level_blocks(cin: int, ch: int, n: int, attention: bool, resample: nn.Module | None) -> nn.Sequential:
    blocks: list[nn.Module] = [resample] if resample is not None else []
    for j in range(n):
        blocks.append(ResnetBlock(cin if j == 0 else ch, ch))
        if attention:
            blocks.append(AttnBlock(ch))
    return nn.Sequential(*blocks)


def _mid(ch: int) -> nn.Sequential:
    return nn.Sequential(ResnetBlock(ch, ch), AttnBlock(ch), ResnetBlock(ch, ch))


class VQGANEncoder(nn.Module):
    def __init__(self, base: int, mults, n: int, code_dim: int):
        super().__init__()
        chans = [base * m for m in mults]
        self.conv_in = nn.Conv2d(3, chans[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            _level_blocks(chans[max(i - 1, 0)], chans[i], n, i == len(chans) - 1,
                          Downsample(chans[i - 1]) if i else None) for i in range(len(chans)))
        self.mid_blocks = _mid(chans[-1])
        self.conv_out = nn.Sequential(_gn(chans[-1]), nn.SiLU(), nn.Conv2d(chans[-1], code_dim, 3, padding=1))

    def forward(self, x):
        x = self.conv_in(x)
        for block in self.blocks:
            x = block(x)
        return self.conv_out(self.mid_blocks(x))


class VQGANDecoder(nn.Module):
    def __init__(self, base: int, mults, n: int, code_dim: int):
        super().__init__()
        chans = [base * m for m in mults]
        top = len(chans) - 1
        self.conv_in = nn.Conv2d(code_dim, chans[-1], 3, padding=1)
        self.mid_blocks = _mid(chans[-1])
        self.blocks = nn.ModuleList(
            _level_blocks(chans[min(i + 1, top)], chans[i], n, i == top, Upsample(chans[i + 1]) if i != top else None)
            for i in reversed(range(len(chans))))
        self.conv_out = nn.Sequential(_gn(chans[0]), nn.SiLU(), nn.Conv2d(chans[0], 3, 3, padding=1))

    def features(self, x) -> dict[str, torch.Tensor]:
        """Features after each level, keyed 'Level_<downscale>' (Level_32 ... Level_1)."""
        x = self.mid_blocks(self.conv_in(x))
        out = {}
        for level, block in zip(reversed(range(len(self.blocks))), self.blocks):
            x = block(x)
            out[f"Level_{2 ** level}"] = x
        return out


class DeformConvPack(nn.Module):
    """Modulated deformable 3x3 convolution (DCNv2) whose offsets and masks come from another feature."""

    def __init__(self, ch: int, groups: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(ch, ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(ch))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        self.conv_offset = nn.Conv2d(ch, groups * 3 * 9, 3, padding=1)

    def forward(self, x, feat):
        from torchvision.ops import deform_conv2d

        o1, o2, mask = torch.chunk(self.conv_offset(feat), 3, dim=1)
        return deform_conv2d(x, torch.cat([o1, o2], dim=1), self.weight, self.bias, padding=1, mask=torch.sigmoid(mask))


class TextureWarpingModule(nn.Module):
    def __init__(self, ch: int, cond_ch: int, downscale: int, groups: int, prev_offset_ch: int = 0):
        super().__init__()
        self.downscale = downscale
        self.offset_conv1 = nn.Sequential(nn.Conv2d(ch + cond_ch, ch, 1), _gn(ch), nn.SiLU(),
                                          nn.Conv2d(ch, ch, 7, padding=3, groups=ch), _gn(ch), nn.SiLU(),
                                          nn.Conv2d(ch, ch, 1))
        self.offset_conv2 = nn.Sequential(nn.Conv2d(ch + prev_offset_ch, ch, 3, padding=1), _gn(ch), nn.SiLU())
        self.dcn = DeformConvPack(ch, groups)

    def forward(self, x_main, inpfeat, previous_offset=None):
        h, w = inpfeat.shape[-2:]
        cond = F.interpolate(inpfeat, size=(h // self.downscale, w // self.downscale), mode="bilinear",
                             align_corners=False)
        offset = self.offset_conv1(torch.cat([cond, x_main], dim=1))
        offset = self.offset_conv2(offset if previous_offset is None else torch.cat([offset, previous_offset], dim=1))
        return self.dcn(x_main, offset), offset


class MainDecoder(nn.Module):
    def __init__(self, base: int, mults, cond_ch: int, groups: int):
        super().__init__()
        self.levels = len(mults)
        self.decoder_dict, self.pre_upsample_dict, self.align_func_dict = nn.ModuleDict(), nn.ModuleDict(), \
            nn.ModuleDict()
        for i in reversed(range(self.levels)):
            ch = base * mults[i]
            prev = base * mults[min(i + 1, self.levels - 1)]
            key = f"Level_{2 ** i}"
            if i != self.levels - 1:
                self.pre_upsample_dict[key] = nn.Sequential(nn.UpsamplingNearest2d(scale_factor=2),
                                                            nn.Conv2d(prev, ch, 3, padding=1))
                self.decoder_dict[key] = ResnetBlock(2 * ch, ch)
            self.align_func_dict[key] = TextureWarpingModule(ch, cond_ch, 2 ** i, groups,
                                                             0 if i == self.levels - 1 else prev)

    def forward(self, texture: dict[str, torch.Tensor], inpfeat, fidelity_ratio: float):
        top = f"Level_{2 ** (self.levels - 1)}"
        x, offset = self.align_func_dict[top](texture[top], inpfeat)
        for i in reversed(range(self.levels - 1)):
            key = f"Level_{2 ** i}"
            x = self.pre_upsample_dict[key](x)
            up = F.interpolate(offset, scale_factor=2, mode="bilinear", align_corners=False) * 2
            warped, offset = self.align_func_dict[key](texture[key], inpfeat, previous_offset=up)
            x = self.decoder_dict[key](torch.cat([x, warped], dim=1))
        return texture["Level_1"] + fidelity_ratio * x


class Codebook(nn.Module):
    def __init__(self, num_code: int, code_dim: int, size: int):
        super().__init__()
        self.size = size
        self.embedding = nn.Embedding(num_code, code_dim)

    def lookup(self, indices):                                    # (b, h*w) -> (b, c, h, w)
        q = self.embedding(indices)
        return q.transpose(1, 2).reshape(len(indices), -1, self.size, self.size)


class VQFRv2Net(nn.Module):
    def __init__(self, base_channels=64, channel_multipliers=(1, 2, 2, 4, 4, 8), num_blocks=2, code_dim=256,
                 num_code=1024, inpfeat_dim=32, deformable_groups=4, latent_size=16):
        super().__init__()
        b, m = base_channels, channel_multipliers
        self.encoder = VQGANEncoder(b, m, num_blocks, code_dim)
        self.feat2index = nn.Sequential(nn.LayerNorm(code_dim), nn.Linear(code_dim, num_code))
        self.decoder = VQGANDecoder(b, m, num_blocks, code_dim)
        self.main_branch = MainDecoder(b, m, inpfeat_dim, deformable_groups)
        self.inpfeat_extraction = nn.Conv2d(3, inpfeat_dim, 3, padding=1)
        self.quantizer = Codebook(num_code, code_dim, latent_size)

    def forward(self, x, fidelity_ratio: float = 0.0):
        inpfeat = self.inpfeat_extraction(x)
        logits = self.feat2index(self.encoder(x).flatten(2).transpose(1, 2))     # (b, h*w, codes)
        texture = self.decoder.features(self.quantizer.lookup(logits.argmax(-1)))
        return self.decoder.conv_out(self.main_branch(texture, inpfeat, fidelity_ratio))


@register
class VQFR(AlignedFaceRestorer, SingleNetworkRestorer):
    name, label = "vqfr", "VQFR"
    implementation = "ours"
    release_parity = "tests/test_parity_vqfr.py::test_vqfr_v2_matches_release"
    licence = "Apache-2.0 (Tencent ARC release; third-party parts under their own licences)"
    weights = (WeightFile("VQFR_v2.pth", "https://github.com/TencentARC/VQFR/releases/download/v2.0.0/VQFR_v2.pth",
                          size="~334 MB (83.49 M fp32 parameters)", subdir=BASELINES),)
    wrapper, network_kind = "params_ema", "a VQFR v2 model"

    @classmethod
    def build_network(cls, options):
        return VQFRv2Net(**dict(V2_CONFIG, **options.get("config", {})))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """The release's ``params_ema`` file of a narrow network (option ``config``: TINY_CONFIG)."""
        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        with seeded(0):
            torch.save({"params_ema": VQFRv2Net(**TINY_CONFIG).state_dict()}, path)
        return cls(device=device, weights=str(path), config=TINY_CONFIG)

    def restore_faces(self, x11, generator):
        return self.net(x11, fidelity_ratio=float(self.options.get("fidelity", 0.0)))
