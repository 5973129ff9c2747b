"""Seconds for a table's metric set on 3000 images of 256x256 (ImageNet-Test's size), per metric
and in all, measured on ``--images`` pairs and scaled to ``--total``.

    python benchmarks/metrics_speed.py                       # Table II's set (bench/tables.yaml), CPU
    python benchmarks/metrics_speed.py --device cuda --images 512
    python benchmarks/metrics_speed.py --metrics psnr ssim lpips niqe clipiqa musiq

The pairs are PNG files written to a temporary folder (noise over a smooth gradient, so that
PNG decoding costs what it costs for photographs). Reading them is timed once and shown as its
own line, as ``resshift-bench metrics`` reads each pair once for all metrics. Each metric is
built as ``resshift-bench metrics`` builds it; where its weights are not on this machine, the
same network with random weights is used (for pyiqa's LPIPS: a random AlexNet file in a
temporary TORCH_HOME and ``pretrained=False``):
time does not depend on the values. Metrics are scored in batches of ``--batch-size`` as
``bench.metrics.evaluate`` does; one batch runs untimed first (warm-up).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from bench import metrics as M
from bench.tables import table_spec
from resshift.imageio import read_image


def table_metrics(n: int) -> list[str]:
    names: list[str] = []
    for column in table_spec(n)["columns"]:
        names += [m for m in column["metrics"] if m not in names]
    return names


def write_pairs(folder: Path, n: int, size: int) -> list[tuple[Path, Path]]:
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size)[None, :, None] + np.linspace(0, 40, size)[:, None, None]
    pairs = []
    for k in range(n):
        gt = np.clip(ramp + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)
        pred = np.clip(gt + rng.normal(0, 6, gt.shape), 0, 255).astype(np.uint8)
        pairs.append((folder / f"pred_{k:04d}.png", folder / f"gt_{k:04d}.png"))
        Image.fromarray(pred).save(pairs[-1][0])
        Image.fromarray(gt).save(pairs[-1][1])
    return pairs


def scorer(name: str, device: torch.device):
    """The metric's scoring function; random weights where its files are missing."""
    metric = M.get(name)
    if metric.set_level:
        raise SystemExit(f"{name}: a set-level metric (FID/KID); this script times per-image metrics")
    missing = metric.unavailable()
    if missing is None:
        return (metric.build(device, crop_border=0) if metric.crop_border else metric.build(device)), "own weights"
    if name == "lpips":       # pyiqa loads torchvision's AlexNet file even with pnet_rand: a random one
        hub = Path(tempfile.mkdtemp()) / "hub" / "checkpoints"
        hub.mkdir(parents=True)
        torch.save(torchvision.models.alexnet().state_dict(), hub / "alexnet-owt-7be5be79.pth")
        os.environ["TORCH_HOME"] = str(hub.parents[1])
        net = M.pyiqa_metric("lpips", device, pretrained=False)
        return metric.build(device, net=net), "random weights: none on this machine"
    raise SystemExit(f"{name}: {missing}; random stand-in weights for it are not set up here")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--table", type=int, default=2, help="take the metric set of this table (default 2)")
    p.add_argument("--metrics", nargs="+", help="these metrics instead of the table's")
    p.add_argument("--images", type=int, default=64, help="pairs measured (default 64)")
    p.add_argument("--total", type=int, default=3000, help="pairs to scale to (default 3000)")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()

    device = torch.device(args.device)
    names = args.metrics or table_metrics(args.table)
    scale = args.total / args.images
    with tempfile.TemporaryDirectory() as tmp:
        pairs = write_pairs(Path(tmp), args.images, args.size)
        t0 = time.perf_counter()
        loaded = [(read_image(a)[0], read_image(b)[0]) for a, b in pairs]
        read_s = time.perf_counter() - t0
    batches = [loaded[k:k + args.batch_size] for k in range(0, len(loaded), args.batch_size)]
    print(f"metrics_speed: {', '.join(names)} on {args.images} pairs of {args.size}x{args.size}, batch "
          f"{args.batch_size}, {device.type} ({torch.get_num_threads()} threads), scaled to {args.total}")
    print(f"  {'read PNGs':<10} {read_s / args.images * 1000:8.2f} ms/pair  {read_s * scale:8.1f} s for {args.total}")
    total = read_s * scale
    for name in names:
        score, weights = scorer(name, device)
        metric = M.get(name)

        def run(batch):
            pred = torch.stack([a for a, _ in batch])
            ref = torch.stack([b for _, b in batch]) if metric.needs_ref else None
            return M.score_pairs(metric, score, pred, ref)

        run(batches[0])                                   # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for batch in batches:
            run(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        total += seconds * scale
        print(f"  {name:<10} {seconds / args.images * 1000:8.2f} ms/pair  {seconds * scale:8.1f} s for {args.total}  ({weights})")
    print(f"  {'all':<10} {'':8}          {total:8.1f} s for {args.total} ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
