"""Tiled vs untiled restore with a trained model: max difference away from the image borders
and the mean gradient across tile borders relative to the whole image.

Trains the tiny x4 model for a few hundred steps (or loads --checkpoint), restores chelsea
resized so that the *input* is HxW, untiled and tiled, and prints the numbers.

    python benchmarks/tiling_agreement.py --input 200x300 --tile 64 --overlap 16
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", default="200x300", help="HxW of the LQ input")
    p.add_argument("--tile", type=int, default=64)
    p.add_argument("--overlap", type=int, default=16)
    p.add_argument("--margin", type=int, default=32, help="output pixels left out at the image borders")
    p.add_argument("--checkpoint", help="tiny model checkpoint (default: train 150 iterations)")
    args = p.parse_args()
    import tempfile

    import torch
    import torch.nn.functional as F

    from resshift.config import build_model
    from resshift.demo import bicubic_down, packaged_image, train_tiny
    from resshift.sampling import NoiseField, pad_to_multiple, sample, tile_grid

    torch.set_num_threads(2)
    ckpt = args.checkpoint or train_tiny(Path(tempfile.mkdtemp()), 150, 4, 32, 0, progress=False)[0]
    model = build_model("tiny", checkpoint=ckpt)
    h, w = (int(v) for v in args.input.split("x"))
    gt = F.interpolate(packaged_image("chelsea")[None], size=(4 * h, 4 * w), mode="bicubic",
                       antialias=True).clamp(0, 1)
    lq, _ = pad_to_multiple(bicubic_down(gt, 4), model.size_multiple)
    noise = NoiseField(0, ["chelsea"])
    t0 = time.perf_counter()
    untiled = sample(model, lq, noise)
    t1 = time.perf_counter()
    tiled = sample(model, lq, noise, tile=args.tile, overlap=args.overlap)
    t2 = time.perf_counter()
    q = lambda x: x[..., : 4 * h, : 4 * w].mul(255).round()          # noqa: E731
    diff = (q(tiled) - q(untiled)).abs()[0].amax(0)
    m = args.margin
    spans = tile_grid(*lq.shape[-2:], args.tile, args.overlap, model.size_multiple)
    out = q(tiled)[0] / 255
    ratios = []
    for axis, cuts in ((-1, {c for _, s in spans for c in (s.start, s.stop)}),
                       (-2, {r for s, _ in spans for r in (s.start, s.stop)})):
        edges = [4 * e for e in sorted(cuts) if 0 < 4 * e < out.shape[axis]]
        grad = out.diff(dim=axis).abs().mean(dim=(0, 1) if axis == -1 else (0, 2))
        ratios.append((grad[[e - 1 for e in edges]].mean() / grad.mean()).item() if edges else float("nan"))
    print(f"input {h}x{w} -> output {4 * h}x{4 * w}; {len(spans)} tiles of {args.tile} (overlap {args.overlap})")
    print(f"untiled {t1 - t0:.1f} s, tiled {t2 - t1:.1f} s")
    print(f"max |tiled - untiled| (8-bit levels): {diff.max().item():.0f} overall, "
          f"{diff[m:-m, m:-m].max().item():.0f} beyond {m} px of the borders; mean {diff.mean().item():.3f}")
    for mm in (16, 32, 48, 64, 96):
        inner = diff[mm:-mm, mm:-mm]
        where = divmod(int(inner.argmax()), inner.shape[1])
        print(f"  beyond {mm:>3} px: max {inner.max().item():.0f} at (y, x) = ({where[0] + mm}, {where[1] + mm}); "
              f"{(inner > 2).float().mean().item() * 100:.3f}% of pixels differ by more than 2")
    print(f"mean gradient at tile borders / whole image: x {ratios[0]:.3f}, y {ratios[1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
