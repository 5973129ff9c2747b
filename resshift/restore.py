"""``resshift.restore``: restore files, folders or tensors with a ResShift model.

Each input is padded (reflect) to the network's multiple and cropped back; SR tasks return
x4 images, the others x1; inpainting pastes the known pixels back; face restoration runs at
512x512 (aligned square face crops of another size are resized to 512 first). Large inputs
are tiled with feathered blending (:mod:`resshift.sampling`). Every noise draw is seeded from
(seed, image stem, draw, block position), so an image's result depends neither on the batch,
nor on the other images, nor on the tiling (up to the network's own border effects).

Batching: same-size inputs are grouped into batches of ``batch_size``. On CUDA the batch goes
through the networks together. On the CPU the networks still take one image at a time: that
was faster here, and it keeps the bytes independent of the batch (oneDNN kernels change their
summation order with the batch size).
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import ResShiftModel, build_model, config_for, load_config
from .errors import ResShiftError
from .imageio import ImageInfo, check_writable, image_size, list_images, read_image, read_mask, write_image, write_text
from .progress import progress_bar
from .diffusion import ResShiftDiffusion
from .noise import NOISE_BLOCK, NoiseField
from .sampling import TILE_MODES, autocast, pad_to_multiple, passes, release_patches, sample, sample_release

FACE_SIZE = 512                 # the released face model's size (models give theirs: ResShiftModel.face_size)
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class RestoreReport:
    """What :func:`restore` did: outputs by stem, one-line errors, and the run's metadata."""

    outputs: dict[str, Path | torch.Tensor] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def resolve_config(task: str | None = None, version: str | None = None, config=None) -> dict:
    """The configuration for a task (``version`` picks the realsr release) or the one given."""
    if config is None:
        return config_for(task or "realsr", version)
    cfg = load_config(config) if isinstance(config, (str, Path)) else config
    if task and cfg["task"] != task and not (task == "bicsr" and cfg["task"] == "realsr"):
        raise ResShiftError(f"--config {cfg['name']} is a {cfg['task']} model, not {task}")
    return cfg


def _device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ResShiftError(f"--device {device}: not a device; use cpu or cuda") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ResShiftError("--device cuda: no CUDA device is available here; use --device cpu")
    return dev


class _Job:
    """One input image: path, stem, size and, once read, its tensors."""

    def __init__(self, path: Path | None, stem: str, size: tuple[int, int]):
        self.path, self.stem, self.size = path, stem, size
        self.image: torch.Tensor | None = None
        self.info = ImageInfo()
        self.mask: torch.Tensor | None = None
        self.mask_path: Path | None = None
        self.resized_from: tuple[int, int] | None = None


def restore(images, task: str | None = None, *, model: ResShiftModel | None = None, version: str | None = None,
            config=None, checkpoint=None, autoencoder=None, masks=None, steps: int | None = None,
            tile: int | None = None, tile_overlap: int | None = None, tile_norm: str = "image", batch_size: int = 1,
            device: str | torch.device = "cpu", precision: str = "fp32", seed: int = 12345,
            output: str | Path | None = None, progress: bool = True, allow_download: bool = True,
            on_error=None, noise=None, tile_mode: str = "seamless"):
    """Restore images with ResShift.

    Args:
        images: an image file or folder (path), a list of paths, or a tensor (B, 3, H, W) /
            (3, H, W) in [0, 1].
        task: realsr, bicsr, inpaint_imagenet, inpaint_face or faceir (default realsr).
        model: an already built :class:`ResShiftModel` (else built from task/version/config
            and checkpoint/autoencoder; released weights when no checkpoint is given).
        masks: inpainting hole masks (1 = hole): a file (one mask for all), a folder (matched
            by stem), or a tensor (B, 1, H, W) for tensor input.
        steps: must equal the model's trained number of steps when given.
        tile, tile_overlap: tile side and minimum overlap in input pixels (default: the
            configuration's ``inference.chop_size`` and ``chop_size - chop_stride``); ``tile=0``
            disables tiling.
        tile_mode: ``seamless`` (default: one chain over the whole image, the networks run tile by
            tile with feathered blending) or ``release`` (the authors' sampler: independent
            ``tile``-sized patches ``tile - tile_overlap`` apart, each its own chain, averaged;
            ``tile`` is then the release's chop size and ``tile - tile_overlap`` its chop stride,
            in input pixels). Only ``release`` reproduces the paper's numbers on large inputs.
        tile_norm: ``image`` (GroupNorm statistics over the whole image, as untiled; tiles run
            in lock-step) or ``tile`` (each tile's own; less memory, results depend on tiling).
        output: folder for PNGs (named by input stem) and ``meta.json``; without it, restored
            tensors are returned.
        on_error: called with each per-image error line as it happens.
        noise: replaces the seeded noise (for parity checks against recorded draws):
            ``noise(draw, shape, device=None, dtype=torch.float32)`` returns a (B, *shape)
            tensor for the B images of the batch being restored. It is called once per draw in
            the order the chain needs them: ``draw="prior"`` (x_T), then the step indices
            T-1 down to 1 (none at the last step, which adds no noise).

    Returns:
        For tensor input, the restored tensor. Otherwise a :class:`RestoreReport`; per-image
        problems are collected in ``report.errors`` (one line each) and the other images are
        still restored.
    """
    dev = _device(device)
    if precision not in PRECISIONS:
        raise ResShiftError(f"--precision {precision}: choose one of {', '.join(PRECISIONS)}")
    if batch_size < 1:
        raise ResShiftError(f"--batch-size {batch_size}: must be at least 1")
    cfg = resolve_config(task, version, config) if model is None else model.config
    if cfg["unet"]["params"].get("cond_mask") and masks is None:
        raise ResShiftError(f"task {cfg['task']} needs --mask (a file or a folder of masks, 1/white = hole)")
    if steps is not None and steps != cfg["diffusion"]["steps"]:
        raise ResShiftError(f"--steps {steps}: model {cfg['name']} was trained with {cfg['diffusion']['steps']} "
                            "steps and samples with exactly that many; drop --steps")
    if model is None:
        model = build_model(cfg, checkpoint=checkpoint, autoencoder_checkpoint=autoencoder,
                            allow_download=allow_download)
    elif task and model.config["task"] != task and not (task == "bicsr" and model.config["task"] == "realsr"):
        raise ResShiftError(f"model {model.config['name']} is a {model.config['task']} model, not {task}")
    if not isinstance(model.diffusion, ResShiftDiffusion):
        raise ResShiftError(f"{model.config['name']} is an eps-prediction model (diffusion.kind eps); restore it with "
                            "ResShiftModel.restore (its DDIM steps and timesteps), not resshift.restore")
    model.to(dev).eval()
    inference = model.config.get("inference") or {}
    if tile is None:
        tile = inference.get("chop_size")
    if tile_overlap is None:
        tile_overlap = (inference["chop_size"] - inference["chop_stride"]) if "chop_stride" in inference else 0
    tile = tile or None
    if tile_mode not in TILE_MODES:
        raise ResShiftError(f"--tile-mode {tile_mode}: choose {' or '.join(TILE_MODES)}")
    if tile is not None:
        m = model.size_multiple if tile_mode == "seamless" else 1        # release patches are padded one by one
        if tile % m:
            raise ResShiftError(f"--tile {tile}: must be a multiple of {m} for model {model.config['name']}")
        if not 0 <= tile_overlap < tile:
            raise ResShiftError(f"--tile-overlap {tile_overlap}: must be at least 0 and less than --tile {tile}")
    # a check now, so that a bad --precision/--device pair fails before any work
    autocast(dev, precision)

    if tile_norm not in ("image", "tile"):
        raise ResShiftError(f"--tile-norm {tile_norm}: choose image or tile")
    settings = dict(model=model, device=dev, precision=precision, seed=seed, tile=tile,
                    overlap=tile_overlap, tile_norm=tile_norm, batch_size=batch_size, progress=progress,
                    noise=noise, tile_mode=tile_mode)
    if isinstance(images, torch.Tensor):
        return _restore_tensor(images, masks, **settings)
    return _restore_files(images, masks, output, on_error=on_error, **settings)



def _restore_tensor(images: torch.Tensor, masks, *, model, device, precision, seed, tile, overlap,
                    tile_norm, batch_size, progress, noise=None, tile_mode="seamless") -> torch.Tensor:
    single = images.dim() == 3
    x = images[None] if single else images
    if x.dim() != 4 or x.shape[1] != 3:
        raise ResShiftError(f"images: expected (B, 3, H, W) in [0, 1], got {tuple(images.shape)}")
    mk = None
    if masks is not None:
        mk = masks[None] if masks.dim() == 3 else masks
    jobs = []
    for i in range(x.shape[0]):
        job = _Job(None, str(i), tuple(x.shape[-2:]))
        job.image = x[i].float()
        job.mask = None if mk is None else mk[i].float()
        _prepare(job, model)
        jobs.append(job)
    outs = {}
    for batch in _batches(jobs, batch_size):
        for job, out in zip(batch, _run_batch(batch, model, device, precision, seed, tile, overlap, tile_norm,
                                              None, noise, tile_mode)):
            outs[job.stem] = out
    result = torch.stack([outs[str(i)] for i in range(x.shape[0])])
    return result[0] if single else result


def _batches(jobs: list[_Job], batch_size: int) -> list[list[_Job]]:
    groups: dict[tuple[int, int], list[_Job]] = defaultdict(list)
    for job in jobs:
        groups[job.size].append(job)
    return [grp[i:i + batch_size] for grp in groups.values() for i in range(0, len(grp), batch_size)]


def _prepare(job: _Job, model: ResShiftModel) -> None:
    """Checks that need the pixels: face size, minimum size (raises ResShiftError)."""
    h, w = job.image.shape[-2:]
    name = job.path or job.stem
    if model.config["task"] == "faceir":
        face = model.face_size
        if h != w:
            raise ResShiftError(f"{name}: face restoration takes aligned square face crops, got {w}x{h}; "
                                "crop and align the face first (facexlib)")
        if h != face:                 # the release takes the crop as it is; this is our extension
            job.resized_from = (h, w)
            job.image = F.interpolate(job.image[None], size=(face, face), mode="bicubic",
                                      antialias=True, align_corners=False)[0].clamp(0, 1)
            if job.info.alpha is not None:
                job.info.alpha = F.interpolate(job.info.alpha[None], size=(face, face),
                                               mode="bilinear", antialias=True, align_corners=False)[0]
            job.size = (face, face)


def _micro_batch(device: torch.device, n: int) -> int:
    return n if device.type == "cuda" else 1


def _run_batch(batch: list[_Job], model: ResShiftModel, device, precision, seed, tile, overlap, tile_norm, tick,
               noise=None, tile_mode="seamless"):
    """Restore one batch of same-size, already read jobs; returns (3, H', W') tensors on the CPU."""
    m = model.pad_multiple
    lq = torch.stack([j.image for j in batch]).to(device)
    if noise is None:
        noise = NoiseField(seed, [j.stem for j in batch])
    if tile_mode == "release":                # chops the unpadded image; each patch is padded alone
        mask = None if batch[0].mask is None else torch.stack([j.mask for j in batch]).to(device)
        out = sample_release(model, lq, noise, mask=mask, chop=tile, stride=None if tile is None else tile - overlap,
                             precision=precision, micro_batch=_micro_batch(device, len(batch)), progress=tick)
        return list(out.float().cpu())
    padded, (h, w) = pad_to_multiple(lq, m)
    mask = None
    if batch[0].mask is not None:
        mask = pad_to_multiple(torch.stack([j.mask for j in batch]).to(device), m)[0]
    out = sample(model, padded, noise, mask=mask, tile=tile, overlap=overlap, precision=precision,
                 micro_batch=_micro_batch(device, len(batch)), progress=tick, tile_norm=tile_norm)
    out = out[..., : h * model.sf, : w * model.sf].float().cpu()
    return list(out)


def _collect_files(images) -> list[Path]:
    if isinstance(images, (str, Path)):
        return list_images(images)
    files = [Path(p) for p in images]
    if not files:
        raise ResShiftError("no input images given")
    return files


def _mask_lookup(masks, files: list[Path]):
    """stem -> mask path (a single mask file applies to every image)."""
    if masks is None:
        return None
    masks = Path(masks)
    if masks.is_file():
        return {f.stem: masks for f in files}
    if masks.is_dir():
        return {p.stem: p for p in list_images(masks)}
    raise ResShiftError(f"{masks}: no such mask file or folder")


def _restore_files(images, masks, output, *, model, device, precision, seed, tile, overlap, tile_norm,
                   batch_size, progress, on_error=None, noise=None, tile_mode="seamless") -> RestoreReport:

    from . import __version__

    report = RestoreReport()
    files = _collect_files(images)
    mask_paths = _mask_lookup(masks, files)
    out_dir = check_writable(output) if output is not None else None

    def fail(msg: str) -> None:
        report.errors.append(msg)
        if on_error is not None:
            on_error(msg)

    jobs, seen = [], {}
    for path in files:
        if path.stem in seen:
            fail(f"{path}: same name as {seen[path.stem]}; outputs are named by stem, rename one")
            continue
        try:
            job = _Job(path, path.stem, image_size(path))
            if mask_paths is not None:
                if path.stem not in mask_paths:
                    raise ResShiftError(f"{path}: no mask named {path.stem}.* in {masks}")
                job.mask_path = mask_paths[path.stem]
        except ResShiftError as exc:
            fail(str(exc))
            continue
        seen[path.stem] = path
        jobs.append(job)

    records = []
    bar = progress_bar(total=len(jobs), desc="restoring", unit="image", show=progress)
    for batch in _batches(jobs, batch_size):
        ready = []
        for job in batch:                              # read pixels; a bad file only drops itself
            try:
                job.image, job.info = read_image(job.path)
                if job.mask_path is not None:
                    job.mask = read_mask(job.mask_path, tuple(job.image.shape[-2:]))
                _prepare(job, model)
                ready.append(job)
            except ResShiftError as exc:
                fail(str(exc))
                bar.update(1)
        groups = _batches(ready, batch_size)           # faces resized to 512 may regroup
        for group in groups:
            t0 = time.time()
            h, w = group[0].image.shape[-2:]
            m = model.pad_multiple
            chunks = -(-len(group) // _micro_batch(device, len(group)))
            if tile_mode == "release":
                total = len(release_patches(h, w, tile, None if tile is None else tile - overlap)) * (model.steps + 2) * chunks
            else:
                total = passes(model, h + (-h) % m, w + (-w) % m, tile, overlap) * chunks
            inner = progress_bar(total=total, desc="  tiles x steps", unit="pass", leave=False,
                                 show=progress and total > (model.steps + 2) * chunks)
            outs = _run_batch(group, model, device, precision, seed, tile, overlap, tile_norm, inner.update, noise,
                              tile_mode)
            inner.close()
            seconds = (time.time() - t0) / len(group)
            for job, out in zip(group, outs):
                alpha = job.info.alpha
                if alpha is not None and model.sf != 1:
                    alpha = F.interpolate(alpha[None], scale_factor=model.sf, mode="bicubic",
                                          align_corners=False)[0].clamp(0, 1)
                if out_dir is not None:
                    dest = out_dir / f"{job.stem}.png"
                    try:
                        write_image(out, dest, bits=job.info.bits, gray=job.info.gray, alpha=alpha)
                    except OSError as exc:
                        fail(f"{dest}: cannot be written ({exc.strerror or exc})")
                        bar.update(1)
                        continue
                    report.outputs[job.stem] = dest
                else:
                    report.outputs[job.stem] = out
                records.append({"input": str(job.path), "output": f"{job.stem}.png",
                                "size": list(job.size if job.resized_from is None else job.resized_from),
                                "output_size": list(out.shape[-2:]), "mode": job.info.mode,
                                "bits": job.info.bits, "gray": job.info.gray, "alpha": alpha is not None,
                                "exif_orientation": job.info.orientation,
                                "resized_to": [model.face_size] * 2 if job.resized_from else None,
                                "seconds": round(seconds, 3)})
                bar.update(1)
    bar.close()
    report.meta = {
        "method": "resshift", "config": model.config["name"], "task": model.config["task"],
        "steps": model.steps, "timesteps": list(range(model.steps))[::-1], "seed": seed,
        "seed_rule": "noise block (by, bx) of draw k ('prior' or step index) of image <stem>: "
                     "torch.Generator(cpu).manual_seed(sha256 of repr((seed, stem, k, by, bx)))",
        "noise_block": NOISE_BLOCK, "weights_sha256": model.weights, "device": str(device), "precision": precision,
        "tile_mode": tile_mode,
        "tile": tile, "tile_overlap": overlap if tile else None,
        "tile_norm": tile_norm if tile and tile_mode == "seamless" else None,
        "blending": ("feathered: ~0 on the outer quarter of each overlap, then raised cosine" if tile_mode == "seamless"
                     else "release: independent chains per patch (k = patch index in the draw), plain mean in overlaps"),
        "batch_size": batch_size, "resshift_version": __version__, "torch_version": torch.__version__,
        "images": records, "errors": report.errors,
    }
    if out_dir is not None:
        write_text(json.dumps(report.meta, indent=2) + "\n", out_dir / "meta.json")
    return report
