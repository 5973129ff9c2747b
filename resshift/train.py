"""Training ResShift (Eq. 10; Eq. 11 adds LPIPS through the decoder for ResShiftL), resumable.

``train(config, out_dir, max_iters=None, resume=False)``, on one device or under ``torchrun``
(DistributedDataParallel; gloo on the CPU, NCCL on GPUs; each process takes its share of every
global batch): AdamW, linear warm-up then cosine
decay, gradient accumulation over micro-batches, EMA of the weights, mixed precision
(``train.amp``: bf16, or fp16 with a gradient scaler on CUDA), gradient clipping, and a
guard that skips a non-finite loss (logged) and stops after repeated ones. Every batch, timestep
and noise draw comes from a generator seeded by (seed, iteration), so a run resumed from a
checkpoint continues exactly as if it had not stopped (on the CPU the weights are identical).
Checkpoints (``checkpoints/iter_<N>.pth`` and ``last.pth``, written atomically) hold the weights,
EMA, optimiser, LR schedule, iteration, RNG states and the configuration.

Data (``config["data"]``): ``packaged`` (images inside installed packages, the demo's default)
degraded on the fly by bicubic x``sf`` downsampling or by ``data.degradation`` (a
``resshift.data.degradations`` pipeline such as the test sets' ``realesrgan_first_order``, drawn
per sample), or ``paired`` folders (``gt``, ``lq``). With
``train.validate_every`` the EMA weights restore held-out pairs (``config["validation"]``) and
their PSNR on Y goes to ``validation.csv``.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .config import build_model, load_config
from .errors import ResShiftError
from .sampling import seed_for

NONFINITE_LIMIT = 5


def lr_factor(i: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` iterations, then cosine decay to ``min_ratio``."""
    if i < warmup:
        return (i + 1) / warmup
    progress = min(1.0, (i - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class PairSource:
    """Batches of (HQ, LQ) in [0, 1] for an iteration, from its own generator."""

    def __init__(self, cfg: dict, sf: int):
        from .demo import TRAIN_IMAGES, bicubic_down, packaged_image

        data = cfg.get("data") or {"kind": "packaged"}
        self.sf, self.crop = sf, int(data.get("crop", 64))
        self.kind = data["kind"]
        self._down = bicubic_down
        self.degradation = data.get("degradation")          # None: bicubic; else a recipe-style dict
        if self.degradation is not None:
            from .data.degradations import DEGRADATIONS

            if self.degradation.get("name") not in DEGRADATIONS:
                raise ResShiftError(f"data.degradation {self.degradation.get('name')!r}: "
                                    f"choose one of {', '.join(DEGRADATIONS)}")
        if self.kind == "packaged":
            self.images = [packaged_image(n) for n in data.get("images", TRAIN_IMAGES)]
        elif self.kind == "paired":
            from .imageio import list_images, read_image

            gt = {p.stem: p for p in list_images(data["gt"])}
            lq = {p.stem: p for p in list_images(data["lq"])}
            if set(gt) != set(lq):
                raise ResShiftError(f"{data['gt']} and {data['lq']}: file names differ")
            self.pairs = [(read_image(gt[s])[0], read_image(lq[s])[0]) for s in sorted(gt)]
        else:
            raise ResShiftError(f"data kind {self.kind!r}: use packaged or paired")

    def batch(self, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        c, sf = self.crop, self.sf
        hq, lq = [], []
        for _ in range(n):
            if self.kind == "packaged":
                img = self.images[int(torch.randint(len(self.images), (1,), generator=gen))]
                top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=gen))
                left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=gen))
                crop = img[:, top:top + c, left:left + c]
                if torch.rand(1, generator=gen) < 0.5:
                    crop = crop.flip(-1)
                hq.append(crop)
            else:
                g, q = self.pairs[int(torch.randint(len(self.pairs), (1,), generator=gen))]
                cl = c // sf
                top = int(torch.randint(q.shape[1] - cl + 1, (1,), generator=gen))
                left = int(torch.randint(q.shape[2] - cl + 1, (1,), generator=gen))
                lq.append(q[:, top:top + cl, left:left + cl])
                hq.append(g[:, top * sf:(top + cl) * sf, left * sf:(left + cl) * sf])
        hq_t = torch.stack(hq)
        if lq:
            return hq_t, torch.stack(lq)
        if self.degradation is None:
            return hq_t, self._down(hq_t, sf)
        from .data.degradations import DEGRADATIONS

        draw, apply = DEGRADATIONS[self.degradation["name"]]
        out = []
        for img in hq_t:                        # one numpy generator per sample, from this batch's
            rng = np.random.default_rng(int(torch.randint(2 ** 62, (1,), generator=gen)))
            arr = img.mul(255).round().div(255).permute(1, 2, 0).numpy().astype(np.float32)
            out.append(torch.from_numpy(apply(arr, draw(rng, self.degradation), self.degradation)).permute(2, 0, 1))
        return hq_t, torch.stack(out).float() / 255


def validation_pairs(cfg: dict, sf: int) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, HQ, LQ) held-out pairs: ``config["validation"]`` packaged images (centre crops of
    ``crop`` px, bicubic x``sf``) or a paired folder (``gt``, ``lq``)."""
    from .demo import TEST_IMAGES, bicubic_down, packaged_image

    val = cfg.get("validation") or {}
    if val.get("gt"):
        from .imageio import list_images, read_image

        gt = {p.stem: p for p in list_images(val["gt"])}
        lq = {p.stem: p for p in list_images(val["lq"])}
        return [(s, read_image(gt[s])[0][None], read_image(lq[s])[0][None]) for s in sorted(set(gt) & set(lq))]
    out, crop = [], int(val.get("crop", 128))
    for name in val.get("images", TEST_IMAGES):
        img = packaged_image(name)
        top, left = (img.shape[1] - crop) // 2, (img.shape[2] - crop) // 2
        hq = img[None, :, top:top + crop, left:left + crop]
        out.append((name, hq, bicubic_down(hq, sf)))
    return out


def validate(model, net: torch.nn.Module, pairs, seed: int, device) -> dict[str, float]:
    """Mean PSNR on Y (basicsr's definition) of ``net`` (e.g. the EMA) restoring the pairs."""
    from .demo import psnr_y
    from .sampling import NoiseField, pad_to_multiple, sample

    unet, model.unet = model.unet, net
    try:
        scores = []
        for name, hq, lq in pairs:
            padded, (h, w) = pad_to_multiple(lq.to(device), model.size_multiple)
            out = sample(model, padded, NoiseField(seed, [name]))[..., : h * model.sf, : w * model.sf]
            scores.append(psnr_y(out.cpu(), hq))
    finally:
        model.unet = unet
    return {"psnr_y": float(np.mean(scores))}


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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


def train(config: dict | str, out_dir: str | Path, *, max_iters: int | None = None, resume: bool = False,
          device: str = "cpu", progress: bool = True, log=print) -> Path:
    """Train; returns the path of the last checkpoint."""
    from tqdm.auto import tqdm

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

    torch.manual_seed(seed)
    model = build_model(cfg, checkpoint=False, autoencoder_checkpoint=None if cfg.get("autoencoder") else False)
    net = model.unet.to(dev).train()
    if model.autoencoder is not None:
        model.autoencoder.to(dev)
    ema = copy.deepcopy(net).eval().requires_grad_(False)
    ddp = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda" else None)
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
    data = PairSource(cfg, model.sf)
    diffusion, rate = model.diffusion, float(tcfg.get("ema_rate", 0.999))
    log_path = out / "log.csv"
    out.mkdir(parents=True, exist_ok=True)
    new_log = not log_path.is_file() or start == 0
    log_file = open(log_path if rank == 0 else os.devnull, "w" if new_log else "a", newline="")
    writer = csv.writer(log_file)
    if new_log:
        writer.writerow(["iteration", "loss", "lr", "seconds", "skipped"])
    nonfinite = 0
    val_every = val_every if rank == 0 else 0
    pairs = validation_pairs(cfg, model.sf) if val_every else []
    val_path = out / "validation.csv"
    if val_every and (start == 0 or not val_path.is_file()):
        val_path.write_text("iteration,psnr_y\n")
    bar = tqdm(range(start, stop_at), initial=start, total=stop_at, desc=f"training {cfg['name']}",
               disable=not progress)
    t0 = time.time()
    for it in bar:
        gen = torch.Generator().manual_seed(seed_for(seed, "train", it))
        hq, lq = data.batch(batch, gen)
        t = torch.randint(diffusion.num_timesteps, (batch,), generator=gen)
        noise_shape = diffusion.encode(hq[:1].to(dev) * 2 - 1, model.autoencoder).shape[1:]
        noise = torch.randn((batch, *noise_shape), generator=gen)
        opt.zero_grad(set_to_none=True)
        total_loss = 0.0
        for k in range(rank * local, (rank + 1) * local, micro):   # this process's share of the batch
            sl = slice(k, k + micro)
            lq11 = lq[sl].to(dev) * 2 - 1
            last_micro = k + micro >= (rank + 1) * local
            sync = contextlib.nullcontext() if (world == 1 or last_micro) else ddp.no_sync()
            with sync:
                with autocast:
                    losses = diffusion.training_losses(ddp, hq[sl].to(dev) * 2 - 1, lq11, t[sl].to(dev),
                                                       autoencoder=model.autoencoder, noise=noise[sl].to(dev),
                                                       model_kwargs=model.model_kwargs(lq11))
                loss = losses["loss"].float().mean() * (micro / local)
                scaler.scale(loss).backward()
            total_loss += loss.item()
        if world > 1:                               # the mean over all processes, agreed by all
            summed = torch.tensor([total_loss], dtype=torch.float64)
            dist.all_reduce(summed)
            total_loss = summed.item() / world
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
        writer.writerow([it + 1, f"{total_loss:.6f}", f"{sched.get_last_lr()[0]:.3e}", f"{time.time() - t0:.2f}",
                         int(skipped)])
        bar.set_postfix(loss=f"{total_loss:.4f}")
        if val_every and (it + 1) % val_every == 0:
            scores = validate(model, ema, pairs, seed, dev)
            with open(val_path, "a") as f:
                f.write(f"{it + 1},{scores['psnr_y']:.4f}\n")
            log(f"iteration {it + 1}: validation PSNR-Y (EMA) {scores['psnr_y']:.2f} dB")
        if rank == 0 and ((it + 1) % every == 0 or it + 1 == stop_at):
            state = {"unet": net.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "iteration": it + 1,
                     "config": cfg, "amp": amp,
                     "rng": _rng_state()}
            _atomic_save(state, out / "checkpoints" / f"iter_{it + 1:07d}.pth")
            _atomic_save(state, last)
            log_file.flush()
    log_file.close()
    if world > 1:
        dist.barrier()
    return last
