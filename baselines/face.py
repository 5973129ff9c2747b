"""Blind face restoration baselines of Tables VI/VII on aligned 512x512 faces, loaded from their
released files by spandrel (CodeFormer by spandrel_extra_arches) and run as the releases'
inference scripts do: input normalised to [-1, 1], output mapped back from [-1, 1].

- ``gfpgan``: GFPGAN v1.3 (GFPGANv1Clean; its StyleGAN2 decoder draws noise, seeded here from
  the sample's generator); Apache-2.0 code, weights under the release's terms.
- ``restoreformer``: RestoreFormer (the file GFPGAN's release redistributes); Apache-2.0.
- ``codeformer``: CodeFormer with fidelity weight w = 0.5 (option ``w``); S-Lab License 1.0
  (non-commercial), as is spandrel_extra_arches' copy of its architecture.
"""
from __future__ import annotations

import abc

import torch

from .base import BASELINES, Restorer, WeightFile, register
from .gan import SpandrelRestorer

GFPGAN_RELEASE = "https://github.com/TencentARC/GFPGAN/releases/download/"


class AlignedFaceRestorer(Restorer):
    """A blind-face method on aligned 512x512 faces (the descriptor's ``fixed_size``: other sizes
    are refused before ``restore``), run in the releases' [-1, 1] convention: ``restore`` maps to
    [-1, 1], calls :meth:`restore_faces` and maps back."""

    task, sf = "face", 1
    fixed_size, fixed_size_what, pad_multiple = (512, 512), "aligned faces", 1

    @abc.abstractmethod
    def restore_faces(self, x11: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """(B, 3, 512, 512) in [-1, 1] on the method's device -> the same shape in [-1, 1]."""

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        out = self.restore_faces(lq.to(self.device) * 2 - 1, generator)
        return ((out.clamp(-1, 1) + 1) / 2).float()


class SpandrelFaceRestorer(AlignedFaceRestorer, SpandrelRestorer):
    """A face network read by spandrel; its internal noise (GFPGAN's decoder) is seeded per call."""

    @abc.abstractmethod
    def forward(self, x11: torch.Tensor) -> torch.Tensor:
        """[-1, 1] in, [-1, 1] out (the released inference's convention); each method calls its network."""

    @classmethod
    def tiny_network(cls):
        """Full size: spandrel recognises these architectures only at the released sizes."""
        return cls.random_network()

    def restore_faces(self, x11, generator):
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 0
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):                  # network-internal noise, seeded per call
            torch.manual_seed(seed)
            return self.forward(x11)


@register
class GFPGAN(SpandrelFaceRestorer):
    name, label, architecture = "gfpgan", "GFPGAN", "GFPGAN"
    licence = "Apache-2.0 (code; the weights' third-party parts under their own terms)"
    weights = (WeightFile("GFPGANv1.3.pth", GFPGAN_RELEASE + "v1.3.0/GFPGANv1.3.pth", size="332 MB", subdir=BASELINES),)

    @classmethod
    def random_network(cls):
        from spandrel.architectures.GFPGAN import GFPGAN as Net

        return Net(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                   num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)

    def forward(self, x11):
        return self.net(x11, return_rgb=False)[0]


@register
class RestoreFormer(SpandrelFaceRestorer):
    name, label, architecture = "restoreformer", "RestoreFormer", "RestoreFormer"
    licence = "Apache-2.0"
    weights = (WeightFile("RestoreFormer.pth", GFPGAN_RELEASE + "v1.3.4/RestoreFormer.pth", size="290 MB", subdir=BASELINES),)

    @classmethod
    def random_network(cls):
        from spandrel.architectures.RestoreFormer import RestoreFormer as Net

        return Net()

    def forward(self, x11):
        return self.net(x11)[0]


@register
class CodeFormer(SpandrelFaceRestorer):
    name, label, architecture, extra = "codeformer", "CodeFormer", "CodeFormer", True
    licence = "S-Lab License 1.0 (non-commercial)"
    weights = (WeightFile("codeformer.pth",
                          "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth", size="377 MB", subdir=BASELINES),)

    @classmethod
    def random_network(cls):
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as Net

        return Net(connect_list=["32", "64", "128", "256"])

    def forward(self, x11):
        return self.net(x11, weight=float(self.options.get("w", 0.5)))[0]
