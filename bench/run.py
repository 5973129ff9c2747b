"""Restore a built test set with a registered method:
``results/data/<dataset>/lq`` (+ ``mask``) -> ``OUT/*.png`` and ``OUT/meta.json``.

Runs scale out and survive interruption:

- every image is restored with its own generator, seeded from (seed, method, image stem), so an
  image's output does not depend on which other images share its run, shard or batch;
- each finished image gets an entry ``OUT/.per_image/<stem>.json`` (written atomically after its
  PNG, with the PNG's sha256): a rerun skips images whose PNG and entry agree (resume), and a run
  killed at any moment leaves only whole PNGs with entries, whole PNGs without one (redone), or
  hidden temporary files (removed by the next run);
- ``shard=(i, n)`` restores only the i-th of n deterministic parts of the set (by position in the
  sorted file list: images i-1, i-1+n, ...); shards may share one output folder;
- ``meta.json`` is written once every image of the set has its entry, by whichever run completes
  the set (a gathering run that finds everything done does not load the method's networks);
- ``work``: restore into that folder (kept when the job is killed, so a retry resumes there) and
  copy the finished set into ``out`` (what the workflow does, since Snakemake deletes a failed
  job's outputs).
"""
from __future__ import annotations

import glob
import json
import platform
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from baselines import get, load_restorer, run_options
from resshift.errors import ResShiftError
from resshift.imageio import list_images, read_image, read_mask, write_image, write_text
from resshift.noise import seed_for
from resshift.progress import progress_bar
from resshift.weights import sha256_of

from .layout import DEFAULT_LAYOUT, split_method

ENTRIES = ".per_image"           # hidden: list_images (metrics, figures) skips it
RESTORER_META = ".restorer.json"
SEED_RULE = "generator per image seeded by sha256(seed, method, image stem)"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"I/N"`` (1 <= I <= N) -> (I, N); a malformed value is a one-line error."""
    if text in (None, ""):
        return None
    i, sep, n = str(text).partition("/")
    if not sep or not i.isdigit() or not n.isdigit() or not 1 <= int(i) <= int(n):
        raise ResShiftError(f"--shard {text!r}: use I/N with 1 <= I <= N (e.g. 2/8)")
    return int(i), int(n)


def shard_files(files: list[Path], shard: tuple[int, int] | None) -> list[Path]:
    """The images of shard (i, n): every n-th image of the sorted list, starting at the i-th."""
    if shard is None:
        return list(files)
    i, n = shard
    return list(files[i - 1::n])


def _write_json(obj: dict, path: Path) -> None:

    write_text(json.dumps(obj, indent=1) + "\n", path)


def _read_entry(folder: Path, stem: str) -> dict | None:
    path = folder / ENTRIES / f"{stem}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def option_files_sha256(options: dict) -> dict[str, str]:
    """sha256 of the option values that are files (a trained run's checkpoint and configuration):
    retraining a run rewrites its checkpoint at the same path, which makes earlier images stale."""
    return {k: sha256_of(Path(v)) for k, v in sorted(options.items()) if isinstance(v, (str, Path)) and Path(v).is_file()}


def is_done(folder: Path, lq: Path, identity: dict, files_sha256: dict | None = None) -> bool:
    """The image's PNG and entry exist and agree, and were made by this run (method, steps, seed,
    options) from this input and these option files; else the image is stale and is restored
    again (a changed seed or a retrained run never mixes with earlier images)."""
    png, entry = folder / f"{lq.stem}.png", _read_entry(folder, lq.stem)
    if entry is None or not png.is_file():
        return False
    if any(entry.get(k) != v for k, v in identity.items()):
        return False
    if files_sha256 is not None and entry.get("files_sha256") != files_sha256:
        return False
    return entry.get("input_sha256") == sha256_of(lq) and entry.get("sha256") == sha256_of(png)


def _remove_stale_temporaries(folder: Path, stems: list[str]) -> None:
    """Hidden temporary files a killed run of these images left (never another shard's)."""
    for stem in stems:
        for where, suffix in ((folder, ".png"), (folder / ENTRIES, ".json")):
            pattern = re.compile(re.escape(f".{stem}.") + r"[A-Za-z0-9_]{6,12}" + re.escape(suffix))
            for tmp in where.glob(f".{glob.escape(stem)}.*{suffix}"):
                if pattern.fullmatch(tmp.name):          # mkstemp's random part, not a longer stem's file
                    tmp.unlink(missing_ok=True)


def _batches(files: list[Path], size: int, shape_of) -> list[list[Path]]:
    """Consecutive images of one input size, at most ``size`` per batch."""
    out: list[list[Path]] = []
    for path in files:
        if out and len(out[-1]) < size and shape_of(out[-1][0]) == shape_of(path):
            out[-1].append(path)
        else:
            out.append([path])
    return out


def run_method(method: str, data_dir: str | Path, out_dir: str | Path, *, steps: int | None = None,
               device: str = "cpu", seed: int = 0, options: dict | None = None, limit: int | None = None,
               progress: bool = True, models: str | Path = DEFAULT_LAYOUT.models, batch_size: int = 1,
               shard: tuple[int, int] | None = None, work: str | Path | None = None) -> Path:
    """``method`` is a registry name, or ``NAME@RUN`` for a run trained under ``models``."""

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    work_dir = Path(work) if work else out_dir
    if batch_size < 1:
        raise ResShiftError(f"--batch-size {batch_size}: must be at least 1")
    if not (data_dir / "lq").is_dir():
        raise ResShiftError(f"{data_dir}: no lq/ folder; build the test set first (resshift-bench data build NAME)")
    name, options = run_options(method, models, options)
    cls = get(name)
    all_files = list_images(data_dir / "lq")[:limit]
    files = shard_files(all_files, shard)
    identity = {"method": method, "steps": -1 if steps in (None, -1) else int(steps), "seed": int(seed),
                "options": {k: str(v) for k, v in sorted(options.items())}}
    files_sha256 = option_files_sha256(options)
    (work_dir / ENTRIES).mkdir(parents=True, exist_ok=True)
    todo = [p for p in files if not is_done(work_dir, p, identity, files_sha256)]
    _remove_stale_temporaries(work_dir, [p.stem for p in todo])
    stale = sum(_read_entry(work_dir, p.stem) is not None for p in todo)
    if progress and (len(todo) < len(files) or stale):
        print(f"{method}: {len(files) - len(todo)} of {len(files)} image(s) already restored in {work_dir}; "
              f"restoring {len(todo)}" + (f" ({stale} from another run, input or weights: redone)" if stale else ""),
              file=sys.stderr)

    restorer_meta_path = work_dir / ENTRIES / RESTORER_META
    restorer = None
    if todo or not restorer_meta_path.is_file():
        restorer = load_restorer(name, steps=steps, device=device, **options)
        if restorer.task == "inpaint" and not (data_dir / "mask").is_dir():
            raise ResShiftError(f"{data_dir}: {method} inpaints and needs mask/ beside lq/")
        _write_json(restorer.meta(), restorer_meta_path)
    if todo and batch_size > 1 and not cls.batchable and progress:
        print(f"{method}: restores one image at a time (its samplers draw per image); --batch-size ignored",
              file=sys.stderr)
    size = batch_size if cls.batchable else 1

    shapes: dict[Path, tuple] = {}

    def shape_of(path: Path) -> tuple:
        if path not in shapes:
            from PIL import Image

            with Image.open(path) as im:
                shapes[path] = im.size
        return shapes[path]

    each = todo
    if todo and hasattr(restorer, "restore_folder"):     # one process for the whole folder (StableSR's release)
        timing = restorer.restore_folder(todo, work_dir, seed=seed)
        for path in todo:
            png = work_dir / f"{path.stem}.png"
            _write_json({**identity, "image": path.name, "image_seed": None, "input_sha256": sha256_of(path),
                         "files_sha256": files_sha256, "sha256": sha256_of(png),
                         "seconds": (timing or {}).get("seconds_per_image"), "batch": None, "inside_timing": timing,
                         "shard": f"{shard[0]}/{shard[1]}" if shard else None},
                        work_dir / ENTRIES / f"{path.stem}.json")
        each = []
    bar = progress_bar(total=len(each), desc=f"{method} on {data_dir.name}", show=progress)
    for batch in _batches(each, size, shape_of):
        t0 = time.time()
        lq = torch.stack([read_image(p)[0] for p in batch])
        mask = None
        if restorer.task == "inpaint":
            mask = torch.stack([read_mask(data_dir / "mask" / p.name) for p in batch]).float()
        # one generator per image; a batched method is deterministic (cls.batchable) and gets none
        gen = torch.Generator().manual_seed(seed_for(seed, method, batch[0].stem)) if len(batch) == 1 else None
        try:                        # the one call path: checks, pads, restores, crops, checks the output
            out = restorer(lq, mask=mask, generator=gen)
        except ResShiftError as exc:
            raise ResShiftError(f"{exc} ({batch[0].name})") from None
        seconds = (time.time() - t0) / len(batch)
        for i, path in enumerate(batch):
            png = write_image(out[i].float().cpu().clamp(0, 1), work_dir / f"{path.stem}.png")
            _write_json({**identity, "image": path.name, "image_seed": seed_for(seed, method, path.stem),
                         "input_sha256": sha256_of(path), "files_sha256": files_sha256, "sha256": sha256_of(png), "seconds": round(seconds, 4), "batch": len(batch),
                         "shard": f"{shard[0]}/{shard[1]}" if shard else None},
                        work_dir / ENTRIES / f"{path.stem}.json")
        bar.update(len(batch))
    bar.close()

    # the set is complete when every image (of every shard) has its entry
    if all(is_done(work_dir, p, identity, files_sha256) for p in all_files):
        entries = [_read_entry(work_dir, p.stem) for p in all_files]
        meta = {**json.loads(restorer_meta_path.read_text()), "method": method, "run": split_method(method)[1] or None,
                "dataset": data_dir.name, "images": len(all_files), "seed_rule": SEED_RULE, "seed": seed,
                "seconds": round(sum(e.get("seconds", 0) for e in entries), 3),
                "shards": sorted({e["shard"] for e in entries if e.get("shard")}) or None,
                "torch": torch.__version__, "python": platform.python_version(), "options": identity["options"]}
        inside = next((e["inside_timing"] for e in entries if e.get("inside_timing")), None)
        if inside is not None:
            meta.update(inside_timing=inside, seed_rule="one seed for the whole run (the release's own seeding)")
        _write_json(meta, work_dir / "meta.json")
        if work_dir != out_dir:
            _publish(work_dir, out_dir, all_files)
    elif work_dir != out_dir:
        raise ResShiftError(f"{work_dir}: not every image is restored yet (other shards still running?); "
                            f"{out_dir} is written once they are")
    return out_dir


def _publish(work_dir: Path, out_dir: Path, files: list[Path]) -> None:
    """Copy the finished set (PNGs, entries, meta.json) from the work folder into ``out_dir``."""
    (out_dir / ENTRIES).mkdir(parents=True, exist_ok=True)
    names = [f"{p.stem}.png" for p in files] + ["meta.json"]
    for name in names:
        shutil.copy2(work_dir / name, out_dir / name)
    for p in files:
        shutil.copy2(work_dir / ENTRIES / f"{p.stem}.json", out_dir / ENTRIES / f"{p.stem}.json")
    shutil.copy2(work_dir / ENTRIES / RESTORER_META, out_dir / ENTRIES / RESTORER_META)
