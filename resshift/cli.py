"""``resshift``: restore images, manage released weights, run the CPU demo."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__
from . import weights as W
from .config import RELEASED_TASKS, apply_overrides, load_config
from .demo import run_demo
from .errors import ResShiftError, run_cli
from .progress import write
from .restore import restore
from .train import train


def _restore(args) -> int:

    def report_error(msg: str) -> None:
        write(f"resshift: error: {msg}", file=sys.stderr)      # keeps the progress bar intact

    report = restore(args.input, args.task, version=args.version, config=args.config, checkpoint=args.checkpoint,
                     autoencoder=args.autoencoder, masks=args.mask, steps=args.steps, tile=args.tile,
                     tile_overlap=args.tile_overlap, tile_norm=args.tile_norm, tile_mode=args.tile_mode,
                     batch_size=args.batch_size,
                     device=args.device,
                     precision=args.precision, seed=args.seed, output=args.output, on_error=report_error)
    print(f"restored {len(report.outputs)} image(s) into {args.output}"
          + (f"; {len(report.errors)} failed (see the errors above)" if report.errors else ""))
    return 2 if report.errors else 0


def _weights(args) -> int:

    if args.action == "list":
        for row in W.status():
            mark = "present" if row["present"] else "missing"
            print(f"{row['name']:<18} {mark:<8} {row['file']:<40} {row['url'] if not row['present'] else row['path']}")
        print(f"cache: {W.cache_dir()}  (set RESSHIFT_HOME to move it)")
    elif args.action == "download":
        for name in args.names or list(W.CHECKPOINTS):
            print(W.fetch(name))
    elif args.action == "import":
        if len(args.names) != 2:
            raise ResShiftError("usage: resshift weights import NAME FILE")
        src = Path(args.names[1])
        if not src.is_file():
            raise ResShiftError(f"{src}: no such file")
        print(W.import_file(src, args.names[0]))
    return 0


def _train(args) -> int:

    cfg = apply_overrides(load_config(args.config), args.set)
    path = train(cfg, args.out, max_iters=args.max_iters, resume=args.resume, device=args.device)
    print(path)
    return 0


def _demo(args) -> int:

    result = run_demo(args.output, iterations=args.iterations, batch_size=args.batch_size, seed=args.seed)
    for row in result["images"]:
        print(f"{row['image']}: PSNR-Y bicubic {row['psnr_y_bicubic']:.2f} dB, "
              f"ResShift-tiny ({result['steps']} steps) {row['psnr_y_resshift']:.2f} dB")
    print(f"trained {result['iterations']} iterations in {result['train_seconds']} s; outputs in {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:


    p = argparse.ArgumentParser(prog="resshift", description=__doc__)
    p.add_argument("--version", action="version", version=f"resshift {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore an image or a folder of images",
                       description="Restore images. Outputs are PNGs named by input stem, plus meta.json. "
                       "Grayscale inputs are restored as RGB and written back as grayscale (BT.601 luma); "
                       "alpha is resized like the image and kept; 16-bit inputs give 16-bit PNGs; "
                       "the EXIF orientation is applied.")
    r.add_argument("-i", "--input", required=True, help="image file or folder")
    r.add_argument("-o", "--output", default="results/restored",
                   help="output folder (PNGs named by input stem; default results/restored here)")
    r.add_argument("--task", choices=RELEASED_TASKS, default=None, help="default: realsr, or the --config's task")
    r.add_argument("--version", choices=["v1", "v2", "v3"], default=None, help="realsr release")
    r.add_argument("--config", default=None, help="configuration name or YAML (instead of --task)")
    r.add_argument("--checkpoint", default=None, help="UNet weights (default: the released file)")
    r.add_argument("--autoencoder", default=None, help="autoencoder weights (default: the released file)")
    r.add_argument("--mask", default=None, help="inpainting mask file or folder (1 = hole)")
    r.add_argument("--steps", type=int, default=None, help="must equal the model's trained steps")
    r.add_argument("--tile", type=int, default=None,
                   help="tile side in input pixels for large images (default: the model's chop size; 0: no tiling)")
    r.add_argument("--tile-overlap", type=int, default=None, help="minimum tile overlap in input pixels")
    r.add_argument("--tile-mode", choices=["seamless", "release"], default="seamless",
                   help="seamless: one chain, networks run on feathered tiles (default); release: the authors' "
                        "chop-and-average (--tile = their chop size, --tile - --tile-overlap = their chop stride), "
                        "needed to reproduce the paper's numbers on images beyond the chop size")
    r.add_argument("--tile-norm", choices=["image", "tile"], default="image",
                   help="GroupNorm statistics of tiles: over the whole image (as untiled; tiles run in lock-step) "
                        "or per tile (less memory; results depend on the tiling)")
    r.add_argument("--batch-size", type=int, default=1, help="same-size images restored together")
    r.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="autocast precision of the networks (fp16: CUDA only)")
    r.add_argument("--seed", type=int, default=12345)
    r.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    r.set_defaults(func=_restore)

    w = sub.add_parser("weights", help="list, download or import released checkpoints")
    w.add_argument("action", choices=["list", "download", "import"])
    w.add_argument("names", nargs="*")
    w.set_defaults(func=_weights)

    t = sub.add_parser("train", help="train a configuration (resumable); see resshift.train")
    t.add_argument("--config", required=True,
                   help="configuration name (v3, demo_realsr, table1_T15_p0.3_k2.0, ...) or YAML path")
    t.add_argument("--out", required=True, help="run folder: checkpoints/, log.csv")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.pth")
    t.add_argument("--max-iters", type=int, help="stop after this iteration (resume later)")
    t.add_argument("--device", default="cpu")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration key (YAML value), e.g. --set data.hq=/data/imagenet/train "
                        "--set train.micro_batch=8; repeatable")
    t.set_defaults(func=_train)

    d = sub.add_parser("demo", help="train the tiny model on packaged images and restore a held-out one")
    d.add_argument("-o", "--output", default="results/demo")
    d.add_argument("--iterations", type=int, default=300)
    d.add_argument("--batch-size", type=int, default=8)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "resshift")


if __name__ == "__main__":
    sys.exit(main())
