"""Training ResShift (Eq. 10; Eq. 11 adds LPIPS-VGG through the frozen decoder for ResShiftL),
and, selected by ``diffusion.kind: eps``, the conventional eps-prediction LDM on the same
backbone (:mod:`resshift.ldm`). Resumable.

``train(config, out_dir, max_iters=None, resume=False)``, on one device or under ``torchrun``
(DistributedDataParallel; gloo on the CPU, NCCL on GPUs; each process builds and trains on its
share of every global batch): AdamW, linear warm-up then cosine decay, gradient accumulation over
micro-batches, EMA of the weights, mixed precision (``train.amp``: bf16, or fp16 with a gradient
scaler on CUDA), optional ``torch.compile`` (``train.compile``), gradient clipping, and a guard
that skips a non-finite loss (logged) and stops after repeated ones.

Every sample, timestep and noise draw comes from a generator seeded by (seed, iteration, sample),
so a resumed run continues exactly as if it had not stopped (on the CPU the weights are
identical) and the data do not depend on the number of processes or prefetching workers
(``data.workers``). Data: :mod:`resshift.data.sources` (packaged images, a folder of HQ images
or paired folders; bicubic, Real-ESRGAN two-order, face, mixed-mask or test-set pipelines).

Checkpoints (``checkpoints/iter_<N>.pth`` and ``last.pth``, written atomically) hold the weights,
EMA, optimiser, gradient scaler, LR schedule, iteration, RNG states and the configuration.
``log.csv`` has one row per iteration (also TensorBoard under ``tb/`` when it is installed);
with ``train.validate_every`` the EMA weights restore held-out pairs (``config["validation"]``)
and their PSNR on Y (and LPIPS when its weights are present) go to ``validation.csv``.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from .config import build_model, load_config
from .data.sources import TrainingBatches
from .demo import psnr_y
from .diffusion import ResShiftDiffusion
from .errors import ResShiftError
from .files import atomic_path
from .imageio import list_images, read_image, write_text
from .noise import NoiseField, seed_for
from .packaged import TEST_IMAGES, packaged_array
from .progress import progress_bar
from .sampling import pad_to_multiple, sample

NONFINITE_LIMIT = 5
VGG16 = {"file": "vgg16-397923af.pth", "url": "https://download.pytorch.org/models/vgg16-397923af.pth",
         "size": "528 MB"}


def lr_factor(i: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` iterations, then cosine decay to ``min_ratio``."""
    if i < warmup:
        return (i + 1) / warmup
    progress = min(1.0, (i - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def _offline() -> bool:
    return any(os.environ.get(k, "") not in ("", "0") for k in ("RESSHIFT_OFFLINE", "HF_HUB_OFFLINE"))


def lpips_vgg_weights() -> Path:
    """Where torchvision keeps the VGG16 weights that LPIPS-VGG (Eq. 11) loads."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16["file"]


def build_lpips_vgg(random_backbone: bool = False) -> torch.nn.Module:
    """The frozen LPIPS-VGG (lpips package, v0.1) of Eq. 11, on images in [-1, 1].

    Its linear layers ship with ``lpips``; the VGG16 backbone is torchvision's, fetched into the
    torch hub cache at first use. ``random_backbone`` keeps a random VGG (tests and timing only:
    not a perceptual loss).
    """
    import lpips

    path = lpips_vgg_weights()
    missing = (f"loss.lpips_vgg needs torchvision's VGG16 weights {path} ({VGG16['size']}, {VGG16['url']}); "
               "download them there, or set loss.lpips_vgg=0 to train without the perceptual term")
    if not random_backbone and not path.is_file() and _offline():
        raise ResShiftError(missing + " (offline: HF_HUB_OFFLINE/RESSHIFT_OFFLINE is set)")
    try:
        net = lpips.LPIPS(net="vgg", pnet_rand=random_backbone, verbose=False)
    except Exception as exc:                                  # a failed download
        raise ResShiftError(f"{missing} ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    return net.eval().requires_grad_(False)


def _lpips_alex_for_validation():
    """pyiqa-free LPIPS (AlexNet, v0.1) for validation when torchvision's AlexNet weights are cached."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / "alexnet-owt-7be5be79.pth"
    if not path.is_file():
        return None
    import lpips

    return lpips.LPIPS(net="alex", verbose=False).eval().requires_grad_(False)


def validation_pairs(cfg: dict, sf: int, seed: int) -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    """(name, HQ, LQ, mask) held-out pairs: a paired folder (``validation.gt``/``lq``), or centre
    crops (``crop`` px) of packaged images degraded by the training pipeline with a fixed seed."""

    val = cfg.get("validation") or {}
    if val.get("gt"):

        gt = {p.stem: p for p in list_images(val["gt"])}
        lq = {p.stem: p for p in list_images(val["lq"])}
        return [(s, read_image(gt[s])[0][None], read_image(lq[s])[0][None], None) for s in sorted(set(gt) & set(lq))]

    crop = int(val.get("crop", 128))
    vcfg = {"name": cfg["name"], "data": {**(cfg.get("data") or {}), "kind": "packaged", "crop": crop}}
    out = []
    for name in val.get("images", TEST_IMAGES):
        img = packaged_array(name)
        if min(img.shape[:2]) < crop:
            raise ResShiftError(f"validation image {name} is smaller than validation.crop {crop}")
        top, left = (img.shape[0] - crop) // 2, (img.shape[1] - crop) // 2
        vcfg["data"]["images"] = [name]
        src = TrainingBatches(vcfg, sf, seed, 0, 1, 1)
        src.images = [img[top:top + crop, left:left + crop]]     # the centre crop (the drawn crop is all of it)
        s = src.sample(seed_for(seed, "validation", name), 0)
        out.append((name, s["hq"][None], s["lq"][None], s["mask"][None] if "mask" in s else None))
    return out


def validate(model, net: torch.nn.Module, pairs, seed: int, device, lpips_fn=None) -> dict[str, float]:
    """Mean PSNR on Y (basicsr's definition) of ``net`` (e.g. the EMA) restoring the pairs, and
    mean LPIPS when ``lpips_fn`` is given. ResShift samples with the position-seeded noise of
    ``resshift restore``; an eps model with its DDIM sampler."""

    unet, model.unet = model.unet, net
    psnr, lp = [], []
    try:
        for name, hq, lq, mask in pairs:
            padded, (h, w) = pad_to_multiple(lq.to(device), model.size_multiple)
            pmask = None if mask is None else pad_to_multiple(mask.to(device), model.size_multiple)[0]
            if not isinstance(model.diffusion, ResShiftDiffusion):       # eps: its generator's draws
                gen = torch.Generator(device).manual_seed(seed_for(seed, "validation", name))
                out = model.restore(padded, pmask, generator=gen)
            else:
                out = sample(model, padded, NoiseField(seed, [name]), mask=pmask)
            out = out[..., : h * model.sf, : w * model.sf].cpu().float()
            psnr.append(psnr_y(out, hq))
            if lpips_fn is not None:
                with torch.no_grad():
                    lp.append(float(lpips_fn(out * 2 - 1, hq * 2 - 1).mean()))
    finally:
        model.unet = unet
    scores = {"psnr_y": float(np.mean(psnr))}
    if lp:
        scores["lpips"] = float(np.mean(lp))
    return scores


def _rng_state() -> dict:
    """torch, numpy and Python RNG states in types that ``torch.load(weights_only=True)`` reads."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
            "python": [version, list(internal), py_gauss]}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, py_gauss = state["python"]
    random.setstate((version, tuple(internal), py_gauss))


def _atomic_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_training_checkpoint(path: Path, cfg: dict) -> dict:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ResShiftError(f"{path}: not a readable training checkpoint ({str(exc).splitlines()[0]}); "
                            "delete it to start over or point --out elsewhere") from None
    if not isinstance(ckpt, dict) or "unet" not in ckpt or "iteration" not in ckpt:
        raise ResShiftError(f"{path}: not a training checkpoint of `resshift train`")
    if ckpt.get("config", {}).get("unet") != cfg["unet"] or ckpt.get("config", {}).get("diffusion") != cfg["diffusion"]:
        raise ResShiftError(f"{path}: written for configuration {ckpt.get('config', {}).get('name')!r} with other "
                            f"network or diffusion settings than {cfg['name']!r}; use its own --config")
    return ckpt


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:                        # optional: only when tensorboard is installed
        return None
    return SummaryWriter(str(out / "tb"))


def train(config: dict | str, out_dir: str | Path, *, max_iters: int | None = None, resume: bool = False,
          device: str = "cpu", progress: bool = True, log=print) -> Path:
    """Train; returns the path of the last checkpoint."""


    cfg = copy.deepcopy(load_config(config) if isinstance(config, (str, Path)) else config)
    tcfg = cfg["train"]
    total = int(tcfg["iterations"])
    stop_at = min(total, int(max_iters)) if max_iters is not None else total
    seed = int(tcfg.get("seed", 0))
    micro = int(tcfg.get("micro_batch", tcfg["batch_size"]))
    batch = int(tcfg["batch_size"])
    if batch % micro:
        raise ResShiftError(f"train.batch_size {batch} is not a multiple of train.micro_batch {micro}")
    every = int(tcfg.get("checkpoint_every", max(1, total // 4)))
    val_every = int(tcfg.get("validate_every", 0))
    out = Path(out_dir)
    dev = torch.device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = 0
    if world > 1:                                  # launched by torchrun: one process per device
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        rank = dist.get_rank()
        if dev.type == "cuda":
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
            torch.cuda.set_device(dev)
    if batch % (world * micro):
        raise ResShiftError(f"train.batch_size {batch} must split into {world} process(es) x micro-batches of {micro}")
    local = batch // world
    if rank != 0:
        log = (lambda m: None)                      # noqa: E731 - only rank 0 reports
        progress = False
    amp = tcfg.get("amp") or "fp32"
    amp = {True: "bf16"}.get(amp, amp)
    if amp not in ("fp32", "bf16", "fp16"):
        raise ResShiftError(f"train.amp {amp!r}: use false, bf16 or fp16")
    if amp == "fp16" and dev.type != "cuda":
        raise ResShiftError("train.amp fp16 needs a CUDA device; use bf16 or false on the CPU")
    autocast = (torch.autocast(dev.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)
                if amp != "fp32" else contextlib.nullcontext())
    scaler = torch.amp.GradScaler(dev.type, enabled=amp == "fp16")
    lcfg = cfg.get("loss") or {}
    mse_weight, lpips_weight = float(lcfg.get("mse", 1.0)), float(lcfg.get("lpips_vgg", 0.0))
    eps_model = cfg["diffusion"].get("kind", "resshift") == "eps"
    if lpips_weight > 0 and eps_model:
        raise ResShiftError("loss.lpips_vgg applies to ResShift's x0 prediction; set it to 0 for diffusion.kind eps")

    data = TrainingBatches(cfg, int(cfg["diffusion"].get("sf", 4)), seed, rank * local, (rank + 1) * local, stop_at)
    torch.manual_seed(seed)
    ae_src = False                                  # pixel space: no autoencoder
    if cfg.get("autoencoder"):                      # latent space: the frozen, pretrained autoencoder
        key = cfg["autoencoder"].get("checkpoint")
        if not key:
            raise ResShiftError(f"configuration {cfg['name']}: latent-space training needs the frozen autoencoder; "
                                "set autoencoder.checkpoint to a file (--set autoencoder.checkpoint=PATH) or a "
                                "released name (resshift weights list)")
        ae_src = key if Path(str(key)).suffix in (".pth", ".ckpt", ".pt", ".safetensors") else None
        if ae_src is not None and not Path(ae_src).is_file():
            raise ResShiftError(f"autoencoder.checkpoint {ae_src}: no such file")
    model = build_model(cfg, checkpoint=False, autoencoder_checkpoint=ae_src)
    perceptual = (build_lpips_vgg(lcfg.get("lpips_backbone") == "random").to(dev) if lpips_weight > 0 else None)
    net = model.unet.to(dev).train()
    if model.autoencoder is not None:
        model.autoencoder.to(dev)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    ddp = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
    forward = ddp
    if tcfg.get("compile"):                         # true, a mode name, or {backend, mode} for torch.compile
        spec = tcfg["compile"]
        spec = {} if spec is True else {"mode": spec} if isinstance(spec, str) else dict(spec)
        forward = torch.compile(ddp, **spec)
    opt = torch.optim.AdamW(net.parameters(), lr=float(tcfg["lr"]), weight_decay=float(tcfg.get("weight_decay", 0.0)))
    min_ratio = float(tcfg.get("lr_min", tcfg["lr"])) / float(tcfg["lr"])
    warm = int(tcfg.get("warmup_iterations", 0))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_factor(i, warm, total, min_ratio))
    start = 0
    last = out / "checkpoints" / "last.pth"
    if resume and last.is_file():
        ckpt = load_training_checkpoint(last, cfg)
        net.load_state_dict(ckpt["unet"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start = int(ckpt["iteration"])
        _set_rng_state(ckpt["rng"])
        log(f"resumed from {last} at iteration {start}")
    elif resume:
        log(f"no checkpoint in {out / 'checkpoints'}; starting from iteration 0")
    workers = int((cfg.get("data") or {}).get("workers", 0))
    loader = torch.utils.data.DataLoader(data, batch_size=None, sampler=range(start, stop_at), num_workers=workers,
                                         prefetch_factor=2 if workers else None)
    diffusion, rate = model.diffusion, float(tcfg.get("ema_rate", 0.999))
    log_path = out / "log.csv"
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        import yaml


        write_text(yaml.safe_dump(cfg, sort_keys=False), out / "config.yaml")
    new_log = not log_path.is_file() or start == 0
    log_file = open(log_path if rank == 0 else os.devnull, "w" if new_log else "a", newline="")
    writer = csv.writer(log_file)
    if new_log:
        writer.writerow(["iteration", "loss", "mse", "lpips", "lr", "seconds", "skipped"])
    tb = _tensorboard(out) if rank == 0 and tcfg.get("tensorboard", True) else None
    nonfinite = 0
    val_every = val_every if rank == 0 else 0
    pairs = validation_pairs(cfg, model.sf, seed) if val_every else []
    val_lpips = _lpips_alex_for_validation() if val_every else None
    val_path = out / "validation.csv"
    if val_every and (start == 0 or not val_path.is_file()):
        val_path.write_text("iteration,psnr_y,lpips\n")
    bar = progress_bar(loader, initial=start, total=stop_at, desc=f"training {cfg['name']}", show=progress)
    chain_shape = None
    t0 = time.time()
    for it, item in zip(range(start, stop_at), bar):
        hq, lq, mask = item["hq"], item["lq"], item.get("mask")
        if chain_shape is None:
            chain_shape = diffusion.encode(hq[:1].to(dev) * 2 - 1, model.autoencoder).shape[1:]
        ts, noises = [], []
        for k in range(rank * local, (rank + 1) * local):     # per sample: independent of the split
            g = torch.Generator().manual_seed(seed_for(seed, "noise", it, k))
            ts.append(torch.randint(diffusion.num_timesteps, (1,), generator=g))
            noises.append(torch.randn(chain_shape, generator=g))
        t, noise = torch.cat(ts), torch.stack(noises)
        opt.zero_grad(set_to_none=True)
        sums = {"loss": 0.0, "mse": 0.0, "lpips": 0.0}
        for k in range(0, local, micro):
            sl = slice(k, k + micro)
            lq11 = lq[sl].to(dev) * 2 - 1
            m = None if mask is None else mask[sl].to(dev)
            sync = contextlib.nullcontext() if (world == 1 or k + micro >= local) else ddp.no_sync()
            with sync:
                with autocast:
                    losses = diffusion.training_losses(forward, hq[sl].to(dev) * 2 - 1, lq11, t[sl].to(dev),
                                                       autoencoder=model.autoencoder, noise=noise[sl].to(dev),
                                                       model_kwargs=model.model_kwargs(lq11, m), lpips=perceptual,
                                                       mse_weight=mse_weight, lpips_weight=lpips_weight)
                loss = losses["loss"].float().mean() * (micro / local)
                scaler.scale(loss).backward()
            for key in sums:
                if key in losses:
                    sums[key] += float(losses[key].detach().float().mean()) * (micro / local)
        if world > 1:                               # means over all processes, agreed by all
            summed = torch.tensor([sums["loss"], sums["mse"], sums["lpips"]], dtype=torch.float64)
            dist.all_reduce(summed)
            sums = dict(zip(("loss", "mse", "lpips"), (summed / world).tolist()))
        total_loss = sums["loss"]
        skipped = not math.isfinite(total_loss)
        if skipped:
            nonfinite += 1
            opt.zero_grad(set_to_none=True)
            log(f"iteration {it}: non-finite loss {total_loss}; step skipped ({nonfinite} in a row)")
            if nonfinite >= NONFINITE_LIMIT:
                log_file.close()
                raise ResShiftError(f"{cfg['name']}: {nonfinite} non-finite losses in a row at iteration {it}; "
                                    "lower train.lr or check the data")
        else:
            nonfinite = 0
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(net.parameters(), float(tcfg.get("grad_clip", 1.0)))
            scaler.step(opt)
            scaler.update()
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), net.parameters()):
                    pe.mul_(rate).add_(p.detach(), alpha=1 - rate)
                for be, b in zip(ema.buffers(), net.buffers()):
                    be.copy_(b)
        sched.step()
        lr = sched.get_last_lr()[0]
        writer.writerow([it + 1, f"{total_loss:.6f}", f"{sums['mse']:.6f}",
                         f"{sums['lpips']:.6f}" if perceptual is not None else "", f"{lr:.3e}",
                         f"{time.time() - t0:.2f}", int(skipped)])
        if tb is not None:
            for key in ("loss", "mse") + (("lpips",) if perceptual is not None else ()):
                tb.add_scalar(f"train/{key}", sums[key], it + 1)
            tb.add_scalar("train/lr", lr, it + 1)
        bar.set_postfix(loss=f"{total_loss:.4f}")
        if val_every and (it + 1) % val_every == 0:
            scores = validate(model, ema, pairs, seed, dev, val_lpips)
            with open(val_path, "a") as f:
                f.write(f"{it + 1},{scores['psnr_y']:.4f},{scores.get('lpips', float('nan')):.4f}\n")
            if tb is not None:
                for key, value in scores.items():
                    tb.add_scalar(f"validation/{key}", value, it + 1)
            log(f"iteration {it + 1}: validation PSNR-Y (EMA) {scores['psnr_y']:.2f} dB"
                + (f", LPIPS {scores['lpips']:.4f}" if "lpips" in scores else ""))
        if rank == 0 and ((it + 1) % every == 0 or it + 1 == stop_at):
            state = {"unet": net.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "iteration": it + 1,
                     "config": cfg, "amp": amp,
                     "rng": _rng_state()}
            _atomic_save(state, out / "checkpoints" / f"iter_{it + 1:07d}.pth")
            _atomic_save(state, last)
            log_file.flush()
    log_file.close()
    if tb is not None:
        tb.close()
    if world > 1:
        dist.barrier()
    return last
