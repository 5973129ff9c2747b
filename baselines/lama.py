"""LaMa (Suvorov et al., WACV 2022): the big-lama model, read by spandrel from the converted
``big-lama.pt`` (the state dict lama-cleaner redistributes), Apache-2.0. spandrel pads the input
to a multiple of 8; known pixels are kept (the network's own composition, applied again here).
"""
from __future__ import annotations

import torch

from .base import WeightFile, register
from .gan import SpandrelRestorer


@register
class LaMa(SpandrelRestorer):
    name, task, label, sf, architecture = "lama", "inpaint", "LaMa", 1, "LaMa"
    licence = "Apache-2.0"
    weights = (WeightFile("big-lama.pt", "https://github.com/Sanster/models/releases/download/add_big_lama/big-lama.pt",
                          size="205 MB"),)

    @classmethod
    def random_network(cls):
        from spandrel.architectures.LaMa import LaMa as Net

        return Net(in_nc=4, out_nc=3)

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        if mask is None:
            from resshift.errors import ResShiftError

            raise ResShiftError("lama: inpainting needs a mask (1 = hole)")
        x, m = lq.to(self.device), mask.to(self.device)
        out = torch.cat([self.descriptor(x[i:i + 1], m[i:i + 1]) for i in range(len(x))])   # spandrel: one image a call
        return m * out + (1 - m) * x
