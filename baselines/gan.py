"""x4 GAN/regression restorers of Table II, loaded from their released files by spandrel
(which reads both basicsr's and the older ESRGAN/KAIR key names and infers the architecture).

Parameter counts (Table II): 16.70 M for the RRDB family (RRDBNet, 23 blocks, 64 features),
28.01 M for SwinIR (the large real-world x4 GAN model). Inputs are padded (reflect) to the size
multiple spandrel reads from the file; SwinIR as its release's test script pads (``pad_mode``
"mirror_past" to its window, :func:`swinir_test_padding`), not by spandrel's size requirements.
"""
from __future__ import annotations

from pathlib import Path

import torch

from resshift.errors import ResShiftError

from .base import BASELINES, Restorer, WeightFile, mirror_past_multiple, register, seeded

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
    padded (reflect) to the network's size multiple (spandrel's, read from the file on load)."""

    task, sf = "sr", 4
    pad_multiple = None                             # spandrel's size requirement of the loaded file
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
        if self.pad_multiple is None:
            self.pad_multiple = max(1, desc.size_requirements.multiple_of)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"trainable": self.net}

    @classmethod
    def random_network(cls) -> torch.nn.Module:
        """The released architecture, full size, random weights (RRDBNet, 23 blocks, here)."""
        from spandrel.architectures.ESRGAN import ESRGAN as RRDBNet

        return RRDBNet(in_nc=3, out_nc=3, num_filters=64, num_blocks=23, scale=4)

    @classmethod
    def tiny_network(cls) -> torch.nn.Module:
        """A small network of the same architecture that spandrel still recognises (RRDBNet: 16
        features, 1 block); the full-size one where spandrel needs it (the face networks)."""
        from spandrel.architectures.ESRGAN import ESRGAN as RRDBNet

        return RRDBNet(in_nc=3, out_nc=3, num_filters=16, num_blocks=1, scale=4)

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu", network: torch.nn.Module | None = None):
        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        net = cls.random_network() if network is None else network
        torch.save({"params_ema": net.state_dict()}, path)
        return cls(steps=steps, device=device, weights=str(path))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        with seeded(0):
            net = cls.tiny_network()
        return cls.with_random_weights(folder, device=device, network=net)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        return self.descriptor(lq.to(self.device)).clamp(0, 1)


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

    # As the release's ``main_test_swinir.py`` tests: mirror-pad past the next multiple of the
    # released models' attention window (8; :func:`swinir_test_padding`), keep the top-left x4 crop.
    pad_multiple, pad_mode = 8, "mirror_past"

    @classmethod
    def random_network(cls):
        from spandrel.architectures.SwinIR import SwinIR as Net

        return Net(upscale=4, in_chans=3, img_size=64, window_size=8, img_range=1.0, depths=[6] * 9, embed_dim=240,
                   num_heads=[8] * 9, mlp_ratio=2, upsampler="nearest+conv", resi_connection="3conv")

    @classmethod
    def tiny_network(cls):
        from spandrel.architectures.SwinIR import SwinIR as Net

        return Net(upscale=4, in_chans=3, img_size=16, window_size=8, img_range=1.0, depths=[2], embed_dim=16,
                   num_heads=[2], mlp_ratio=2, upsampler="nearest+conv", resi_connection="3conv")

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        """The network on the padded input (the network itself, not spandrel's padding call)."""
        return self.net(lq.to(self.device)).clamp(0, 1)


def swinir_test_padding(x: torch.Tensor, window: int = 8) -> torch.Tensor:
    """SwinIR's test-time padding (the release's ``main_test_swinir.py``): the descriptor's
    "mirror_past" mode, :func:`baselines.base.mirror_past_multiple`, to the attention window. A
    side shorter than its padding gains only one mirror copy; the network's own reflect padding
    then completes the window, as in the release."""
    return mirror_past_multiple(x, window)
