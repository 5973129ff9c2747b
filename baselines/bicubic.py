"""Bicubic upsampling: the floor every SR table needs (torch bicubic, no antialias, clamped)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Restorer, register


@register
class Bicubic(Restorer):
    name, task, label, sf = "bicubic", "sr", "Bicubic", 4

    @torch.no_grad()
    def restore(self, lq, mask=None, generator=None):
        out = F.interpolate(lq.to(self.device), scale_factor=self.sf, mode="bicubic", align_corners=False)
        return out.clamp(0, 1)
