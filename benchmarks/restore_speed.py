"""Seconds per image and peak memory of `resshift.sampling.sample` with the released network sizes.

Each case runs in its own process so that peak memory is its own (CPU: peak resident set
size, ru_maxrss; CUDA: torch.cuda.max_memory_allocated). Weights are random: speed and
memory do not depend on their values, and no download is needed.

    python benchmarks/restore_speed.py                  # this CPU: x4 64->256, 256x256 tiled
    python benchmarks/restore_speed.py --device cuda    # adds 1024x1024 tiled on a GPU
    python benchmarks/restore_speed.py --case v3:64:0   # one case: config:input side:tile
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


def run_case(config: str, side: int, tile: int, overlap: int, device: str, precision: str, tile_norm: str) -> dict:
    import resource
    import time

    import torch

    from resshift.config import build_model
    from resshift.sampling import NoiseField, sample

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = build_model(config, checkpoint=False, autoencoder_checkpoint=False).to(device)
    lq = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    sample(model, lq, NoiseField(0, ["bench"]), tile=tile or None, overlap=overlap, precision=precision,
           tile_norm=tile_norm)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    row = {"config": config, "input": f"{side}x{side}", "output": f"{side * model.sf}x{side * model.sf}",
           "tile": tile or None, "overlap": overlap if tile else None, "tile_norm": tile_norm if tile else None,
           "device": device, "precision": precision, "threads": torch.get_num_threads(),
           "seconds_per_image": round(seconds, 2),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "rss_before_mb": round(base_rss)}
    if device.startswith("cuda"):
        row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20)
        row["gpu"] = torch.cuda.get_device_name()
    return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--config", default="v3")
    p.add_argument("--case", action="append", help="config:side:tile[:overlap[:tile_norm]] (repeatable)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case is None:
        args.case = [f"{args.config}:64:0", f"{args.config}:256:128:32"]
        if args.device.startswith("cuda"):
            args.case += [f"{args.config}:1024:0", f"{args.config}:1024:512:64"]
    if args.child:
        parts = args.case[0].split(":")
        config, side, tile, overlap, norm = parts + ["0", "0", "image"][len(parts) - 2:]
        row = run_case(config, int(side), int(tile), int(overlap), args.device, args.precision, norm)
        print(json.dumps(row))
        return 0
    print(f"{'config':<8}{'input':>10}{'output':>11}{'tile':>6}{'norm':>7}{'s/image':>10}{'peak MB':>10}  device")
    for case in args.case:
        proc = subprocess.run([sys.executable, __file__, "--child", "--case", case, "--device", args.device,
                               "--precision", args.precision], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{case}: failed\n{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        peak = row.get("peak_gpu_mb", row["peak_rss_mb"])
        print(f"{row['config']:<8}{row['input']:>10}{row['output']:>11}{str(row['tile'] or '-'):>6}"
              f"{str(row['tile_norm'] or '-'):>7}{row['seconds_per_image']:>10}{peak:>10}  "
              f"{row.get('gpu', row['device'])} ({row['threads']} threads, {row['precision']})")
        print("  " + json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
