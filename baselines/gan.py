"""x4 GAN/regression restorers of Table II, loaded from their released files by spandrel
(which reads both basicsr's and the older ESRGAN/KAIR key names and infers the architecture).

Parameter counts (Table II): 16.70 M for the RRDB family (RRDBNet, 23 blocks, 64 features),
28.01 M for SwinIR (the large real-world x4 GAN model). SwinIR is padded as its release's test
script pads (:func:`swinir_test_padding`), not by spandrel's size requirements.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from resshift.errors import ResShiftError

from .base import BASELINES, Restorer, WeightFile, register

RE = "https://github.com/xinntao/Real-ESRGAN/releases/download/"
KAIR = "https://github.com/cszn/KAIR/releases/download/v1.0/"


def load_spandrel(path, method: str, label: str, architecture: str, device, extra: bool = False):
    """spandrel's model descriptor for a released file, checked to hold ``architecture`` (spandrel's
    id; "" accepts any); a file spandrel cannot read is one line naming it."""
    import spandrel

    if extra:
        import spandrel_extra_arches

        spandrel_extra_arches.install(ignore_duplicates=True)         # idempotent
    try:
        desc = spandrel.ModelLoader(device=device).load_from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure to read it is the user's file
        first = (str(exc).splitlines() or ["unsupported layout"])[0][:160]
        raise ResShiftError(f"{method}: {path} is not a loadable {label} file ({type(exc).__name__}: {first})") \
            from None
    if architecture and desc.architecture.id != architecture:
        raise ResShiftError(f"{method}: {path} holds a {desc.architecture.id} network, expected {architecture}")
    return desc


class SpandrelRestorer(Restorer):
    """A network read from its released file by spandrel (the SR ones here; the face and LaMa
    methods subclass it): the detected architecture and scale are checked on load. SR inputs are
    padded (reflect) to the network's size multiple."""

    task, sf = "sr", 4
    implementation = "maintainers"                  # spandrel's copies of the releases' architectures
    architecture = ""                               # spandrel's architecture id, checked on load
    extra = False                                   # needs spandrel_extra_arches (non-commercial arches)

    def load(self) -> None:
        path = self.weight_path(0)
        desc = load_spandrel(path, self.name, self.label, self.architecture, self.device, extra=self.extra)
        if getattr(desc, "scale", self.sf) != self.sf:
            raise ResShiftError(f"{self.name}: {path} is a x{desc.scale} model, expected x{self.sf}")
        self.descriptor = desc.eval()
        self.net = desc.model

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"trainable": self.net}

    @classmethod
    def random_network(cls) -> torch.nn.Module:
        """The released architecture, full size, random weights (RRDBNet, 23 blocks, here)."""
        from spandrel.architectures.ESRGAN import ESRGAN as RRDBNet

        return RRDBNet(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        from pathlib import Path

        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"params_ema": cls.random_network().state_dict()}, path)
        return cls(steps=steps, device=device, weights=str(path))

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        req = self.descriptor.size_requirements
        m = max(1, req.multiple_of)
        h, w = lq.shape[-2:]
        ph, pw = (-h) % m, (-w) % m
        x = lq.to(self.device)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        out = self.descriptor(x)
        return out[..., : h * self.sf, : w * self.sf].clamp(0, 1)


@register
class RealESRGAN(SpandrelRestorer):
    batchable = True
    name, label, architecture = "realesrgan", "RealESRGAN", "ESRGAN"
    licence = "BSD-3-Clause"
    weights = (WeightFile("RealESRGAN_x4plus.pth", RE + "v0.1.0/RealESRGAN_x4plus.pth", size="64 MB", subdir=BASELINES),)


@register
class ESRGAN(SpandrelRestorer):
    batchable = True
    name, label, architecture = "esrgan", "ESRGAN", "ESRGAN"
    licence = "Apache-2.0 (BasicSR release)"
    weights = (WeightFile("ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
                          RE + "v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", size="64 MB", subdir=BASELINES),)


@register
class BSRGAN(SpandrelRestorer):
    batchable = True
    name, label, architecture = "bsrgan", "BSRGAN", "ESRGAN"
    licence = "Apache-2.0"
    weights = (WeightFile("BSRGAN.pth", KAIR + "BSRGAN.pth", size="64 MB", subdir=BASELINES),)


@register
class RealSRJPEG(SpandrelRestorer):
    batchable = True
    name, label, architecture = "realsr_jpeg", "RealSR-JPEG", "ESRGAN"
    licence = "see the release (KAIR redistribution)"
    weights = (WeightFile("RealSR_JPEG.pth", KAIR + "RealSR_JPEG.pth", size="64 MB", subdir=BASELINES),)


@register
class SwinIR(SpandrelRestorer):
    batchable = True
    name, label, architecture = "swinir", "SwinIR", "SwinIR"
    licence = "Apache-2.0"
    weights = (WeightFile("003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth",
                          "https://github.com/JingyunLiang/SwinIR/releases/download/v0.0/"
                          "003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth", size="136 MB", subdir=BASELINES),)

    window = 8                                      # the released models' attention window

    @classmethod
    def random_network(cls):
        from spandrel.architectures.SwinIR import SwinIR as Net

        return Net(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[6] * 9, embed_dim=240,
                   num_heads=[8] * 9, mlp_ratio=2, upsampler="nearest+conv", resi_connection="3conv")

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        """As the release's ``main_test_swinir.py`` tests: mirror-pad past the next window multiple
        (:func:`swinir_test_padding`), run the network, keep the top-left x4 crop, clamp."""
        h, w = lq.shape[-2:]
        out = self.net(swinir_test_padding(lq.to(self.device), self.window))
        return out[..., : h * self.sf, : w * self.sf].clamp(0, 1)


def swinir_test_padding(x: torch.Tensor, window: int = 8) -> torch.Tensor:
    """SwinIR's test-time padding. Each side grows to ``(side // window + 1) * window``, so a side
    that is already a multiple (64) still gains a whole window (64 -> 72); rows then columns are
    filled with the image's mirror (last row first, edge repeated). A side shorter than its padding
    gains only one mirror copy; the network's own reflect padding then completes the window, as
    in the release. Bottom/right only, so the output's top-left crop is the image."""
    for dim in (-2, -1):
        side = x.shape[dim]
        grow = min((side // window + 1) * window - side, side)
        x = torch.cat((x, x.flip(dim).narrow(dim, 0, grow)), dim)
    return x
