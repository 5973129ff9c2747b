"""Test sets from recipes (``bench/datasets/<name>.yaml``): selection, synthesis, manifest, checksums.

A recipe names its source (images that ship inside packages, or a folder the user supplies),
its selection (the authors' Python-random choice, or a seeded rule on file names), the GT
transform, the degradation or masks, and the seed. ``build_test_set(recipe, ...)`` writes ``gt/``, ``lq/``, ``mask/`` (as applicable) and
``manifest.csv``: one row per sample with its source, its own seed, every parameter drawn and
the sha256 of each file written. Each sample's seed is derived from the recipe seed and the
sample's name, so 1 or N workers, or only the first K samples, give the same bytes.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from resshift.data.degradations import DEGRADATIONS
from resshift.data.masks import draw_mask, render_mask
from resshift.errors import ResShiftError
from resshift.files import write_bytes_atomic
from resshift.imageio import read_array
from resshift.noise import seed_for
from resshift.packaged import packaged_array
from resshift.progress import progress_bar

from .layout import DEFAULT_LAYOUT, Layout

RECIPES = Path(__file__).resolve().parent / "datasets"     # shipped inside the package
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
KINDS = ("sr", "inpaint", "face", "folder")


# ----------------------------------------------------------------- recipes
def recipe_names() -> list[str]:
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def load_recipe(name_or_path: str | os.PathLike) -> dict:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = RECIPES / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ResShiftError(f"{name_or_path}: no such recipe; known: {', '.join(recipe_names())}")
    try:
        recipe = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ResShiftError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    for key in ("name", "kind", "seed", "source"):
        if not isinstance(recipe, dict) or key not in recipe:
            raise ResShiftError(f"{path}: recipe lacks the key {key!r}")
    if recipe["kind"] not in KINDS:
        raise ResShiftError(f"{path}: kind {recipe['kind']!r} is not one of {', '.join(KINDS)}")
    recipe["_path"] = str(path)
    return recipe


def recipe_hash(recipe: dict) -> str:
    clean = {k: v for k, v in recipe.items() if not k.startswith("_")}
    return hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).hexdigest()[:16]


# ----------------------------------------------------------------- sources
def _folder_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not p.name.startswith("."))


def check_source(recipe: dict, source: str | os.PathLike | None) -> list[str]:
    """The candidate source ids, checked before any work (one clear message otherwise)."""
    src = recipe["source"]
    if "packaged" in src:
        return list(src["packaged"])
    need = int((recipe.get("select") or {}).get("count") or src.get("min_images", 1))
    hint = (f"{recipe['name']} needs {src.get('expect', 'a folder of images')} (at least {need} images); "
            f"get it from {src.get('url', 'its publisher')}, then pass --source DIR or set "
            f"{src.get('config_key', 'data.sources.' + recipe['name'])} in config/config.yaml")
    if source is None:
        raise ResShiftError(f"no --source given: {hint}")
    folder = Path(source)
    if not folder.is_dir():
        raise ResShiftError(f"{folder}: no such folder: {hint}")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise ResShiftError(f"{folder}: folder is not readable: {hint}")
    files = _folder_images(folder)
    if len(files) < need:
        raise ResShiftError(f"{folder}: holds {len(files)} images, fewer than {need}: {hint}")
    return [str(p) for p in files]


IMAGENET_VAL_WNIDS = RECIPES / "labels" / "imagenet_val_wnids.txt.gz"
_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG")


def imagenet_val_wnids(path: str | os.PathLike | None = None) -> list[str]:
    """Class (wnid) of each ImageNet validation image, in file-number order: a text file of
    50,000 wnids, one a line (the shipped ``bench/datasets/labels/imagenet_val_wnids.txt.gz``, the
    list TensorFlow Datasets publishes), or the devkit-era ``LOC_val_solution.csv``."""
    import gzip

    path = Path(path or IMAGENET_VAL_WNIDS)
    if not path.is_file():
        raise ResShiftError(f"{path}: no such label file; give a list of 50000 wnids or LOC_val_solution.csv")
    with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as f:
        text = f.read()
    if text.startswith("ImageId"):                               # LOC_val_solution.csv
        rows = dict(line.split(",", 1) for line in text.splitlines()[1:] if line.strip())
        wnids = [rows.get(f"ILSVRC2012_val_{i:08d}", " ").split()[0] for i in range(1, 50001)]
    else:
        wnids = text.split()
    if len(wnids) != 50000 or not all(w.startswith("n") for w in wnids):
        raise ResShiftError(f"{path}: expected 50000 wnids (n########), found {len(wnids)} entries")
    return wnids


def release_selection(rel_paths: list[str], count: int, seed: int, exts=("png", "JPEG")) -> list[str]:
    """The release's ImageNet-Test choice (``scripts/prepare_testing_imagenet_sr.py`` with its
    dataset's constructor) on paths relative to the source folder: ``random.seed(seed)``, a
    shuffle of the sorted ``*.JPEG`` list that is thrown away (it only advances the generator),
    then the dataset's listing (sorted per extension, ``png`` first, case-sensitive) and
    ``random.sample(listing, count)``, in that order."""
    import random

    rng = random.Random(seed)
    rng.shuffle(sorted(p for p in rel_paths if p.endswith(".JPEG")))
    listing: list[str] = []
    for ext in exts:
        listing.extend(sorted(p for p in rel_paths if p.endswith(f".{ext}")))
    if len(listing) < count:
        raise ResShiftError(f"the release's selection needs {count} *.{'/*.'.join(exts)} files, found {len(listing)}")
    return rng.sample(listing, count)


def _release_select(sel: dict, candidates: list[str], root: str | os.PathLike | None) -> list[str]:
    """``select: {method: release, seed, count, layout}``; ``layout: class_folders`` (default)
    reproduces the authors' folder (``<wnid>/<file>.JPEG``): a flat ``ILSVRC2012_img_val/`` is
    placed into its class folders through the validation labels (``labels:`` or the shipped
    list) first, so that both layouts give the authors' images."""
    base = Path(root) if root is not None else Path(os.path.commonpath(candidates))
    rel = {Path(c).relative_to(base).as_posix(): c for c in candidates}
    if sel.get("layout", "class_folders") == "class_folders" and all("/" not in r for r in rel):
        wnids = imagenet_val_wnids(sel.get("labels"))
        placed = {}
        for r, c in rel.items():
            m = _VAL_NAME.fullmatch(r)
            if m is None or not 1 <= int(m.group(1)) <= 50000:
                raise ResShiftError(f"{c}: not an ImageNet validation file name (ILSVRC2012_val_########.JPEG); "
                                    "the release selection places a flat folder into class folders by these names")
            placed[f"{wnids[int(m.group(1)) - 1]}/{r}"] = c
        rel = placed
    picked = release_selection(list(rel), int(sel["count"]), int(sel.get("seed", 10000)),
                               tuple(sel.get("exts", ("png", "JPEG"))))
    return [rel[p] for p in picked]


def select(recipe: dict, candidates: list[str], root: str | os.PathLike | None = None) -> list[str]:
    """The recipe's selection: ``method: release`` (the authors' Python-random choice, see
    :func:`release_selection`) or ``method: sha256`` (the default: a seeded rule on file names,
    not on folder layout: sort by sha256(seed/name), take count)."""
    sel = recipe.get("select") or {}
    if not sel.get("count"):
        return sorted(candidates, key=lambda c: (Path(c).name, c))
    if sel.get("method", "sha256") == "release":
        return _release_select(sel, candidates, root)
    if sel.get("method", "sha256") != "sha256":
        raise ResShiftError(f"{recipe.get('_path', recipe['name'])}: select.method {sel['method']!r}: use release or sha256")
    seed = sel.get("seed", recipe["seed"])

    def key(c: str):
        return hashlib.sha256(f"{seed}/{Path(c).name}".encode()).hexdigest(), c
    return sorted(candidates, key=key)[: int(sel["count"])]


def read_source(source_id: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    if ":" in source_id and not os.path.exists(source_id):

        return packaged_array(source_id.split(":", 1)[1])

    arr, _, bits, _ = read_array(source_id)
    if bits == 16:
        arr = (arr.astype(np.float64) / 257).round().astype(np.uint8)
    if arr.shape[2] in (2, 4):
        arr = arr[..., :-1]
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr


def read_source_release(source_id: str) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] decoded as the authors' release decodes its GT: OpenCV's
    ``imdecode(IMREAD_COLOR)`` (8-bit, grey to three channels, alpha dropped), divided by 255."""
    if ":" in source_id and not os.path.exists(source_id):
        return read_source(source_id).astype(np.float32) / 255
    import cv2

    data = np.frombuffer(Path(source_id).read_bytes(), np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ResShiftError(f"{source_id}: OpenCV cannot decode this image; replace or remove the file")
    return np.ascontiguousarray(bgr[..., ::-1]).astype(np.float32) / 255


def release_gt_transform(img: np.ndarray, size: int) -> np.ndarray:
    """The release's test GT preparation (albumentations 1.3.1 ``SmallestMaxSize(size)`` then
    ``CenterCrop(size, size)``) on a float32 image: scale = size / short side; unless it is 1,
    OpenCV INTER_LINEAR to (round(h * scale), round(w * scale)) (Python's round); then the crop
    at ((h' - size) // 2, (w' - size) // 2). The float result is what the release degrades."""
    import cv2

    h, w = img.shape[:2]
    scale = size / float(min(w, h))
    if scale != 1.0:
        nh, nw = round(h * scale), round(w * scale)
        if (nh, nw) != (h, w):
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    h, w = img.shape[:2]
    if h < size or w < size:
        raise ResShiftError(f"image of {h}x{w} is smaller than the {size}x{size} crop after resizing")
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[top:top + size, left:left + size])


def to_uint8_half_even(img: np.ndarray) -> np.ndarray:
    """8-bit rounding as the release writes its PNGs (clip to [0, 1], x255, round half to even)."""
    return np.round(np.clip(img, 0, 1) * 255.0).astype(np.uint8)


def gt_transform(arr: np.ndarray, spec: dict | None) -> np.ndarray:
    """Resize the short side (bicubic, antialiased) and centre-crop, as the recipe says."""
    if not spec:
        return arr
    img = Image.fromarray(arr)
    if spec.get("crop_square"):
        s = min(img.size)
        left, top = (img.width - s) // 2, (img.height - s) // 2
        img = img.crop((left, top, left + s, top + s))
    if spec.get("resize_short"):
        r = spec["resize_short"] / min(img.size)
        img = img.resize((max(spec["resize_short"], round(img.width * r)),
                          max(spec["resize_short"], round(img.height * r))), Image.BICUBIC)
    if spec.get("crop"):
        c = spec["crop"]
        left, top = (img.width - c) // 2, (img.height - c) // 2
        img = img.crop((left, top, left + c, top + c))
    return np.asarray(img)


def tile_boxes(h: int, w: int, size: int) -> list[tuple[int, int]]:
    """(top, left) of the non-overlapping ``size`` x ``size`` tiles of an h x w image: the largest
    grid that fits, centred, in centre-first order (distance of the tile's centre from the image's
    centre; ties by row, then column)."""
    nh, nw = h // size, w // size
    if not nh or not nw:
        raise ResShiftError(f"image of {h}x{w} is smaller than one {size}x{size} tile")
    top0, left0 = (h - nh * size) // 2, (w - nw * size) // 2
    boxes = [(top0 + i * size, left0 + j * size) for i in range(nh) for j in range(nw)]
    return sorted(boxes, key=lambda b: ((b[0] + size / 2 - h / 2) ** 2 + (b[1] + size / 2 - w / 2) ** 2, b))


def load_gt(source_id: str, spec: dict | None, tile: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(GT uint8 as written, float32 GT that the degradation receives) of one source.

    ``tile`` ("top,left,size", a recipe with ``tiles:``): that crop of the source at its own
    size, no resizing; the degradation receives it / 255.
    ``spec: {method: release, size: S}``: the release's decoding and float transform
    (:func:`release_gt_transform`); the written GT is its 8-bit rounding while the LQ is made
    from the unrounded float. Otherwise the 8-bit PIL transform of :func:`gt_transform`, and the
    degradation receives that GT / 255."""
    if tile:
        top, left, size = (int(v) for v in str(tile).split(","))
        gt = np.ascontiguousarray(read_source(source_id)[top:top + size, left:left + size])
        return gt, gt.astype(np.float32) / 255.0
    if spec and spec.get("method") == "release":
        gt_float = release_gt_transform(read_source_release(source_id), int(spec["size"]))
        return to_uint8_half_even(gt_float), gt_float
    gt = gt_transform(read_source(source_id), spec)
    return gt, gt.astype(np.float32) / 255.0


# ----------------------------------------------------------------- samples
def plan(recipe: dict, chosen: list[str]) -> list[dict]:
    """One entry per output sample: name, source, seed (and mask kind for inpainting)."""
    out = []
    masks = recipe.get("masks") or {}
    tiles = recipe.get("tiles")
    units = []                                      # (sample stem, source, tile or None)
    for src in chosen:
        stem = Path(src.split(":", 1)[1] if ":" in src and not os.path.exists(src) else src).stem
        if tiles:                                   # up to per_image 256 crops, centre first: <stem>_c<k>
            size = int(tiles["size"])
            h, w = read_source(src).shape[:2]
            for k, (top, left) in enumerate(tile_boxes(h, w, size)[: int(tiles["per_image"])]):
                units.append((f"{stem}_c{k}", src, f"{top},{left},{size}"))
        else:
            units.append((stem, src, None))
    for i, (stem, src, tile) in enumerate(units):
        extra = {"tile": tile} if tile else {}
        if recipe["kind"] == "inpaint":
            kinds = masks["kinds"]
            if masks.get("assign") == "all":
                for k in kinds:
                    out.append({"sample": f"{stem}_{k}", "source": src, **extra, "mask_kind": k})
            else:                                   # consecutive groups of per_kind samples
                k = kinds[min(i // int(masks["per_kind"]), len(kinds) - 1)]
                out.append({"sample": stem, "source": src, **extra, "mask_kind": k})
        else:
            out.append({"sample": stem, "source": src, **extra})
    for row in out:
        row["seed"] = seed_for(recipe["seed"], recipe["name"], row["sample"]) % (2 ** 63)
    return out


def synthesize(recipe: dict, row: dict) -> dict[str, np.ndarray | dict]:
    """GT, LQ (and mask) arrays and the drawn parameters of one planned sample."""

    gt, gt_float = load_gt(row["source"], recipe.get("gt"), row.get("tile"))
    rng = np.random.default_rng(row["seed"])
    kind = recipe["kind"]
    if kind == "folder":
        return {"lq": gt, "params": {}}
    if kind == "inpaint":
        cfg = (recipe["masks"].get("settings") or {}).get(row["mask_kind"])
        params = draw_mask(row["mask_kind"], rng, gt.shape[0], gt.shape[1], cfg)
        mask = render_mask(params, *gt.shape[:2])
        lq = (gt * (1 - mask[..., None])).astype(np.uint8)            # LQ = GT * (1 - mask)
        params = {**params, "coverage": round(float(mask.mean()), 6)}
        return {"gt": gt, "lq": lq, "mask": mask * 255, "params": params}
    deg = recipe["degradation"]
    draw, apply = DEGRADATIONS[deg["name"]]
    params = draw(rng, deg)
    lq = apply(gt_float, params, deg)
    return {"gt": gt, "lq": lq, "params": params}


def reapply(recipe: dict, row: dict) -> np.ndarray:
    """LQ rebuilt from a manifest row's recorded parameters (no random draws)."""

    gt, gt_float = load_gt(row["source"], recipe.get("gt"), row.get("tile"))
    params = json.loads(row["params"])
    if recipe["kind"] == "inpaint":
        mask = render_mask(params, *gt.shape[:2])
        return (gt * (1 - mask[..., None])).astype(np.uint8)
    _, apply = DEGRADATIONS[recipe["degradation"]["name"]]
    return apply(gt_float, params, recipe["degradation"])


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _write_atomic(data: bytes, path: Path) -> None:
    write_bytes_atomic(data, path)


def _build_one(args) -> dict:
    recipe, row, out = args
    import cv2

    cv2.setNumThreads(1)
    result = {**row, "status": "ok"}
    try:
        arrays = synthesize(recipe, row)
    except ResShiftError as exc:                   # a corrupt source image: skipped, recorded
        return {**result, "status": f"skipped: {exc}", "params": "{}"}
    result["params"] = json.dumps(arrays.pop("params"), sort_keys=True)
    for part in ("gt", "lq", "mask"):
        if part in arrays:
            data = png_bytes(arrays[part])
            _write_atomic(data, out / part / f"{row['sample']}.png")
            result[f"sha256_{part}"] = hashlib.sha256(data).hexdigest()
    return result


def _flatten(params: str) -> dict:
    """Manifest columns p_<name> for the scalar parameters (lists/dicts stay in ``params``)."""
    return {f"p_{k}": v for k, v in json.loads(params).items() if not isinstance(v, (list, dict))}


# ----------------------------------------------------------------- build
def checksums_path(recipe: dict) -> Path:
    return RECIPES / "checksums" / f"{recipe['name']}.sha256"


def read_manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def verify(out: Path) -> tuple[int, list[str]]:
    """(files checked, problems) of a built set against its manifest."""
    problems, n = [], 0
    for row in read_manifest(out):
        for part in ("gt", "lq", "mask"):
            digest = row.get(f"sha256_{part}")
            if not digest:
                continue
            path = out / part / f"{row['sample']}.png"
            n += 1
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                problems.append(f"{path}: checksum differs from the manifest")
    return n, problems


def file_checksums(out: Path) -> dict[str, str]:
    return {f"{part}/{row['sample']}.png": row[f"sha256_{part}"] for row in read_manifest(out)
            for part in ("gt", "lq", "mask") if row.get(f"sha256_{part}")}


def build_test_set(recipe: dict | str, *, source: str | None = None, out: str | os.PathLike | None = None,
          limit: int | None = None, workers: int = 1, progress: bool = True, log=print) -> Path:
    """Build a test set; returns its folder. A complete, matching earlier build is left as is."""

    recipe = load_recipe(recipe) if isinstance(recipe, (str, os.PathLike)) else recipe
    out = Path(out or DEFAULT_LAYOUT.dataset(recipe["name"]))
    candidates = check_source(recipe, source)
    chosen = select(recipe, candidates, None if "packaged" in recipe["source"] else source)
    rows = plan(recipe, chosen)
    if limit is not None:
        rows = rows[: int(limit)]
    stamp = {"recipe": recipe["name"], "recipe_sha": recipe_hash(recipe), "samples": len(rows)}
    done = out / "build.json"
    if done.is_file() and (out / "manifest.csv").is_file():
        if json.loads(done.read_text()) == stamp:
            n, problems = verify(out)
            if not problems:
                log(f"{out}: up to date ({n} files match manifest.csv)")
                return out
            log(f"{out}: {len(problems)} file(s) differ from manifest.csv; rebuilding")
    out.mkdir(parents=True, exist_ok=True)
    done.unlink(missing_ok=True)
    jobs = [(recipe, row, out) for row in rows]
    results = []
    bar = progress_bar(total=len(jobs), desc=f"building {recipe['name']}", unit="sample", show=progress)
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers) as pool:
            for res in pool.imap(_build_one, jobs, chunksize=4):
                results.append(res)
                bar.update(1)
    else:
        for job in jobs:
            results.append(_build_one(job))
            bar.update(1)
    bar.close()
    for res in results:
        if res["status"] != "ok":
            log(f"warning: {res['source']}: {res['status']}")
    _write_manifest(out, results)
    expected = checksums_path(recipe)
    if expected.is_file() and limit is None:
        want = dict(line.split("  ", 1)[::-1] for line in expected.read_text().splitlines() if line.strip())
        got = file_checksums(out)
        bad = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        if bad:
            raise ResShiftError(f"{out}: {len(bad)} rebuilt file(s) differ from {expected} (first: {bad[0]}); "
                                "check the pinned basicsr/opencv/Pillow versions")
        log(f"{out}: all {len(got)} files match {expected.name}")
    _write_atomic(json.dumps(stamp, indent=2).encode(), done)
    return out


def _write_manifest(out: Path, results: list[dict]) -> None:
    rows = [{**{k: v for k, v in r.items() if k != "params"}, **_flatten(r.get("params", "{}")),
             "params": r.get("params", "{}")} for r in results]
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_atomic(buf.getvalue().encode(), out / "manifest.csv")


def write_checksums(recipe: dict | str, out: Path) -> Path:
    """Commit-ready ``bench/datasets/checksums/<name>.sha256`` from a built set."""
    recipe = load_recipe(recipe) if isinstance(recipe, str) else recipe
    path = checksums_path(recipe)
    lines = [f"{digest}  {name}" for name, digest in sorted(file_checksums(out).items())]
    _write_atomic(("\n".join(lines) + "\n").encode(), path)
    return path


def import_prebuilt(recipe: dict | str, folder: str | os.PathLike, out: str | os.PathLike | None = None,
                    log=print) -> Path:
    """Validate a prebuilt set (e.g. the authors' ImageNet-Test) and take its files as they are."""
    recipe = load_recipe(recipe) if isinstance(recipe, (str, os.PathLike)) else recipe
    spec = recipe.get("prebuilt")
    if not spec:
        raise ResShiftError(f"recipe {recipe['name']} has no prebuilt form; build it with --source")
    folder, out = Path(folder), Path(out or DEFAULT_LAYOUT.dataset(recipe["name"]))
    hint = f"expected {spec['description']} from {spec['url']}"
    stems = {}
    for part in spec["parts"]:
        sub = folder / part
        if not sub.is_dir():
            raise ResShiftError(f"{sub}: no such folder; {hint}")
        stems[part] = {p.stem: p for p in _folder_images(sub)}
    names = sorted(stems[spec["parts"][0]])
    if len(names) < int(spec.get("count", 1)):
        raise ResShiftError(f"{folder}: {len(names)} images, expected {spec.get('count')}; {hint}")
    for part in spec["parts"][1:]:
        if set(stems[part]) != set(names):
            raise ResShiftError(f"{folder / part}: file names do not match {folder / spec['parts'][0]}; {hint}")

    rows = []
    for name in names:
        row = {"sample": name, "source": str(stems[spec["parts"][0]][name]), "seed": "", "status": "ok",
               "params": "{}"}
        for part in spec["parts"]:
            src = stems[part][name]
            try:
                arr = read_array(src)[0]
            except ResShiftError as exc:
                raise ResShiftError(f"{exc}; {hint}") from None
            data = src.read_bytes() if src.suffix.lower() == ".png" else png_bytes(arr)
            _write_atomic(data, out / part / f"{name}.png")
            row[f"sha256_{part}"] = hashlib.sha256(data).hexdigest()
        rows.append(row)
    _write_manifest(out, rows)
    _write_atomic(json.dumps({"recipe": recipe["name"], "prebuilt": str(folder), "samples": len(rows)},
                             indent=2).encode(), out / "build.json")
    log(f"{out}: imported {len(rows)} prebuilt samples")
    return out


def main_build(args) -> int:
    log = lambda m: print(m, file=sys.stderr if m.startswith("warning") else sys.stdout)  # noqa: E731
    name = load_recipe(args.recipe)["name"]
    args.out = args.out or str(Layout(args.results).dataset(name))
    if args.prebuilt:
        print(import_prebuilt(args.recipe, args.prebuilt, args.out, log=log))
        return 0
    out = build_test_set(args.recipe, source=args.source, out=args.out, limit=args.limit, workers=args.workers, log=log)
    if args.write_checksums:
        print(write_checksums(args.recipe, out))
    print(out)
    return 0
