"""The offline CPU demo: train the tiny pixel-space ResShift on images that ship inside
installed packages, then restore a held-out image and compare it with bicubic upsampling.

Degradation: bicubic x4 downsampling (antialiased), the ``bicsr`` task in miniature.
Training images: scikit-image's astronaut, coffee, rocket, motorcycle and matplotlib's
grace_hopper; held-out test image: scikit-image's chelsea.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .compat import import_basicsr
from .config import build_model, load_config
from .files import atomic_path
from .imageio import write_image, write_text
from .packaged import PACKAGED, TEST_IMAGES, TRAIN_IMAGES, packaged_array, packaged_image  # noqa: F401  (benchmarks/)
from .progress import progress_bar


def bicubic_down(hq: torch.Tensor, sf: int) -> torch.Tensor:
    """Antialiased bicubic downsampling by ``sf``, rounded to 8 bits."""
    lq = F.interpolate(hq, scale_factor=1 / sf, mode="bicubic", antialias=True, align_corners=False)
    return lq.clamp(0, 1).mul(255).round().div(255)


def psnr_y(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR on Y of YCbCr (BT.601), no border crop: basicsr's ``calculate_psnr(test_y_channel=True)``
    on 8-bit images. (1, 3, H, W) RGB tensors in [0, 1]."""

    import_basicsr()
    from basicsr.metrics.psnr_ssim import calculate_psnr

    def bgr(x: torch.Tensor) -> np.ndarray:               # basicsr takes HWC BGR in [0, 255]
        return x[0].clamp(0, 1).mul(255).round().permute(1, 2, 0).flip(-1).double().numpy()

    return float(calculate_psnr(bgr(a), bgr(b), crop_border=0, test_y_channel=True))


def random_crops(images: list[torch.Tensor], n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    out = []
    for _ in range(n):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        _, h, w = img.shape
        top = int(torch.randint(h - size + 1, (1,), generator=gen))
        left = int(torch.randint(w - size + 1, (1,), generator=gen))
        crop = img[:, top:top + size, left:left + size]
        if torch.rand(1, generator=gen) < 0.5:
            crop = crop.flip(-1)
        out.append(crop)
    return torch.stack(out)


def train_tiny(out_dir: Path, iterations: int, batch_size: int, crop: int, seed: int,
               progress: bool = True) -> tuple[Path, list[float]]:
    """Train the ``tiny`` configuration (Eq. 10) on packaged images; returns the checkpoint."""

    cfg = load_config("tiny")
    torch.manual_seed(seed)
    model = build_model(cfg, checkpoint=False)
    net, diffusion = model.unet.train(), model.diffusion
    images = [packaged_image(n) for n in TRAIN_IMAGES]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg["train"]["lr"], weight_decay=0.0)
    warm = cfg["train"]["warmup_iterations"]
    lr_min_ratio = cfg["train"]["lr_min"] / cfg["train"]["lr"]

    def lr_lambda(i):
        if i < warm:
            return (i + 1) / warm
        progress_ = (i - warm) / max(1, iterations - warm)
        return lr_min_ratio + (1 - lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress_))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    losses = []
    bar = progress_bar(range(iterations), desc="demo training", show=progress)
    for _ in bar:
        hq = random_crops(images, batch_size, crop, gen)
        lq = bicubic_down(hq, diffusion.sf)
        t = torch.randint(diffusion.num_timesteps, (batch_size,), generator=gen)
        noise = torch.randn(hq.shape, generator=gen)
        lq11 = lq * 2 - 1
        out = diffusion.training_losses(net, hq * 2 - 1, lq11, t, noise=noise,
                                        model_kwargs=model.model_kwargs(lq11))
        loss = out["loss"].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "tiny_demo.pth"
    with atomic_path(ckpt) as tmp:
        torch.save({"state_dict": net.state_dict(), "config": cfg, "iterations": iterations, "seed": seed}, tmp)
    return ckpt, losses


def run_demo(out_dir: str | Path = "results/demo", iterations: int = 300, batch_size: int = 8,
             crop: int = 64, seed: int = 0, test_size: int = 256, progress: bool = True) -> dict:
    """Train, restore the held-out image(s), write PNGs and ``metrics.json``; returns the metrics."""
    out_dir = Path(out_dir)
    torch.set_num_threads(max(1, min(os.cpu_count() or 1, 8)))
    t0 = time.time()
    ckpt, losses = train_tiny(out_dir, iterations, batch_size, crop, seed, progress)
    train_s = time.time() - t0
    model = build_model("tiny", checkpoint=ckpt)
    rows = []
    for name in TEST_IMAGES:
        img = packaged_image(name)
        _, h, w = img.shape
        s = min(test_size, h, w) // 8 * 8
        top, left = (h - s) // 2, (w - s) // 2
        gt = img[None, :, top:top + s, left:left + s]
        lq = bicubic_down(gt, model.sf)
        gen = torch.Generator().manual_seed(seed)
        t1 = time.time()
        restored = model.restore(lq, generator=gen)
        sample_s = time.time() - t1
        bicubic = F.interpolate(lq, scale_factor=model.sf, mode="bicubic").clamp(0, 1)
        for tag, im in (("gt", gt), ("lq", lq), ("bicubic", bicubic), ("resshift", restored)):
            write_image(im[0], out_dir / f"{name}_{tag}.png")
        rows.append({"image": name, "psnr_y_bicubic": round(psnr_y(bicubic, gt), 3),
                     "psnr_y_resshift": round(psnr_y(restored, gt), 3), "sample_seconds": round(sample_s, 2)})
    result = {"config": "tiny", "iterations": iterations, "batch_size": batch_size, "crop": crop,
              "seed": seed, "train_seconds": round(train_s, 1),
              "final_loss": round(float(np.mean(losses[-20:])), 5), "steps": model.steps,
              "checkpoint": str(ckpt), "images": rows}
    write_text(json.dumps(result, indent=2) + "\n", out_dir / "metrics.json")
    return result
