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

from pathlib import Path

import torch

from resshift.errors import ResShiftError

from .base import Restorer, WeightFile, register

GFPGAN_RELEASE = "https://github.com/TencentARC/GFPGAN/releases/download/"


def load_spandrel(method: Restorer, path: Path, architecture: str, extra: bool = False):
    """Read a released file with spandrel (and its extra architectures when ``extra``); check the
    architecture it detected."""
    import spandrel

    if extra:
        import spandrel_extra_arches

        spandrel_extra_arches.install(ignore_duplicates=True)         # idempotent
    try:
        desc = spandrel.ModelLoader(device=method.device).load_from_file(str(path))
    except Exception as exc:
        first = (str(exc).splitlines() or ["unsupported layout"])[0][:160]
        raise ResShiftError(f"{method.name}: {path} is not a loadable {method.label} file "
                            f"({type(exc).__name__}: {first})") from None
    if desc.architecture.id != architecture:
        raise ResShiftError(f"{method.name}: {path} holds a {desc.architecture.id} network, expected {architecture}")
    return desc.eval()


class SpandrelFaceRestorer(Restorer):
    task, sf = "face", 1
    architecture = ""
    extra = False

    def load(self) -> None:
        self.descriptor = load_spandrel(self, self.weight_path(0), self.architecture, self.extra)
        self.net = self.descriptor.model

    def modules(self):
        return {"trainable": self.net}

    @classmethod
    def random_network(cls) -> torch.nn.Module:
        raise NotImplementedError

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu"):
        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"params_ema": cls.random_network().state_dict()}, path)
        return cls(steps=steps, device=device, weights=str(path))

    def forward(self, x11: torch.Tensor) -> torch.Tensor:
        """[-1, 1] in, [-1, 1] out (the released inference's convention)."""
        raise NotImplementedError

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        if lq.shape[-2:] != (512, 512):
            raise ResShiftError(f"{self.name}: expects aligned 512x512 faces, got {tuple(lq.shape[-2:])}")
        seed = int(torch.randint(2 ** 31 - 1, (1,), generator=generator)) if generator is not None else 0
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):                  # network-internal noise, seeded per call
            torch.manual_seed(seed)
            out = self.forward(lq.to(self.device) * 2 - 1)
        return ((out.clamp(-1, 1) + 1) / 2).float()


@register
class GFPGAN(SpandrelFaceRestorer):
    name, label, architecture = "gfpgan", "GFPGAN", "GFPGAN"
    licence = "Apache-2.0 (code; the weights' third-party parts under their own terms)"
    weights = (WeightFile("GFPGANv1.3.pth", GFPGAN_RELEASE + "v1.3.0/GFPGANv1.3.pth", size="332 MB"),)

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
    weights = (WeightFile("RestoreFormer.pth", GFPGAN_RELEASE + "v1.3.4/RestoreFormer.pth", size="290 MB"),)

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
                          "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth", size="377 MB"),)

    @classmethod
    def random_network(cls):
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as Net

        return Net(connect_list=["32", "64", "128", "256"])

    def forward(self, x11):
        return self.net(x11, weight=float(self.options.get("w", 0.5)))[0]
