"""The floors: bicubic upsampling for the SR tables (torch bicubic, no antialias, clamped), the LQ
input itself for the face tables."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Restorer, register


@register
class Bicubic(Restorer):
    name, task, label, sf = "bicubic", "sr", "Bicubic", 4
    batchable = True
    implementation = "none"

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        out = F.interpolate(lq.to(self.device), scale_factor=self.sf, mode="bicubic", align_corners=False)
        return out.clamp(0, 1)


@register
class LQInput(Restorer):
    """The degraded input itself: the floor of the face tables (what a restorer must improve on)."""

    name, task, label, sf = "lq_input", "face", "LQ input", 1
    batchable = True
    implementation = "none"

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        return lq.to(self.device).clamp(0, 1)
