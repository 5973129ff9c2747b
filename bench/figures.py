"""The paper's figures, drawn with matplotlib from the workflow's own outputs (PNG and PDF).

- :func:`schedule_figure` (Fig. 3(g)(h)): the schedules themselves (no training): relative noise
  strength sqrt(1/SNR) of ResShift (kappa 2, p 0.3, T 15; kappa 40, p 0.8, T 1000) and of LDM's
  linear betas against t/T, and sqrt(eta_t) against t for several p.
- :func:`forward_process_figure` (Fig. 3(c)(d)): a built test set's image diffused by Eq. 2 at
  several timesteps, one row per kappa.
- :func:`compare_figure` (Figs. 1/7-10 style): LQ, every method's restoration and the GT of one
  image, each with a zoomed crop whose box is drawn on the LQ.
- :func:`validation_curves_figure` (the paper's efficiency argument, measured): validation PSNR
  against training iterations of several runs (their ``validation.csv``), bicubic as a level.
Every function checks its inputs and raises one clear :class:`ResShiftError` when one is missing.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from resshift.demo import psnr_y
from resshift.errors import ResShiftError
from resshift.files import atomic_path
from resshift.imageio import list_images, read_image
from resshift.schedule import ResShiftSchedule


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, out: str | Path) -> list[Path]:
    """``out``.png (150 dpi) and ``out``.pdf, each written to a temporary name and renamed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, kwargs in (("png", {"dpi": 150}), ("pdf", {})):
        target = out.with_suffix(f".{ext}")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, bbox_inches="tight", **kwargs)
        paths.append(target)
    _pyplot().close(fig)
    return paths


# ----------------------------------------------------------------- Fig. 3(g)(h)
def ldm_noise_strength(train_steps: int = 1000, beta_start: float = 0.0015, beta_end: float = 0.0155) -> np.ndarray:
    """sqrt(1/SNR) = sqrt((1 - abar_t) / abar_t) of LDM's 1000 "linear" (sqrt-linear) betas, t = 1..T."""
    betas = np.linspace(beta_start ** 0.5, beta_end ** 0.5, train_steps, dtype=np.float64) ** 2
    abar = np.cumprod(1 - betas)
    return np.sqrt((1 - abar) / abar)


def schedule_figure(ps=(0.3, 0.5, 1.0, 2.0, 3.0), steps: int = 15, kappa: float = 2.0):
    """Fig. 3(g): relative noise strength against t/T for ResShift (kappa 2, p 0.3, T 15),
    ResShift (kappa 40, p 0.8, T 1000) and LDM; Fig. 3(h): sqrt(eta_t) against t for each p.
    Schedules in the paper's printed form (Eq. 13-14)."""

    plt = _pyplot()
    fig, (ax_g, ax_h) = plt.subplots(1, 2, figsize=(10, 3.8))
    for k, p, T, style in ((kappa, 0.3, steps, "o-"), (40.0, 0.8, 1000, "-")):
        s = ResShiftSchedule(steps=T, kappa=k, p=p, form="paper")
        t = np.arange(1, T + 1) / T
        ax_g.plot(t, s.snr_noise_strength(), style, ms=3, label=f"ResShift (κ={k:g}, p={p:g}, T={T})")
    ldm = ldm_noise_strength()
    ax_g.plot(np.arange(1, len(ldm) + 1) / len(ldm), ldm, "--", label="LDM (linear, T=1000)")
    ax_g.set_yscale("log")
    ax_g.set_xlabel("t / T")
    ax_g.set_ylabel("relative noise strength √(1/SNR)")
    ax_g.set_title("(g) noise strength")
    ax_g.legend(fontsize=8)
    for p in ps:
        s = ResShiftSchedule(steps=steps, kappa=kappa, p=p, form="paper")
        ax_h.plot(np.arange(1, steps + 1), s.sqrt_etas, "o-", ms=3, label=f"p={p:g}")
    ax_h.set_xlabel("t")
    ax_h.set_ylabel("√η_t")
    ax_h.set_title(f"(h) shifting speed (T={steps}, κ={kappa:g})")
    ax_h.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- Fig. 3(c)(d)
def _image_pair(data_dir: Path, image: str):

    gt, lq = Path(data_dir) / "gt" / f"{image}.png", Path(data_dir) / "lq" / f"{image}.png"
    for path in (gt, lq):
        if not path.is_file():
            raise ResShiftError(f"{path}: missing; build the test set first (resshift-bench data build "
                                f"{Path(data_dir).name}) and pick an image it holds")
    return read_image(gt)[0], read_image(lq)[0]


def forward_process_figure(data_dir: str | Path, image: str, kappas=(1.0, 2.0), p: float = 0.3, steps: int = 15,
                           timesteps=(1, 3, 5, 7, 9, 12, 15), seed: int = 0):
    """x_t = x_0 + eta_t (y_0 - x_0) + kappa sqrt(eta_t) eps (Eq. 2) of one test image (x_0 its GT,
    y_0 its bicubic-upsampled LQ), one row per kappa, one column per timestep (1-based)."""
    import torch
    import torch.nn.functional as F


    gt, lq = _image_pair(Path(data_dir), image)
    x0 = gt[None] * 2 - 1
    y0 = F.interpolate(lq[None] * 2 - 1, size=x0.shape[-2:], mode="bicubic")
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    plt = _pyplot()
    fig, axes = plt.subplots(len(kappas), len(timesteps), figsize=(1.6 * len(timesteps), 1.75 * len(kappas)),
                             squeeze=False)
    for row, kappa in enumerate(kappas):
        s = ResShiftSchedule(steps=steps, kappa=kappa, p=p, form="paper")
        for col, t in enumerate(timesteps):
            if not 1 <= t <= steps:
                raise ResShiftError(f"timestep {t} is outside 1..{steps}")
            eta = float(s.etas[t - 1])
            xt = x0 + eta * (y0 - x0) + kappa * eta ** 0.5 * noise
            ax = axes[row][col]
            ax.imshow(((xt[0].permute(1, 2, 0).clamp(-1, 1) + 1) / 2).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t={t}", fontsize=9)
            if col == 0:
                ax.set_ylabel(f"κ={kappa:g}", fontsize=9)
    fig.suptitle(f"Forward process (Eq. 2) of {image}, p={p:g}, T={steps}", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- comparisons
def _crop_box(box, h: int, w: int, image: str, default_size: int) -> tuple[int, int, int]:
    x, y, size = box or (w // 4, h // 4, default_size)
    if x < 0 or y < 0 or size <= 0 or x + size > w or y + size > h:
        raise ResShiftError(f"crop box {(x, y, size)} does not fit the {w}x{h} image {image}")
    return x, y, size


def _panels(data_dir: Path, restored: dict, image: str, lq_label: str):
    """[(label, image)]: the LQ (nearest-upsampled to the GT size), each restoration, the GT."""
    import torch.nn.functional as F


    gt, lq = _image_pair(Path(data_dir), image)
    panels = [(lq_label, F.interpolate(lq[None], size=gt.shape[-2:], mode="nearest")[0])]
    for label, folder in restored.items():
        path = Path(folder) / f"{image}.png"
        if not path.is_file():
            raise ResShiftError(f"{path}: missing; restore the test set with {label} first")
        out = read_image(path)[0]
        if out.shape[-2:] != gt.shape[-2:]:
            raise ResShiftError(f"{path}: {tuple(out.shape[-2:])} is not the GT size {tuple(gt.shape[-2:])}")
        panels.append((label, out))
    return panels + [("GT", gt)]


def compare_figure(data_dir: str | Path, restored: dict[str, str | Path], image: str,
                   box: tuple[int, int, int] | None = None):
    """LQ, each method's output (label -> folder of restored PNGs) and GT for one image; the
    second row zooms on ``box`` = (x, y, size) in GT pixels (default: the centre quarter),
    drawn as a rectangle on the top row."""
    from matplotlib.patches import Rectangle

    panels = _panels(Path(data_dir), restored, image, "LQ (bicubic-sized)")
    h, w = panels[-1][1].shape[-2:]
    x, y, size = _crop_box(box, h, w, image, min(h, w) // 4)
    plt = _pyplot()
    fig, axes = plt.subplots(2, len(panels), figsize=(2.2 * len(panels), 4.6), squeeze=False)
    for col, (label, img) in enumerate(panels):
        arr = img.permute(1, 2, 0).clamp(0, 1).numpy()
        axes[0][col].imshow(arr)
        axes[0][col].add_patch(Rectangle((x, y), size, size, fill=False, edgecolor="red", linewidth=1.2))
        axes[0][col].set_title(textwrap.fill(label, 24), fontsize=8)
        axes[1][col].imshow(arr[y:y + size, x:x + size], interpolation="nearest")
        for ax in axes[:, col]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- Fig. 5
def ablation_grid_figure(data_dir: str | Path, restored: dict[str, str | Path], image: str,
                         box: tuple[int, int, int] | None = None, columns: int = 5):
    """Fig. 5: the same crop of one image restored under each setting (label -> folder), after
    the LQ and before the GT, ``columns`` panels per row."""
    panels = _panels(Path(data_dir), restored, image, "LQ")
    h, w = panels[-1][1].shape[-2:]
    x, y, size = _crop_box(box, h, w, image, min(h, w) // 2)
    rows = -(-len(panels) // columns)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, columns, figsize=(2.1 * columns, 2.3 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(panels):
            ax.axis("off")
            continue
        label, img = panels[i]
        ax.imshow(img[:, y:y + size, x:x + size].permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
        ax.set_title(label, fontsize=8)
    fig.suptitle(f"Settings of Table I on {image} (crop {size}x{size} at {x},{y})", fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- Fig. 6
def _metric_means(path: Path) -> dict[str, float]:
    import csv

    if not Path(path).is_file():
        raise ResShiftError(f"{path}: missing; compute the metrics first (resshift-bench metrics)")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = {}
    for key in (rows[0].keys() if rows else []):
        vals = [float(r[key]) for r in rows if key != "image" and r.get(key) not in (None, "")]
        if vals:
            out[key] = float(np.mean(vals))
    if "psnr" in out:                    # MSE on Y in [0, 1] from each image's PSNR-Y (255 peak)
        out["mse"] = float(np.mean([10 ** (-float(r["psnr"]) / 10) for r in rows]))
    return out


def perception_distortion_figure(series: dict[str, dict[int, str | Path]], perceptual=("lpips", "niqe")):
    """Fig. 6: a perceptual metric against MSE, one line per method, one point per step count
    (label -> {steps: metrics CSV}). The first of ``perceptual`` present in every file is used
    (LPIPS; NIQE, no-reference, when LPIPS's weights are missing offline) and named on the axis."""
    means = {label: {s: _metric_means(Path(p)) for s, p in sorted(points.items())} for label, points in series.items()}
    if not means or not all(means.values()):
        raise ResShiftError("perception-distortion figure: no metric files given")
    chosen = next((m for m in perceptual if all(m in v for pts in means.values() for v in pts.values())), None)
    if chosen is None:
        raise ResShiftError(f"perception-distortion figure: none of {', '.join(perceptual)} is in every metrics file")
    if any("mse" not in v for pts in means.values() for v in pts.values()):
        raise ResShiftError("perception-distortion figure: a metrics file has no psnr column")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4))
    for label, pts in means.items():
        steps = list(pts)
        xs, ys = [pts[s]["mse"] for s in steps], [pts[s][chosen] for s in steps]
        ax.plot(xs, ys, "o-", label=label)
        for s, xv, yv in zip(steps, xs, ys):
            ax.annotate(str(s), (xv, yv), textcoords="offset points", xytext=(4, 3), fontsize=7)
    note = "" if chosen == perceptual[0] else f" ({perceptual[0].upper()} unavailable offline)"
    ax.set_xscale("log")
    ax.set_xlabel("MSE (Y channel, from PSNR-Y; log scale)")
    ax.set_ylabel(f"{chosen.upper()}{note}")
    ax.set_title("Perception-distortion trade-off (labels: steps)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------- validation curves
def read_validation(path: str | Path) -> tuple[list[int], list[float]]:
    """(iterations, PSNR-Y) of a training run's ``validation.csv`` (``train.validate_every``)."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise ResShiftError(f"validation curves: {path}: no such file (train with train.validate_every > 0, "
                            "or the workflow's training.<run>.validate)")
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("psnr_y")]
    if not rows:
        raise ResShiftError(f"validation curves: {path}: no validation rows")
    return [int(r["iteration"]) for r in rows], [float(r["psnr_y"]) for r in rows]


def bicubic_psnr(data_dir: str | Path) -> float:
    """Mean PSNR-Y of bicubic x4 upsampling on a built SR set (gt/, lq/)."""
    import torch.nn.functional as F


    data_dir = Path(data_dir)
    lqs = list_images(data_dir / "lq") if (data_dir / "lq").is_dir() else []
    if not lqs:
        raise ResShiftError(f"validation curves: {data_dir}: not a built SR set (no lq/ images)")
    vals = []
    for lq_path in lqs:
        lq, gt = read_image(lq_path)[0][None], read_image(data_dir / "gt" / lq_path.name)[0][None]
        sf = gt.shape[-1] // lq.shape[-1]
        vals.append(psnr_y(F.interpolate(lq, scale_factor=sf, mode="bicubic").clamp(0, 1), gt))
    return float(np.mean(vals))


def validation_curves_figure(curves: dict[str, str | Path], bicubic: float | None = None, dataset: str = ""):
    """Validation PSNR-Y against training iterations, one line per run (label -> validation.csv);
    ``bicubic``: the bicubic level on the same set, dashed."""
    if not curves:
        raise ResShiftError("validation curves: no runs given")
    data = {label: read_validation(path) for label, path in curves.items()}
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    for label, (its, psnr) in data.items():
        ax.plot(its, psnr, "o-", ms=3, label=label)
    if bicubic is not None:
        ax.axhline(bicubic, color="grey", ls="--", lw=1, label=f"bicubic ({bicubic:.2f} dB)")
    ax.set_xlabel("training iterations")
    ax.set_ylabel("validation PSNR-Y (dB, EMA weights)")
    ax.set_title("Validation PSNR during training" + (f" ({dataset})" if dataset else ""), fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
