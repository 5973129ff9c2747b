"""Training speed and peak memory of `resshift train`, one case per subprocess.

    python benchmarks/train_speed.py                      # CPU: demo_realsr, then v3 at micro-batch 1 and 2
    python benchmarks/train_speed.py --device cuda --amp bf16 --cases v3:8 v3:16

A case is CONFIG:MICRO_BATCH (one optimiser step = one micro-batch here). Each row also gives the
time of one iteration at the configuration's own batch (v3: 96) accumulated from such micro-batches,
and the days for its iteration budget (v3: 400k), upper bounds as the optimiser and EMA run once per
accumulated step, not once per micro-batch. Iterations/s come from the
trainer's own log (the first iteration, which builds and warms up, is left out); peak memory is
the process's maximum RSS (CPU) or torch's peak allocation (CUDA). Full-size configurations train
on the packaged images at the paper's 256 px crops; the LPIPS-VGG term of Eq. 11 is kept only
when torchvision's VGG16 weights are present (else it is dropped and the row says so).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile


def run_case(config: str, micro: int, iters: int, device: str, amp: str) -> dict:
    import copy
    import resource
    import time
    from pathlib import Path

    import torch

    from resshift.config import load_config
    from resshift.train import VGG16, train

    cfg = copy.deepcopy(load_config(config))
    paper_batch, paper_iterations = cfg["train"]["batch_size"], cfg["train"]["iterations"]
    crop = cfg.get("data", {}).get("crop", 64)
    pipeline = (cfg.get("data") or {}).get("pipeline", {"name": "bicubic"})
    if cfg.get("data", {}).get("kind") != "packaged":
        pipeline = {"name": "bicubic"} if cfg["diffusion"].get("sf", 4) != 1 else pipeline
    cfg["data"] = {"kind": "packaged", "crop": crop, "pipeline": pipeline, "workers": 0}
    perceptual = float(cfg.get("loss", {}).get("lpips_vgg", 0))
    vgg = Path(torch.hub.get_dir()) / "checkpoints" / VGG16["file"]
    note = ""
    if perceptual and not vgg.is_file():
        cfg["loss"]["lpips_vgg"] = 0.0
        note = "LPIPS-VGG term dropped (VGG16 weights absent)"
    if cfg.get("autoencoder"):                      # speed does not depend on the weights' values
        from resshift import weights as W
        from resshift.config import build_autoencoder

        key = cfg["autoencoder"].get("checkpoint")
        if key in W.CHECKPOINTS and (W.cache_dir() / W.get(key).filename).is_file():
            cfg["autoencoder"]["checkpoint"] = str(W.cache_dir() / W.get(key).filename)
        else:
            path = Path(tempfile.mkdtemp()) / "random_vq.pth"
            torch.save(build_autoencoder(cfg).state_dict(), path)
            cfg["autoencoder"]["checkpoint"] = str(path)
            note = (note + "; " if note else "") + "random autoencoder (released file absent)"
    cfg["train"].update(batch_size=micro, micro_batch=micro, iterations=iters, checkpoint_every=10 ** 9,
                        amp=amp if amp != "fp32" else False, validate_every=0)
    out = Path(tempfile.mkdtemp())
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.time()
    train(cfg, out, device=device, progress=False, log=lambda m: None)
    wall = time.time() - t0
    secs = [float(r.split(",")[5]) for r in (out / "log.csv").read_text().splitlines()[1:]]
    steady = (secs[-1] - secs[0]) / (len(secs) - 1)
    peak = (torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    import resshift.config as C

    model = C.build_model(cfg, checkpoint=False, autoencoder_checkpoint=False)
    return {"config": config, "micro_batch": micro, "crop": crop, "device": device, "amp": amp,
            "iterations": iters, "it_per_s": 1 / steady, "s_per_it": steady, "wall_s": wall,
            # the configuration's own batch from micro-batches of this size: each measured step also
            # ran the optimiser and EMA, which an accumulated step runs once, so this is an upper bound
            "paper_batch": paper_batch, "paper_iterations": paper_iterations,
            "s_per_paper_it": steady * paper_batch / micro,
            "days_for_paper_iterations": steady * paper_batch / micro * paper_iterations / 86400,
            "peak_mb": peak, "unet_params_m": sum(p.numel() for p in model.unet.parameters()) / 1e6,
            "threads": torch.get_num_threads(), "torch": torch.__version__, "note": note}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=["demo_realsr:8", "v3:1", "v3:2"])
    p.add_argument("--iters", type=int, default=0, help="iterations per case (default: 20 tiny, 3 full-size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        config, micro, iters = args.one.split(":")
        print(json.dumps(run_case(config, int(micro), int(iters), args.device, args.amp)))
        return 0
    rows = []
    for case in args.cases:
        config, micro = case.split(":")
        iters = args.iters or (20 if config.startswith(("demo", "tiny")) else 3)
        proc = subprocess.run([sys.executable, __file__, "--one", f"{config}:{micro}:{iters}", "--device", args.device,
                               "--amp", args.amp], capture_output=True, text=True)
        if proc.returncode:
            print(f"{case}: failed\n{proc.stderr[-1500:]}", file=sys.stderr)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['config']:<14} micro-batch {row['micro_batch']}  crop {row['crop']}  {row['device']} {row['amp']}  "
              f"{row['it_per_s']:.3f} it/s ({row['s_per_it']:.2f} s/it)  peak {row['peak_mb']:.0f} MB  "
              f"UNet {row['unet_params_m']:.2f} M  {row['note']}", flush=True)
        print(f"{'':<14} batch {row['paper_batch']} from {row['paper_batch'] // row['micro_batch']} micro-batches: "
              f"<= {row['s_per_paper_it']:.1f} s/it; {row['paper_iterations']} iterations: "
              f"<= {row['days_for_paper_iterations']:.1f} days on this device", flush=True)
    if args.json:
        from pathlib import Path

        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
