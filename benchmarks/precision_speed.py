"""fp32 against bf16 autocast for ResShift end to end, timed alternately in one process, with the
PSNR of the bf16 output against the fp32 one. The evidence behind refusing ``--precision bf16`` on
the CPU (``resshift.sampling.autocast``): this script applies ``torch.autocast`` itself.

    python benchmarks/precision_speed.py                       # CPU, v3 x4 64->256, 3 repeats
    python benchmarks/precision_speed.py --device cuda --side 128 --repeats 10

Weights are random (speed does not depend on their values); the PSNR is of random-weight
networks, whose vector quantiser flips codes at small latent changes, so it is a lower bound on
what trained weights would show. Each side runs once untimed, then ``--repeats`` times,
alternating which goes first; printed: median and min seconds per image, the ratio bf16 / fp32,
the CPU's bf16 support and the load average before and after.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from pathlib import Path

import torch

from resshift.config import build_model
from resshift.noise import NoiseField
from resshift.sampling import sample


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_support() -> str:
    flags = ""
    with contextlib.suppress(OSError):
        flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    return ", ".join(f"{name} {'yes' if name in flags.split() else 'no'}" for name in ("avx512_bf16", "amx_bf16"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="v3")
    p.add_argument("--side", type=int, default=64, help="LQ side in pixels (default 64)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    device = torch.device(args.device)
    model = build_model(args.config, checkpoint=False, autoencoder_checkpoint=False).to(device)
    lq = torch.rand(1, 3, args.side, args.side, generator=torch.Generator().manual_seed(0)).to(device)

    def run(precision: str) -> tuple[float, torch.Tensor]:
        amp = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
               else contextlib.nullcontext())
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with amp:
            out = sample(model, lq, NoiseField(0, ["bench"]))
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out.float().cpu()

    print(f"precision_speed: {args.config}, {args.side}x{args.side} LQ, batch 1, {device.type}, "
          f"{torch.get_num_threads()} threads; CPU: {cpu_support()}; load before: {load()}", flush=True)
    outs = {name: run(name)[1] for name in ("fp32", "bf16")}          # warm-up
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for k in range(args.repeats):
        for name in (("fp32", "bf16") if k % 2 == 0 else ("bf16", "fp32")):
            seconds, _ = run(name)
            times[name].append(seconds)
            print(f"  {name} run {k + 1}: {seconds:.2f} s", flush=True)
    mse = float(((outs["fp32"] - outs["bf16"]) ** 2).mean())
    psnr = 10 * math.log10(1 / mse) if mse else math.inf
    med = {name: statistics.median(ts) for name, ts in times.items()}
    for name in ("fp32", "bf16"):
        print(f"{name}: median {med[name]:.2f} s/image, min {min(times[name]):.2f} s")
    print(f"bf16 / fp32 time: {med['bf16'] / med['fp32']:.2f}x; PSNR of bf16 against fp32: {psnr:.2f} dB "
          f"(max |diff| {float((outs['fp32'] - outs['bf16']).abs().max()):.4f}); load after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
