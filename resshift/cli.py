"""``resshift``: restore images, manage released weights, run the CPU demo."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import ResShiftError, run_cli


def _restore(args) -> int:
    import torch
    from tqdm.auto import tqdm

    from . import __version__
    from .config import build_model, config_for, load_config
    from .imageio import list_images, read_image, write_image, write_text
    from .sampling import restore_padded, seed_for

    cfg = load_config(args.config) if args.config else config_for(args.task or "realsr", args.version)
    if args.task and cfg["task"] != args.task and not (args.task == "bicsr" and cfg["task"] == "realsr"):
        raise ResShiftError(f"--config {args.config} is a {cfg['task']} model, not {args.task}")
    if args.steps is not None and args.steps != cfg["diffusion"]["steps"]:
        raise ResShiftError(f"--steps {args.steps}: model {cfg['name']} was trained with "
                            f"{cfg['diffusion']['steps']} steps and samples with exactly that many; drop --steps")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ResShiftError("--device cuda: no CUDA device is available here; use --device cpu")
    files = list_images(args.input)
    masks = None
    if cfg["unet"]["params"].get("cond_mask"):
        if not args.mask:
            raise ResShiftError(f"task {cfg['task']} needs --mask (a file or a folder of masks, 1/white = hole)")
        masks = {p.stem: p for p in list_images(args.mask)}
    model = build_model(cfg, checkpoint=args.checkpoint, autoencoder_checkpoint=args.autoencoder).to(device)
    out_dir = Path(args.output)
    for path in tqdm(files, desc="restoring", unit="image"):
        img, info = read_image(path)
        mask = None
        if masks is not None:
            if path.stem not in masks:
                raise ResShiftError(f"{path}: no mask named {path.stem}.* in {args.mask}")
            mask = (read_image(masks[path.stem])[0][:1] > 0.5).float()[None].to(device)
        gen = torch.Generator(device=device).manual_seed(seed_for(args.seed, path.stem))
        out = restore_padded(model, img[None].to(device), mask, generator=gen)[0]
        write_image(out, out_dir / f"{path.stem}.png", bits=info["bits"])
    meta = {"method": "resshift", "config": cfg["name"], "task": cfg["task"], "steps": model.steps,
            "timesteps": list(range(model.steps))[::-1], "seed": args.seed,
            "seed_rule": "sha256((seed, image stem)) -> torch.Generator", "weights_sha256": model.weights,
            "device": str(device), "precision": "fp32", "resshift_version": __version__,
            "torch_version": torch.__version__}
    write_text(json.dumps(meta, indent=2) + "\n", out_dir / "meta.json")
    print(f"restored {len(files)} image(s) into {out_dir}")
    return 0


def _weights(args) -> int:
    from . import weights as W

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


def _demo(args) -> int:
    from .demo import run_demo

    result = run_demo(args.output, iterations=args.iterations, batch_size=args.batch_size, seed=args.seed)
    for row in result["images"]:
        print(f"{row['image']}: PSNR-Y bicubic {row['psnr_y_bicubic']:.2f} dB, "
              f"ResShift-tiny ({result['steps']} steps) {row['psnr_y_resshift']:.2f} dB")
    print(f"trained {result['iterations']} iterations in {result['train_seconds']} s; outputs in {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .config import TASKS

    p = argparse.ArgumentParser(prog="resshift", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore an image or a folder of images")
    r.add_argument("-i", "--input", required=True, help="image file or folder")
    r.add_argument("-o", "--output", required=True, help="output folder (PNGs named by input stem)")
    r.add_argument("--task", choices=TASKS, default=None, help="default: realsr, or the --config's task")
    r.add_argument("--version", choices=["v1", "v2", "v3"], default=None, help="realsr release")
    r.add_argument("--config", default=None, help="configuration name or YAML (instead of --task)")
    r.add_argument("--checkpoint", default=None, help="UNet weights (default: the released file)")
    r.add_argument("--autoencoder", default=None, help="autoencoder weights (default: the released file)")
    r.add_argument("--mask", default=None, help="inpainting mask file or folder (1 = hole)")
    r.add_argument("--steps", type=int, default=None, help="must equal the model's trained steps")
    r.add_argument("--seed", type=int, default=12345)
    r.add_argument("--device", default="cpu")
    r.set_defaults(func=_restore)

    w = sub.add_parser("weights", help="list, download or import released checkpoints")
    w.add_argument("action", choices=["list", "download", "import"])
    w.add_argument("names", nargs="*")
    w.set_defaults(func=_weights)

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
