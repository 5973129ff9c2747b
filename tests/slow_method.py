"""A registered test method that is slow and draws noise from its generator: restoring it can be
interrupted mid-way, and its outputs depend on each image's seed (``tests/test_run_scale.py``)."""
from __future__ import annotations

import os
import time

import torch
import torch.nn.functional as F

from baselines.base import Restorer, register


@register
class SlowNoisy(Restorer):
    name, task, label, sf = "slow_noisy", "sr", "Slow noisy (test)", 2

    def restore(self, lq, mask=None, generator=None):
        time.sleep(float(os.environ.get("SLOW_NOISY_SECONDS", "0.3")))
        log = os.environ.get("SLOW_NOISY_LOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{lq.shape[0]}\n")
        up = F.interpolate(lq, scale_factor=self.sf, mode="nearest")
        noise = torch.rand(up.shape, generator=generator)
        return (0.5 * up + 0.5 * noise).clamp(0, 1)
