"""PSNR on Y (basicsr's definition) of a trained x4 model against bicubic upsampling on a built
SR test set (default: the demo_sr split).

    resshift-bench data build demo_sr --out results/data/demo_sr
    resshift train --config demo_realsr --out runs/demo_realsr
    python benchmarks/demo_sr_psnr.py --config demo_realsr --checkpoint runs/demo_realsr/checkpoints/last.pth
"""
from __future__ import annotations

import argparse
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="demo_realsr")
    p.add_argument("--checkpoint", required=True, help="a `resshift train` checkpoint (its EMA weights are used)")
    p.add_argument("--data", default="results/data/demo_sr")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    from pathlib import Path

    import torch
    import torch.nn.functional as F

    import resshift
    from resshift.demo import psnr_y
    from resshift.imageio import list_images, read_image

    model = resshift.build_model(args.config, checkpoint=args.checkpoint)
    rows = []
    for lq_path in list_images(Path(args.data) / "lq"):
        lq = read_image(lq_path)[0][None]
        gt = read_image(Path(args.data) / "gt" / lq_path.name)[0][None]
        out = resshift.restore(lq, model=model, seed=args.seed, progress=False)
        bic = F.interpolate(lq, scale_factor=model.sf, mode="bicubic").clamp(0, 1)
        rows.append((lq_path.stem, psnr_y(bic, gt), psnr_y(out, gt)))
        print(f"{lq_path.stem:<12} bicubic {rows[-1][1]:6.2f} dB   {args.config} {rows[-1][2]:6.2f} dB")
    mb = sum(r[1] for r in rows) / len(rows)
    mr = sum(r[2] for r in rows) / len(rows)
    print(f"{'mean':<12} bicubic {mb:6.2f} dB   {args.config} {mr:6.2f} dB   ({len(rows)} images, {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
