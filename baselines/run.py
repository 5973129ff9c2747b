"""Restore a built test set with a registered method:
``results/data/<dataset>/lq`` (+ ``mask``) -> ``OUT/*.png`` and ``OUT/meta.json``."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from resshift.errors import ResShiftError
from resshift.progress import progress_bar


def run_method(method: str, data_dir: str | Path, out_dir: str | Path, *, steps: int | None = None,
               device: str = "cpu", seed: int = 0, options: dict | None = None, limit: int | None = None,
               progress: bool = True, models: str | Path = "results/models") -> Path:
    """``method`` is a registry name, or ``NAME@RUN`` for a run trained under ``models``."""

    from resshift.imageio import list_images, read_image, read_mask, write_image, write_text
    from resshift.sampling import seed_for

    from .base import build, run_options

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not (data_dir / "lq").is_dir():
        raise ResShiftError(f"{data_dir}: no lq/ folder; build the test set first (resshift-bench data build NAME)")
    name, options = run_options(method, models, options)
    restorer = build(name, steps=steps, device=device, **options)
    files = list_images(data_dir / "lq")[:limit]
    if restorer.task == "inpaint" and not (data_dir / "mask").is_dir():
        raise ResShiftError(f"{data_dir}: {method} inpaints and needs mask/ beside lq/")
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    inside_timing = None
    if hasattr(restorer, "restore_folder"):       # one process for the whole folder (StableSR's release)
        inside_timing = restorer.restore_folder(files, out_dir, seed=seed)
        files_each = []
    else:
        files_each = files
    for path in progress_bar(files_each, desc=f"{method} on {data_dir.name}", show=progress):
        lq = read_image(path)[0][None]
        mask = None
        if restorer.task == "inpaint":
            mask = read_mask(data_dir / "mask" / path.name)[None].float()
        gen = torch.Generator().manual_seed(seed_for(seed, method, path.stem))
        out = restorer.restore(lq.to(device), mask=None if mask is None else mask.to(device), generator=gen)
        if out.shape[-2:] != (lq.shape[-2] * restorer.sf, lq.shape[-1] * restorer.sf):
            raise ResShiftError(f"{method} returned {tuple(out.shape[-2:])} for {path.name}; expected x{restorer.sf}")
        write_image(out[0].float().cpu().clamp(0, 1), out_dir / f"{path.stem}.png")
    meta = {**restorer.meta(), "method": method, "run": method.partition("@")[2] or None, "dataset": data_dir.name, "images": len(files),
            "seed_rule": "generator per image seeded by sha256(seed, method, image stem)", "seed": seed,
            "seconds": round(time.time() - t0, 3), "torch": torch.__version__, "python": platform.python_version(),
            "options": {k: str(v) for k, v in options.items()}}
    if inside_timing is not None:
        meta.update(inside_timing=inside_timing, seed_rule="one seed for the whole run (the release's own seeding)")
    write_text(json.dumps(meta, indent=1), out_dir / "meta.json")
    return out_dir
