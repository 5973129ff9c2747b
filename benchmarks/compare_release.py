"""Our networks and sampler against the authors' release: same random weights, same inputs, timed
alternately in one process, with the ratio (ours / release) and the largest output difference.

    python benchmarks/compare_release.py                              # ours alone
    python benchmarks/compare_release.py --release ~/src/ResShift     # side by side

``--release`` is a checkout of github.com/zsyOAOA/ResShift (fetched by you; it is imported from
that path at run time only, and needs the packages its networks import: timm, einops). Case: the
released v3 configuration (real-world x4), one 64x64 LQ image -> 256x256, CPU, float32 unless
``--precision bf16`` (autocast on both sides). Parts: ``unet`` (one network call on the 64x64
latent), ``encode`` (VQ encoder on the bicubic-upsampled 256x256 input), ``decode`` (quantise and
decode a 64x64 latent), ``e2e`` (ResShift-4 end to end: encode, 4 network calls, decode; ours
is ``resshift.sampling.sample``, the release's is ``p_sample_loop`` as its ``sampler.py`` calls
it, both fed the same recorded noise, so the outputs are comparable). Weights are random: the
time does not depend on their values. ``--compile-decoder`` puts our VQ decoder through
``torch.compile`` (the part where it looked most promising: the UNet compiled was slower; on this
project's CPU it changed the end-to-end ratio from 0.93x to 0.95x, i.e. nothing measurable).

Each part runs once on each side untimed (warm-up), then ``--repeats`` times on each side,
alternating which side goes first; reported: median seconds, min, ratio of medians, and max
|ours - release| over the outputs. The machine's load average is printed before and after.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

PARTS = ("unet", "encode", "decode", "e2e")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


class Recorded:
    """Hands out pre-drawn noise in order (ours: ``noise(draw, shape, device, dtype)``)."""

    def __init__(self, draws: list[torch.Tensor]):
        self.draws, self.k = draws, 0

    def __call__(self, draw, shape, device=None, dtype=torch.float32):
        out = self.draws[self.k]
        self.k += 1
        return out.to(device=device, dtype=dtype)


@contextlib.contextmanager
def release_noise(draws: list[torch.Tensor]):
    """The release draws its step noise with ``torch.randn_like``; give it ours, in order."""
    original, it = torch.randn_like, iter(draws)

    def fake(x, *args, **kwargs):
        return next(it).to(x)
    torch.randn_like = fake
    try:
        yield
    finally:
        torch.randn_like = original


def import_release(path: Path):
    """The release's network classes and diffusion factory, imported from ``path``."""
    if not (path / "models" / "unet.py").is_file() or not (path / "ldm" / "models" / "autoencoder.py").is_file():
        raise SystemExit(f"compare_release: error: {path} is not a ResShift release checkout "
                         "(models/unet.py and ldm/models/autoencoder.py not found)")
    sys.path.insert(0, str(path))
    try:
        with contextlib.redirect_stdout(sys.stderr):
            from ldm.models.autoencoder import VQModelTorch
            from models.script_util import create_gaussian_diffusion
            from models.unet import UNetModelSwin
    except ModuleNotFoundError as e:
        raise SystemExit(f"compare_release: error: the release at {path} needs the package {e.name!r} "
                         f"(pip install {e.name}) to import its networks") from None
    return UNetModelSwin, VQModelTorch, create_gaussian_diffusion


def build_release(cfg: dict, ours, path: Path):
    UNetModelSwin, VQModelTorch, create_gaussian_diffusion = import_release(path)
    unet = UNetModelSwin(**cfg["unet"]["params"])
    unet.load_state_dict(ours.unet.state_dict(), strict=True)
    ap = cfg["autoencoder"]["params"]
    vq = VQModelTorch(ddconfig=ap["ddconfig"], n_embed=ap["n_embed"], embed_dim=ap["embed_dim"])
    vq.load_state_dict(ours.autoencoder.state_dict(), strict=True)
    d = cfg["diffusion"]
    diffusion = create_gaussian_diffusion(
        normalize_input=d["normalize_input"], schedule_name="exponential", sf=d["sf"],
        min_noise_level=d["min_noise_level"], steps=d["steps"], kappa=d["kappa"], etas_end=d["etas_end"],
        schedule_kwargs={"power": d["p"]}, weighted_mse=False, predict_type="xstart", timestep_respacing=None,
        scale_factor=d["scale_factor"], latent_flag=True)
    return unet.eval(), vq.eval(), diffusion


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release", type=Path, help="checkout of the authors' release (optional)")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per side and part (default 3)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's, this machine's cores)")
    p.add_argument("--side", type=int, default=64, help="LQ side in pixels (default 64 -> 256)")
    p.add_argument("--compile-decoder", action="store_true",
                   help="ours: the VQ decoder through torch.compile (inductor; needs a C++ compiler); its compile "
                        "time is part of the untimed warm-up and printed")
    args = p.parse_args()
    parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    bad = [s for s in parts if s not in PARTS]
    if bad:
        print(f"compare_release: error: unknown part {bad[0]!r}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    if args.repeats < 1:
        print("compare_release: error: --repeats must be at least 1", file=sys.stderr)
        return 2
    if args.release is not None and not args.release.is_dir():
        print(f"compare_release: error: --release {args.release}: no such folder", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)

    from resshift.config import build_model, load_config
    from resshift.sampling import sample

    cfg = load_config("v3")
    torch.manual_seed(0)
    ours = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False)
    ours.unet.eval()
    ours.autoencoder.eval()
    release = build_release(cfg, ours, args.release.resolve()) if args.release else None
    if args.compile_decoder:
        ours.autoencoder.decode = torch.compile(ours.autoencoder.decode)

    g = torch.Generator().manual_seed(0)
    side, sf = args.side, cfg["diffusion"]["sf"]
    lq = torch.rand(1, 3, side, side, generator=g)
    lq11 = lq * 2 - 1
    up = F.interpolate(lq11, scale_factor=sf, mode="bicubic")
    zside = side * sf // ours.autoencoder.downsample_factor
    x = torch.randn(1, 3, zside, zside, generator=g)
    t = torch.tensor([cfg["diffusion"]["steps"] - 1])
    steps = cfg["diffusion"]["steps"]
    draws = [torch.randn(1, 3, zside, zside, generator=g) for _ in range(steps + 1)]   # prior, t = T-1 .. 0
    autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if args.precision == "bf16"
                else contextlib.nullcontext())

    def ours_fn(part):
        if part == "unet":
            return lambda: ours.unet(x, t, lq=lq11)
        if part == "encode":
            return lambda: ours.autoencoder.encode(up)
        if part == "decode":
            return lambda: ours.autoencoder.decode(x)
        return lambda: sample(ours, lq, Recorded(draws[:steps]))      # under timed()'s autocast

    def release_fn(part):
        unet, vq, diffusion = release

        def e2e():
            with release_noise(draws[1:]):
                out = diffusion.p_sample_loop(y=lq11, model=unet, first_stage_model=vq, noise=draws[0],
                                              clip_denoised=False, model_kwargs={"lq": lq11}, progress=False)
            return (out.clamp(-1, 1) + 1) / 2
        return {"unet": lambda: unet(x, t, lq=lq11), "encode": lambda: vq.encode(up),
                "decode": lambda: vq.decode(x), "e2e": e2e}[part]

    def timed(fn):
        with torch.no_grad(), autocast:
            t0 = time.perf_counter()
            out = fn()
            return time.perf_counter() - t0, out.float()

    print(f"compare_release: v3 x{sf}, {side}x{side} -> {side * sf}x{side * sf}, batch 1, CPU {args.precision}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"CPU: {cpu_name()} ({os.cpu_count()} cores); load average before: {load()}")
    print(f"release: {args.release.resolve() if args.release else 'not given (ours alone)'}")
    print(f"ours: VQ decoder {'through torch.compile' if args.compile_decoder else 'eager'}")
    print(f"{'part':<8}{'ours s':>10}{'(min)':>9}{'release s':>11}{'(min)':>9}{'ratio':>8}{'max |diff|':>12}")
    e2e_ratio = None
    for part in parts:
        sides = {"ours": ours_fn(part)}
        if release:
            sides["release"] = release_fn(part)
        times: dict[str, list[float]] = {k: [] for k in sides}
        warm = {k: timed(fn) for k, fn in sides.items()}                # warm-up, and the outputs
        outs = {k: out for k, (_, out) in warm.items()}
        if args.compile_decoder and part in ("decode", "e2e"):
            print(f"  ({part}: ours' first call, compiling included: {warm['ours'][0]:.1f} s)", flush=True)
        order = list(sides)
        for r in range(args.repeats):
            for k in (order if r % 2 == 0 else order[::-1]):
                times[k].append(timed(sides[k])[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        row = f"{part:<8}{med['ours']:>10.3f}{min(times['ours']):>9.3f}"
        if release:
            ratio = med["ours"] / med["release"]
            diff = (outs["ours"] - outs["release"]).abs().max().item()
            row += f"{med['release']:>11.3f}{min(times['release']):>9.3f}{ratio:>8.2f}{diff:>12.2e}"
            if part == "e2e":
                e2e_ratio = ratio
        print(row, flush=True)
    print(f"load average after: {load()}")
    if e2e_ratio is not None:
        print(f"end to end: ours takes {e2e_ratio:.2f}x the release's time per image (target: at most 0.60x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
