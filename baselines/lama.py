"""LaMa (Suvorov et al., WACV 2022), Apache-2.0; known pixels are kept (the network's own
composition, applied again here).

- ``lama`` (Table IV): the Places ``big-lama`` model, read by spandrel from the converted
  ``big-lama.pt`` (the state dict lama-cleaner redistributes).
- ``lama_face`` (Table V): the CelebA-HQ ``lama-fourier`` model, the release's Lightning
  checkpoint ``lama-celeba-hq/lama-fourier/models/best.ckpt`` read as it is: its ``generator.*``
  weights go into spandrel's FFC-ResNet generator with the checkpoint's number of residual
  blocks (9 here, 18 in big-lama; config ``ffc_resnet_075``) and width.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

from resshift.errors import ResShiftError
from resshift.weights import load_checkpoint

from .base import BASELINES, Restorer, WeightFile, register, seeded
from .gan import SpandrelRestorer

LAMA_CELEBA = "https://huggingface.co/camenduru/big-lama/resolve/main/lama-celeba-hq/lama-fourier/models/best.ckpt"


def _inpaint(method, net, lq: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Run a LaMa network ``net(image, mask)`` one image at a time (inputs padded by the descriptor)."""
    lq, mask = lq.to(method.device), mask.to(method.device)
    out = torch.cat([net(lq[i:i + 1], mask[i:i + 1]) for i in range(len(lq))])
    return (mask * out + (1 - mask) * lq).clamp(0, 1)


@register
class LaMa(SpandrelRestorer):
    name, task, label, sf, architecture = "lama", "inpaint", "LaMa", 1, "LaMa"
    pad_multiple = 8                   # reflect-padded to a multiple of 8, as lama-cleaner runs big-lama
    licence = "Apache-2.0"
    weights = (WeightFile("big-lama.pt", "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
                          size="205 MB", subdir=BASELINES),)

    @classmethod
    def random_network(cls):
        from spandrel.architectures.LaMa import LaMa as Net

        return Net(in_nc=4, out_nc=3)

    @classmethod
    def tiny_network(cls):
        """Full size: spandrel recognises big-lama's layout only (18 blocks)."""
        return cls.random_network()

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        return _inpaint(self, self.descriptor, lq, mask)


class _Inert:
    """Stands for a class a Lightning checkpoint pickles besides tensors (its hyper-parameters'
    omegaconf objects, callbacks' states): created without that class's code, its state kept as data."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state


_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def read_lightning_checkpoint(path: Path, max_classes: int = 64) -> dict:
    """The ``state_dict`` of a PyTorch Lightning checkpoint, read by torch's weights-only loader.
    Each class the file names beyond tensors (it refuses them one at a time) is admitted as an
    inert stand-in of the same name, so no code from the file or its libraries runs; globals of
    modules torch blocks (``os``, ``subprocess``, ...) stay refused."""
    stand_ins: list[type] = []
    for _ in range(max_classes):
        try:
            with torch.serialization.safe_globals(stand_ins):
                obj = torch.load(path, map_location="cpu", weights_only=True)
            break
        except pickle.UnpicklingError as exc:
            found = _UNSUPPORTED_GLOBAL.search(str(exc))
            if not found:                                   # e.g. a global of a module torch blocks (os, ...)
                why = next((ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln), "unreadable")
                raise ResShiftError(f"{path}: not a checkpoint to read ({why[:160]})") from None
            module, _, name = found.group(1).rpartition(".")
            stand_ins.append(type(name, (_Inert,), {"__module__": module, "__qualname__": name}))
        except Exception as exc:  # noqa: BLE001 - any other failure to read it is the user's file
            raise ResShiftError(f"{path}: cannot be read as a checkpoint ({type(exc).__name__})") from None
    else:
        raise ResShiftError(f"{path}: pickles more than {max_classes} classes besides tensors; not a checkpoint")
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ResShiftError(f"{path}: holds no state dict (expected a Lightning checkpoint with 'state_dict')")
    return state


def lama_generator(n_blocks: int, ngf: int = 64) -> torch.nn.Module:
    """LaMa's FFC-ResNet generator (``ffc_resnet_075``: 4 -> 3 channels, ``ngf`` = 64 features, 3
    downsamplings, ``n_blocks`` fast-Fourier residual blocks, global ratio 0.75) inside spandrel's
    masking wrapper."""
    from spandrel.architectures.LaMa import LaMa as Wrapper
    from spandrel.architectures.LaMa.__arch.LaMa import FFCResNetGenerator

    net = Wrapper(in_nc=4, out_nc=3)
    net.model = FFCResNetGenerator(4, 3, ngf=ngf, n_blocks=n_blocks)
    return net


@register
class LaMaCelebAHQ(Restorer):
    name, task, label, sf = "lama_face", "inpaint", "LaMa", 1
    pad_multiple = 8
    implementation = "ours"            # spandrel's FFC blocks, but the generator's depth and key mapping are ours
    release_parity = "tests/test_parity_lama.py::test_lama_fourier_matches_release"
    licence = "Apache-2.0"
    weights = (WeightFile("lama-celeba-hq-fourier-best.ckpt", LAMA_CELEBA,
                          size="Lightning checkpoint: generator (27.05 M, ~108 MB fp32), discriminator and training "
                               "state; the authors' Google Drive folder lama-celeba-hq/lama-fourier, mirrored here", subdir=BASELINES),)

    def load(self) -> None:
        path = self.weight_path(0)
        state = read_lightning_checkpoint(path)
        gen = {"model." + k[len("generator."):]: v for k, v in state.items() if k.startswith("generator.")}
        blocks = {int(m.group(1)) for k in gen if (m := re.match(r"model\.model\.(\d+)\.conv1\.", k))}
        if not blocks:
            raise ResShiftError(f"{self.name}: {path} holds no LaMa FFC-ResNet generator (no 'generator.model.*.conv1' "
                                "weights); expected lama-celeba-hq/lama-fourier/models/best.ckpt")
        first = gen.get("model.model.1.ffc.convl2l.weight")            # (ngf, 4, 7, 7): the first convolution
        self.net = lama_generator(len(blocks), ngf=int(first.shape[0]) if first is not None else 64)

        try:
            load_checkpoint(self.net, gen)
        except ResShiftError as exc:
            raise ResShiftError(f"{self.name}: {path}: {exc}") from None
        self.net = self.net.to(self.device).eval()

    def modules(self):
        return {"trainable": self.net}

    @classmethod
    def with_random_weights(cls, folder, steps=None, device="cpu", n_blocks: int = 9):
        """The release's layout: a Lightning checkpoint whose ``state_dict`` holds ``generator.*``
        (and the discriminator's weights), plus pickled hyper-parameters."""
        path = Path(folder) / cls.weights[0].file
        path.parent.mkdir(parents=True, exist_ok=True)
        gen = lama_generator(n_blocks).state_dict()
        state = {"generator." + k[len("model."):]: v for k, v in gen.items()}
        state["discriminator.model0.0.weight"] = torch.zeros(64, 3, 4, 4)
        torch.save({"state_dict": state, "epoch": 40, "hyper_parameters": {"config": _LightningConfig()}}, path)
        return cls(steps=steps, device=device, weights=str(path))

    @classmethod
    def tiny(cls, folder, device="cpu"):
        """The release's layout with a 2-block generator (the loader reads the depth from the file)."""
        with seeded(0):
            return cls.with_random_weights(folder, device=device, n_blocks=2)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        return _inpaint(self, self.net, lq, mask)


class _LightningConfig:
    """Stands for the omegaconf object a Lightning checkpoint pickles (for files written by
    :meth:`LaMaCelebAHQ.with_random_weights`; the safe loader refuses it, as it refuses the release's)."""

    def __init__(self):
        self.generator = {"kind": "ffc_resnet", "n_blocks": 9}
