"""The sweep behind the demo's settings (resshift/configs/demo_realsr.yaml, demo_ldm.yaml), on the
validation split only: every setting trains on the packaged training images
(resshift.demo.TRAIN_IMAGES) and is scored by PSNR-Y on demo_sr_val (6 crops of china and
immunohistochemistry), never on the demo_sr test set. Prints one row per setting with the
validation PSNR-Y of the EMA weights every ``--every`` iterations of the run (one run per setting;
its learning rate decays over ``--iterations``), bicubic on the same crops, and the choice.

    python benchmarks/demo_sweep.py                    # about 15-20 min on one core
    python benchmarks/demo_sweep.py --iterations 100   # a quick look

The ResShift rows sample with 4 steps (demo_t4), the LDM rows with DDIM at 15 (LDM-15).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = [  # (label, configuration, overrides)
    ("ResShift v3 schedule, lr 5e-4", "demo_realsr", ["train.lr=5e-4", "train.lr_min=5e-5"]),
    ("ResShift v3 schedule, lr 1e-3", "demo_realsr", ["train.lr=1e-3", "train.lr_min=1e-4"]),
    ("ResShift kappa 8, min_noise 3.0, lr 1e-3", "demo_realsr",
     ["train.lr=1e-3", "train.lr_min=1e-4", "diffusion.kappa=8.0", "diffusion.min_noise_level=3.0"]),
    ("LDM eps-prediction (LDM's), lr 1e-3", "demo_ldm",
     ["train.lr=1e-3", "train.lr_min=1e-4", "diffusion.prediction=eps", "unet.params.output_skip=false"]),
    ("LDM x0-prediction, output skip, lr 1e-3", "demo_ldm",
     ["train.lr=1e-3", "train.lr_min=1e-4", "diffusion.prediction=sample"]),
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=800)
    p.add_argument("--every", type=int, default=200, help="validate every N iterations")
    p.add_argument("--only", type=int, nargs="*", help="indices of SETTINGS to run (default: all)")
    p.add_argument("--work", default=None, help="folder for the runs and the built validation set (default: a temp dir)")
    args = p.parse_args()

    import torch
    import torch.nn.functional as F

    from bench.data import build_test_set
    from resshift.config import apply_overrides, load_config
    from resshift.demo import psnr_y
    from resshift.imageio import list_images, read_image
    from resshift.train import train

    torch.set_num_threads(1)
    work = Path(args.work or tempfile.mkdtemp(prefix="demo_sweep_"))
    val = build_test_set("demo_sr_val", out=work / "demo_sr_val", progress=False, log=lambda m: None)
    bic = []
    for lq_path in list_images(val / "lq"):
        lq, gt = read_image(lq_path)[0][None], read_image(val / "gt" / lq_path.name)[0][None]
        bic.append(psnr_y(F.interpolate(lq, scale_factor=4, mode="bicubic").clamp(0, 1), gt))
    bicubic = sum(bic) / len(bic)
    print(f"validation set: demo_sr_val, {len(bic)} crops; training: resshift.demo.TRAIN_IMAGES; "
          f"{args.iterations} iterations per run, torch {torch.__version__}, 1 thread")
    print(f"bicubic: PSNR-Y {bicubic:.2f} dB")
    points = list(range(args.every, args.iterations + 1, args.every))
    head = f"{'setting':<44}" + "".join(f"{'it ' + str(n):>9}" for n in points) + f"{'train s':>9}"
    print(head, flush=True)
    results = {}
    for i, (label, name, sets) in enumerate(SETTINGS):
        if args.only and i not in args.only:
            continue
        cfg = apply_overrides(load_config(name), sets + [f"train.iterations={args.iterations}",
                                                         f"train.validate_every={args.every}",
                                                         f"train.checkpoint_every={args.iterations}",
                                                         "train.tensorboard=false"])
        cfg["validation"] = {"gt": str(val / "gt"), "lq": str(val / "lq")}
        out = work / f"run{i}"
        t0 = time.time()
        train(cfg, out, progress=False, log=lambda m: None)
        seconds = time.time() - t0
        rows = [line.split(",") for line in (out / "validation.csv").read_text().splitlines()[1:]]
        psnr = {int(r[0]): float(r[1]) for r in rows}
        results[label] = psnr
        print(f"{label:<44}" + "".join(f"{psnr[n]:9.2f}" for n in points) + f"{seconds:9.0f}", flush=True)
    last = points[-1]
    resshift = {k: v[last] for k, v in results.items() if k.startswith("ResShift v3")}
    ldm = {k: v[last] for k, v in results.items() if k.startswith("LDM")}
    if resshift:
        print(f"best ResShift (v3 schedule) at {last}: {max(resshift, key=resshift.get)}")
    if ldm:
        print(f"best LDM parameterisation at {last}: {max(ldm, key=ldm.get)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
