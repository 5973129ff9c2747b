"""One GPU session's checks, printed as JSON lines (run where a CUDA device is present):

1. Table II's runtime columns (x4, 64 -> 256, random weights of the released sizes): the batch-1
   latency (Table II's column) and seconds per image at batch 64 (the CSV's), with peak memory
   and nfe: ResShift-15, ResShiftL-4, DASR, and where spandrel/diffusers import, RealESRGAN,
   SwinIR and LDM-15/-4.
2. The diffusion inpainting baselines on the 552.81 M guided-diffusion UNet at 256x256: one
   network evaluation (fp32, fp16; forward and forward+backward), the evaluations each method
   makes at 250 steps, and a timed run of each sampler (--inpaint-steps, default 250).
3. CUDA against CPU: a small ResShift model restores the same image to the same output (noise
   is drawn on the CPU), and the guided-diffusion UNet's fp16 output against fp32.
4. A few training iterations of a small configuration on the GPU.
5. Tables IV-VII's other baselines, seconds per image on random weights of the released sizes:
   DeepFillv2, LaMa (big-lama, LaMa-Fourier) at 256x256; GFPGAN, RestoreFormer, CodeFormer, VQFR,
   PSFR-GAN and DifFace-100 at 512x512 (DFDNet needs its landmark model's weights, not timed).

    python benchmarks/gpu_check.py [--skip-inpaint-runs] [--inpaint-steps 250]
    python benchmarks/gpu_check.py --quick      # check 1 only; on a machine without CUDA, on the CPU
                                                # at 16x16 (ResShift at 64x64, its size multiple;
                                                # batch 1 and batch 2, one repeat)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


DEV = "cuda"
SIDE = 256                     # guided-diffusion image side (--smoke: 32, on a tiny UNet, on the CPU)
LQ_SIDE = 64                   # Table II's input side (--quick on the CPU: 16)
TABLE2_CASES = [("resshift_v1", None), ("resshift", None), ("bicubic", None), ("dasr", None),
                ("realesrgan", None), ("swinir", None), ("ldm", 15), ("ldm", 4)]


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def emit(**record):
    print(json.dumps(record), flush=True)


def cuda_seconds(fn, repeats=5, warmup=2):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def runtime_fields(rec: dict) -> dict:
    """Both runtime columns of a timing record, with what they were measured on."""
    return {"latency_batch1_s": rec["latency_batch1_s"], "throughput_s_per_image": rec["throughput_s_per_image"],
            "throughput_batch": rec["throughput_batch"], "peak_memory_bytes": rec["peak_memory_bytes"],
            "nfe": rec["nfe"], "network_calls": rec["network_calls"], "precision": rec["precision"],
            "input": rec["input"], "device": rec["device_name"]}


def table2_runtimes(quick: bool = False):
    from bench.timing import time_method

    cpu = DEV != "cuda"
    for method, steps in TABLE2_CASES:
        try:
            size = max(LQ_SIDE, 64) if method.startswith("resshift") and method != "resshift_tiny" else LQ_SIDE
            rec = time_method(method, device=DEV, steps=steps, size=size, repeats=1 if quick else 3,
                              warmup=0 if quick and cpu else 1, throughput_batch=2 if cpu else None)
            emit(check="table2_runtime", method=method, steps=rec["steps"], **runtime_fields(rec),
                 params_M=rec["params_trainable_M"], frozen_M=rec["params_frozen_M"], weights=rec["weights"])
        except Exception as exc:                      # a package missing on this machine
            emit(check="table2_runtime", method=method, steps=steps, error=f"{type(exc).__name__}: {exc}"[:300])


def other_baselines(smoke: bool):
    from bench.timing import time_method

    cases = [("deepfillv2", 256, None), ("lama", 256, None), ("lama_face", 256, None), ("gfpgan", 512, None),
             ("restoreformer", 512, None), ("codeformer", 512, None), ("vqfr", 512, None), ("psfrgan", 512, None),
             ("difface", 512, 2 if smoke else 100)]
    for method, size, steps in cases:
        try:
            rec = time_method(method, device=DEV, steps=steps, size=size, repeats=1 if smoke else 3,
                              warmup=0 if smoke else 1, throughput_batch=2 if smoke else 8)
            emit(check="faces_inpainting_runtime", method=method, steps=rec["steps"], size=size,
                 **runtime_fields(rec), params_M=rec["params_trainable_M"], frozen_M=rec["params_frozen_M"],
                 weights=rec["weights"])
        except Exception as exc:                      # a package missing on this machine
            emit(check="faces_inpainting_runtime", method=method, error=f"{type(exc).__name__}: {exc}"[:300])


def inpainting(steps: int, runs: bool):
    from baselines.ddrm import ddrm_sample
    from baselines.guided_diffusion import ADM_256, ADMUNet, InpaintSchedule
    from baselines.mcg import mcg_sample
    from baselines.repaint import repaint_levels, repaint_sample
    from baselines.score_sde import score_sde_sample

    torch.manual_seed(0)
    config = ADM_256 if SIDE == 256 else dict(ADM_256, image_size=SIDE, model_channels=32, channel_mult=(1, 2),
                                                   num_res_blocks=1, attention_resolutions=(16,), num_head_channels=32)
    unet = ADMUNet(**config).to(DEV).eval()
    x = torch.randn(1, 3, SIDE, SIDE, device=DEV)
    t = torch.tensor([500], device=DEV)
    with torch.no_grad():
        fp32 = cuda_seconds(lambda: unet(x, t))
        ref = unet(x, t)
        if DEV == "cuda":
            import copy

            half = copy.deepcopy(unet).to_fp16()
            fp16 = cuda_seconds(lambda: half(x, t))
            out16 = half(x, t).float()
            del half
        else:                                      # CPU half-precision convolutions: not timed
            fp16, out16 = None, ref
    xg = x.clone().requires_grad_(True)
    fwd_bwd = cuda_seconds(lambda: torch.autograd.grad(unet(xg, t)[:, :3].square().sum(), xg), repeats=3)
    rel = float((out16 - ref).norm() / ref.norm())
    levels = repaint_levels(250, 10, 10)
    downs = sum(1 for a, b in zip(levels, levels[1:]) if b < a)
    nfe = {"score_sde": 250, "ddrm": 250, "mcg": 250, "repaint": downs}
    emit(check="adm_unet_256", params=sum(p.numel() for p in unet.parameters()), fp32_s=round(fp32, 4),
         fp16_s=None if fp16 is None else round(fp16, 4), fwd_bwd_fp32_s=round(fwd_bwd, 4),
         fp16_vs_fp32_rel_err=round(rel, 5),
         evaluations_at_250_steps=nfe,
         estimated_s_per_image_fp32={k: round(v * (fwd_bwd if k == "mcg" else fp32), 1) for k, v in nfe.items()})
    if not runs:
        return
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, SIDE, SIDE, generator=g).to(DEV) * 2 - 1
    keep = torch.ones(1, 1, SIDE, SIDE, device=DEV)
    keep[..., SIDE // 4: 3 * SIDE // 4, SIDE // 4: 3 * SIDE // 4] = 0
    y = y * keep
    sched = InpaintSchedule(steps)

    def eps(xt, tt):
        return unet(xt, tt)[:, :3]

    for name, fn, kw in (("score_sde", score_sde_sample, {}), ("ddrm", ddrm_sample, {}), ("mcg", mcg_sample, {}),
                         ("repaint", repaint_sample, {"jump": 10, "resample": 10})):
        sync()
        t0 = time.perf_counter()
        with torch.set_grad_enabled(name == "mcg"):
            out = fn(eps, y, keep, sched, torch.Generator().manual_seed(1), **kw)
        sync()
        emit(check="inpaint_run", method=name, steps=steps, seconds=round(time.perf_counter() - t0, 2),
             finite=bool(torch.isfinite(out).all()),
             known_pixels_before_paste_max_err=float(((out - y) * keep).abs().max()))


def cuda_vs_cpu():
    import resshift
    from resshift.config import build_model
    from tiny_models import tiny_task_config

    cfg = tiny_task_config("realsr")
    torch.manual_seed(0)
    model = build_model(cfg, checkpoint=False, autoencoder_checkpoint=False)
    lq = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    cpu = resshift.restore(lq, model=model, seed=3, device="cpu", progress=False)
    gpu = resshift.restore(lq, model=model.to(DEV), seed=3, device=DEV, progress=False).cpu()
    emit(check="restore_cuda_vs_cpu", shape=list(cpu.shape), max_abs_diff=float((cpu - gpu).abs().max()))


def training(tmp: Path):
    from resshift.config import load_config
    from resshift.train import train

    cfg = load_config("demo_realsr")
    cfg["data"] = {"kind": "packaged", "crop": 64, "pipeline": {"name": "bicubic"}}
    cfg["train"].update(iterations=30, checkpoint_every=30)
    t0 = time.perf_counter()
    ckpt = train(cfg, tmp / "gpu_train", progress=False, log=lambda m: None, device=DEV)
    rows = (tmp / "gpu_train" / "log.csv").read_text().splitlines()
    emit(check="train_cuda", iterations=30, seconds=round(time.perf_counter() - t0, 2), checkpoint=Path(ckpt).name,
         log_first=rows[1] if len(rows) > 1 else None, log_last=rows[-1])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--inpaint-steps", type=int, default=250)
    ap.add_argument("--skip-inpaint-runs", action="store_true")
    ap.add_argument("--tmp", default="/tmp/gpu_check")
    ap.add_argument("--smoke", action="store_true", help="run every check on the CPU at toy sizes (to test the script)")
    ap.add_argument("--quick", action="store_true",
                    help="only Table II's runtime columns; without CUDA, on the CPU at 16x16")
    args = ap.parse_args(argv)
    global DEV, SIDE, LQ_SIDE
    if args.smoke:
        DEV, SIDE, args.inpaint_steps = "cpu", 32, 4
    elif args.quick and not torch.cuda.is_available():
        DEV, LQ_SIDE = "cpu", 16
    elif not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA device (--smoke runs the checks on the CPU at toy sizes; --quick only Table II's "
                 "runtimes, on the CPU at 16x16)")
    emit(check="device", name=torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu", torch=torch.__version__)
    if args.quick:
        table2_runtimes(quick=True)
        return
    tmp = Path(args.tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    for step in (cuda_vs_cpu, lambda: training(tmp), table2_runtimes,
                 lambda: inpainting(args.inpaint_steps, not args.skip_inpaint_runs),
                 lambda: other_baselines(args.smoke)):
        try:
            step()
        except Exception:
            import traceback

            emit(check="failed", error=traceback.format_exc()[-1500:])


if __name__ == "__main__":
    main()
