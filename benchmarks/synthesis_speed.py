"""Images per second of ImageNet-Test-style synthesis (x4 SR, Real-ESRGAN first-order test
degradation, PNG encoding of GT and LQ), excluding source decoding.

GT crops (256x256) are cut from images that ship inside installed packages and kept in memory;
each sample draws its parameters from its own seed and is degraded and PNG-encoded in a pool
of worker processes, as `resshift-bench data build` does.

    python benchmarks/synthesis_speed.py [--samples 300] [--workers 2]
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import sys
import time

import numpy as np

_GTS: list[np.ndarray] = []
_CFG: dict = {}


def _init(gts, cfg):
    import cv2

    cv2.setNumThreads(1)
    _GTS.extend(gts)
    _CFG.update(cfg)


def _one(i: int) -> str:
    from bench.data import png_bytes
    from resshift.data.degradations import apply_realesrgan_first_order, draw_realesrgan_first_order

    gt = _GTS[i % len(_GTS)]
    params = draw_realesrgan_first_order(np.random.default_rng(i), _CFG)
    lq = apply_realesrgan_first_order(gt.astype(np.float32) / 255.0, params, _CFG)
    return hashlib.sha256(png_bytes(gt) + png_bytes(lq)).hexdigest()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    from bench.data import load_recipe
    from resshift.demo import PACKAGED, packaged_array

    cfg = load_recipe("imagenet_test")["degradation"]
    rng = np.random.default_rng(0)
    gts = []
    for name in PACKAGED:
        img = packaged_array(name)
        for _ in range(4):
            top, left = rng.integers(img.shape[0] - 255), rng.integers(img.shape[1] - 255)
            gts.append(np.ascontiguousarray(img[top:top + 256, left:left + 256]))
    ctx = mp.get_context("spawn")
    with ctx.Pool(args.workers, initializer=_init, initargs=(gts, cfg)) as pool:
        pool.map(_one, range(args.workers * 2))                 # warm up imports
        t0 = time.perf_counter()
        pool.map(_one, range(args.samples), chunksize=8)
        seconds = time.perf_counter() - t0
    rate = args.samples / seconds
    print(f"{args.samples} samples, {args.workers} workers: {seconds:.1f} s, {rate:.1f} images/s; "
          f"3000 images (imagenet_test) ~ {3000 / rate / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
