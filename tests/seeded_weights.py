"""Deterministic random weights for networks too large to store as fixtures (the IDS ArcFace
ResNet is 70 MB, the LMD alignment FAN ~100 MB): every floating tensor of a state dict is drawn
from one seeded ``torch.Generator`` in sorted key order, scaled so activations stay O(1). The
same function built the weights that the reference scripts ran with; ``checksum`` confirms a
rebuild is bit-identical before numbers are compared."""
from __future__ import annotations

import hashlib

import torch


def seeded_state_dict(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, ref in sorted(module.state_dict().items()):
        if not ref.is_floating_point():              # num_batches_tracked
            out[key] = ref.clone()
            continue
        shape = ref.shape
        if key.endswith("running_var"):
            t = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith(("running_mean", "bias")):
            t = 0.1 * torch.randn(shape, generator=gen)
        elif ref.ndim >= 2:                          # conv / linear: variance 1 / fan_in
            t = torch.randn(shape, generator=gen) / (ref[0].numel() ** 0.5)
        else:                                        # BN scale, PReLU slope
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        out[key] = t.to(ref.dtype)
    return out


def checksum(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
