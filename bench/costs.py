"""Measured cost of restoring one image, and what the workflow derives from it: how many shards a
restore job is split into, and the runtime each shard asks a cluster for.

The numbers are the H200 measurements in ``benchmarks/results/gpu_check_h200_2026-11-27.jsonl``
(fp32; ``tests/test_costs.py`` checks this table against that file): seconds per image at
batch 1 where the record has it (ResShift), at batch 64 for the feed-forward SR networks
(``resshift-bench run`` batches those), and one 256x256 inpainting image at 250 steps for the
ADM-based inpainters. Methods not measured count as :data:`UNMEASURED_SECONDS`.
"""
from __future__ import annotations

import math

from .layout import split_method

SOURCE = "benchmarks/results/gpu_check_h200_2026-11-27.jsonl"

# method -> (seconds per image, how it was measured)
SECONDS_PER_IMAGE: dict[str, tuple[float, str]] = {
    "repaint": (98.68, "inpaint_run, 250 steps"),
    "mcg": (18.14, "inpaint_run, 250 steps"),
    "score_sde": (9.93, "inpaint_run, 250 steps"),
    "ddrm": (8.94, "inpaint_run, 250 steps"),
    "resshift_v1": (0.37077, "runtime_batch1, 15 steps"),
    "resshift": (0.11192, "runtime_batch1, 4 steps"),
    "ldm": (0.01611, "table2_runtime, batch 64, 15 steps"),
    "swinir": (0.00955, "table2_runtime, batch 64"),
    "realesrgan": (0.00254, "table2_runtime, batch 64"),
    "dasr": (0.0004, "table2_runtime, batch 64"),
    "bicubic": (0.0, "table2_runtime, batch 64"),
}
UNMEASURED_SECONDS = 1.0          # a 250-step sampler of an unmeasured method would be ~10 s: set shards in the config
SHARD_MINUTES = 120               # aim: each shard finishes in half profiles/slurm's default 240-minute limit
STARTUP_MINUTES = 10              # loading networks and weights, per job
SAFETY = 2.0                      # slower GPUs than the H200, shared nodes


def seconds_per_image(method: str) -> float:
    """Measured seconds per image of ``method`` (``NAME`` or ``NAME@RUN``: a run has its method's cost)."""
    return SECONDS_PER_IMAGE.get(split_method(method)[0], (UNMEASURED_SECONDS, ""))[0]


def default_shards(method: str, images: int | None) -> int:
    """Shards that keep each part of ``images`` images within :data:`SHARD_MINUTES` (1 when the set's
    size is unknown at planning)."""
    if not images:
        return 1
    return max(1, min(images, math.ceil(images * seconds_per_image(method) * SAFETY / (SHARD_MINUTES * 60))))


def runtime_minutes(method: str, images: int | None) -> int:
    """Minutes to ask a cluster for restoring ``images`` images (with start-up and the safety factor)."""
    return STARTUP_MINUTES + math.ceil((images or 0) * seconds_per_image(method) * SAFETY / 60)
