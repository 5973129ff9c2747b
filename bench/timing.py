"""Seconds per image and parameter counts of a method: ``results/timing/<method>-<steps>.json``.

Protocol (paper Table II): x4 SR 64 -> 256; batch 64 on a GPU, the configured batch on the CPU
(recorded). Runtime does not depend on weight values, so missing weights are replaced by random
ones (recorded). Parameters: trainable (the denoiser) and frozen (the autoencoder) apart.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from resshift.errors import ResShiftError

# Method names of the tables (bench/tables.yaml) that are ResShift configurations.
RESSHIFT_METHODS = {"resshift": "v3", "resshift_v1": "v1", "resshift_v2": "v2", "resshift_bicsr": "bicsr",
                    "resshift_inpaint_imagenet": "inpaint_imagenet", "resshift_inpaint_face": "inpaint_face",
                    "resshift_faceir": "faceir", "resshift_tiny": "tiny"}


def count_params(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def _resshift_model(method: str):
    from resshift.config import build_model, load_config

    if method not in RESSHIFT_METHODS:
        raise ResShiftError(f"no timing recipe for method {method!r}; known: {', '.join(RESSHIFT_METHODS)}")
    cfg = load_config(RESSHIFT_METHODS[method])
    try:
        model, weights = build_model(cfg, allow_download=False), "released"
    except ResShiftError:
        model, weights = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False), "random (weights missing)"
    return model, weights


def _timed(call, dev: torch.device, warmup: int, repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls after ``warmup`` untimed ones (CUDA synchronised)."""
    def once():
        call()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return times


def time_baseline(method: str, *, steps: int | None = None, device: str = "cpu", batch_size: int | None = None,
                  size: int = 64, repeats: int = 3, warmup: int = 1, models: str | Path = "results/models",
                  options: dict | None = None) -> dict:
    """Time a registered baseline's ``restore`` (released weights, or a random-weight stand-in
    in the release's format when they are absent)."""
    import tempfile

    import baselines as B

    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ResShiftError("--device cuda: no CUDA device is available here")
    batch = batch_size or (64 if dev.type == "cuda" else 1)
    name, trained = B.run_options(method, models, options)        # NAME@RUN: the run's own weights
    cls = B.get(name)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            restorer = cls(steps=steps, device=device, **trained)
            weights = f"trained run {method.partition('@')[2]}" if "@" in method else "released"
        except ResShiftError:
            if "@" in method:
                raise
            restorer, weights = cls.with_random_weights(tmp, steps=steps, device=device), "random (weights missing)"
        lq = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dev)
        mask = None
        if restorer.task == "inpaint":                      # a centred box hole, a quarter of the area
            mask = torch.zeros(batch, 1, size, size, device=dev)
            mask[..., size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
            lq = lq * (1 - mask)

        times = _timed(lambda: restorer.restore(lq, mask=mask, generator=torch.Generator().manual_seed(0)), dev,
                       warmup, repeats)
        params = restorer.params()
    return {"method": method, "steps": restorer.steps or -1, "config": trained.get("config", name), "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "batch_size": batch, "input": f"{size}x{size}",
            "output": f"{size * restorer.sf}x{size * restorer.sf}", "repeats": repeats, "warmup": warmup,
            "seconds_per_image": round(min(times) / batch, 5), "seconds_all": [round(t, 4) for t in times],
            "params_trainable_M": round(params["trainable"] / 1e6, 2),
            "params_frozen_M": round(params["frozen"] / 1e6, 2), "weights": weights,
            "timesteps": restorer.timesteps(), "torch_version": torch.__version__}


def time_method(method: str, *, device: str = "cpu", batch_size: int | None = None, size: int = 64,
                repeats: int = 3, warmup: int = 1, steps: int | None = None,
                models: str | Path = "results/models", options: dict | None = None) -> dict:
    """Time one method's restore of a (batch, 3, size, size) batch; returns the record.
    ResShift configurations run through the sampler; other registered methods through
    :func:`time_baseline`."""
    from resshift.sampling import NoiseField, sample

    if method not in RESSHIFT_METHODS or options:
        return time_baseline(method, steps=steps, device=device, batch_size=batch_size, size=size,
                             repeats=repeats, warmup=warmup, models=models, options=options)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ResShiftError("--device cuda: no CUDA device is available here")
    batch = batch_size or (64 if dev.type == "cuda" else 1)
    model, weights = _resshift_model(method)
    model.to(dev)
    lq = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(dev)
    mask = None
    if model.config["unet"]["params"].get("cond_mask"):
        mask = torch.zeros(batch, 1, size, size, device=dev)
        mask[..., size // 4: size // 2, size // 4: size // 2] = 1
    noise = NoiseField(0, [str(i) for i in range(batch)])

    times = _timed(lambda: sample(model, lq, noise, mask=mask, micro_batch=batch), dev, warmup, repeats)
    per_image = min(times) / batch
    return {"method": method, "steps": model.steps, "config": model.config["name"], "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(), "batch_size": batch, "input": f"{size}x{size}",
            "output": f"{size * model.sf}x{size * model.sf}", "repeats": repeats, "warmup": warmup,
            "seconds_per_image": round(per_image, 5), "seconds_all": [round(t, 4) for t in times],
            "params_trainable_M": round(count_params(model.unet) / 1e6, 2),
            "params_frozen_M": round(count_params(model.autoencoder) / 1e6, 2), "weights": weights,
            "torch_version": torch.__version__}


def write_timing(record: dict, results: str | Path = "results", out: str | Path | None = None) -> Path:
    from resshift.imageio import write_text

    path = Path(out) if out else Path(results) / "timing" / f"{record['method']}-{record['steps']}.json"
    return write_text(json.dumps(record, indent=2) + "\n", path)
